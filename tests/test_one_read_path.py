"""Every part of the toolkit reads frames one way (`iter_with_fallback`): what a decoder returns is checked
before any transform sees it, any failure of the decoder or the transform hands the file to the next
decoder, and a run says so once. Raw-video AVIs 48 px wide (uncompressed `bgr24`, as academic sets ship)
are read on the first try of the decoder that reads them: decord, which misreads frames of that width,
declines them when it opens them.
"""
from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from models.preprocessing import Preprocessing
from pipeline import Recognizer
from pipeline.data.annotations import VideoRecord
from pipeline.data.clip_frames import eval_clip_frames
from pipeline.data.readers import (
    DecordReader,
    VideoReadError,
    available_backends,
    fallback_order,
    fallback_summary,
    read_with_fallback,
    recording_fallbacks,
)
from pipeline.data.readers.fallbacks import ENV
from pipeline.data.sampling import SegmentSampler
from pipeline.data.transforms import ResizeCrop
from pipeline.data.video_check import check_videos
from pipeline.demo import write_raw_avi as write_raw
from pipeline.demo import write_video
from pipeline.training.cli import train

FAULTY = ["faulty_readers:FourChannelReader", "faulty_readers:FrameShortReader", "faulty_readers:ValueErrorReader",
          "faulty_readers:ValueErrorOpenReader"]
FAULT_KIND = {"FourChannelReader": "bad_output", "FrameShortReader": "bad_output", "ValueErrorReader": "decode_error",
              "ValueErrorOpenReader": "unreadable"}
RAW_SIZE = (64, 48)  # (height, width): the frame size decord 0.6 fails on ("from_size == to_size (12288 vs. 9216)")


def raw_frame(index: int, height: int, width: int, moving: bool) -> np.ndarray:
    """An RGB frame: a ramp, the frame's index in the red channel, and a bar that moves one way or stays."""
    frame = np.zeros((height, width, 3), dtype=np.uint8)
    frame[..., 1] = np.linspace(0, 255, width, dtype=np.uint8)[None]
    frame[..., 0] = (index * 9) % 256
    column = (index * 3) % (width - 6) if moving else width // 2
    frame[:, column:column + 6, 2] = 255
    return frame


def write_raw_avi(path: Path, frames: int = 24, moving: bool = True, size=RAW_SIZE) -> Path:
    return write_raw(path, (raw_frame(i, *size, moving) for i in range(frames)))


@pytest.fixture(scope="module")
def raw_avi(tmp_path_factory) -> Path:
    return write_raw_avi(tmp_path_factory.mktemp("raw") / "raw clip.avi")


def test_decord_declines_the_widths_it_misreads_and_decodes_to_size_only_where_right(raw_avi, tmp_path):
    if "decord" not in available_backends():
        pytest.skip("decord is not installed")
    narrow = write_video(tmp_path / "narrow.mp4", (raw_frame(i, 64, 48, True) for i in range(10)))
    for video in (raw_avi, narrow):  # raw or H.264 alike: the width decides
        with pytest.raises(VideoReadError) as error:
            DecordReader(video)
        assert error.value.kind == "unsupported" and "48 px wide" in error.value.reason
    wide = write_raw(tmp_path / "wide.avi", (raw_frame(i, 64, 96, True) for i in range(10)))
    reader = DecordReader(wide)  # raw video of another width: decord reads it exactly
    assert np.array_equal(reader.get_frames([3])[0], raw_frame(3, 64, 96, True))
    to_48 = ResizeCrop(Preprocessing(resize_size=32, crop_size=32, mean=(0.5,) * 3, std=(0.5,) * 3))
    assert to_48.scaled_size(64, 96) == (32, 48) and reader.size_for(to_48) is None  # decoded whole, then resized
    assert reader.get_frames([0, 3], to_48).shape == (2, 32, 32, 3)


@pytest.mark.parametrize("isolated", [False, True], ids=["in-process", "isolated"])
def test_raw_avi_is_read_exactly_by_the_first_decoder_that_can(raw_avi, isolated, caplog):
    with caplog.at_level(logging.WARNING):
        used, frames = read_with_fallback(raw_avi, "auto", lambda r: (r.meta.backend, r.get_frames([0, 5, 23])),
                                          isolated=isolated)
    assert used != "decord" and frames.shape == (3, *RAW_SIZE, 3)
    for got, index in zip(frames, [0, 5, 23]):
        assert np.array_equal(got, raw_frame(index, *RAW_SIZE, moving=True))
    if fallback_order("auto")[0] == "decord":  # said once, naming the decoder that read it
        assert caplog.text.count("read with") == 1 and f"read with {used}" in caplog.text
    else:  # the first decoder reads it: nothing to say
        assert "read with" not in caplog.text


