"""Alerts from a live run: each `event_start` and `event_end` record sent to a webhook and/or a command,
with a snapshot of the event's peak frame (scripts/live.py --on-event, --on-event-command, --event-frames).

Nothing here may hold up recognition. The runner hands each event record to `Alerts.handle` and goes
on: a target (a `Webhook`, a `Command`) has its own bounded queue, drained by its own thread; a full
queue drops its oldest record (counted). Each delivery has a timeout; a failed one is tried again
`RETRIES` times, `BACKOFF_FIRST_S` doubling in between, then counted as failed. Failures are counted
in the run's summary (`summary()`) and reported in one log line at most every `LOG_EVERY_S` seconds
(`log_line()`, which the runner prints); nothing here raises into the run. When the run ends, `close`
lets the queues drain for a while (one delivery timeout) and counts what is left as unsent.

- `Webhook(url)`: an HTTP POST of the record as JSON (`Content-Type: application/json`) with the
  standard library (urllib.request); any 2xx answer is a delivery. Redirects are not followed (a POST
  turned into a GET would lose the record); a 4xx answer other than 408 and 429 is not tried again.
- `Command(command)`: the command (split into words as a shell would, run without one: for pipes or
  redirection, `sh -c '...'`) with the record as one JSON line on its standard input, its standard
  output discarded; exit status 0 is a delivery. It runs in a session of its own (a Ctrl-C meant for
  the run does not reach it), and one still running at the timeout is killed with its children.
- `EventFrames(folder)`: for each event record, a JPEG of the decoded frame at the middle of the event's
  peak window (at `event_start` the peak so far, at `event_end` the event's peak: the frame at its
  `peak_time`), written atomically (encoded, written to a temporary name in the folder, then linked to
  its name, which is never reused: a name that exists gets a `_2`, `_3`... suffix). Its absolute path
  is the record's `frame`. An `event_end` whose peak is still the one its start showed reuses that file.
"""
from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from pathlib import Path
from typing import Any, Callable, Deque, Dict, List, Optional, Tuple

import numpy as np

from pipeline.atomic_io import temp_file_beside
from pipeline.errors import OutputError, UsageError

ALERT_TYPES = ("event_start", "event_end")  # the records alerts are made of
QUEUE_RECORDS = 100  # records a target's queue holds before the oldest is dropped
RETRIES = 3  # a failed delivery is tried this many more times...
BACKOFF_FIRST_S = 0.5  # ...after 0.5 s, 1 s, 2 s
LOG_EVERY_S = 60.0  # at most one log line about failed deliveries this often
JPEG_QUALITY = 90


class DeliveryError(Exception):
    """A delivery failed: `reason` in a few words; `retry`: whether trying again may help."""

    def __init__(self, reason: str, retry: bool = True):
        super().__init__(reason)
        self.reason, self.retry = reason, retry


# ---------------------------------------------------------------------- targets


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # the 3xx answer becomes an HTTPError: a failed delivery


class Webhook:
    """POSTs each record as JSON to `url` (http:// or https://)."""

    name = "webhook"

    def __init__(self, url: str):
        self.url = url
        self._opener = urllib.request.build_opener(_NoRedirect)

    def deliver(self, body: bytes, timeout: float) -> None:
        request = urllib.request.Request(self.url, data=body, method="POST", headers={
            "Content-Type": "application/json", "User-Agent": "rnn-action-recognition-live"})
        try:
            with self._opener.open(request, timeout=timeout) as answer:
                answer.read(65536)
        except urllib.error.HTTPError as exc:
            raise DeliveryError(f"HTTP {exc.code}", retry=exc.code >= 500 or exc.code in (408, 429)) from None
        except urllib.error.URLError as exc:
            raise DeliveryError(_reason(exc.reason)) from None
        except Exception as exc:  # timeouts, a connection reset mid-answer, a malformed answer
            raise DeliveryError(_reason(exc)) from None


