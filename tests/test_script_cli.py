"""What the scripts print and what their options are called: evaluate.py and predict.py print their results
and none of the third-party lines that say nothing about the run (pipeline.quiet); exactly those lines are
dropped, real warnings and other log lines still show; `--out` still works as the old name of `--output`
(tests/test_docs.py checks that every script that had it still lists it)."""
from __future__ import annotations

import logging
import re
import subprocess
import sys
import warnings
from pathlib import Path
from typing import List

import pytest

# A small real checkpoint (one epoch on the direction set) and its data: the fixtures of predict.py's error tests.
from test_predict_errors import checkpoint, direction  # noqa: F401

from pipeline.quiet import LIGHTNING_INFO_LOGGER, RUN_INFO, silence_third_party_noise

REPO = Path(__file__).resolve().parents[1]
# Lightning's tips, torch's LeafSpec deprecation, and Lightning's device and seed lines.
NOISE = ("litlogger", "litmodels", "LeafSpec", "GPU available", "TPU available", "Seed set to",
         "CUDA_VISIBLE_DEVICES")


def _run(script: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "scripts" / script), *args], capture_output=True, text=True,
                          cwd=REPO, timeout=300)


def _noise(text: str) -> List[str]:
    return [line for line in text.splitlines() if any(noise in line for noise in NOISE)]


def test_evaluate_prints_its_metrics_and_no_third_party_noise(checkpoint, direction, tmp_path):  # noqa: F811
    # Data options rather than --videos: they build train.py's data module, which seeds (the "Seed set to" line).
    done = _run("evaluate.py", "--ckpt", str(checkpoint), "--output", str(tmp_path / "eval"),
                f"--data.root={direction}", "--data.clip_len=6", "--data.num_workers=0", "--data.cache_features=false")
    printed = done.stdout + done.stderr
    assert done.returncode == 0, printed
    assert re.search(r"^  acc +\d\.\d{4}$", done.stdout, re.M), printed
    assert (tmp_path / "eval" / "report.html").is_file()
    assert not _noise(printed), printed


def test_predict_prints_its_summary_and_no_third_party_noise(checkpoint, direction, tmp_path):  # noqa: F811
    output = tmp_path / "preds.csv"
    done = _run("predict.py", "--ckpt", str(checkpoint), "--input", str(direction / "test"), "--output", str(output),
                "--workers", "0", "--no-progress")
    printed = done.stdout + done.stderr
    assert done.returncode == 0, printed
    assert f"2 ok, 0 failed, of 2 videos -> {output}" in done.stdout, printed
    assert not _noise(printed), printed


class _Kept(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.messages: List[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def kept(monkeypatch) -> _Kept:
    """What Lightning's loggers let through at INFO, starting without filters (an earlier script run in this
    process may have added some); their filters, handlers and levels are put back afterwards."""
    handler = _Kept()
    loggers = [logging.getLogger(name) for name in RUN_INFO]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        monkeypatch.setattr(logger, "filters", [])
        monkeypatch.setattr(logger, "handlers", [*logger.handlers, handler])
        monkeypatch.setattr(logger, "propagate", False)  # Lightning's own handler would print them
        logger.setLevel(logging.INFO)
    yield handler
    for logger, level in zip(loggers, levels):
        logger.setLevel(level)


def _log_lightning_lines() -> None:
    info = logging.getLogger(LIGHTNING_INFO_LOGGER)
    info.info("💡 Tip: For seamless cloud logging and experiment tracking, try installing [litlogger]"
              "(https://pypi.org/project/litlogger/) to enable LitLogger.")
    info.info("GPU available: True (cuda), used: True")
    info.info("TPU available: False, using: 0 TPU cores")
    info.info("Restoring states from the checkpoint path at best.ckpt")
    info.info("GPU available: True (cuda), used: True, but this line is not Lightning's")
    logging.getLogger("pytorch_lightning.accelerators.cuda").info("LOCAL_RANK: 0 - CUDA_VISIBLE_DEVICES: [0]")
    seed = logging.getLogger("lightning_fabric.utilities.seed")
    seed.info("Seed set to 0")
    seed.info("[rank: 1] Seed set to 0")


def test_a_training_run_keeps_lightnings_device_and_seed_lines(kept):
    silence_third_party_noise()
    _log_lightning_lines()
    assert [m for m in kept.messages if "Tip" in m] == []
    assert "GPU available: True (cuda), used: True" in kept.messages
    assert "Seed set to 0" in kept.messages


def test_other_scripts_drop_exactly_lightnings_device_and_seed_lines(kept):
    silence_third_party_noise(run_info=False)
    _log_lightning_lines()
    assert kept.messages == ["Restoring states from the checkpoint path at best.ckpt",
                             "GPU available: True (cuda), used: True, but this line is not Lightning's"]


def test_only_the_noise_warnings_are_dropped():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        silence_third_party_noise(run_info=False)
        pytree = "pytorch_lightning.utilities._pytree"
        warnings.warn_explicit("`isinstance(treespec, LeafSpec)` is deprecated, use `isinstance(treespec, TreeSpec) "
                               "and treespec.is_leaf()` instead.", FutureWarning, "_pytree.py", 21, module=pytree)
        warnings.warn_explicit("another deprecation", FutureWarning, "_pytree.py", 22, module=pytree)
        warnings.warn_explicit("`isinstance(treespec, LeafSpec)` is deprecated", FutureWarning, "mine.py", 1,
                               module="mine")
    assert [str(w.message) for w in caught] == ["another deprecation", "`isinstance(treespec, LeafSpec)` is deprecated"]


def test_evaluate_takes_out_as_output(tmp_path):
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        import evaluate as evaluate_script
    finally:
        sys.path.remove(str(REPO / "scripts"))
    by_old = evaluate_script.parse_args(["--ckpt", "m.ckpt", "--out", str(tmp_path)])
    by_new = evaluate_script.parse_args(["--ckpt", "m.ckpt", "--output", str(tmp_path)])
    assert by_old.out == by_new.out == str(tmp_path)
