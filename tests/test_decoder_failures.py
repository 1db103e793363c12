"""Training and feature caching survive a decoder that aborts or hangs: the file is read by another
decoder when one can, else skipped and named, and the run goes on."""
from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest
import pytorch_lightning as pl

from pipeline.core.module import VideoClassifierModule
from pipeline.data.annotations import VideoRecord
from pipeline.data.datamodule import VideoDataModule
from pipeline.data.feature_cache import FeatureCache, precompute_features
from pipeline.demo import generate_direction_dataset

SMALL_MODEL = dict(backbone="efficientnet_lite0", input_size=64, hidden_size=16)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    """A direction data set with two extra training files per class: one every decoder reads but the
    aborting test decoder crashes on, and one that is not a video at all and also crashes it."""
    root = generate_direction_dataset(tmp_path_factory.mktemp("d") / "data", n_train=4, n_val=2, n_test=2,
                                      size=64, num_frames=8, seed=3)
    for cls in ("left_to_right", "right_to_left"):
        folder = root / "train" / cls
        shutil.copy(next(folder.glob("*.mp4")), folder / f"abort_readable_{cls}.mp4")
        (folder / f"abort_garbage_{cls}.mp4").write_bytes(b"not a video at all " * 100)
    return root


def _backbone():
    model = VideoClassifierModule(class_names=["a", "b"], **SMALL_MODEL)
    return model.frozen_backbone


def test_feature_cache_survives_a_crashing_decoder(dataset, tmp_path, caplog):
    videos = sorted((dataset / "train").rglob("*.mp4"))
    records = [VideoRecord(path, 0) for path in videos]
    backbone = _backbone()
    cache = FeatureCache(tmp_path, backbone.fingerprint(), "faulty_readers:AbortingReader")
    with caplog.at_level(logging.WARNING):
        features, errors = precompute_features(records, backbone, cache, backend="faulty_readers:AbortingReader",
                                               num_workers=0, progress=False)
    by_name = {v.name: (f, errors.get(i)) for i, (v, f) in enumerate(zip(videos, features))}
    for name, (feats, error) in by_name.items():
        if name.startswith("abort_garbage"):
            assert feats is None and name in error and "decoder process died (signal SIGABRT)" in error
        else:  # good files, and the crashing decoder's file read by the next decoder
            assert error is None and feats is not None and len(feats) == 8
    assert "read with" in caplog.text and "abort_readable" in caplog.text


# The decoded-frames variant is slow (make test-all): the default suite must stay under 10 minutes on
# 2 cores, and tests/test_training.py covers skipping an unreadable video on that path.
@pytest.mark.parametrize("cache", [pytest.param(False, marks=pytest.mark.slow), True],
                         ids=["frames", "cached-features"])
def test_training_skips_and_names_the_file_no_decoder_reads(dataset, tmp_path, cache):
    pl.seed_everything(0, workers=True)
    data = VideoDataModule(root=str(dataset), clip_len=4, batch_size=4, num_workers=1, cache_features=cache,
                           cache_dir=str(tmp_path / "cache"), backend="faulty_readers:AbortingReader")
    model = VideoClassifierModule(class_names=data.class_names, sampling=data.sampling, **SMALL_MODEL)
    data.attach_model(model.preprocessing, model.frozen_backbone)
    trainer = pl.Trainer(max_epochs=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         default_root_dir=str(tmp_path))
    trainer.fit(model, datamodule=data)
    assert trainer.state.finished and trainer.global_step > 0
    skipped = " ".join(model.skipped_videos)
    assert "abort_garbage_left_to_right.mp4" in skipped and "abort_garbage_right_to_left.mp4" in skipped
    assert "abort_readable" not in skipped  # those were read by the next decoder


def test_a_hanging_decoder_costs_one_file_in_the_cache(dataset, tmp_path):
    good = sorted((dataset / "val").rglob("*.mp4"))[:2]
    hanging = tmp_path / "hang_forever.mp4"
    hanging.write_bytes(b"garbage" * 50)  # the next decoders cannot read it either: it is skipped
    records = [VideoRecord(p, 0) for p in [good[0], hanging, good[1]]]
    backbone = _backbone()
    cache = FeatureCache(tmp_path / "cache", backbone.fingerprint(), "faulty_readers:HangingReader")
    features, errors = precompute_features(records, backbone, cache, backend="faulty_readers:HangingReader",
                                           progress=False, decode_timeout=2.0)
    assert features[0] is not None and features[2] is not None and features[1] is None
    assert "did not answer within 2 s" in errors[1] and "hang_forever.mp4" in errors[1]


def test_the_data_module_can_check_videos_first_and_leave_out_the_unusable(dataset, tmp_path, caplog):
    data = VideoDataModule(root=str(dataset), clip_len=4, batch_size=4, num_workers=0, cache_features=False,
                           cache_dir=str(tmp_path / "cache"), check_videos=True)
    model = VideoClassifierModule(class_names=data.class_names, sampling=data.sampling, **SMALL_MODEL)
    data.attach_model(model.preprocessing, model.frozen_backbone)
    with caplog.at_level(logging.WARNING):
        data.setup("fit")
    names = {r.path.name for r in data.splits.train}
    assert "abort_garbage_left_to_right.mp4" not in names and "abort_readable_left_to_right.mp4" in names
    assert len(names) == 8 - 2  # 2 generated + 2 copies per class; the garbage files are left out
    assert "left out" in caplog.text and "abort_garbage_right_to_left.mp4" in caplog.text
    assert (tmp_path / "cache" / "video_check.json").is_file()  # verdicts kept for the next run