class Command:
    """Runs `command` with each record as one JSON line on its standard input."""

    name = "command"

    def __init__(self, command: str):
        try:
            self.args = shlex.split(command)
        except ValueError as exc:
            raise UsageError(f"--on-event-command {command!r}: {exc}") from None
        if not self.args:
            raise UsageError("--on-event-command: an empty command")

    def deliver(self, body: bytes, timeout: float) -> None:
        posix = os.name == "posix"
        try:
            proc = subprocess.Popen(self.args, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.PIPE, start_new_session=posix)
        except OSError as exc:
            raise DeliveryError(f"cannot run {self.args[0]}: {exc.strerror or exc}", retry=False) from None
        try:
            _, err = proc.communicate(body + b"\n", timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill(proc, posix)
            raise DeliveryError(f"still running after {timeout:g} s (killed)") from None
        if proc.returncode != 0:
            last = (err or b"").decode("utf-8", "replace").strip().splitlines()[-1:]
            raise DeliveryError(f"exit status {proc.returncode}" + (f": {last[0][:200]}" if last else ""))


def _kill(proc: subprocess.Popen, group: bool) -> None:
    try:
        if group:
            os.killpg(proc.pid, signal.SIGKILL)  # its children too (a shell's pipeline)
        else:
            proc.kill()
    except OSError:
        pass
    try:
        proc.communicate(timeout=5)
    except Exception:
        pass


def _reason(exc: Any) -> str:
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    if isinstance(exc, TimeoutError) or "timed out" in text:
        return "timed out"
    return text


# ---------------------------------------------------------------------- delivery


class Delivery(threading.Thread):
    """One target's bounded queue of records (JSON bytes) and the thread that delivers them in order."""

    def __init__(self, target: Any, timeout: float, queue_records: int = QUEUE_RECORDS, retries: int = RETRIES,
                 backoff: float = BACKOFF_FIRST_S):
        super().__init__(name=f"live-alerts-{target.name}", daemon=True)
        self.target, self.timeout = target, timeout
        self.queue_records, self.retries, self.backoff = queue_records, retries, backoff
        self._queue: Deque[bytes] = deque()
        self._ready = threading.Condition()
        self._closing = threading.Event()
        self._deadline: Optional[float] = None
        self._busy = False
        self.delivered = self.failed = self.dropped = self.retried = 0
        self.unsent: Optional[int] = None  # set by close()
        self.last_error = ""
        self._unlogged = 0  # failures and drops since the last log line
        self._last_log: Optional[float] = None

    def submit(self, body: bytes) -> None:
        """Queue a record; never waits (a full queue drops its oldest record)."""
        with self._ready:
            if self._closing.is_set():
                return
            if len(self._queue) >= self.queue_records:
                self._queue.popleft()
                self.dropped += 1
                self._unlogged += 1
                self.last_error = self.last_error or "the queue was full"
            self._queue.append(body)
            self._ready.notify()

    def run(self) -> None:
        while True:
            with self._ready:
                while not self._queue and not self._closing.is_set():
                    self._ready.wait()
                if not self._queue or self._past_deadline():
                    return
                body = self._queue.popleft()
                self._busy = True
            try:
                self._deliver(body)
            finally:
                with self._ready:
                    self._busy = False
                    self._ready.notify_all()

    def _deliver(self, body: bytes) -> None:
        delay = self.backoff
        for attempt in range(self.retries + 1):
            try:
                self.target.deliver(body, self.timeout)
            except DeliveryError as exc:
                error = exc
            except Exception as exc:  # a bug in a target must not end the thread
                error = DeliveryError(f"{type(exc).__name__}: {exc}", retry=False)
            else:
                with self._ready:
                    if self.unsent is None:  # after close() it was counted unsent already
                        self.delivered += 1
                return
            if not error.retry or attempt == self.retries or self._wait(delay):
                break
            delay *= 2
            with self._ready:
                self.retried += 1
        with self._ready:
            if self.unsent is None:
                self.failed += 1
                self._unlogged += 1
            self.last_error = error.reason

    def _wait(self, seconds: float) -> bool:
        """Sleep before trying again; True when the run ends first and the retry would come after its
        drain deadline (the record is given up)."""
        end = time.monotonic() + seconds
        if not self._closing.wait(seconds):
            return False
        if self._deadline is None or end >= self._deadline:
            return True
        time.sleep(max(0.0, end - time.monotonic()))
        return False

    def _past_deadline(self) -> bool:
        return self._deadline is not None and time.monotonic() >= self._deadline

    def close(self, drain_s: float) -> None:
        """Take no more records; deliver what is queued for at most `drain_s` seconds, count the rest unsent."""
        with self._ready:
            self._deadline = time.monotonic() + max(drain_s, 0.0)
            self._closing.set()
            self._ready.notify_all()
            while (self._queue or self._busy) and not self._past_deadline() and self.is_alive():
                self._ready.wait(max(0.0, min(0.1, self._deadline - time.monotonic())))
            self.unsent = len(self._queue) + int(self._busy)
            self._queue.clear()

    def log_line(self, now: float) -> Optional[str]:
        """A line about the failures since the last one, at most one every LOG_EVERY_S seconds."""
        with self._ready:
            if not self._unlogged or (self._last_log is not None and now - self._last_log < LOG_EVERY_S):
                return None
            count, self._unlogged, self._last_log = self._unlogged, 0, now
            return (f"live: {self.target.name}: {count} alert{'s' * (count != 1)} not delivered "
                    f"({self.last_error}); {self.delivered} delivered, {self.failed} failed, {self.dropped} dropped "
                    f"so far")

    def counts(self) -> Dict[str, int]:
        """The summary's counts: delivered, failed (after every retry), dropped (a full queue), unsent (left
        when the run ended), retries."""
        with self._ready:
            unsent = self.unsent if self.unsent is not None else len(self._queue) + int(self._busy)
            return {"delivered": self.delivered, "failed": self.failed, "dropped": self.dropped, "unsent": unsent,
                    "retries": self.retried}


# ---------------------------------------------------------------------- snapshots


def frame_to_bgr(frame: Any) -> np.ndarray:
    """A decoded frame as OpenCV's BGR uint8: a PyAV VideoFrame, or an RGB ndarray (a camera's)."""
    if isinstance(frame, np.ndarray):
        return np.ascontiguousarray(frame[..., ::-1])
    return frame.to_ndarray(format="bgr24")


class EventFrames:
    """Writes each event's peak frame as a JPEG into `folder` (made if missing) and names it in the record."""

    def __init__(self, folder: str):
        self.folder = Path(folder).absolute()
        check_frames_folder(self.folder)
        self.written = self.failed = 0
        self.last_error = ""
        self._started: Dict[Tuple[Any, ...], Tuple[Any, str]] = {}  # an event's start: (its frame, its file)

    def write(self, record: Dict[str, Any], frame: Any, stream: int) -> Optional[str]:
        """The path of the record's snapshot (written now, or its start's when the peak is the same), or
        None when there is no frame or it could not be written (counted)."""
        key = (stream, record["label"], record["start"])
        if record["type"] == "event_end":
            started = self._started.pop(key, None)
            if started is not None and started[0] is frame:
                return started[1]
        if frame is None:
            return None
        try:
            path = self._write(frame, record, stream)
        except Exception as exc:  # a full disk, a folder removed under the run: the run goes on
            self.failed += 1
            self.last_error = str(exc)
            return None
        self.written += 1
        if record["type"] == "event_start":
            self._started[key] = (frame, path)
        return path

    def _write(self, frame: Any, record: Dict[str, Any], stream: int) -> str:
        import cv2

        ok, jpeg = cv2.imencode(".jpg", frame_to_bgr(frame), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        if not ok:
            raise OSError("the frame could not be encoded as JPEG")
        wall = record.get("wall_time", time.time())
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(wall)) + f".{int(wall * 1000) % 1000:03d}Z"
        label = re.sub(r"[^\w.-]+", "_", str(record["label"]))[:64] or "event"
        stem = f"{stamp}_" + (f"s{stream}_" if record.get("stream") is not None else "") + \
            f"{label}_{record['type'][len('event_'):]}"
        fd, tmp = temp_file_beside(self.folder / f"{stem}.jpg")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(jpeg.tobytes())
            return str(_publish(tmp, self.folder, stem))
        finally:
            tmp.unlink(missing_ok=True)

    def counts(self) -> Dict[str, int]:
        return {"written": self.written, "failed": self.failed}


def _publish(tmp: Path, folder: Path, stem: str) -> Path:
    """Give the complete file `tmp` a name in `folder` that no file has: `stem.jpg`, else `stem_2.jpg`..."""
    for n in range(1, 10_000):
        path = folder / (f"{stem}.jpg" if n == 1 else f"{stem}_{n}.jpg")
        try:
            os.link(tmp, path)  # fails when the name exists: nothing is ever overwritten
            return path
        except FileExistsError:
            continue
        except OSError:  # a file system without hard links
            if path.exists():
                continue
            os.replace(tmp, path)
            return path
    raise OSError(f"{folder}: no free name for {stem}.jpg")


def check_frames_folder(folder: Path) -> None:
    """Raise OutputError unless snapshots can be written into `folder` (made if missing)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = temp_file_beside(folder / ".probe")
        os.close(fd)
        probe.unlink()
    except OSError as exc:
        raise OutputError(f"--event-frames {folder}: cannot be written ({exc.strerror or exc})") from None


# ---------------------------------------------------------------------- what the runner sees


class Alerts:
    """A run's alerts: snapshots, then the record queued for each target (`handle`); `close` at its end."""

    def __init__(self, webhook: Optional[str] = None, command: Optional[str] = None,
                 frames_folder: Optional[str] = None, timeout: float = 5.0,
                 clock: Callable[[], float] = time.monotonic):
        self.timeout, self.clock = timeout, clock
        targets: List[Any] = ([Webhook(webhook)] if webhook else []) + ([Command(command)] if command else [])
        self.frames = EventFrames(frames_folder) if frames_folder else None
        self.deliveries = [Delivery(target, timeout) for target in targets]
        for delivery in self.deliveries:
            delivery.start()
        self.closed = False

    @property
    def keep_frames(self) -> bool:
        """Whether windows should carry their middle frame (for snapshots)."""
        return self.frames is not None

    def handle(self, record: Dict[str, Any], peak_frame: Any = None, stream: int = 0) -> None:
        """An event record: its snapshot (the record gets `frame`), then queued for every target. Other
        records are left alone."""
        if record.get("type") not in ALERT_TYPES:
            return
        if self.frames is not None:
            path = self.frames.write(record, peak_frame, stream)
            if path is not None:
                record["frame"] = path
        if self.deliveries:
            body = json.dumps(record).encode("utf-8")
            for delivery in self.deliveries:
                delivery.submit(body)

    def log_line(self) -> Optional[str]:
        """A line about failed deliveries, at most one per target every LOG_EVERY_S seconds; None when quiet."""
        lines = [line for d in self.deliveries if (line := d.log_line(self.clock())) is not None]
        return "; ".join(lines) or None

    def close(self, drain_s: Optional[float] = None) -> None:
        """End the deliveries: what is queued gets `drain_s` seconds (default: one delivery timeout), together."""
        if self.closed:
            return
        self.closed = True
        end = time.monotonic() + (self.timeout if drain_s is None else drain_s)
        for delivery in self.deliveries:
            delivery.close(end - time.monotonic())

    def summary(self) -> Dict[str, Any]:
        """The summary's `alerts`: each target's counts, and the snapshots'."""
        out: Dict[str, Any] = {d.target.name: d.counts() for d in self.deliveries}
        if self.frames is not None:
            out["frames"] = self.frames.counts()
        return out


def make_alerts(webhook: Optional[str], command: Optional[str], frames_folder: Optional[str],
                timeout: float) -> Optional[Alerts]:
    """The run's Alerts, or None when none is asked for."""
    if not (webhook or command or frames_folder):
        return None
    return Alerts(webhook, command, frames_folder, timeout)
