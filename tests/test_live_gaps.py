"""Outages are never silent: footage a live stream lost is a `gap` record with its measured duration, whether or not
the source had to be reopened; windows never span it, and stream time keeps counting through it.

The gap detector is checked on frame arrivals recorded from real UDP streams (tests/live_arrivals.json: a sender
that restarts after 8 s, the same with the source reopened, a sender that pauses with continuous or jumping
timestamps, a reader that falls behind and catches up) and on made-up ones (cameras without timestamps, an hour of
drifting clocks, bursty delivery); then end to end on a real UDP stream that falls silent, with every default."""
from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import pytest
from live_support import (
    EVENTS,
    FPS,
    free_udp_port,
    make_checkpoint,
    make_parts,
    send_with_silence,
    wait_bound,
    webhook_server,
)

from pipeline.inference.api import Recognizer
from pipeline.live.gaps import JUMPED, RESTARTED, SILENCE, Gap, GapDetector
from pipeline.live.runner import LiveOptions, LiveRun

ARRIVALS = json.loads((Path(__file__).parent / "live_arrivals.json").read_text())["streams"]


def replay(frames: Sequence[Tuple[float, Optional[float]]], fps: float, reopened_at: Sequence[int] = (),
           watch: bool = True) -> Tuple[List[List[int]], List[Gap]]:
    """A detector over (arrival, pts) frames, the source reopened before each index of `reopened_at`, driven as
    the reader drives it: the frame indices of each run, and the gaps between runs (finished as the reader
    finishes them: when the run after settles, or ends)."""
    detector: GapDetector[int] = GapDetector(fps, watch)
    runs: List[List[int]] = [[]]
    gaps: List[Gap] = []

    def apply(steps: List[Any]) -> None:
        for step in steps:
            if isinstance(step, Gap):
                if gaps and gaps[-1].duration is None:
                    gaps[-1] = detector.finish_gap()
                runs.append([])
                gaps.append(step)
            else:
                runs[-1].append(step.item)
        if gaps and gaps[-1].duration is None and detector.settled:
            detector.finish_gap()

    for index, (arrival, pts) in enumerate(frames):
        if index in reopened_at:
            apply(detector.flush())
            detector.reopened("no data before the timeout")
        apply(detector.add(index, arrival, pts))
    apply(detector.flush())
    if detector.gap_pending is not None:
        detector.finish_gap()
    return [r for r in runs if r], gaps


def _recorded(name: str):
    stream = ARRIVALS[name]
    return [tuple(f) for f in stream["frames"]], stream["fps"], stream["reopened_at"], stream["sender"]


# ---------------------------------------------------------------------- recorded arrivals of real streams


@pytest.mark.parametrize("name,reason,reopened", [("pause8_default", RESTARTED, False),
                                                  ("pause8_reopen", "no data before the timeout", True),
                                                  ("pause3_jump", JUMPED, False)])
def test_a_silence_is_one_gap_of_its_true_duration(name, reason, reopened):
    frames, fps, reopened_at, sender = _recorded(name)
    runs, gaps = replay(frames, fps, reopened_at)
    assert [(r[0], r[-1]) for r in runs] == [(0, 99), (100, 174)]  # the parts, as sent
    silence = sender["send2"] - sender["end1"] - 1 / fps  # from the end of part1's last frame to part2's first
    assert len(gaps) == 1 and gaps[0].reason == reason and gaps[0].reopened == reopened
    # Within 0.1 s (measured: 0.01): not the arrival of the last frames before it, which the demuxer and the
    # decoder hand over only when data comes again or the read times out (what made 8 s read as 5.8 s before),
    # nor the ~1 s a reopened source probes before its first frame.
    assert gaps[0].duration == pytest.approx(silence, abs=0.1)


def test_a_pause_with_continuous_timestamps_is_a_gap_too():
    frames, fps, _, sender = _recorded("pause3_continuous")
    runs, gaps = replay(frames, fps)
    assert len(runs) == 2 and len(gaps) == 1 and gaps[0].reason == SILENCE
    # The decoder still held the last few frames of part1 when the sender paused: they come after the silence
    # at the stream's pace, and nothing tells them from part2's; the cut falls at most that many frames early.
    assert 96 <= runs[1][0] <= 100 and runs[0] == list(range(runs[1][0]))
    assert gaps[0].duration == pytest.approx(sender["send2"] - sender["end1"], abs=0.1)


def test_a_reader_that_falls_behind_and_catches_up_is_no_gap():
    frames, fps, _, _ = _recorded("busy_reader")
    arrivals = np.diff([a for a, _ in frames])
    assert arrivals.max() > 1.0  # a 1.5-s hole in the arrivals, then a burst: but no frame was lost
    runs, gaps = replay(frames, fps)
    assert gaps == [] and runs == [list(range(len(frames)))]


