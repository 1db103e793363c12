"""Loading a checkpoint never runs code: a crafted .ckpt whose unpickling would create a file is
refused in one line (also with TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1, the pre-2.6 torch default) by
load_classifier_module, `train.py --ckpt_path` and `predict.py --ckpt`; damaged files are InputErrors
that name the file; a trusted checkpoint that needs more than plain data loads with the trust flag.
"""
from __future__ import annotations

import os
import pathlib
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List

import numpy as np
import pytest
import torch

from pipeline.core.checkpoints import UnsafeCheckpointError, load_checkpoint, load_classifier_module
from pipeline.demo import generate_direction_dataset
from pipeline.errors import EXIT_BAD_INPUT, InputError
from pipeline.training.cli import train

REPO = Path(__file__).resolve().parents[1]
UNSAFE_ENV = {**os.environ, "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1", "PYTHONPATH": str(REPO)}


def _args(data: Path, tmp: Path) -> List[str]:
    return [f"--data.root={data}", "--model.input_size=64", "--model.hidden_size=16", "--data.num_workers=0",
            "--data.batch_size=4", f"--data.cache_dir={tmp / 'cache'}", "--trainer.max_epochs=1",
            "--trainer.limit_train_batches=1", "--trainer.limit_val_batches=1", "--trainer.enable_progress_bar=false",
            f"--trainer.logger.init_args.save_dir={tmp / 'runs'}", "--skip_test=true"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Dict[str, Path]:
    """Tiny real videos and the last.ckpt of one real training step on them."""
    tmp = tmp_path_factory.mktemp("safe_loading")
    data = generate_direction_dataset(tmp / "data", n_train=4, n_val=2, n_test=2, size=64, num_frames=8, seed=1)
    summary = train(_args(data, tmp))
    return {"data": data, "tmp": tmp, "checkpoint": Path(summary["last_checkpoint"])}


class _CreatesFile:
    """Unpickling an instance calls `function(*args)`: here, something that creates a file."""

    def __init__(self, function: Any, *args: Any):
        self.function, self.args = function, args

    def __reduce__(self):
        return self.function, self.args


def _crafted(trained: Dict[str, Path], tmp: Path, payload: Any) -> Path:
    """The real checkpoint with `payload` slipped into its hyperparameters."""
    state = torch.load(trained["checkpoint"], map_location="cpu", weights_only=True)
    state["hyper_parameters"]["note"] = payload
    path = tmp / "crafted.ckpt"
    torch.save(state, path)
    return path


def _one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, stderr[-3000:]
    assert "Traceback" not in stderr, stderr[-3000:]
    return lines[0]


def test_a_real_checkpoint_is_plain_data_and_loads(trained):
    assert torch.serialization.get_unsafe_globals_in_checkpoint(str(trained["checkpoint"])) == [], \
        "a checkpoint of this project must load with weights_only=True (keep what it stores plain data)"
    model = load_classifier_module(str(trained["checkpoint"]))
    assert model.class_names == ["left_to_right", "right_to_left"] and not model.training
    assert model.hparams.hidden_size == 16 and model.preprocessing.crop_size == 64


@pytest.mark.parametrize("kind", ["open", "os.system"])
def test_load_refuses_a_checkpoint_that_would_run_code(trained, tmp_path, kind):
    marker = tmp_path / "created_by_unpickling"
    payload = _CreatesFile(open, str(marker), "w") if kind == "open" else _CreatesFile(os.system, f"touch {marker}")
    crafted = _crafted(trained, tmp_path, payload)
    with pytest.raises(UnsafeCheckpointError) as caught:
        load_classifier_module(str(crafted))
    message = str(caught.value)
    assert "\n" not in message and str(crafted) in message and "--trust-checkpoint" in message
    assert not marker.exists()


def test_load_classifier_module_refuses_it_under_the_old_torch_default(trained, tmp_path):
    marker = tmp_path / "created_by_unpickling"
    crafted = _crafted(trained, tmp_path, _CreatesFile(open, str(marker), "w"))
    code = ("import sys; from pipeline.errors import run_script; "
            "from pipeline.core.checkpoints import load_classifier_module; "
            "run_script(lambda argv: load_classifier_module(argv[0]) and 0)")
    done = subprocess.run([sys.executable, "-c", code, str(crafted)], env=UNSAFE_ENV, cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert not marker.exists(), "unpickling ran code"
    assert done.returncode == EXIT_BAD_INPUT, done.stderr[-3000:]
    assert str(crafted) in _one_error_line(done.stderr)


@pytest.mark.slow  # predict.py's refusal is checked in the default suite; train.py loads through the same code
def test_train_ckpt_path_refuses_it_under_the_old_torch_default(trained, tmp_path):
    marker = tmp_path / "created_by_unpickling"
    crafted = _crafted(trained, tmp_path, _CreatesFile(open, str(marker), "w"))
    done = subprocess.run([sys.executable, "scripts/train.py", *_args(trained["data"], tmp_path),
                           f"--ckpt_path={crafted}"], env=UNSAFE_ENV, cwd=REPO, capture_output=True, text=True,
                          timeout=300)
    assert not marker.exists(), "unpickling ran code"
    assert done.returncode == EXIT_BAD_INPUT, done.stderr[-3000:]
    line = _one_error_line(done.stderr)
    assert str(crafted) in line and "--trust_checkpoint true" in line
    assert not (tmp_path / "runs").exists(), "refused before anything was started"


def test_predict_ckpt_refuses_it_under_the_old_torch_default(trained, tmp_path):
    marker = tmp_path / "created_by_unpickling"
    crafted = _crafted(trained, tmp_path, _CreatesFile(open, str(marker), "w"))
    output = tmp_path / "predictions.csv"
    done = subprocess.run([sys.executable, "scripts/predict.py", "--ckpt", str(crafted), "--input",
                           str(trained["data"] / "test"), "--output", str(output), "--device", "cpu"],
                          env=UNSAFE_ENV, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert not marker.exists(), "unpickling ran code"
    assert done.returncode == EXIT_BAD_INPUT, done.stderr[-3000:]
    assert str(crafted) in _one_error_line(done.stderr)
    assert not output.exists()


def _damaged(kind: str, trained: Dict[str, Path], tmp: Path) -> Path:
    path = tmp / f"{kind}.ckpt"
    if kind == "random_bytes":
        path.write_bytes(np.random.default_rng(0).bytes(50_000))
    elif kind == "text":
        path.write_text("model: this is a config, not a checkpoint\n")
    elif kind == "truncated":
        path.write_bytes(trained["checkpoint"].read_bytes()[:100_000])
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "folder":
        path.mkdir()
    elif kind == "not_a_checkpoint":
        torch.save({"weights": torch.zeros(3)}, path)  # loads, but holds no model
    return path  # "missing": never written


@pytest.mark.parametrize("kind", ["random_bytes", "text", "truncated", "empty", "missing", "folder",
                                  "not_a_checkpoint"])
def test_damaged_checkpoints_are_input_errors_that_name_the_file(trained, tmp_path, kind):
    path = _damaged(kind, trained, tmp_path)
    with pytest.raises(InputError) as caught:
        load_classifier_module(str(path))
    message = str(caught.value)
    assert message.startswith(f"{path}: ") and "\n" not in message, message
    assert not isinstance(caught.value, UnsafeCheckpointError)


def test_the_trust_flag_loads_a_checkpoint_that_needs_more_than_plain_data(trained, tmp_path):
    # A checkpoint from elsewhere whose hyperparameters hold a Path object: harmless, but not plain data.
    crafted = _crafted(trained, tmp_path, pathlib.PurePosixPath("/data/videos"))
    with pytest.raises(UnsafeCheckpointError, match="PurePosixPath"):
        load_classifier_module(str(crafted))
    assert load_classifier_module(str(crafted), trust_checkpoint=True).class_names == ["left_to_right", "right_to_left"]
    assert load_checkpoint(crafted, trust=True)["hyper_parameters"]["note"] == pathlib.PurePosixPath("/data/videos")

    args = _args(trained["data"], tmp_path)
    with pytest.raises(UnsafeCheckpointError, match="--trust_checkpoint true"):
        train([*args, f"--ckpt_path={crafted}"])
    summary = train([*args, f"--ckpt_path={crafted}", "--trust_checkpoint=true", "--trainer.max_epochs=2"])
    resumed = torch.load(summary["last_checkpoint"], map_location="cpu", weights_only=True)
    assert resumed["epoch"] == 1, "resumed after the trusted checkpoint's epoch"
