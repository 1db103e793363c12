"""Training on two DDP processes (CPU, gloo), as `scripts/train.py --trainer.devices 2 --trainer.strategy ddp`:
the run ends with exit 0, prints one summary, writes one test_metrics.json, and its validation and test
metrics are those of one process evaluating the same checkpoint (each video counted once, no padding)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Dict

import numpy as np
import pytest
import torch

from pipeline.core.checkpoints import load_classifier_module
from pipeline.data.datamodule import VideoDataModule
from pipeline.demo import generate_direction_dataset

REPO = Path(__file__).resolve().parents[1]
# The run is forced onto the CPU in fp32 on any machine: the two processes sum the same numbers in
# another order than one process does, so floats agree to rounding; counts agree exactly.
FLOAT_TOLERANCE = 1e-6


@pytest.fixture(scope="module")
def odd_splits(tmp_path_factory) -> Path:
    """8 training videos (one step of 4 per process), and validation and test splits of 5 videos:
    two processes get 3 + 2, where a padding sampler would add a duplicate."""
    root = tmp_path_factory.mktemp("direction")
    data = generate_direction_dataset(root / "data", n_train=8, n_val=6, n_test=6, size=64, num_frames=8, seed=1)
    for split in ("val", "test"):
        sorted((data / split / "left_to_right").glob("*.mp4"))[0].unlink()
    return data


def _decided(model, probs: torch.Tensor) -> torch.Tensor:
    """The class each video is given: p(positive) >= the checkpoint's operating threshold when it has one
    (what training's confusion matrix counts), else the most probable class (what the metrics count)."""
    if not model.threshold:
        return probs.argmax(-1)
    pos = model.class_names.index(model.threshold["positive"])
    return torch.where(probs[:, pos] >= model.threshold["threshold"], pos, 1 - pos)


def _evaluate(checkpoint: str, root: Path, cache_dir: Path, split: str) -> Dict[str, object]:
    """Loss, metrics and confusion matrix of a checkpoint on one split, in this one process, without
    Lightning's loop or torchmetrics."""
    model = load_classifier_module(checkpoint)
    data = VideoDataModule(root=str(root), clip_len=6, batch_size=4, num_workers=0, cache_dir=str(cache_dir))
    data.attach_model(model.preprocessing, model.frozen_backbone)
    data.setup("fit" if split == "val" else "test")
    loader = data.val_dataloader() if split == "val" else data.test_dataloader()
    confusion, decided, losses = np.zeros((2, 2), dtype=int), np.zeros((2, 2), dtype=int), []
    with torch.no_grad():
        for batch in loader:
            probs = model.video_probabilities(batch)
            losses += (-probs[torch.arange(len(probs)), batch["label"]].clamp_min(1e-8).log()).tolist()
            for true, predicted, chosen in zip(batch["label"], probs.argmax(-1), _decided(model, probs)):
                confusion[true, predicted] += 1
                decided[true, chosen] += 1
    recall = confusion.diagonal() / confusion.sum(1)
    precision = confusion.diagonal() / np.maximum(confusion.sum(0), 1)
    f1 = np.where(precision + recall > 0, 2 * precision * recall / np.maximum(precision + recall, 1e-12), 0.0)
    return {"confusion": decided.tolist(), "videos": len(losses), f"{split}/loss": float(np.mean(losses)),
            f"{split}/acc": confusion.trace() / confusion.sum(), f"{split}/mean_class_acc": recall.mean(),
            f"{split}/f1_macro": f1.mean()}


@pytest.mark.slow  # two training processes: about 20 s; make test-all runs it
def test_two_ddp_processes_train_test_and_report_global_metrics_once(odd_splits, tmp_path):
    cache, runs = tmp_path / "cache", tmp_path / "runs"
    run = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "train.py"), f"--data.root={odd_splits}", "--data.clip_len=6",
         "--data.num_workers=0", "--data.batch_size=4", f"--data.cache_dir={cache}", "--model.input_size=64",
         "--model.hidden_size=32", "--trainer.max_epochs=2", "--trainer.accelerator=cpu", "--trainer.devices=2",
         "--trainer.strategy=ddp", "--trainer.enable_progress_bar=false",
         f"--trainer.logger.init_args.save_dir={runs}"],
        capture_output=True, text=True, cwd=REPO, timeout=600,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.count("test metrics:") == 1, "one summary, printed by global rank 0\n" + run.stdout

    # The feature cache is shared: each process embeds its half of each split, then reads all entries.
    assert "no cached features" not in run.stderr, "a process did not read the entries the other one wrote"
    assert len(list(cache.rglob("*.npy"))) == 8 + 5 + 5
    [metrics_file] = runs.rglob("test_metrics.json")
    summary = json.loads(metrics_file.read_text())
    last = torch.load(summary["last_checkpoint"], map_location="cpu", weights_only=True)
    assert last["global_step"] == 2, "8 training videos over 2 processes of batch 4: one step per epoch"

    expected = _evaluate(summary["best_checkpoint"], odd_splits, cache, "test")
    assert expected["videos"] == 5
    assert summary["confusion_matrix"]["rows_true_cols_predicted"] == expected["confusion"]
    assert set(summary["test_metrics"]) == {"test/loss", "test/acc", "test/mean_class_acc", "test/f1_macro"}
    for key, value in summary["test_metrics"].items():
        assert value == pytest.approx(expected[key], abs=FLOAT_TOLERANCE), key

    # The last epoch's validation, logged by the processes together, is last.ckpt's on the whole split.
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(summary["log_dir"]).Reload()
    expected_val = _evaluate(summary["last_checkpoint"], odd_splits, cache, "val")
    for key in ("val/loss", "val/acc", "val/mean_class_acc", "val/f1_macro"):
        logged = events.Scalars(key)[-1]
        assert logged.step == last["global_step"] - 1
        assert logged.value == pytest.approx(expected_val[key], abs=FLOAT_TOLERANCE), key