def test_files_and_stdin_have_no_gaps():
    frames, fps, _, _ = _recorded("pause8_default")  # timestamps restart: a gap on a live source
    runs, gaps = replay(frames, fps, watch=False)
    assert gaps == [] and len(runs) == 1


# ---------------------------------------------------------------------- made-up arrivals


def _paced(n: int, fps: float = 25.0, start: float = 0.0, pts0: float = 0.0, lag: float = 0.1,
           jitter: float = 0.0, rng: Optional[np.random.Generator] = None) -> List[Tuple[float, float]]:
    rng = rng or np.random.default_rng(0)
    pts = pts0 + np.arange(n) / fps
    arrival = start + (pts - pts0) + lag + (rng.uniform(0, jitter, n) if jitter else 0)
    return list(zip(np.maximum.accumulate(arrival).tolist(), pts.tolist()))


def test_a_camera_without_timestamps_is_cut_by_its_arrivals():
    fps = 30.0
    arrivals = list(np.arange(90) / fps) + list(3.0 + 2.0 + np.arange(60) / fps)  # silent for 2 s after frame 89
    runs, gaps = replay([(a, None) for a in arrivals], fps)
    assert [len(r) for r in runs] == [90, 60] and len(gaps) == 1 and gaps[0].reason == SILENCE
    assert gaps[0].duration == pytest.approx(arrivals[90] - arrivals[89] - 1 / fps, abs=1e-6)
    jittery = np.arange(300) / fps + np.random.default_rng(1).uniform(0, 0.12, 300)  # late by up to 0.12 s
    runs, gaps = replay([(a, None) for a in np.maximum.accumulate(jittery)], fps)
    assert gaps == []


def test_an_hour_of_jitter_and_clock_drift_is_no_gap():
    fps, n = 25.0, 25 * 3600
    frames = _paced(n, fps, jitter=0.15)
    drift = 1e-4 * np.arange(n) / fps  # the sender's clock 100 ppm slow: 0.36 s by the hour's end
    frames = [(a + d, p) for (a, p), d in zip(frames, drift)]
    runs, gaps = replay(frames, fps)
    assert gaps == [] and len(runs) == 1


