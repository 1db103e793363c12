"""Live recognition end to end on real encoded video: a UDP MPEG-TS stream sent on this machine at real-time
pace (with a pause: a gap, then windows again), standard input, a file at its own pace, several streams in one
process, an unreachable source, SIGINT, and a model slower than the stream. Live records are compared with
predict.py's timeline of the same frames (the Recognizer's, PyAV decoding as live does)."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Dict, List

import numpy as np
import pytest
from conftest import index_frame
from live_support import free_udp_port, make_checkpoint, wait_bound

from pipeline.demo.stream_sender import send_mpegts
from pipeline.demo.video_writer import write_video
from pipeline.errors import EXIT_BAD_INPUT, EXIT_OK, UsageError
from pipeline.inference.api import Recognizer
from pipeline.inference.timeline import TimelineOptions, find_events, window_frames, window_indices
from pipeline.live.events import EventTracker
from pipeline.live.frame_queue import FrameItem
from pipeline.live.runner import LiveOptions, LiveRun
from pipeline.live.sources import SourceError
from pipeline.live.windows import SegmentWindows

REPO = Path(__file__).resolve().parents[1]
FPS = 25.0
# Windows of 1 s every 0.36 s (25 and 9 frames): clips of 6 frames overlap unevenly, and most lengths leave a tail.
TIMELINE = TimelineOptions(window=1.0, stride=0.36, threshold=0.5, min_duration=0.5, merge_gap=0.4)
# Live and the timeline run the same fp32 CNN on the same pixels, in batches of other sizes: equal up to
# float rounding (measured: at most 5e-7).
PROB_ATOL = 1e-5


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """A small real checkpoint (one epoch): these tests are about streaming, not accuracy."""
    return make_checkpoint(tmp_path_factory.mktemp("model"))


@pytest.fixture(scope="module")
def rec(checkpoint) -> Recognizer:
    return Recognizer.from_checkpoint(checkpoint, device="cpu", num_workers=0, backend="pyav")


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> Dict[str, Path]:
    """MPEG-TS files of index frames: part1 (frames 0-99), part2 (100-174), and a 2-s mp4."""
    folder = tmp_path_factory.mktemp("live")
    return {
        "part1": write_video(folder / "part1.ts", [index_frame(i) for i in range(100)], fps=FPS),
        "part2": write_video(folder / "part2.ts", [index_frame(i) for i in range(100, 175)], fps=FPS),
        "short": write_video(folder / "short.mp4", [index_frame(i) for i in range(300, 352)], fps=FPS),
    }


def _timeline(rec: Recognizer, path: Path):
    return rec.timeline(path, window=TIMELINE.window, stride=TIMELINE.stride, threshold=TIMELINE.threshold,
                        min_duration=TIMELINE.min_duration, merge_gap=TIMELINE.merge_gap)


def _assert_matches_timeline(records: List[Dict[str, Any]], timeline, class_names) -> None:
    """Window records (times relative to their segment's first window) and events equal the timeline's."""
    windows = [r for r in records if r["type"] == "window"]
    offset = windows[0]["start"]
    times = np.array([[r["start"] - offset, r["end"] - offset] for r in windows])
    probs = np.array([[r["probabilities"][c] for c in class_names] for r in windows])
    assert times.shape == timeline.times.shape, (times, timeline.times)
    np.testing.assert_allclose(times, timeline.times, atol=2e-3)
    np.testing.assert_allclose(probs, timeline.probabilities, atol=PROB_ATOL)
    ends = [(r["label"], r["start"] - offset, r["end"] - offset, r["peak_probability"]) for r in records
            if r["type"] == "event_end"]
    expected = [(e.label, e.start, e.end, e.peak_probability) for e in timeline.events]
    assert [e[0] for e in sorted(ends)] == [e[0] for e in sorted(expected)]
    np.testing.assert_allclose([e[1:] for e in sorted(ends)], [e[1:] for e in sorted(expected)], atol=2e-3)


def _run(rec: Recognizer, sources, **options) -> List[Dict[str, Any]]:
    """The records of the Python API's stream (scripts/live.py's run)."""
    return list(rec.stream(sources, window=TIMELINE.window, stride=TIMELINE.stride, threshold=TIMELINE.threshold,
                           min_duration=TIMELINE.min_duration, merge_gap=TIMELINE.merge_gap, **options))


# ---------------------------------------------------------------------- windows and events, no model


@pytest.mark.parametrize("fps,window,stride",
                         [(25.0, 1.0, 0.36), (25.0, 2.0, 1.0), (29.97, 1.6, 0.2), (10.0, 0.5, 0.7)])
def test_incremental_windows_are_the_timelines(fps, window, stride):
    from pipeline.data.sampling import SegmentSampler

    sampler = SegmentSampler(6)
    options = TimelineOptions(window=window, stride=stride)
    for n in [1, 3, 5, 12, 15, 16, 17, 40, 51, 97]:
        windows = SegmentWindows(fps, options, sampler)
        live = []
        for arrived in range(1, n + 1):  # frame by frame, as a stream delivers them
            live += windows.completed(arrived)
        tail = windows.tail(n)
        live += [tail] if tail is not None else []
        expected = window_frames(n, fps, window, stride)
        assert [(w.start, w.end) for w in live] == expected
        np.testing.assert_array_equal(np.stack([w.indices for w in live]), window_indices(expected, sampler))
        # the frames live converts and embeds: those of some regular window's clip (arrived or not), no others
        clips = {int(s) + int(o) for s in range(0, n + 1, windows.step) for o in windows.offsets}
        assert {i for i in range(n) if windows.needed(i)} == {i for i in range(n) if i in clips}


def test_event_tracker_gives_find_events():
    rng = np.random.default_rng(0)
    names = ["a", "b"]
    for _ in range(50):
        w = int(rng.integers(1, 40))
        starts = np.cumsum(rng.choice([0.2, 0.36, 0.5], size=w)) - 0.2
        times = np.stack([starts, starts + 1.0], axis=1)
        p = rng.uniform(size=w)
        probs = np.stack([p, 1 - p], axis=1)
        options = TimelineOptions(threshold=float(rng.choice([0.3, 0.5, 0.7])),
                                  min_duration=float(rng.choice([0, 1.3, 2])),
                                  merge_gap=float(rng.choice([0, 0.3, 1.0])))
        tracker = EventTracker(names, options)
        changes = []
        for (s, e), row in zip(times, probs):
            changes += tracker.add(s, e, row)
        changes += tracker.close_all()
        ends = [change.event for change in changes if change.kind == "end"]
        starts_said = [change.event for change in changes if change.kind == "start"]
        expected = find_events(times, probs, names, options)
        assert sorted(ends, key=lambda e: (e.start, e.label)) == expected
        assert sorted((e.label, e.start) for e in starts_said) == sorted((e.label, e.start) for e in expected)


# ---------------------------------------------------------------------- real streams


def test_file_records_equal_the_timeline(rec, videos):
    records = _run(rec, [str(videos["part1"])])
    _assert_matches_timeline(records, _timeline(rec, videos["part1"]), rec.class_names)
    summary = records[-1]
    assert summary["type"] == "summary" and summary["frames"] == 100 and summary["dropped"] == 0
    assert summary["windows"] == len([r for r in records if r["type"] == "window"])
    assert summary["latency_ms_p50"] is not None and summary["latency_ms_p95"] >= summary["latency_ms_p50"]
    for r in records:
        assert {"type", "stream_time", "wall_time"} <= set(r) and "stream" not in r
    assert all("latency_ms" in r for r in records if r["type"] in ("window", "event_start", "event_end"))


@pytest.mark.slow  # test_live_gaps.py streams a 3-s silence over UDP in the default suite
@pytest.mark.skipif(not os.path.exists("/proc/net/udp"), reason="needs Linux's /proc/net/udp")
def test_udp_stream_with_a_pause(rec, videos):
    """A real network stream: MPEG-TS over UDP at real-time pace, paused for 3 s: the first part's windows, a
    gap record, then the second part's windows, each equal to the timeline of the frames sent."""
    port = free_udp_port()
    url = f"udp://127.0.0.1:{port}"
    run = LiveRun(rec.model, LiveOptions(sources=(url,), timeline=TIMELINE, stall_timeout=1.0, max_backoff=0.5,
                                         queue_frames=10_000))  # as above: nothing dropped however busy the machine
    records: List[Dict[str, Any]] = []
    consumer = threading.Thread(target=lambda: records.extend(run.records()), daemon=True)
    consumer.start()
    wait_bound(port)
    send_mpegts(str(videos["part1"]), url)
    time.sleep(3.0)  # the sender is away: the receiver stalls after 1 s and keeps reopening
    wait_bound(port)  # send when it listens again (between attempts nothing is bound, as for any receiver)
    send_mpegts(str(videos["part2"]), url)
    deadline = time.monotonic() + 30
    while not _segment_done(records, 1):  # the second part stalls too, and its tail window comes
        assert time.monotonic() < deadline, records
        time.sleep(0.1)
    run.stop()
    consumer.join(timeout=30)
    assert not consumer.is_alive()
    kinds = [r["type"] for r in records]
    gap = kinds.index("gap")
    first, second = records[:gap], [r for r in records[gap + 1:] if r.get("segment", 1) == 1]
    assert all(r.get("segment", 0) == 0 for r in first if r["type"] == "window")
    _assert_matches_timeline(first, _timeline(rec, videos["part1"]), rec.class_names)
    _assert_matches_timeline(second, _timeline(rec, videos["part2"]), rec.class_names)
    pause = records[gap]
    assert 1.5 < pause["duration"] < 15 and pause["stream_time"] == pytest.approx(100 / FPS, abs=0.01)
    # stream time goes on across the gap: the second part starts where the pause ends
    assert second[0]["start"] == pytest.approx(pause["stream_time"] + pause["duration"], abs=0.05)
    assert records[-1]["type"] == "summary" and records[-1]["gaps"] >= 1 and records[-1]["frames"] == 175


