"""The whole frame can reach the CNN: "pad" and "stretch" keep what happens at a 16:9 frame's edges,
which the ImageNet centre crop cuts off; the choice travels in the checkpoint."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import pytorch_lightning as pl
import torch

from models.preprocessing import Preprocessing
from pipeline.core.checkpoints import load_classifier_module
from pipeline.core.module import VideoClassifierModule
from pipeline.data.readers import open_video
from pipeline.data.transforms import ResizeCrop
from pipeline.demo.video_writer import write_video

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


@pytest.fixture(scope="module")
def edge_video(tmp_path_factory) -> Path:
    """A 192x108 (16:9) grey clip with a red bar along its left edge, where broadcast action often is."""
    frame = np.full((108, 192, 3), 128, dtype=np.uint8)
    frame[:, :12] = (230, 20, 20)
    return write_video(tmp_path_factory.mktemp("fit") / "edge.mp4", (frame for _ in range(6)), fps=25)


def _red(frames: np.ndarray) -> np.ndarray:
    return (frames[..., 0] > 180) & (frames[..., 1] < 80)


@pytest.mark.parametrize("backend", ["pyav", "opencv", "decord"])
def test_pad_and_stretch_keep_the_frame_edges_that_crop_cuts(edge_video, backend):
    def frames(fit: str) -> np.ndarray:
        preprocessing = Preprocessing(resize_size=36, crop_size=32, mean=MEAN, std=STD, fit=fit)
        with open_video(edge_video, backend) as reader:
            return reader.get_frames([0, 3], ResizeCrop(preprocessing))

    cropped, padded, stretched = frames("crop"), frames("pad"), frames("stretch")
    assert cropped.shape == padded.shape == stretched.shape == (2, 32, 32, 3)
    assert not _red(cropped).any(), "the centre crop cuts the left edge off"
    assert _red(padded[:, :, :2]).mean() > 0.3 and _red(stretched[:, :, :2]).mean() > 0.9
    # Padding: 32 / 192 * 108 = 18 rows of picture, 7 rows above in the mean colour (zero once normalised).
    assert np.abs(padded[:, :6].astype(int) - np.round(np.array(MEAN) * 255)).max() <= 1
    assert np.abs(stretched[:, :6, 16:].astype(int) - 128).max() <= 6, "stretch fills the square with picture"


@pytest.mark.parametrize("fit", ["pad", "stretch", "motion", "spotlight"])
def test_the_fit_is_stored_in_the_checkpoint(tmp_path, fit):
    model = VideoClassifierModule(class_names=["a", "b"], backbone="resnet18", weights="none", input_size=64,
                                  frame_fit=fit)
    assert model.preprocessing.fit == fit
    trainer = pl.Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False)
    trainer.strategy.connect(model)
    trainer.save_checkpoint(tmp_path / "fit.ckpt")
    stored = torch.load(tmp_path / "fit.ckpt", map_location="cpu", weights_only=True)
    assert stored["preprocessing"]["fit"] == fit
    assert load_classifier_module(str(tmp_path / "fit.ckpt")).preprocessing.fit == fit


def test_a_checkpoint_fitted_by_an_earlier_window_version_loads_with_a_warning(tmp_path, caplog):
    """The motion window's algorithm has versions: a checkpoint says which one its frames came from,
    and one trained on another version (or before versions were stored) still loads, with a warning."""
    from models.preprocessing import FIT_VERSIONS

    model = VideoClassifierModule(class_names=["a", "b"], backbone="resnet18", weights="none", input_size=64,
                                  frame_fit="spotlight")
    trainer = pl.Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False)
    trainer.strategy.connect(model)
    trainer.save_checkpoint(tmp_path / "now.ckpt")
    stored = torch.load(tmp_path / "now.ckpt", map_location="cpu", weights_only=True)
    assert stored["preprocessing"]["fit_version"] == str(FIT_VERSIONS["spotlight"])
    with caplog.at_level("WARNING"):
        load_classifier_module(str(tmp_path / "now.ckpt"))
    assert "version" not in caplog.text

    stored["preprocessing"]["fit"] = "motion"
    del stored["preprocessing"]["fit_version"]  # as checkpoints of window version 2 were written
    torch.save(stored, tmp_path / "older.ckpt")
    with caplog.at_level("WARNING"):
        assert load_classifier_module(str(tmp_path / "older.ckpt")).preprocessing.fit == "motion"
    assert "'motion' fit's version before 3" in caplog.text and "evaluate it again" in caplog.text


def test_the_default_crop_writes_no_fit_and_an_unknown_fit_is_refused():
    # The default crop writes no "fit": checkpoints and settings read as before.
    assert "fit" not in VideoClassifierModule(class_names=["a", "b"], backbone="resnet18", weights="none",
                                              input_size=64).preprocessing.to_dict()
    with pytest.raises(ValueError, match="frame fit"):
        VideoClassifierModule(class_names=["a", "b"], backbone="resnet18", weights="none", frame_fit="zoom")
