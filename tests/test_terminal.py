"""What a training run prints when its output goes to a file: plain lines, the facts a user needs, no noise."""
from __future__ import annotations

import io
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import pytorch_lightning as pl

from pipeline.core.module import VideoClassifierModule
from pipeline.data.datamodule import VideoDataModule
from pipeline.demo import generate_direction_dataset
from pipeline.training.cli import build_cli
from pipeline.training.progress import LineProgress, RunReport, silence_third_party_noise

REPO = Path(__file__).resolve().parents[1]
NOISE = ("litlogger", "LeafSpec", "log_every_n_steps", "module(s) in eval mode")
EPOCH_LINE = re.compile(r"^epoch (\d+) \(\d+ of 2\)  step \d+  train loss [\d.]+ acc [\d.]+  "
                        r"val loss [\d.]+ acc [\d.]+  ")


@pytest.fixture(scope="module")
def direction_data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("direction")
    return generate_direction_dataset(root / "data", n_train=8, n_val=4, n_test=4, size=64, num_frames=8, seed=1)


def test_train_py_into_a_file_prints_plain_lines_and_what_matters(direction_data, tmp_path):
    runs = tmp_path / "runs"
    args = [f"--data.root={direction_data}", "--data.clip_len=6", "--data.num_workers=0", "--data.batch_size=4",
            "--data.cache_features=false", "--model.input_size=64", "--model.hidden_size=32",
            "--trainer.max_epochs=2", "--trainer.num_sanity_val_steps=0",
            f"--trainer.logger.init_args.save_dir={runs}"]
    done = subprocess.run([sys.executable, "scripts/train.py", *args], cwd=REPO, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=300)
    out = done.stdout
    assert done.returncode == 0, out
    assert "\r" not in out and "\x1b" not in out, "no progress-bar debris in a file"
    for noise in NOISE:
        assert noise not in out, noise
    lines = out.splitlines()
    epochs = [i for i, line in enumerate(lines) if EPOCH_LINE.match(line)]
    assert [EPOCH_LINE.match(lines[i]).group(1) for i in epochs] == ["0", "1"], out
    assert sum(line.startswith("epoch ") for line in lines) == 2, "one line per epoch"
    # The split table, and where logs and checkpoints go, before training starts.
    start = lines[:epochs[0]]
    assert re.search(r"^left_to_right +4 +2 +2$", "\n".join(start), re.M), out
    log_dir = runs / "demo" / "version_0"
    assert any(line.startswith(f"logs: {log_dir} ") for line in start), out
    assert any(line.startswith(f"checkpoints: {log_dir / 'checkpoints'} ") for line in start), out
    assert any(line.startswith("model: efficientnet_lite0 (frozen) -> gru 32 x 1 -> 2 classes") for line in start)
    assert re.search(r"^  test/acc +\d\.\d{4}$", out, re.M), "the final metrics"
    # A real warning still shows: validation has two videos a class.
    assert "validation has fewer than 3 videos of class left_to_right (2)" in out


def test_a_stray_eval_module_is_named_and_long_phases_report_progress(direction_data, tmp_path, capsys):
    data = VideoDataModule(root=str(direction_data), clip_len=6, batch_size=4, num_workers=0, cache_features=False)
    model = VideoClassifierModule(class_names=data.class_names, sampling=data.sampling, input_size=64, hidden_size=32)
    data.attach_model(model.preprocessing, model.frozen_backbone)
    model.model.head.eval()  # a mistake: the trained head would run without dropout
    lines = io.StringIO()
    trainer = pl.Trainer(max_epochs=1, num_sanity_val_steps=0, log_every_n_steps=50, enable_checkpointing=False,
                         enable_model_summary=False, logger=pl.loggers.TensorBoardLogger(str(tmp_path), name="t"),
                         callbacks=[LineProgress(every_s=0, stream=lines), RunReport()])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        silence_third_party_noise()
        trainer.fit(model, datamodule=data)
    messages = [str(w.message) for w in caught]
    stray = [m for m in messages if "outside the frozen backbone are in eval mode" in m]
    assert stray and "model.head" in stray[0], messages
    assert not [m for m in messages if any(noise in m for noise in NOISE)], messages
    assert trainer.log_every_n_steps == 2, "lowered to the epoch's two batches"
    printed = lines.getvalue()
    assert "\r" not in printed
    assert "  epoch 0 (1 of 1): 1/2 steps, " in printed and " left" in printed, printed
    assert "  validating: 1/1 batches, " in printed, printed
    assert re.search(r"^epoch 0 \(1 of 1\)  step 2  train loss", printed, re.M), printed
    assert "model: efficientnet_lite0 (frozen)" in capsys.readouterr().out


def _help_default(text: str, option: str) -> str:
    """The default that `--help` shows for `option` (jsonargparse prints '(type: ..., default: X)')."""
    block = text.split(f"  {option} ", 1)[1].split("\n  --", 1)[0]
    return re.search(r"default: ([^)]+)\)", " ".join(block.split())).group(1)


def test_help_shows_the_values_of_the_config_given(tmp_path, capsys):
    config = tmp_path / "mine.yaml"
    config.write_text("model:\n  hidden_size: 77\ndata:\n  clip_len: 9\n")
    for args, expected in (([f"--config={config}", "--help"], ("77", "9")), (["--help"], ("128", "12"))):
        with pytest.raises(SystemExit) as stop:
            build_cli(args)
        assert stop.value.code == 0
        text = capsys.readouterr().out
        assert (_help_default(text, "--model.hidden_size"), _help_default(text, "--data.clip_len")) == expected, args
