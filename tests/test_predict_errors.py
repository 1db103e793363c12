"""predict.py on bad input: one line and a distinct exit status, checked before any video is read,
nothing written; each file is one video however it is spelled; a decoder crash costs one file."""
from __future__ import annotations

import csv
import fractions
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch

from pipeline.core.module import VideoClassifierModule
from pipeline.data.datamodule import VideoDataModule
from pipeline.data.readers import available_backends
from pipeline.demo import generate_direction_dataset
from pipeline.errors import (
    EXIT_BAD_INPUT,
    EXIT_OK,
    EXIT_OUTPUT,
    EXIT_SOME_FAILED,
    EXIT_USAGE,
    InputError,
    OutputError,
    UsageError,
)
from pipeline.inference import PredictOptions, TimelineOptions, collect_inputs, predict

REPO = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def direction(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("direction")
    return generate_direction_dataset(root / "data", n_train=4, n_val=2, n_test=2, size=64, num_frames=8, seed=3)


@pytest.fixture(scope="module")
def checkpoint(direction, tmp_path_factory) -> Path:
    """A small real checkpoint (one epoch): these tests are about what predict.py refuses, not accuracy."""
    tmp = tmp_path_factory.mktemp("model")
    pl.seed_everything(0, workers=True)
    data = VideoDataModule(root=str(direction), clip_len=6, batch_size=4, num_workers=0, cache_features=False)
    model = VideoClassifierModule(class_names=data.class_names, sampling=data.sampling, input_size=64, hidden_size=16)
    data.attach_model(model.preprocessing, model.frozen_backbone)
    trainer = pl.Trainer(max_epochs=1, logger=False, enable_progress_bar=False, enable_checkpointing=False,
                         default_root_dir=str(tmp))
    trainer.fit(model, datamodule=data)
    trainer.save_checkpoint(tmp / "model.ckpt")
    return tmp / "model.ckpt"


@pytest.fixture
def videos(direction, tmp_path) -> Path:
    """A folder of three real clips."""
    folder = tmp_path / "videos"
    folder.mkdir()
    for clip in sorted(direction.rglob("*.mp4"))[:3]:
        shutil.copy(clip, folder / clip.name)
    return folder


def _run(*args: str, cwd: Path = REPO, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "scripts" / "predict.py"), *args, "--no-progress",
                           "--workers", "0"], capture_output=True, text=True, cwd=cwd, timeout=300, env=env)


