"""Batch inference end to end: a model trained here on generated football clips labels folders of
real H.264 files (and broken ones), resumes after a kill, runs on two DDP processes, and finds
goals on a long stitched video."""
from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Tuple

import av
import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from conftest import faststart_copy, frames_pyav_decodes

from pipeline.core.checkpoints import load_classifier_module
from pipeline.core.decision import decide_labels
from pipeline.core.module import VideoClassifierModule
from pipeline.data.datamodule import VideoDataModule
from pipeline.data.datasets import read_clips
from pipeline.data.readers import available_backends, fallback_order
from pipeline.data.sampling import sampler_from_config
from pipeline.demo import generate_football_dataset
from pipeline.demo.video_writer import write_video
from pipeline.errors import EXIT_BAD_INPUT, InputError, UsageError
from pipeline.inference import (
    EXIT_SOME_FAILED,
    PredictOptions,
    TimelineOptions,
    collect_inputs,
    format_summary,
    predict,
)

REPO = Path(__file__).resolve().parents[1]
FPS = 25.0
CLIP_FRAMES = 40

# How far predict()'s probabilities may be from the fp32 module's on this machine. On the CPU both
# run fp32: equal up to float rounding. On a GPU predict() runs 16-mixed (autocast), which moved
# them by about 1e-5 on an H200; 1e-3 leaves room for other cards, still far below a wrong answer.
PROB_ATOL = 1e-3 if torch.cuda.is_available() else 1e-5
# Two CSV values of runs with the same precision (both fp32 on the CPU): printed with 6 significant
# digits, so they may differ in the last one.
CSV_ATOL = 1e-5


@pytest.fixture(scope="module")
def football(tmp_path_factory) -> Path:
    """Enough clips for a model that runs, and 40 test clips to label and stitch."""
    root = tmp_path_factory.mktemp("football") / "data"
    return generate_football_dataset(root, n_train=16, n_val=4, n_test=40, num_frames=CLIP_FRAMES, seed=5)


def _trained(root: Path, tmp: Path, epochs: int) -> Path:
    """A real goal/no_goal model on `root`'s clips: frozen EfficientNet-Lite0 features, a GRU."""
    pl.seed_everything(0, workers=True)
    data = VideoDataModule(root=str(root), clip_len=12, batch_size=16, num_workers=0, cache_dir=str(tmp / "cache"))
    # fp32: the timeline test below needs a model that is sure of the stitched clips' boundaries, and
    # pinning the precision keeps this model the same on CPUs with and without bf16.
    model = VideoClassifierModule(class_names=data.class_names, sampling=data.sampling, input_size=112, hidden_size=128,
                                  lr=2e-3, backbone_precision="fp32")
    data.attach_model(model.preprocessing, model.frozen_backbone)
    trainer = pl.Trainer(max_epochs=epochs, logger=False, enable_progress_bar=False, default_root_dir=str(tmp),
                         callbacks=[pl.callbacks.ModelCheckpoint(dirpath=str(tmp), filename="model")])
    trainer.fit(model, datamodule=data)
    return tmp / "model.ckpt"


@pytest.fixture(scope="module")
def checkpoint(football, tmp_path_factory) -> Path:
    """A real model, a few epochs: what predict.py does with its output is tested, not how good it is."""
    return _trained(football, tmp_path_factory.mktemp("model"), epochs=5)


@pytest.fixture(scope="module")
def football_model(tmp_path_factory) -> Tuple[Path, Path]:
    """(data, checkpoint): a model sure enough of goals for a timeline test (160 training clips, 25 epochs)."""
    root = generate_football_dataset(tmp_path_factory.mktemp("football160") / "data", n_train=160, n_val=20,
                                     n_test=40, num_frames=CLIP_FRAMES, seed=5)
    return root, _trained(root, tmp_path_factory.mktemp("model160"), epochs=25)