def _segment_done(records: List[Dict[str, Any]], segment: int) -> bool:
    """Whether the windows of `segment` have come, up to its tail (the segment has ended)."""
    windows = [r for r in records if r["type"] == "window" and r["segment"] == segment]
    return bool(windows) and windows[-1]["end"] - windows[0]["start"] >= 75 / FPS - 1e-3


def _script(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "scripts" / "live.py"), *args], capture_output=True,
                          text=True, cwd=REPO, timeout=300, **kwargs)


def _timeline_args() -> List[str]:
    return ["--window", str(TIMELINE.window), "--stride", str(TIMELINE.stride), "--threshold", str(TIMELINE.threshold),
            "--min-duration", str(TIMELINE.min_duration), "--merge-gap", str(TIMELINE.merge_gap)]


@pytest.mark.slow  # test_stdin_with_realtime_is_a_live_feed_that_drops_frames reads stdin by default
def test_stdin_mpegts(rec, checkpoint, videos):
    with open(videos["part2"], "rb") as stdin:
        run = _script("--ckpt", str(checkpoint), "--source", "-", "--device", "cpu", *_timeline_args(), stdin=stdin)
    assert run.returncode == EXIT_OK, run.stderr
    records = [json.loads(line) for line in run.stdout.splitlines()]
    _assert_matches_timeline(records, _timeline(rec, videos["part2"]), rec.class_names)
    assert records[-1]["type"] == "summary" and "dropped" in run.stderr.splitlines()[-1]


