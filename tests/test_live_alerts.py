"""Alerts from live streams (scripts/live.py --on-event, --on-event-command, --event-frames): every event record
reaches a webhook (a local HTTP server started here) and a real command; a receiver that is down, slow or failing
changes nothing for recognition (the same records as without it) and its failures are counted in the summary;
each event gets a JPEG of its peak frame, written atomically under a name never used before. No test asserts how
long anything takes: only what arrived and what was counted."""
from __future__ import annotations

import json
import runpy
import threading
import time
from pathlib import Path
from typing import Any, Dict, List

import cv2
import numpy as np
import pytest
from conftest import decode_index, index_frame
from live_support import EVENTS, FPS, closed_port_url, make_checkpoint, make_parts, webhook_server, without_timing

from pipeline.errors import EXIT_OK, EXIT_OUTPUT, run_script
from pipeline.live.alerts import (
    LOG_EVERY_S,
    Alerts,
    Command,
    Delivery,
    DeliveryError,
    EventFrames,
    Webhook,
)
from pipeline.live.runner import LiveOptions, LiveRun

REPO = Path(__file__).resolve().parents[1]
RECORD = {"type": "event_start", "stream_time": 3.0, "wall_time": 1700000000.5, "latency_ms": 12.0,
          "label": "goal", "start": 1.0, "peak_probability": 0.9, "peak_time": 1.5}


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch):
    """The local webhook is reached directly, whatever proxy the machine's environment names."""
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)


class _Target:
    """A target that fails its first `failures` deliveries (retry as given), can block until released, and
    keeps what it delivered."""

    name = "test"

    def __init__(self, failures: int = 0, retry: bool = True, block: bool = False):
        self.failures, self.retry = failures, retry
        self.attempts = 0
        self.delivered: List[bytes] = []
        self.started, self.release = threading.Event(), threading.Event()
        if not block:
            self.release.set()

    def deliver(self, body: bytes, timeout: float) -> None:
        self.attempts += 1
        self.started.set()
        self.release.wait()
        if self.attempts <= self.failures:
            raise DeliveryError(f"failure {self.attempts}", retry=self.retry)
        self.delivered.append(body)


# ---------------------------------------------------------------------- the queue and its thread


def test_a_full_queue_drops_the_oldest_and_never_waits():
    target = _Target(block=True)
    delivery = Delivery(target, timeout=1.0, queue_records=2)
    delivery.start()
    delivery.submit(b"1")
    assert target.started.wait(30)  # the thread holds record 1: the queue is empty again
    for body in (b"2", b"3", b"4", b"5"):
        delivery.submit(body)  # returns at once although the target is stuck
    target.release.set()
    delivery.close(30)
    assert target.delivered == [b"1", b"4", b"5"]
    assert delivery.counts() == {"delivered": 3, "failed": 0, "dropped": 2, "unsent": 0, "retries": 0}


def test_failed_deliveries_are_retried_then_counted():
    flaky = Delivery(_Target(failures=2), timeout=1.0, backoff=0.001)
    broken = Delivery(_Target(failures=99), timeout=1.0, backoff=0.001)
    refused = Delivery(_Target(failures=99, retry=False), timeout=1.0, backoff=0.001)
    for delivery in (flaky, broken, refused):
        delivery.start()
        delivery.submit(b"{}")
        delivery.close(60)
    assert flaky.counts() == {"delivered": 1, "failed": 0, "dropped": 0, "unsent": 0, "retries": 2}
    assert broken.counts() == {"delivered": 0, "failed": 1, "dropped": 0, "unsent": 0, "retries": 3}
    assert broken.target.attempts == 4 and broken.last_error == "failure 4"
    assert refused.counts()["failed"] == 1 and refused.target.attempts == 1  # not worth trying again