@pytest.mark.parametrize("isolated", [False, True], ids=["in-process", "isolated"])
@pytest.mark.parametrize("backend", FAULTY, ids=lambda b: b.split(":")[1])
def test_a_faulty_decoder_hands_the_file_to_the_next_one(index_video, backend, isolated, caplog):
    with caplog.at_level(logging.WARNING):
        used, frames = read_with_fallback(index_video, backend, lambda r: (r.meta.backend, r.get_frames([1, 7])),
                                          isolated=isolated)
    assert used == available_backends()[0] and frames.shape[0] == 2 and frames.shape[-1] == 3
    assert f"read with {used} instead" in caplog.text and "index.mp4" in caplog.text
    with pytest.raises(VideoReadError) as error:  # alone, it names the file and what went wrong
        read_with_fallback(index_video, backend, lambda r: r.get_frames([1, 7]), isolated=isolated, fallback=False)
    assert error.value.kind == FAULT_KIND[backend.split(":")[1]] and "index.mp4" in str(error.value)


def test_many_fallbacks_are_said_once_counted_and_listed(tmp_path, index_video, caplog):
    videos = []
    for i in range(5):
        videos.append(tmp_path / f"copy {i}.mp4")
        videos[-1].write_bytes(index_video.read_bytes())
    first = available_backends()[0]
    with recording_fallbacks(tmp_path / "decoder_fallbacks.tsv") as listing, caplog.at_level(logging.WARNING):
        for video in videos + videos:  # each file twice: read with the decoder that worked, listed once
            read_with_fallback(video, "faulty_readers:FourChannelReader", lambda r: r.get_frames([0]))
        assert os.environ[ENV] == str(listing)
        summary = fallback_summary()
    assert ENV not in os.environ, "the list is the run's only"
    assert caplog.text.count("read with") == 1 and "copy 0.mp4" in caplog.text and str(listing) in caplog.text
    rows = listing.read_text().splitlines()
    assert rows[0].split("\t") == ["path", "kind", "read_with", "reason"]
    assert len(rows) == 6 and all(row.split("\t")[1:3] == ["bad_output", first] for row in rows[1:])
    assert summary["videos"] == 5 and summary["by_decoder"] == {first: 5}


def test_a_list_another_process_began_is_not_said_again(tmp_path, index_video, caplog):
    listing = tmp_path / "decoder_fallbacks.tsv"
    with recording_fallbacks(listing, fresh=False):
        listing.write_text("path\tkind\tread_with\treason\nother.mp4\tbad_output\tpyav\tsaid already\n")
        with caplog.at_level(logging.WARNING):
            read_with_fallback(index_video, "faulty_readers:FourChannelReader", lambda r: r.get_frames([0]))
        assert "read with" not in caplog.text and fallback_summary()["videos"] == 2


def test_transform_failures_and_job_bugs(index_video):
    def broken(frames):
        raise ValueError("cannot crop this")

    with pytest.raises(VideoReadError) as error:
        read_with_fallback(index_video, "pyav", lambda r: r.get_frames([0], transform=broken), fallback=False,
                           isolated=False)
    assert error.value.kind == "transform_failed" and "cannot crop this" in error.value.reason
    with pytest.raises(VideoReadError) as error:
        read_with_fallback(index_video, "pyav", lambda r: r.get_frames([0], transform=lambda f: f.astype(np.float32)),
                           fallback=False, isolated=False)
    assert error.value.kind == "transform_failed"
    with pytest.raises(ZeroDivisionError):  # the job's own bug is not a decoder's failure: not retried, not hidden
        read_with_fallback(index_video, "auto", lambda r: 1 / 0)


def test_check_videos_reads_raw_avis_and_names_what_no_decoder_reads(raw_avi, tmp_path):
    garbage = tmp_path / "garbage.avi"
    garbage.write_bytes(b"RIFF not really an avi" * 50)
    good, bad = check_videos([raw_avi, garbage], clip_len=8)
    assert good.status == "ok" and good.decoder != "decord" and good.frames == 24
    assert not bad.usable and bad.path == str(garbage)
    alone = check_videos([raw_avi], backend="faulty_readers:FourChannelReader", fallback=False)[0]
    assert alone.status == "bad_output" and "48, 4)" in alone.reason