def test_file_at_its_own_pace(rec, videos):
    start = time.monotonic()
    # a queue no load can fill: the test is about pacing and equality, and a busy machine must not drop frames
    records = _run(rec, [str(videos["short"])], realtime=True, queue_frames=10_000)
    assert time.monotonic() - start >= 51 / FPS - 0.1  # 52 frames at 25 fps: never faster than the video
    _assert_matches_timeline(records, _timeline(rec, videos["short"]), rec.class_names)


def test_several_streams_share_the_cnn(rec, videos):
    # Files read as fast as they decode keep both queues full, so every batch can take from both.
    run = LiveRun(rec.model, LiveOptions(sources=(str(videos["part1"]), str(videos["short"])), timeline=TIMELINE))
    process, mixed = run._process, []

    def spy(taken, ended):
        mixed.append(sum(any(isinstance(item, FrameItem) for item in items) for items in taken))
        return process(taken, ended)

    run._process = spy
    records = list(run.records())
    assert max(mixed) == 2  # one CNN batch held frames of both streams
    for name in ("part1", "short"):
        mine = [r for r in records if r.get("stream") == str(videos[name])]
        _assert_matches_timeline(mine, _timeline(rec, videos[name]), rec.class_names)
    summary = records[-1]
    assert [s["stream"] for s in summary["streams"]] == [str(videos["part1"]), str(videos["short"])]
    assert summary["frames"] == 152