def test_what_is_left_when_the_run_ends_is_counted_unsent():
    target = _Target(block=True)
    delivery = Delivery(target, timeout=1.0)
    delivery.start()
    delivery.submit(b"1")
    assert target.started.wait(30)
    delivery.submit(b"2")
    delivery.close(0.0)  # no time left: record 1 is still with the target, record 2 queued
    assert delivery.counts() == {"delivered": 0, "failed": 0, "dropped": 0, "unsent": 2, "retries": 0}
    target.release.set()  # it completes after the count: not counted twice
    delivery.join(30)
    assert delivery.counts()["delivered"] == 0 and delivery.counts()["unsent"] == 2


def _wait_for(condition, what: str) -> None:
    """Wait (up to a minute: machines are noisy) until `condition()`; no assertion on how long it took."""
    deadline = time.monotonic() + 60
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.01)


def test_failures_are_logged_at_most_once_a_minute():
    delivery = Delivery(_Target(failures=99, retry=False), timeout=1.0)
    delivery.start()
    assert delivery.log_line(0.0) is None  # nothing failed yet
    delivery.submit(b"1")
    _wait_for(lambda: delivery.counts()["failed"] == 1, "the first failure")
    first = delivery.log_line(100.0)
    assert first is not None and first.startswith("live: test: 1 alert not delivered (failure 1)")
    delivery.submit(b"2")
    _wait_for(lambda: delivery.counts()["failed"] == 2, "the second failure")
    assert delivery.log_line(100.0 + LOG_EVERY_S / 2) is None  # within the minute: quiet
    later = delivery.log_line(100.0 + LOG_EVERY_S)
    assert later is not None and "1 alert not delivered (failure 2)" in later and "2 failed" in later
    assert delivery.log_line(200.0 + LOG_EVERY_S) is None  # nothing new
    delivery.close(30)


# ---------------------------------------------------------------------- the webhook and the command


def test_webhook_posts_the_record_as_json():
    body = json.dumps(RECORD).encode()
    with webhook_server() as server:
        Webhook(server.url).deliver(body, timeout=10)
    assert server.received == [{"content_type": "application/json", "record": RECORD}]


@pytest.mark.parametrize("status,retried", [(500, True), (503, True), (429, True), (404, False), (400, False),
                                            (302, False)])
def test_webhook_answers_that_are_no_delivery(status, retried):
    with webhook_server(status=status) as server:
        delivery = Delivery(Webhook(server.url), timeout=10, backoff=0.001)
        delivery.start()
        delivery.submit(json.dumps(RECORD).encode())
        delivery.close(60)
        posts = len(server.received)
    counts = delivery.counts()
    assert counts["delivered"] == 0 and counts["failed"] == 1 and delivery.last_error == f"HTTP {status}"
    assert posts == (4 if retried else 1)  # a redirect is not followed (no GET to its Location either)


def test_webhook_down_or_slow_fails_within_its_timeout():
    with pytest.raises(DeliveryError) as down:
        Webhook(closed_port_url()).deliver(b"{}", timeout=5)
    assert "refused" in down.value.reason.lower() and down.value.retry
    with webhook_server(delay=3.0) as server, pytest.raises(DeliveryError) as slow:
        Webhook(server.url).deliver(b"{}", timeout=0.2)
    assert slow.value.reason == "timed out" and slow.value.retry


def test_command_gets_the_record_on_its_standard_input(tmp_path):
    out = tmp_path / "alerts.jsonl"
    command = Command(f"sh -c 'cat >> {out}'")
    command.deliver(json.dumps(RECORD).encode(), timeout=30)
    command.deliver(json.dumps({**RECORD, "type": "event_end"}).encode(), timeout=30)
    lines = out.read_text().splitlines()
    assert [json.loads(line)["type"] for line in lines] == ["event_start", "event_end"]
    assert json.loads(lines[0]) == RECORD


def test_command_failures(tmp_path):
    with pytest.raises(DeliveryError, match="exit status 3: no luck") as failed:
        Command("sh -c 'echo no luck >&2; exit 3'").deliver(b"{}", timeout=30)
    assert failed.value.retry
    with pytest.raises(DeliveryError, match="killed") as slow:
        Command("sh -c 'sleep 30 & sleep 30'").deliver(b"{}", timeout=0.3)  # it and its child are killed
    assert slow.value.retry
    with pytest.raises(DeliveryError, match="cannot run") as missing:
        Command(str(tmp_path / "no-such-program")).deliver(b"{}", timeout=30)
    assert not missing.value.retry