@pytest.fixture(scope="module")
def raw_run(tmp_path_factory) -> dict:
    """scripts/train.py with every reading default over a class-folder set of raw bgr24 48x64 AVIs (the bar
    moves in one class, stays in the other), the model shrunk to keep the test short."""
    tmp = tmp_path_factory.mktemp("raw_run")
    for label, moving in (("moves", True), ("stays", False)):
        (tmp / "videos" / label).mkdir(parents=True)
        for i in range(8):
            write_raw_avi(tmp / "videos" / label / f"{label} [{i}].avi", frames=20 + i, moving=moving)
    logger = {"class_path": "pytorch_lightning.loggers.TensorBoardLogger",
              "init_args": {"save_dir": str(tmp / "runs"), "name": "raw"}}
    args = [f"--data.root={tmp / 'videos'}", "--data.clip_len=8", "--data.batch_size=4",
            f"--data.cache_dir={tmp / 'cache'}", "--model.input_size=64", "--model.hidden_size=16",
            "--trainer.max_epochs=2", "--trainer.enable_progress_bar=false", f"--trainer.logger={json.dumps(logger)}"]
    summary = train(args)
    return {"summary": summary, "root": tmp / "videos", "tmp": tmp}


def test_training_on_raw_avis_with_every_default_completes(raw_run):
    summary = raw_run["summary"]
    assert summary["test_metrics"]["test/acc"] >= 0 and Path(summary["best_checkpoint"]).is_file()
    assert not summary["skipped_videos"]
    fallbacks = summary["decoder_fallbacks"]
    if fallback_order("auto")[0] == "decord":  # decord declined every file; each was read on the next one's first try
        assert fallbacks["videos"] == 16 and set(fallbacks["by_decoder"]) == {fallback_order("auto")[1]}
        listed = Path(fallbacks["list"]).read_text().splitlines()[1:]
        assert {row.split("\t")[1] for row in listed} == {"unsupported"}


def test_every_entry_point_reads_raw_avis_past_a_faulty_decoder(raw_run):
    ckpt, root = raw_run["summary"]["best_checkpoint"], raw_run["root"]
    video = sorted((root / "moves").glob("*.avi"))[0]
    for backend in ("auto", *FAULTY):
        recognizer = Recognizer.from_checkpoint(ckpt, backend=backend, num_workers=0)
        prediction = recognizer.predict(video)
        assert prediction.label in ("moves", "stays") and prediction.decoder not in ("decord", backend)
        timeline = recognizer.timeline(video, window=0.4, stride=0.2)
        assert len(timeline.times) >= 2
    # the frame strips of the dashboards and of the evaluation report
    dataset = SimpleNamespace(records=[VideoRecord(video, 0)], sampler=SegmentSampler(8))
    preprocessing = Preprocessing(resize_size=73, crop_size=64, mean=(0.5,) * 3, std=(0.5,) * 3)
    for backend in FAULTY:
        frames, used = eval_clip_frames(dataset, 0, preprocessing, backend)
        assert frames.shape == (8, 64, 64, 3) and len(used) == 8


def test_evaluate_reads_raw_avis_past_a_faulty_decoder(raw_run, tmp_path, capfd):
    """scripts/evaluate.py: predictions, metrics and the report's frame strips, with a first decoder that
    returns 4 channels for every file."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
    import evaluate as evaluate_script  # scripts/evaluate.py

    ckpt, root = raw_run["summary"]["best_checkpoint"], raw_run["root"]
    out = tmp_path / "report"
    code = evaluate_script.main(["--ckpt", ckpt, "--output", str(out), "--split", "test", "--mistakes", "4",
                                 f"--data.root={root}", "--data.clip_len=8", "--data.num_workers=0",
                                 "--data.backend=faulty_readers:FourChannelReader",
                                 f"--data.cache_dir={raw_run['tmp'] / 'cache4'}"])
    assert code == 0
    metrics = json.loads((out / "metrics.json").read_text())
    tested = np.array(raw_run["summary"]["confusion_matrix"]["rows_true_cols_predicted"]).sum()
    assert metrics["videos"] == tested and (out / "report.html").is_file()
    assert metrics["decoder_fallbacks"]["videos"] == tested and (out / "decoder_fallbacks.tsv").is_file()
    assert "Traceback" not in capfd.readouterr().err


def test_predict_says_fallbacks_once_and_lists_them_beside_the_output(raw_run, tmp_path):
    """scripts/predict.py with two loader workers, the first decoder failing on every file: one warning,
    every file listed beside the output, the count in the summary, no traceback."""
    output = tmp_path / "preds.csv"
    tests = Path(__file__).resolve().parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tests), os.environ.get("PYTHONPATH", "")])}
    run = subprocess.run([sys.executable, str(tests.parent / "scripts" / "predict.py"), "--ckpt",
                          raw_run["summary"]["best_checkpoint"], "--input", str(raw_run["root"]), "--output",
                          str(output), "--workers", "2", "--backend", "faulty_readers:ValueErrorReader",
                          "--no-progress"], capture_output=True, text=True, env=env, timeout=600)
    assert run.returncode == 0, run.stderr
    both = run.stdout + run.stderr
    assert both.count("read with") == 1 and "Traceback" not in both
    assert "videos read by another decoder than the chosen one: 16" in run.stdout
    assert len((tmp_path / "preds.decoder_fallbacks.tsv").read_text().splitlines()) == 17
