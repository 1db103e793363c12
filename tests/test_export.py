"""scripts/export.py: the whole clip model as TorchScript or ONNX gives the PyTorch model's probabilities
on real clips (uint8 frames in, normalisation inside) at any batch size and clip length, within
pipeline.export.exporter.TOLERANCE, with a JSON beside it that says how to feed it."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import List

import numpy as np
import pytest
import pytorch_lightning as pl
import torch

from models.preprocessing import Preprocessing
from pipeline.core.checkpoints import load_classifier_module
from pipeline.core.module import VideoClassifierModule
from pipeline.data.datamodule import VideoDataModule
from pipeline.data.datasets import read_clips
from pipeline.data.sampling import sampler_from_config
from pipeline.demo import generate_direction_dataset
from pipeline.errors import UsageError
from pipeline.export.exporter import TOLERANCE, export_checkpoint, load_exported

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def direction(tmp_path_factory) -> Path:
    return generate_direction_dataset(tmp_path_factory.mktemp("direction") / "data", n_train=4, n_val=2, n_test=2,
                                      size=64, num_frames=8, seed=3)


def _train(direction: Path, tmp: Path, **model_args) -> Path:
    """A small real checkpoint (one epoch): these tests are about numbers matching, not accuracy."""
    pl.seed_everything(0, workers=True)
    data = VideoDataModule(root=str(direction), clip_len=6, batch_size=4, num_workers=0, cache_features=False)
    model = VideoClassifierModule(class_names=data.class_names, sampling=data.sampling, input_size=64, hidden_size=16,
                                  **model_args)
    data.attach_model(model.preprocessing, model.frozen_backbone)
    trainer = pl.Trainer(max_epochs=1, logger=False, enable_progress_bar=False, enable_checkpointing=False,
                         default_root_dir=str(tmp))
    trainer.fit(model, datamodule=data)
    trainer.save_checkpoint(tmp / "model.ckpt")
    return tmp / "model.ckpt"


@pytest.fixture(scope="module")
def checkpoint(direction, tmp_path_factory) -> Path:
    return _train(direction, tmp_path_factory.mktemp("model"))


def _reference(model: VideoClassifierModule, clips: torch.Tensor) -> np.ndarray:
    """What predict.py computes for clips uint8 [B,T,c,c,3] (one clip per video), its CNN in fp32."""
    with torch.no_grad():
        return model.video_probabilities({"frames": clips[:, None]}).numpy()


def _real_clips(direction: Path, checkpoint: Path, clip_len: int) -> torch.Tensor:
    """One evaluation clip of `clip_len` frames from each real H.264 video of the data set: uint8 [B,T,c,c,3]."""
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    sampler = sampler_from_config({**state["hyper_parameters"]["sampling"]["sampler"], "clip_len": clip_len})
    preprocessing = Preprocessing.from_dict(state["preprocessing"])
    videos: List[Path] = sorted(direction.rglob("*.mp4"))
    return torch.stack([read_clips(str(v), sampler, preprocessing, training=False)["frames"][0] for v in videos])


def _check_matches(exported: Path, fmt: str, checkpoint: Path, direction: Path) -> float:
    run = load_exported(exported, fmt)
    model = load_classifier_module(str(checkpoint), trust_checkpoint=False)
    model.model.backbone.precision = "fp32"
    diff = 0.0
    for clip_len in (6, 8):  # the checkpoint's clip length, and another: T is dynamic
        clips = _real_clips(direction, checkpoint, clip_len)  # 8 videos
        for batch in (clips, clips[:1], clips[2:5]):
            expected = _reference(model, batch)
            got = run(batch.numpy())
            assert got.shape == expected.shape == (len(batch), 2) and got.dtype == np.float32
            diff = max(diff, float(np.abs(got - expected).max()))
    assert diff < TOLERANCE, f"largest probability difference {diff:.2g}"
    return diff


def _check_metadata(exported: Path, fmt: str, checkpoint: Path) -> None:
    metadata = json.loads(Path(f"{exported}.json").read_text())
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    assert metadata["format"] == fmt and metadata["file"] == exported.name
    assert metadata["class_names"] == state["class_names"] == ["left_to_right", "right_to_left"]
    assert Preprocessing.from_dict(metadata["preprocessing"]) == Preprocessing.from_dict(state["preprocessing"])
    assert metadata["clip_len"] == 6 and metadata["sampler"] == state["hyper_parameters"]["sampling"]["sampler"]
    assert metadata["input"]["shape"] == ["batch", "time", 64, 64, 3] and metadata["input"]["dtype"] == "uint8"
    assert metadata["input"]["layout"] == "BTHWC" and metadata["output"]["shape"] == ["batch", 2]
    assert metadata["precision"] == "fp32" and metadata["max_abs_diff"] < TOLERANCE


def test_torchscript_gives_the_models_probabilities_on_real_clips(checkpoint, direction, tmp_path):
    out = tmp_path / "exported" / "model.pt"
    result = export_checkpoint(checkpoint, "torchscript", out)
    assert result.path == str(out) and result.max_abs_diff is not None and result.max_abs_diff < TOLERANCE
    print("torchscript max abs diff on real clips:", _check_matches(out, "torchscript", checkpoint, direction))
    _check_metadata(out, "torchscript", checkpoint)


def test_export_refuses_an_unknown_format_before_loading(tmp_path):
    with pytest.raises(UsageError, match="--format 'tflite'"):
        export_checkpoint(tmp_path / "missing.ckpt", "tflite")


@pytest.mark.slow  # torch's dynamo ONNX exporter takes 30-60 s per model on 2 cores
@pytest.mark.parametrize("cell", ["gru", "lstm-bidirectional"])
def test_onnx_gives_the_models_probabilities_on_real_clips(cell, direction, tmp_path):
    """Through the script, on onnxruntime; the RNN's batch and time dimensions stay dynamic."""
    for package in ("onnx", "onnxscript", "onnxruntime"):
        pytest.importorskip(package)
    name, _, bidirectional = cell.partition("-")
    checkpoint = _train(direction, tmp_path, cell=name, bidirectional=bool(bidirectional))
    out = tmp_path / "model.onnx"
    run = subprocess.run([sys.executable, str(REPO / "scripts" / "export.py"), "--ckpt", str(checkpoint),
                          "--format", "onnx", "--output", str(out)], capture_output=True, text=True, cwd=REPO,
                         timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.splitlines()[:2] == [str(out), f"{out}.json"]
    assert "largest probability difference from the PyTorch model" in run.stdout
    print(f"onnx ({cell}) max abs diff on real clips:", _check_matches(out, "onnx", checkpoint, direction))
    _check_metadata(out, "onnx", checkpoint)