def test_bursty_delivery_is_no_gap():
    """Frames delivered 2 s at a time (as HLS segments or a congested TCP link deliver them)."""
    fps = 25.0
    frames = [(2.0 * (i // 50 + 1) + 0.001 * (i % 50), i / fps) for i in range(500)]
    runs, gaps = replay(frames, fps)
    assert gaps == [] and len(runs) == 1


def test_timestamps_that_skip_a_few_frames_are_no_gap_a_second_is():
    fps = 25.0
    skip = _paced(50, fps) + _paced(50, fps, start=2.0 + 3 / fps, pts0=2.0 + 3 / fps)  # 3 frames lost
    runs, gaps = replay(skip, fps)
    assert gaps == [] and len(runs) == 1
    lost = _paced(50, fps) + _paced(50, fps, start=3.0, pts0=3.0)  # frames 2.0-2.96 s lost (a missing key frame)
    runs, gaps = replay(lost, fps)
    assert len(gaps) == 1 and gaps[0].reason == JUMPED and gaps[0].duration == pytest.approx(1.0, abs=1e-6)


def test_a_new_stream_without_a_silence_is_a_gap_of_no_duration():
    fps = 25.0
    frames = _paced(50, fps, pts0=100.0) + _paced(50, fps, start=2.0, pts0=1.4)  # a new sender, at once
    runs, gaps = replay(frames, fps)
    assert [len(r) for r in runs] == [50, 50] and gaps[0].reason == RESTARTED
    assert gaps[0].duration == pytest.approx(0.0, abs=1e-6)


# ---------------------------------------------------------------------- a real stream that falls silent


@pytest.fixture(scope="module")
def rec(tmp_path_factory) -> Recognizer:
    checkpoint = make_checkpoint(tmp_path_factory.mktemp("model"))
    return Recognizer.from_checkpoint(checkpoint, device="cpu", num_workers=0, backend="pyav")


@pytest.fixture(scope="module")
def parts(tmp_path_factory) -> Dict[str, Path]:
    return make_parts(tmp_path_factory.mktemp("parts"))


def _run_with_silence(rec: Recognizer, parts: Dict[str, Path], silence: float, timestamps: str,
                      **options) -> Tuple[List[Dict[str, Any]], Dict[str, List[float]], List[Dict[str, Any]]]:
    """A live run over a UDP stream of part1, `silence` seconds of nothing, part2; every option at its default
    but the windows' and events' and `options`, with a webhook on a local server. Stopped once part2's last
    regular window has come. The records, the sender's times, and what the webhook received."""
    port = free_udp_port()
    url = f"udp://127.0.0.1:{port}"
    with webhook_server() as server:
        run = LiveRun(rec.model, LiveOptions(sources=(url,), timeline=EVENTS, on_event=server.url, **options))
        records: List[Dict[str, Any]] = []
        consumer = threading.Thread(target=lambda: records.extend(run.records()), daemon=True)
        consumer.start()
        wait_bound(port)
        times = send_with_silence([parts["part1"], parts["part2"]], url, silence, timestamps)
        deadline = time.monotonic() + 60
        while not _part2_scored(records):
            assert time.monotonic() < deadline, records
            time.sleep(0.1)
        run.stop()  # the source is still open and silent: the run ends, as at a Ctrl-C
        consumer.join(timeout=60)
        assert not consumer.is_alive()
        received = [r["record"] for r in server.received]
        assert all(r["content_type"] == "application/json" for r in server.received)
    return records, times, received


def _part2_scored(records: List[Dict[str, Any]]) -> bool:
    """Whether part2's last regular window (frames 45-70 of its 75) has been scored."""
    gaps = [r for r in records if r["type"] == "gap"]
    after = [r for r in records if r["type"] == "window" and gaps and r["start"] >= gaps[-1]["stream_time"]]
    return bool(after) and after[-1]["end"] - after[0]["start"] >= 70 / FPS - 1e-3


def _check_one_gap(records, times, received, silence: float, early: int = 0) -> None:
    """One gap of `silence` seconds after part1 (whose last `early` frames may fall after it), none across it,
    events on both sides, every event record received by the webhook."""
    gaps = [r for r in records if r["type"] == "gap"]
    assert len(gaps) == 1, gaps
    gap = gaps[0]
    sent_silence = times["back"][0] - times["silent"][0]
    assert sent_silence == pytest.approx(silence, abs=0.2)
    assert gap["duration"] == pytest.approx(silence, abs=0.5), gap  # its true duration, not a timeout's
    assert (100 - early) / FPS - 0.05 <= gap["stream_time"] <= 100 / FPS + 0.05  # part1's footage, then the gap
    start, end = gap["stream_time"], gap["stream_time"] + gap["duration"]
    windows = [r for r in records if r["type"] == "window"]
    assert all(w["end"] <= start + 1e-3 or w["start"] >= end - 1e-3 for w in windows)  # none spans it
    before = [w for w in windows if w["end"] <= start + 1e-3]
    after = [w for w in windows if w["start"] >= end - 1e-3]
    assert before and after and {w["segment"] for w in before} == {0} and {w["segment"] for w in after} == {1}
    # stream time keeps counting through the gap: part2's first window starts where the gap ends
    assert after[0]["start"] == pytest.approx(end, abs=1e-3)
    assert records[-1]["type"] == "summary" and records[-1]["gaps"] == 1
    assert records[-1]["stream_time"] >= end + 70 / FPS - 1e-3
    # events before the gap (ended by it) and after it, in record order around the gap record
    at = records.index(gap)
    kinds_before = [r["type"] for r in records[:at] if r["type"].startswith("event")]
    kinds_after = [r["type"] for r in records[at:] if r["type"].startswith("event")]
    assert kinds_before == ["event_start", "event_end"] and kinds_after == ["event_start", "event_end"]
    # and the webhook received every event record, as written
    events = [r for r in records if r["type"] in ("event_start", "event_end")]
    assert received == events
    assert records[-1]["alerts"]["webhook"] == {"delivered": 4, "failed": 0, "dropped": 0, "unsent": 0,
                                                "retries": 0}


@pytest.mark.skipif(not os.path.exists("/proc/net/udp"), reason="needs Linux's /proc/net/udp")
def test_udp_stream_silent_for_3_s_with_every_default(rec, parts):
    """A sender that stops and starts again 3 s later (a new stream on the same port), every default (the source
    is never reopened: --stall-timeout is 10 s): one gap of 3 s, no window across it, events on both sides,
    every event record delivered to a webhook."""
    records, times, received = _run_with_silence(rec, parts, 3.0, "restart")
    _check_one_gap(records, times, received, 3.0)
    assert next(r for r in records if r["type"] == "gap")["reopened"] is False


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists("/proc/net/udp"), reason="needs Linux's /proc/net/udp")
@pytest.mark.parametrize("timestamps,options", [("restart", {}), ("jump", {}), ("continue", {}),
                                                ("restart", {"stall_timeout": 3.0})])
def test_udp_stream_silent_for_8_s(rec, parts, timestamps, options):
    """The report's stream: silent for 8 s, every default (no gap was written; 8 s vanished from stream time) and
    with --stall-timeout 3 (the gap said 5.8 s); the sender restarting, or one sender whose timestamps jump over
    the silence or continue through it."""
    records, times, received = _run_with_silence(rec, parts, 8.0, timestamps, **options)
    # with timestamps that continue, the frames the decoder still held when the sender paused come after it
    _check_one_gap(records, times, received, 8.0, early=4 if timestamps == "continue" else 0)
    gap = next(r for r in records if r["type"] == "gap")
    assert gap["reopened"] is bool(options)