def test_a_model_slower_than_the_stream_drops_frames(rec, videos):
    run = LiveRun(rec.model, LiveOptions(sources=(str(videos["part1"]),), timeline=TIMELINE, realtime=True,
                                         queue_frames=4, batch_size=1))
    embed = run._embed

    def slow(pixels):
        time.sleep(0.15)  # about 7 frames/s; the windows need 16 of the 25 frames each second
        return embed(pixels)

    run._embed = slow
    records = list(run.records())
    summary = records[-1]
    assert summary["dropped"] > 0 and 0 < summary["dropped_share"] < 1
    assert summary["embedded"] < summary["sampled"]
    # bounded: the queue never held more than its size (+ the tail window's frames, never dropped, at the end)
    assert run.queues.peak_frames(0) <= 4 + run.sampler.clip_len
    assert summary["windows_filled"] > 0
    assert all(len(r["probabilities"]) == 2 for r in records if r["type"] == "window")


def test_stdin_with_realtime_is_a_live_feed_that_drops_frames(rec, videos):
    # `--source - --realtime`: a live producer on the pipe (ffmpeg from a camera) must not be made to wait
    saved = os.dup(0)
    with open(videos["part2"], "rb") as ts:
        os.dup2(ts.fileno(), 0)
    try:
        run = LiveRun(rec.model, LiveOptions(sources=("-",), timeline=TIMELINE, realtime=True, queue_frames=4,
                                             batch_size=1))
        embed = run._embed

        def slow(pixels):
            time.sleep(0.15)
            return embed(pixels)

        run._embed = slow
        records = list(run.records())
    finally:
        os.dup2(saved, 0)
        os.close(saved)
    summary = records[-1]
    assert summary["type"] == "summary" and summary["dropped"] > 0 and summary["embedded"] < summary["sampled"]
    assert run.queues.peak_frames(0) <= 4 + run.sampler.clip_len


def test_unreachable_source_is_one_line_and_exit_4(checkpoint, capsys):
    import runpy

    from pipeline.errors import run_script

    live = runpy.run_path(str(REPO / "scripts" / "live.py"))  # its main, in this process (no new interpreter)
    with socket.socket() as s:  # a TCP port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"rtsp://127.0.0.1:{port}/live"
    with pytest.raises(SystemExit) as stopped:
        run_script(live["main"], ["--ckpt", str(checkpoint), "--source", url, "--stall-timeout", "2"])
    err = capsys.readouterr().err
    assert stopped.value.code == EXIT_BAD_INPUT, err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and url in errors[0] and "Traceback" not in err, err


def test_missing_file_and_wrong_options(rec, tmp_path):
    with pytest.raises(SourceError, match="x.mp4: no such file"):
        _run(rec, [str(tmp_path / "x.mp4")])
    with pytest.raises(UsageError, match="--stride 0"):
        LiveRun(rec.model, LiveOptions(
            sources=("-",), timeline=TimelineOptions(stride=0)))
    with pytest.raises(UsageError, match="--event-classes|unknown event classes"):
        LiveRun(rec.model, LiveOptions(sources=("-",), timeline=TimelineOptions(event_classes=("goal",))))


def test_sigint_ends_with_a_summary(checkpoint, tmp_path):
    video = write_video(tmp_path / "long.mp4", [index_frame(i) for i in range(500)], fps=FPS)  # 20 s
    proc = subprocess.Popen([sys.executable, str(REPO / "scripts" / "live.py"), "--ckpt", str(checkpoint), "--source",
                             str(video), "--realtime", "--device", "cpu", *_timeline_args()],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    try:
        first = proc.stdout.readline()
        assert json.loads(first)["type"] == "window", first
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == EXIT_OK, err
    records = [json.loads(first)] + [json.loads(line) for line in out.splitlines()]
    assert records[-1]["type"] == "summary" and records[-1]["frames"] < 500
    assert "windows" in err.splitlines()[-1]


def test_latency_percentiles_and_the_log_line(rec, videos):
    from pipeline.live.records import LatencyStats

    stats = LatencyStats()
    for ms in range(1, 101):  # 1..100 ms
        stats.add(ms)
    assert stats.percentile(50) == 50 and stats.percentile(95) == 95 and LatencyStats().percentile(50) is None
    lines: List[str] = []
    run = LiveRun(rec.model, LiveOptions(sources=(str(videos["short"]),), timeline=TIMELINE, log_every=0.001),
                  log=lines.append)
    list(run.records())
    assert lines and all(line.startswith("live: ") and "dropped" in line for line in lines)