@pytest.fixture
def video_folder(football, tmp_path) -> Path:
    """Real clips in nested folders (one with an upper-case extension, one behind a symlink) plus
    a truncated mp4 (its index, written last, is cut off), a zero-byte file and a text file named .mp4."""
    folder = tmp_path / "inbox"
    clips = sorted((football / "test").rglob("*.mp4"))[::5]  # goal and no_goal clips
    for i, clip in enumerate(clips):
        target = folder / ("a" if i % 2 else "b") / (clip.stem + (".MP4" if i == 0 else ".mp4"))
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(clip, target)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    shutil.copy(clips[0], outside / "linked.mp4")
    (folder / "link").symlink_to(outside, target_is_directory=True)
    data = clips[1].read_bytes()
    (folder / "broken").mkdir()
    (folder / "broken" / "truncated.mp4").write_bytes(data[: len(data) // 3])
    (folder / "broken" / "empty.mp4").write_bytes(b"")
    (folder / "broken" / "notes.mp4").write_text("not a video, just text\n")
    (folder / "readme.txt").write_text("ignored: not a video extension\n")
    return folder


def _rows(path: Path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def _run_script(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "scripts" / "predict.py"), *args, "--no-progress"],
                          capture_output=True, text=True, cwd=REPO, timeout=300, **kwargs)


def test_every_file_gets_a_row_and_predictions_match_the_module(checkpoint, video_folder, tmp_path):
    output = tmp_path / "preds.csv"
    summary = predict(PredictOptions(str(checkpoint), [str(video_folder)], str(output), num_workers=0, clips=2,
                                     progress=False))
    rows = {Path(r["path"]).name: r for r in _rows(output)}
    expected = {Path(p).name for p in collect_inputs([str(video_folder)])}
    assert set(rows) == expected and len(_rows(output)) == len(expected), "one row per video, no more"
    broken = {"truncated.mp4", "empty.mp4", "notes.mp4"}
    clips = expected - broken
    assert "linked.mp4" in clips and any(name.endswith(".MP4") for name in clips) and len(clips) == 9
    assert {name for name, r in rows.items() if r["status"] == "ok"} == clips, "every real clip is labelled"
    # Without its index (an mp4 writes it last) no decoder can read a cut file: it fails, and says so.
    assert {name: rows[name]["status"] for name in broken} == {
        "truncated.mp4": "unreadable", "empty.mp4": "empty_file", "notes.mp4": "unreadable"}
    for name in broken:
        assert rows[name]["error"] and rows[name]["label"] == "" and rows[name]["prob_goal"] == ""
    assert summary["exit_code"] == EXIT_SOME_FAILED
    assert (summary["videos"], summary["ok"], summary["failed"]) == (len(expected), len(clips), len(broken))
    assert summary["failures"] == {"unreadable": 2, "empty_file": 1}
    assert summary["per_class"] == {label: sum(r["label"] == label for r in rows.values()) for label in
                                    ("goal", "no_goal")}
    lines = format_summary(summary).splitlines()
    assert lines[0] == f"{len(clips)} ok, {len(broken)} failed, of {len(expected)} videos -> {output}"
    assert "  failed (unreadable): 2" in lines and "  failed (empty_file): 1" in lines
    assert lines[-1] == f"settings: {tmp_path / 'preds.settings.json'}"

    model = load_classifier_module(str(checkpoint))
    settings = json.loads((tmp_path / "preds.settings.json").read_text())
    assert set(settings) == {"checkpoint", "checkpoint_sha256", "class_names", "model", "preprocessing", "sampling",
                             "backend", "top_k", "format", "timeline", "torch", "pytorch_lightning", "python",
                             "backbone_precision"}
    assert settings["checkpoint_sha256"] == hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    assert settings["class_names"] == model.class_names == ["goal", "no_goal"]
    assert settings["sampling"]["num_clips"] == 2 and settings["sampling"]["clip_len"] == 12
    assert (settings["backend"], settings["top_k"], settings["format"], settings["timeline"]) == ("auto", 5, "csv",
                                                                                                  None)

    sampler = sampler_from_config({**model.hparams.sampling["sampler"], "num_clips": 2})
    for name in clips:
        row = rows[name]
        clip_frames = read_clips(row["path"], sampler, model.preprocessing, training=False)
        with torch.no_grad():
            probs = model.video_probabilities({"frames": clip_frames["frames"][None]})[0]
        expected_probs = [float(row[f"prob_{c}"]) for c in model.class_names]
        assert np.allclose(probs.numpy(), expected_probs, atol=PROB_ATOL)
        # the label is the checkpoint's decision (its operating threshold), its probability that label's
        label = int(decide_labels(probs.numpy()[None], model.class_names, model.threshold)[0])
        if float(probs.max() - probs.min()) > 2 * PROB_ATOL:  # a near tie may go either way under 16-mixed
            assert row["label"] == model.class_names[label]
            assert row["topk_labels"].split()[0] == model.class_names[int(probs.argmax())]
        assert np.isclose(float(row["probability"]), float(probs[label]), atol=PROB_ATOL)
        assert row["frame_indices"] == "|".join(" ".join(map(str, c)) for c in clip_frames["frame_indices"].tolist())
        assert int(row["num_frames"]) == CLIP_FRAMES and float(row["fps"]) == FPS and row["clips"] == "2"
        assert row["decoder"] == fallback_order("auto")[0] and float(row["duration"]) == CLIP_FRAMES / FPS
        assert sorted(row["topk_labels"].split()) == sorted(model.class_names)


@pytest.mark.parametrize("backend", ["decord", "opencv", "pyav"])
def test_truncated_mp4_per_backend(checkpoint, football, tmp_path, backend):
    """A cut mp4 whose index comes first: the decoders that open it (opencv, pyav, decord2) label the part
    they can decode and say how many frames that is; decord 0.6 refused it, and then the next installed
    decoder read it (its row says which). A cut mp4 whose index came last (as most encoders write it) is
    unreadable for every decoder."""
    if backend not in available_backends():
        pytest.skip(f"{backend} is not installed")
    clip = sorted((football / "test" / "goal").glob("*.mp4"))[0]
    folder = tmp_path / "cut"
    folder.mkdir()
    faststart = faststart_copy(clip, tmp_path / "faststart.mp4").read_bytes()
    (folder / "index_first.mp4").write_bytes(faststart[: len(faststart) // 2])
    (folder / "index_last.mp4").write_bytes(clip.read_bytes()[: clip.stat().st_size // 2])
    output = tmp_path / "preds.csv"
    summary = predict(PredictOptions(str(checkpoint), [str(folder)], str(output), num_workers=0, backend=backend,
                                     progress=False))
    rows = {Path(r["path"]).name: r for r in _rows(output)}
    assert set(rows) == {"index_first.mp4", "index_last.mp4"}

    last = rows["index_last.mp4"]
    assert last["status"] == "unreadable" and last["error"].startswith(f"{backend} cannot open it")
    first = rows["index_first.mp4"]
    # decord2 opens this file on some runs and refuses it on others (its threaded decoder races the cut),
    # so the row may name the next decoder; whichever read it, the row must be true to that decoder.
    reader = first["decoder"]
    assert reader == backend or (backend == "decord" and reader == fallback_order(backend)[1]), reader
    decodable = frames_pyav_decodes(folder / "index_first.mp4")
    assert 12 <= decodable < CLIP_FRAMES, "the cut should leave a clip's worth of frames, not all of them"
    assert first["status"] == "ok" and first["error"] == "" and first["decoder"] == reader
    # decord2's threaded decoder may stop one frame short of PyAV on a cut file (test_video_reader): never more.
    least = decodable - 1 if reader == "decord" else decodable
    assert least <= int(first["num_frames"]) <= decodable, "num_frames counts what decodes, not what the header says"
    assert float(first["duration"]) == pytest.approx(int(first["num_frames"]) / FPS)
    indices = [int(i) for i in first["frame_indices"].split()]
    assert len(indices) == 12 and max(indices) < decodable
    model = load_classifier_module(str(checkpoint))
    sampler = sampler_from_config(model.hparams.sampling["sampler"])
    clips = read_clips(first["path"], sampler, model.preprocessing, training=False, backend=reader)
    if clips["meta"].num_frames == int(first["num_frames"]):  # decord2 may count one fewer on this read
        with torch.no_grad():
            probs = model.video_probabilities({"frames": clips["frames"][None]})[0]
        assert np.allclose(probs.numpy(), [float(first[f"prob_{c}"]) for c in model.class_names], atol=PROB_ATOL)
    assert summary["ok"] == 1 and summary["failures"] == {"unreadable": 1}


def test_jsonl_output_and_list_file_input(checkpoint, football, tmp_path):
    videos = sorted((football / "val").rglob("*.mp4"))[:3]
    listing = tmp_path / "videos.txt"
    listing.write_text("# to label\n" + "".join(f"{v} {i % 2}\n" for i, v in enumerate(videos)))
    previous = tmp_path / "previous.csv"  # a CSV with a header, like an earlier predictions table
    previous.write_text("path,status\n" + "".join(f"{v},ok\n" for v in videos))
    assert collect_inputs([str(previous)]) == [str(v) for v in videos]
    output = tmp_path / "preds.jsonl"
    summary = predict(PredictOptions(str(checkpoint), [str(listing)], str(output), num_workers=0, progress=False))
    rows = [json.loads(line) for line in output.read_text().splitlines()]
    assert [r["path"] for r in rows] == [str(v) for v in videos]
    assert all(r["status"] == "ok" and len(r["topk_labels"]) == 2 for r in rows)
    assert all(abs(sum(r["topk_probs"]) - 1) < 1e-4 for r in rows)
    threshold = torch.load(checkpoint, map_location="cpu", weights_only=True).get("threshold")
    for row in rows:  # JSON keeps types: numbers are numbers, lists are lists
        expected = row["topk_labels"][0]  # the top-k list ranks by probability
        if threshold is not None:  # two classes: the checkpoint's operating threshold decides the label
            positive = threshold["positive"]
            other = next(c for c in row["topk_labels"] if c != positive)
            expected = positive if row[f"prob_{positive}"] >= threshold["threshold"] else other
        assert row["label"] == expected
        assert row["prob_" + row["label"]] == row["probability"] and row["num_frames"] == CLIP_FRAMES
        assert isinstance(row["frame_indices"], list) and len(row["frame_indices"][0]) == 12
    assert summary["exit_code"] == 0


def test_killed_run_resumes_to_the_same_file(checkpoint, video_folder, tmp_path):
    args = ["--ckpt", str(checkpoint), "--input", str(video_folder), "--batch-size", "1", "--workers", "0"]
    reference = tmp_path / "reference.csv"
    assert _run_script(*args, "--output", str(reference)).returncode == EXIT_SOME_FAILED

    output = tmp_path / "resumed.csv"
    process = subprocess.Popen([sys.executable, str(REPO / "scripts" / "predict.py"), *args, "--output", str(output),
                                "--no-progress"], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and (not output.exists() or output.read_text().count("\n") < 4):
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    partial = output.read_text()
    done_before = partial.count("\n") - 1
    assert 0 < done_before < len(_rows(reference)), "the kill should land in the middle of the run"
    with open(output, "a") as handle:  # as if the kill had torn a row in half
        handle.write("/half/written/row.mp4,ok,,go")

    resumed = _run_script(*args, "--output", str(output))
    assert resumed.returncode == EXIT_SOME_FAILED, resumed.stderr[-2000:]
    assert f"{done_before} of them were already in the output" in resumed.stdout, "done videos are not redone"
    assert output.read_text() == reference.read_text()


def test_resume_refuses_another_checkpoint(checkpoint, football, tmp_path):
    videos = [str(sorted((football / "val").rglob("*.mp4"))[0])]
    output = tmp_path / "preds.csv"
    predict(PredictOptions(str(checkpoint), videos, str(output), num_workers=0, progress=False))
    other = tmp_path / "other.ckpt"
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    state["state_dict"] = {k: v + 0.01 if v.is_floating_point() else v for k, v in state["state_dict"].items()}
    torch.save(state, other)
    with pytest.raises(UsageError, match="checkpoint_sha256"):
        predict(PredictOptions(str(other), videos, str(output), num_workers=0, progress=False))
    predict(PredictOptions(str(other), videos, str(output), num_workers=0, progress=False, overwrite=True))
    (row,) = _rows(output)
    assert row["status"] == "ok"
    settings = json.loads((tmp_path / "preds.settings.json").read_text())
    assert settings["checkpoint_sha256"] == hashlib.sha256(other.read_bytes()).hexdigest()


# slow: two processes start Lightning; DDP itself is covered in the default run by tests/test_ddp_training.py
@pytest.mark.slow
def test_two_ddp_processes_predict_each_video_once(checkpoint, video_folder, tmp_path):
    single, double = tmp_path / "one.csv", tmp_path / "two.csv"
    args = ["--ckpt", str(checkpoint), "--input", str(video_folder), "--workers", "0", "--batch-size", "2",
            "--device", "cpu"]  # both runs fp32 on the CPU, so their values agree to the CSV's digits
    assert _run_script(*args, "--output", str(single)).returncode == EXIT_SOME_FAILED
    run = _run_script(*args, "--output", str(double), "--devices", "2", "--strategy", "ddp")
    assert run.returncode == EXIT_SOME_FAILED, run.stderr[-3000:]
    one = {r["path"]: r for r in _rows(single)}
    two_rows = _rows(double)
    assert len(two_rows) == len(one) and {r["path"] for r in two_rows} == set(one), "each video exactly once"
    assert not list(tmp_path.glob(".two.csv.rank*.part")), "the shards are merged into the output"
    for row in two_rows:
        assert row["status"] == one[row["path"]]["status"]
        if row["status"] == "ok":
            assert row["label"] == one[row["path"]]["label"]
            assert abs(float(row["probability"]) - float(one[row["path"]]["probability"])) <= CSV_ATOL


@pytest.mark.slow  # its model takes 2 minutes to train on 2 cores
def test_timeline_finds_goals_in_a_long_video(football_model, tmp_path):
    football, checkpoint = football_model
    model = load_classifier_module(str(checkpoint))
    sampler = sampler_from_config(model.hparams.sampling["sampler"])

    def confident(label: str):  # clips the model itself gets right: this tests the timeline, not the model
        for clip in sorted((football / "test" / label).glob("*.mp4")):
            frames = read_clips(str(clip), sampler, model.preprocessing, training=False)["frames"]
            with torch.no_grad():
                p = model.video_probabilities({"frames": frames[None]})[0]
            if model.class_names[int(p.argmax())] == label and float(p.max()) > 0.8:
                yield clip

    goals, others = confident("goal"), confident("no_goal")
    sequence = ["no_goal", "no_goal", "goal", "no_goal", "no_goal", "no_goal", "goal", "no_goal", "no_goal"]
    frames, truth = [], []
    for i, label in enumerate(sequence):
        clip = next(goals if label == "goal" else others)
        with av.open(str(clip)) as container:
            frames += [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
        if label == "goal":
            truth.append((i * CLIP_FRAMES / FPS, (i + 1) * CLIP_FRAMES / FPS))
    long_video = write_video(tmp_path / "match.mp4", frames, fps=FPS)

    window, stride = CLIP_FRAMES / FPS, 0.16
    # Windows that straddle two stitched clips see the ball jump; asking for two agreeing windows
    # (min_duration) at a high threshold is how a user keeps such one-window blips out.
    options = TimelineOptions(window=window, stride=stride, threshold=0.9, min_duration=window + stride,
                              merge_gap=stride, event_classes=("goal",))
    output = tmp_path / "match.csv"
    summary = predict(PredictOptions(str(checkpoint), [str(long_video)], str(output), num_workers=0,
                                     progress=False, timeline=options))
    timeline = Path(summary["timeline_dir"])
    with open(timeline / "events.csv", newline="") as handle:
        events = list(csv.DictReader(handle))
    assert len(events) == len(truth), f"expected goals at {truth}, found {events}"
    for event, (start, end) in zip(events, truth):
        assert abs(float(event["start"]) - start) <= window and abs(float(event["end"]) - end) <= window
        assert start - window <= float(event["peak_time"]) <= end + window
    windows = _rows(timeline / "match.windows.csv")
    assert len(windows) == int(np.ceil((len(frames) - CLIP_FRAMES) / 4)) + 1  # stride 0.16 s = 4 frames
    assert (timeline / "match.png").stat().st_size > 10_000
    (row,) = _rows(output)
    mean = np.mean([[float(w[f"prob_{c}"]) for c in model.class_names] for w in windows], axis=0)
    # Both from the same run, as printed in the CSVs (6 significant digits); the row's label is the checkpoint's
    # decision (its operating threshold), and its probability that label's.
    label = model.class_names.index(row["label"])
    assert row["clips"] == str(len(windows)) and np.isclose(float(row["probability"]), mean[label], atol=CSV_ATOL)


def test_missing_inputs(checkpoint, tmp_path):
    with pytest.raises(InputError, match="nowhere"):
        collect_inputs([str(tmp_path / "nowhere")])
    output = tmp_path / "preds.csv"
    summary = predict(PredictOptions(str(checkpoint), [str(tmp_path / "gone.mp4")], str(output), num_workers=0,
                                     progress=False))
    (row,) = _rows(output)
    assert row["status"] == "not_found" and row["path"] == str(tmp_path / "gone.mp4") and row["error"]
    assert summary["exit_code"] == EXIT_SOME_FAILED
    run = _run_script("--ckpt", str(checkpoint), "--input", str(tmp_path / "nowhere"), "--output",
                      str(tmp_path / "never.csv"))
    assert run.returncode == EXIT_BAD_INPUT and "nowhere: no such file or directory" in run.stderr
    assert "Traceback" not in run.stderr and not (tmp_path / "never.csv").exists()


@pytest.mark.slow  # two predict.py processes: 30 s
def test_one_core_gets_one_worker_and_a_timeline_prints_no_lightning_noise(checkpoint, football, tmp_path):
    """Pinned to one core (as `taskset -c` or a SLURM binding does), predict.py's default is one loader
    worker, not the machine's count (torch warns when workers outnumber the cores); a timeline run prints
    none of Lightning's warnings about batch indices it never needs."""
    clips = sorted((football / "test").rglob("*.mp4"))[:3]
    one_core = min(os.sched_getaffinity(0))
    run = _run_script("--ckpt", str(checkpoint), "--input", *map(str, clips), "--output", str(tmp_path / "p.csv"),
                      preexec_fn=lambda: os.sched_setaffinity(0, {one_core}))
    assert run.returncode == 0, run.stderr
    assert "worker processes in total" not in run.stderr and "Our suggested max number of worker" not in run.stderr
    assert len(_rows(tmp_path / "p.csv")) == 3
    run = _run_script("--ckpt", str(checkpoint), "--input", str(clips[0]), "--output", str(tmp_path / "t.csv"),
                      "--timeline", "--window", "0.8", "--stride", "0.4")
    assert run.returncode == 0, run.stderr
    assert "Couldn't infer the batch indices" not in run.stderr + run.stdout
