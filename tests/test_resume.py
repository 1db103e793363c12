"""A training run killed with SIGKILL and resumed from last.ckpt ends exactly as the same run left
alone: same losses per epoch, same best epoch, same weights, same test metrics (CPU, same seed)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Dict, Tuple

import pytest
import torch

from pipeline.demo import generate_direction_dataset

REPO = Path(__file__).resolve().parents[1]
EPOCHS = 4
KILLED_IN_EPOCH = 2  # after its first batch: last.ckpt then holds epoch 1, and half an epoch is lost
EPOCH_TAGS = ("train/loss_epoch", "train/acc", "val/loss", "val/acc", "lr-AdamW")


@pytest.fixture(scope="module")
def direction_data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("direction")
    return generate_direction_dataset(root / "data", n_train=8, n_val=4, n_test=4, size=64, num_frames=8, seed=1)


def _train(data: Path, tmp: Path, runs: str, *extra: str) -> subprocess.CompletedProcess:
    # Dropout, random clip jitter (segment sampler) and shuffling all draw random numbers.
    args = [f"--data.root={data}", "--data.clip_len=6", "--data.num_workers=0", "--data.batch_size=4",
            f"--data.cache_dir={tmp / 'cache'}", "--model.input_size=64", "--model.hidden_size=32",
            "--model.dropout=0.3", f"--trainer.max_epochs={EPOCHS}", "--trainer.enable_progress_bar=false",
            "--trainer.enable_model_summary=false", f"--trainer.logger.init_args.save_dir={tmp / runs}", *extra]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "tests"), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, str(REPO / "scripts" / "train.py"), *args], capture_output=True,
                          text=True, cwd=REPO, env=env, timeout=600)


def _epoch_scalars(log_dir: Path) -> Dict[Tuple[str, int], float]:
    """The per-epoch scalars TensorBoard holds, by (tag, global step)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(log_dir)).Reload()
    return {(tag, e.step): e.value for tag in EPOCH_TAGS if tag in events.Tags()["scalars"]
            for e in events.Scalars(tag)}


def _head(checkpoint: Path) -> Dict[str, torch.Tensor]:
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)["state_dict"]
    return {k: v for k, v in state.items() if k.startswith("model.head.")}


def test_a_killed_run_resumed_from_last_ckpt_ends_as_the_uninterrupted_run(direction_data, tmp_path):
    whole = _train(direction_data, tmp_path, "whole")
    assert whole.returncode == 0, whole.stderr[-3000:]

    kill = json.dumps({"class_path": "kill_switch.KillAt", "init_args": {"epoch": KILLED_IN_EPOCH}})
    killed = _train(direction_data, tmp_path, "resumed", f"--trainer.callbacks+={kill}")
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    [last] = (tmp_path / "resumed").rglob("last.ckpt")
    assert torch.load(last, map_location="cpu", weights_only=True)["epoch"] == KILLED_IN_EPOCH - 1

    resumed = _train(direction_data, tmp_path, "resumed", f"--ckpt_path={last}")
    assert resumed.returncode == 0, resumed.stderr[-3000:]

    def summary(run: str) -> dict:
        [path] = (tmp_path / run).rglob("test_metrics.json")  # the resumed run's log folder
        return json.loads(path.read_text())

    expected, got = summary("whole"), summary("resumed")
    assert got["test_metrics"] == expected["test_metrics"], "test metrics of the best checkpoint"
    assert got["confusion_matrix"] == expected["confusion_matrix"]
    assert Path(got["best_checkpoint"]).name == Path(expected["best_checkpoint"]).name, "best epoch"
    whole_head, resumed_head = _head(Path(expected["last_checkpoint"])), _head(Path(got["last_checkpoint"]))
    assert all(torch.equal(whole_head[k], resumed_head[k]) for k in whole_head), "final weights"

    # The resumed run went on in the interrupted run's folder, so its TensorBoard log holds every
    # epoch (half of them written before the kill), each with what the uninterrupted run logged.
    assert [p.name for p in (tmp_path / "resumed").rglob("version_*")] == ["version_0"]
    reference = _epoch_scalars(Path(expected["log_dir"]))
    assert len(reference) == len(EPOCH_TAGS) * EPOCHS
    assert _epoch_scalars(Path(got["log_dir"])) == reference