# ---------------------------------------------------------------------- snapshots


def test_event_frames_are_atomic_and_never_collide(tmp_path):
    frames = EventFrames(str(tmp_path / "snaps"))
    frame = index_frame(37)  # RGB, as a camera's frames are
    start = frames.write(dict(RECORD), frame, 0)
    again = frames.write({**RECORD, "start": 1.5}, index_frame(38), 0)  # same time, label and type: another name
    assert start is not None and again is not None and start != again
    assert Path(start).name.endswith("_goal_start.jpg") and Path(again).name.endswith("_goal_start_2.jpg")
    end = {**RECORD, "type": "event_end", "end": 2.0}
    assert frames.write(end, frame, 0) == start  # the peak did not change: its start's file
    assert frames.write({**end, "label": "goal"}, None, 0) is None  # no frame: no file
    assert sorted(p.name for p in (tmp_path / "snaps").iterdir()) == sorted([Path(start).name, Path(again).name])
    image = cv2.imread(start)[..., ::-1]  # no temporary file left, and the JPEG is the frame
    assert image.shape == frame.shape and decode_index(image) == 37
    assert frames.counts() == {"written": 2, "failed": 0}


def test_alerts_handle_only_event_records(tmp_path):
    with webhook_server() as server:
        alerts = Alerts(webhook=server.url, frames_folder=str(tmp_path))
        window = {"type": "window", "stream_time": 1.0}
        alerts.handle(window, index_frame(1))
        record = dict(RECORD)
        alerts.handle(record, index_frame(2))
        alerts.close(30)
    assert "frame" not in window and Path(record["frame"]).exists()
    assert [r["record"] for r in server.received] == [record]
    assert alerts.summary() == {"webhook": {"delivered": 1, "failed": 0, "dropped": 0, "unsent": 0, "retries": 0},
                                "frames": {"written": 1, "failed": 0}}


# ---------------------------------------------------------------------- live runs


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    return make_checkpoint(tmp_path_factory.mktemp("model"))


@pytest.fixture(scope="module")
def parts(tmp_path_factory) -> Dict[str, Path]:
    return make_parts(tmp_path_factory.mktemp("parts"))


def _event_args() -> List[str]:
    return ["--window", str(EVENTS.window), "--stride", str(EVENTS.stride), "--threshold", str(EVENTS.threshold),
            "--min-duration", str(EVENTS.min_duration), "--merge-gap", str(EVENTS.merge_gap),
            "--event-classes", *EVENTS.event_classes]


def _live(capsys, *args: str) -> List[Dict[str, Any]]:
    """scripts/live.py's main in this process (no new interpreter): its records on standard output."""
    live = runpy.run_path(str(REPO / "scripts" / "live.py"))
    with pytest.raises(SystemExit) as ended:
        run_script(live["main"], [*args, "--device", "cpu", *_event_args()])
    captured = capsys.readouterr()
    assert ended.value.code == EXIT_OK, captured.err
    return [json.loads(line) for line in captured.out.splitlines()]


PROBS = ("probability", "probabilities", "peak_probability")


def test_a_receiver_down_or_slow_changes_nothing_for_recognition(checkpoint, parts, capsys):
    source = ["--ckpt", str(checkpoint), "--source", str(parts["part1"])]
    plain = _live(capsys, *source)
    events = [r for r in plain if r["type"] in ("event_start", "event_end")]
    assert len(events) == 2 and "alerts" not in plain[-1]
    down = _live(capsys, *source, "--on-event", closed_port_url(), "--alert-timeout", "0.5")
    with webhook_server(delay=3.0) as server:
        slow = _live(capsys, *source, "--on-event", server.url, "--alert-timeout", "0.5")
    for records in (down, slow):
        # the same windows and events in the same order; probabilities to float rounding, since how frames
        # are batched through the CNN depends on thread timing
        assert without_timing(records, drop=PROBS) == without_timing(plain, drop=PROBS)
        for got, want in zip(records, plain):
            assert got.get("probability", 0) == pytest.approx(want.get("probability", 0), abs=1e-4)
        counts = records[-1]["alerts"]["webhook"]
        assert counts["delivered"] == 0 and counts["failed"] + counts["unsent"] + counts["dropped"] == len(events)