def _rows(path: Path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def _one_line_error(run: subprocess.CompletedProcess, *words: str) -> str:
    """The run's error line: one line, no traceback, naming what went wrong."""
    lines = [line for line in run.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in run.stderr, run.stderr[-3000:]
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize("change, words", [
    (dict(batch_size=0), ["--batch-size 0"]),
    (dict(top_k=0), ["--top-k 0"]),
    (dict(clips=0), ["--clips 0"]),
    (dict(num_workers=-1), ["--workers -1"]),
    (dict(decode_timeout=0), ["--decode-timeout"]),
    (dict(format="xml"), ["--format 'xml'"]),
    (dict(backend="nosuch"), ["--backend", "nosuch"]),
    (dict(timeline=TimelineOptions(window=0)), ["--window 0"]),
    (dict(timeline=TimelineOptions(stride=-1)), ["--stride -1"]),
    (dict(timeline=TimelineOptions(threshold=1.5)), ["--threshold 1.5"]),
    (dict(timeline=TimelineOptions(event_classes=("goal",))), ["--event-classes goal", "left_to_right"]),
])
def test_a_wrong_option_is_refused_before_anything_is_written(checkpoint, videos, tmp_path, change, words):
    output = tmp_path / "out" / "preds.csv"
    options = PredictOptions(str(checkpoint), [str(videos)], str(output), progress=False, **change)
    with pytest.raises(UsageError) as caught:
        predict(options)
    assert all(word in str(caught.value) for word in words), str(caught.value)
    assert not output.parent.exists(), "nothing is written for a run that cannot work"


# Slow (make test-all): the default suite must stay under 10 minutes on 2 cores;
# test_a_wrong_option_is_refused_before_anything_is_written
# covers refusing a bad stride before any work.
@pytest.mark.slow
def test_zero_stride_writes_nothing_and_the_corrected_run_is_not_refused(checkpoint, videos, tmp_path):
    args = ["--ckpt", str(checkpoint), "--input", str(videos), "--output", str(tmp_path / "preds.csv"), "--timeline"]
    run = _run(*args, "--stride", "0")
    assert run.returncode == EXIT_USAGE
    _one_line_error(run, "--stride 0")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["videos"], "no rows, no settings, no timeline folder"
    fixed = _run(*args, "--stride", "0.1")
    assert fixed.returncode == EXIT_OK, fixed.stderr[-3000:]
    assert [r["status"] for r in _rows(tmp_path / "preds.csv")] == ["ok"] * 3


@pytest.mark.slow  # a script start; the option parser's other refusals stay in the default suite
def test_abbreviated_options_are_not_taken_for_real_ones(checkpoint, videos, tmp_path):
    run = _run("--ckpt", str(checkpoint), "--input", str(videos), "--output", str(tmp_path / "p.csv"),
               "--timeline", "--stri", "0.5")
    assert run.returncode == EXIT_USAGE and "unrecognized arguments: --stri" in run.stderr
    assert not (tmp_path / "p.csv").exists()


def _corrupt(tmp_path: Path, kind: str) -> Path:
    path = tmp_path / f"{kind}.ckpt"
    if kind == "random":
        path.write_bytes(os.urandom(4096))
    else:
        path.write_text("this is not a checkpoint\n")
    return path


@pytest.mark.parametrize("kind", ["random", pytest.param("text", marks=pytest.mark.slow)])
def test_an_unusable_checkpoint_is_one_line(videos, tmp_path, kind):
    ckpt = _corrupt(tmp_path, kind)
    run = _run("--ckpt", str(ckpt), "--input", str(videos), "--output", str(tmp_path / "p.csv"))
    assert run.returncode == EXIT_BAD_INPUT
    _one_line_error(run, str(ckpt))
    assert not (tmp_path / "p.csv").exists()
    with pytest.raises(InputError, match="missing.ckpt"):
        predict(PredictOptions(str(tmp_path / "missing.ckpt"), [str(videos)], str(tmp_path / "p.csv")))


@pytest.mark.slow  # test_train_errors.py checks --debug in the default suite
def test_debug_shows_the_traceback(videos, tmp_path):
    run = _run("--ckpt", str(_corrupt(tmp_path, "text")), "--input", str(videos), "--output",
               str(tmp_path / "p.csv"), "--debug")
    assert run.returncode == EXIT_BAD_INPUT and "Traceback" in run.stderr


# Slow (make test-all): the default suite must stay under 10 minutes on 2 cores;
# tests/test_safe_loading.py covers refusing such
# checkpoints through predict.py and train.py.
@pytest.mark.slow
def test_a_checkpoint_that_needs_more_than_plain_data_needs_the_trust_flag(checkpoint, videos, tmp_path):
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    state["notes"] = fractions.Fraction(1, 3)  # harmless, but a class to construct: not plain data
    crafted = tmp_path / "crafted.ckpt"
    torch.save(state, crafted)
    args = ["--ckpt", str(crafted), "--input", str(videos)]
    refused = _run(*args, "--output", str(tmp_path / "refused.csv"))
    assert refused.returncode == EXIT_BAD_INPUT
    _one_line_error(refused, str(crafted), "--trust-checkpoint")
    trusted = _run(*args, "--output", str(tmp_path / "trusted.csv"), "--trust-checkpoint")
    assert trusted.returncode == EXIT_OK, trusted.stderr[-3000:]
    assert len(_rows(tmp_path / "trusted.csv")) == 3


def test_inputs_that_yield_no_videos(checkpoint, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("not a video\n")
    run = _run("--ckpt", str(checkpoint), "--input", str(empty), "--output", str(tmp_path / "p.csv"))
    assert run.returncode == EXIT_BAD_INPUT
    _one_line_error(run, str(empty), "no videos")
    missing = _run("--ckpt", str(checkpoint), "--input", str(tmp_path / "nowhere"), "--output",
                   str(tmp_path / "p.csv"))
    assert missing.returncode == EXIT_BAD_INPUT
    _one_line_error(missing, "nowhere: no such file or directory")
    assert not (tmp_path / "p.csv").exists()
    with pytest.raises(InputError, match="names no videos"):
        listing = tmp_path / "list.txt"
        listing.write_text("# nothing yet\n")
        collect_inputs([str(listing)])


def test_an_output_that_cannot_be_written_is_refused_before_predicting(checkpoint, videos, tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a folder should be\n")
    output = blocker / "preds.csv"
    run = _run("--ckpt", str(checkpoint), "--input", str(videos), "--output", str(output))
    assert run.returncode == EXIT_OUTPUT
    _one_line_error(run, str(output), "is a file")
    folder = tmp_path / "a_folder"
    folder.mkdir()
    with pytest.raises(OutputError, match="is a folder"):
        predict(PredictOptions(str(checkpoint), [str(videos)], str(folder), num_workers=0, progress=False))
    assert list(folder.iterdir()) == []


def test_an_output_with_other_settings_is_refused_and_left_as_it_was(checkpoint, videos, tmp_path):
    output = tmp_path / "preds.csv"
    predict(PredictOptions(str(checkpoint), [str(videos)], str(output), num_workers=0, top_k=1, progress=False))
    before = output.read_text()
    run = _run("--ckpt", str(checkpoint), "--input", str(videos), "--output", str(output), "--top-k", "2")
    assert run.returncode == EXIT_USAGE
    _one_line_error(run, str(output), "top_k", "--overwrite")
    assert output.read_text() == before


def test_one_row_per_file_however_it_is_spelled(checkpoint, videos, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    first = sorted(videos.iterdir())[0]
    (tmp_path / "alias.mp4").symlink_to(first)
    spellings = [f"videos/{first.name}", str(first), "alias.mp4", "./videos/../videos", str(videos)]
    expected = [str(p) for p in sorted(videos.iterdir())]
    assert collect_inputs(spellings) == expected, "one entry per file: the absolute path of its first spelling"
    output = tmp_path / "preds.csv"
    summary = predict(PredictOptions(str(checkpoint), spellings, str(output), num_workers=0, progress=False))
    assert [r["path"] for r in _rows(output)] == expected and summary["videos"] == summary["rows"] == 3

    # Rows written with another spelling (as earlier releases kept the user's relative paths) count as done.
    with open(output, newline="") as handle:
        table = list(csv.reader(handle))
    for row in table[1:]:
        row[0] = os.path.relpath(row[0])
    with open(output, "w", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerows(table)
    again = predict(PredictOptions(str(checkpoint), ["alias.mp4", str(videos)], str(output), num_workers=0,
                                   progress=False))
    assert again["already_done"] == 3 and again["rows"] == 3 and len(_rows(output)) == 3


def test_a_decoder_crash_costs_one_file(checkpoint, videos, tmp_path):
    """The chosen decoder aborts on files named 'abort': a real clip is read by the next decoder
    (its row says which), a file no decoder reads gets decoder_crashed, and the run ends normally."""
    shutil.copy(sorted(videos.iterdir())[0], videos / "abort_clip.mp4")
    (videos / "abort_notes.mp4").write_text("not a video\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}
    output = tmp_path / "preds.csv"
    run = _run("--ckpt", str(checkpoint), "--input", str(videos), "--output", str(output), "--batch-size", "2",
               "--backend", "faulty_readers:AbortingReader", env=env)
    assert run.returncode == EXIT_SOME_FAILED, run.stderr[-3000:]
    rows = {Path(r["path"]).name: r for r in _rows(output)}
    assert len(rows) == 5
    assert rows["abort_notes.mp4"]["status"] == "decoder_crashed" and "died" in rows["abort_notes.mp4"]["error"]
    assert rows["abort_clip.mp4"]["status"] == "ok" and rows["abort_clip.mp4"]["decoder"] == available_backends()[0]
    assert all(r["status"] == "ok" for name, r in rows.items() if not name.startswith("abort"))
    assert "1 failed" in run.stdout and "failed (decoder_crashed): 1" in run.stdout