def test_webhook_command_and_frames_from_the_script(checkpoint, parts, capsys, tmp_path):
    out, snaps = tmp_path / "from-command.jsonl", tmp_path / "snaps"
    with webhook_server() as server:
        records = _live(capsys, "--ckpt", str(checkpoint), "--source", str(parts["part1"]), "--events-only",
                        "--on-event", server.url, "--on-event-command", f"sh -c 'cat >> {out}'",
                        "--event-frames", str(snaps))
        received = [r["record"] for r in server.received]
    assert [r["type"] for r in records] == ["event_start", "event_end", "summary"]  # --events-only as ever
    events = records[:-1]
    assert received == events
    assert [json.loads(line) for line in out.read_text().splitlines()] == events
    summary = records[-1]["alerts"]
    assert summary["webhook"]["delivered"] == 2 and summary["command"]["delivered"] == 2
    # each event's snapshot: the frame at its peak_time (the middle of its peak window), as a JPEG
    for event in events:
        path = Path(event["frame"])
        assert path.parent == snaps.absolute() and path.suffix == ".jpg"
        image = cv2.imread(str(path))[..., ::-1]
        assert decode_index(image) == int(round(event["peak_time"] * FPS * 2)) // 2
    assert summary["frames"]["written"] == len({e["frame"] for e in events})
    assert not [p for p in snaps.iterdir() if p.name.startswith(".")]  # no temporary file left


def test_frames_folder_that_cannot_be_written_stops_before_the_run(checkpoint, parts, tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    live = runpy.run_path(str(REPO / "scripts" / "live.py"))
    with pytest.raises(SystemExit) as ended:
        run_script(live["main"], ["--ckpt", str(checkpoint), "--source", str(parts["part1"]),
                                  "--event-frames", str(blocker / "snaps")])
    err = capsys.readouterr().err
    assert ended.value.code == EXIT_OUTPUT and "--event-frames" in err and "Traceback" not in err


def test_wrong_alert_options(checkpoint):
    from pipeline.errors import UsageError

    for options, message in ((dict(on_event="ftp://host/x"), "--on-event ftp://host/x"),
                             (dict(on_event_command="'unclosed"), "--on-event-command"),
                             (dict(on_event_command="  "), "an empty command"),
                             (dict(alert_timeout=0), "--alert-timeout 0")):
        with pytest.raises(UsageError, match=message):
            LiveOptions(sources=("-",), **options).validate()


def test_camera_frames_and_several_streams_name_their_snapshots(tmp_path):
    """A camera's frames are RGB arrays; with several sources the name says the stream."""
    frames = EventFrames(str(tmp_path))
    path = frames.write({**RECORD, "stream": "0"}, np.ascontiguousarray(index_frame(5)), 1)
    assert path is not None and "_s1_goal_start" in Path(path).name
    assert decode_index(cv2.imread(path)[..., ::-1]) == 5


def test_the_runner_hands_alerts_each_event_record(checkpoint, parts):
    """LiveRun (and so Recognizer.stream's run) with alerts: the records it yields are those alerts got."""
    from pipeline.live.runner import load_live_model

    model = load_live_model(str(checkpoint))
    with webhook_server() as server:
        run = LiveRun(model, LiveOptions(sources=(str(parts["part2"]),), timeline=EVENTS, on_event=server.url))
        records = list(run.records())
        received = [r["record"] for r in server.received]
    assert received == [r for r in records if r["type"].startswith("event_")] and len(received) == 2
