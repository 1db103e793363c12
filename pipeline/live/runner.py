"""A live run: readers -> bounded queues -> one model loop -> records.

The model loop takes what the readers queued from every stream at once: the frames windows need go
through the CNN in one batch (each sampled frame once, whichever windows share it; across streams),
their features are kept until no later window can use them, and every completed window is scored
by the temporal head over its clip's cached features, batched too. Window records, event changes,
gaps and finally a summary come out in stream order. `LiveRun.stop()` (SIGINT/SIGTERM in
scripts/live.py) ends each stream as if it ended there: the frames queued are still scored, the
tail window added, open events closed, then the summary.

A window whose clip lost frames to drops is scored with each lost frame replaced by the nearest
embedded one of its clip (the record says how many: `filled`); with none left it is skipped.
`reuse_features=False` is the sliding-window baseline the benchmark compares with: each window's
clip is embedded anew when the window completes, nothing cached.

Alerts (alerts.py: a webhook, a command, a snapshot of each event's peak frame) get each event record
as it is made; they deliver in threads of their own and never hold up the loop. Their counts join
the summary (`alerts`) once their queues have had one delivery timeout to drain.
"""
from __future__ import annotations

import shlex
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, TextIO, Tuple

import numpy as np
import torch

from pipeline.core.decision import decide_labels
from pipeline.data.transforms import normalize
from pipeline.errors import UsageError
from pipeline.inference.engine import forward_context, torch_device
from pipeline.inference.options import PredictOptions
from pipeline.inference.timeline import TimelineOptions
from pipeline.live.alerts import Alerts, check_frames_folder, make_alerts
from pipeline.live.events import EventChange, EventTracker
from pipeline.live.frame_queue import FrameItem, FrameQueues, Marker
from pipeline.live.reader import StreamReader, drops_frames
from pipeline.live.records import (
    RecordWriter,
    StatusLine,
    StreamStats,
    event_record,
    gap_record,
    minute_line,
    summary_lines,
    summary_record,
    window_record,
)
from pipeline.live.sources import FrameConverter, OpenSource, open_source, parse_source
from pipeline.live.windows import SegmentWindows

STOP_GRACE_S = 2.0  # after stop(), how long the loop waits for readers to hand over their last frames


@dataclass(frozen=True)
class LiveOptions:
    """What a live run is asked to do; the defaults are scripts/live.py's."""

    sources: Tuple[str, ...] = ()
    timeline: TimelineOptions = field(default_factory=TimelineOptions)  # window, stride, events: predict.py's
    realtime: bool = False  # a file at its own pace instead of as fast as it decodes
    fps: Optional[float] = None  # None: each stream's own frame rate
    stall_timeout: float = 10.0  # seconds without data before a source is reopened (and for opening it)
    max_backoff: float = 10.0  # the longest wait between two reopening attempts, seconds
    queue_frames: int = 16  # sampled frames a stream's queue holds before the oldest is dropped (bounds the lag)
    batch_size: int = 32  # frames per CNN batch, all streams together
    events_only: bool = False  # leave out the window records
    log_every: float = 60.0  # seconds between two log lines
    on_event: Optional[str] = None  # a webhook URL each event_start and event_end record is POSTed to
    on_event_command: Optional[str] = None  # a command run with each event record on its standard input
    event_frames: Optional[str] = None  # a folder for a JPEG of each event's peak frame (the record's `frame`)
    alert_timeout: float = 5.0  # seconds a delivery may take (and the alerts' drain at the run's end)
    reuse_features: bool = True  # False: the sliding-window baseline (benchmarks only)

    def validate(self) -> None:
        """Raise UsageError naming every option that cannot work."""
        problems = []
        if not self.sources:
            problems.append("--source: at least one")
        for flag, value in (("--window", self.timeline.window), ("--stride", self.timeline.stride),
                            ("--stall-timeout", self.stall_timeout), ("--max-backoff", self.max_backoff),
                            ("--log-every", self.log_every), ("--alert-timeout", self.alert_timeout)):
            if value is not None and not value > 0:
                problems.append(f"{flag} {value}: must be a positive number of seconds")
        if self.fps is not None and not self.fps > 0:
            problems.append(f"--fps {self.fps}: must be positive")
        for flag, value in (("--queue-frames", self.queue_frames), ("--batch-size", self.batch_size)):
            if value < 1:
                problems.append(f"{flag} {value}: must be at least 1")
        for flag, value in (("--min-duration", self.timeline.min_duration), ("--merge-gap", self.timeline.merge_gap)):
            if value is not None and not value >= 0:
                problems.append(f"{flag} {value}: must be zero or more seconds")
        if self.timeline.threshold is not None and not 0 <= self.timeline.threshold <= 1:
            problems.append(f"--threshold {self.timeline.threshold}: must be a probability in [0, 1]")
        if self.on_event is not None and not self.on_event.lower().startswith(("http://", "https://")):
            problems.append(f"--on-event {self.on_event}: must be an http:// or https:// URL")
        if self.on_event_command is not None:
            try:
                if not shlex.split(self.on_event_command):
                    problems.append("--on-event-command: an empty command")
            except ValueError as exc:
                problems.append(f"--on-event-command {self.on_event_command!r}: {exc}")
        if problems:
            raise UsageError("; ".join(problems))


def live_sampler(model: Any, timeline: TimelineOptions):
    """The checkpoint's evaluation sampler with one clip per window, as predict.py --timeline takes it."""
    from pipeline.inference.batch import clip_sampler_for

    stub = PredictOptions(checkpoint="", inputs=(), output="", timeline=timeline)
    return clip_sampler_for(stub, dict(model.hparams.get("sampling") or {}))


class LiveRun:
    """One run over `options.sources` with a loaded classifier module; `records()` yields the records."""

    def __init__(self, model: Any, options: LiveOptions, device: Optional[torch.device] = None,
                 precision: str = "32-true", log: Optional[Callable[[str], None]] = None,
                 status: Optional[StatusLine] = None, opener: Callable[..., OpenSource] = open_source):
        options.validate()
        self.model, self.options, self.precision = model, options, precision
        self.device = device or torch.device("cpu")
        self.class_names = list(model.class_names)
        self.timeline = options.timeline.for_model(model)
        PredictOptions("", (), "", timeline=self.timeline).validate_for_model(self.class_names)  # as predict.py
        self.sampler = live_sampler(model, self.timeline)
        self.converter = FrameConverter(model.preprocessing)
        self.sources = [parse_source(text) for text in options.sources]
        self.names = list(options.sources)
        self.log = log or (lambda line: None)
        self.status = status
        self.opener = opener
        self._stop = threading.Event()
        self.summary: Optional[Dict[str, Any]] = None
        self.alerts: Optional[Alerts] = None
        forward_context(precision, self.device)  # an unsupported precision fails before any source is opened

    def stop(self) -> None:
        """End the run: every stream ends where it is; what is queued is still scored, then the summary."""
        self._stop.set()

    # ------------------------------------------------------------------ the loop

    def records(self) -> Iterator[Dict[str, Any]]:
        """Open every source (a SourceError when one cannot be opened), then yield records until every
        stream has ended or `stop()` was called; the last record is the summary."""
        n = len(self.sources)
        options = self.options
        self.alerts = make_alerts(options.on_event, options.on_event_command, options.event_frames,
                                  options.alert_timeout)
        self.queues = FrameQueues(n, options.queue_frames, [drops_frames(s, options.realtime) for s in self.sources])
        self.readers = [
            StreamReader(i, source, self.queues, self._windows, self.converter, timeout=options.stall_timeout,
                         max_backoff=options.max_backoff, realtime=options.realtime, fps=options.fps,
                         opener=self.opener, keep_frames=self.alerts is not None and self.alerts.keep_frames)
            for i, source in enumerate(self.sources)
        ]
        try:
            for reader in self.readers:
                reader.start()
            while not all(r.opened.wait(0.1) for r in self.readers) and not self._stop.is_set():
                pass
            failed = next((r.error for r in self.readers if r.error is not None), None)
            if failed is not None and not self._stop.is_set():
                raise failed
            yield from self._loop()
        finally:
            for reader in self.readers:
                reader.stop()
            self.queues.stop()
            for reader in self.readers:
                reader.join(timeout=0.5)
            if self.alerts is not None:
                self.alerts.close(0.0)  # left early: nothing waits for the deliveries (a no-op after the summary)

    def _windows(self, fps: float) -> SegmentWindows:
        return SegmentWindows(fps, self.timeline, self.sampler)

    def _loop(self) -> Iterator[Dict[str, Any]]:
        n = len(self.sources)
        self.stats = [StreamStats(name) for name in self.names]
        self._features: List[Dict[int, Dict[int, Any]]] = [{} for _ in range(n)]  # stream -> segment -> index
        self._events: List[Optional[EventTracker]] = [None] * n
        self._segments: List[Any] = [None] * n  # the segment each stream is in
        ended: set = set()
        deadline = None
        last_log = time.monotonic()
        while len(ended) < n:
            if self._stop.is_set() and deadline is None:
                deadline = time.monotonic() + STOP_GRACE_S
                for reader in self.readers:
                    reader.stop()
                self.queues.stop()
            if deadline is not None and time.monotonic() > deadline:
                break
            taken = self.queues.take(self.options.batch_size, timeout=0.2)
            yield from self._process(taken, ended)
            for s, reader in enumerate(self.readers):
                self.stats[s].frames_in, self.stats[s].needed = reader.frames_in, reader.needed
                self.stats[s].dropped = self.queues.dropped(s)
            if self.status is not None:
                self.status.update(self.stats)
            if time.monotonic() - last_log >= self.options.log_every:
                self._say(minute_line(self.stats))
                last_log = time.monotonic()
            if self.alerts is not None and (line := self.alerts.log_line()) is not None:
                self._say(line)
        for s in range(n):  # streams whose reader did not hand over its end in time (stopped while stalled)
            if s not in ended:
                yield from self._close_events(s, None)
        if self.status is not None:
            self.status.clear()
        self.summary = summary_record(self.stats, n > 1)
        if self.alerts is not None:
            self.alerts.close()  # what is queued gets one delivery timeout
            self.summary["alerts"] = self.alerts.summary()
        yield self.summary

    def _say(self, line: str) -> None:
        if self.status is not None:
            self.status.clear()
        self.log(line)

    def _process(self, taken: List[List[Any]], ended: set) -> Iterator[Dict[str, Any]]:
        frames = [(s, item) for s, items in enumerate(taken) for item in items if isinstance(item, FrameItem)]
        if frames:
            pixels = np.stack([item.pixels for _, item in frames])
            values = self._embed(pixels) if self.options.reuse_features else torch.from_numpy(pixels)
            for (s, item), value in zip(frames, values):
                self._features[s].setdefault(item.segment.number, {})[item.index] = value
                self.stats[s].embedded += int(self.options.reuse_features)
        windows = [(s, m) for s, items in enumerate(taken) for m in items
                   if isinstance(m, Marker) and m.kind == "window"]
        scored = iter(self._score(windows))
        for s, items in enumerate(taken):
            for item in items:
                if isinstance(item, FrameItem):
                    continue
                if item.kind == "window":
                    yield from self._window(s, item, *next(scored))
                elif item.kind == "segment_end":
                    yield from self._close_events(s, item.segment)
                    self._features[s].pop(item.segment.number, None)
                elif item.kind == "gap":
                    self.stats[s].gaps += 1
                    yield self._tag(s, gap_record(item.data["stream_time"], item.data["duration"],
                                                  item.data.get("reason", ""), item.data.get("reopened", False)))
                elif item.kind == "end":
                    ended.add(s)

    def _embed(self, pixels: np.ndarray) -> torch.Tensor:
        """uint8 [N,c,c,3] -> backbone features [N,D], as the timeline's step embeds its chunks.

        In chunks whose sizes are powers of two (13 = 8 + 4 + 1): a CPU's convolution library keeps
        buffers for every batch shape it has seen, and a live run meets every size from 1 to
        `batch_size`; six shapes keep its memory flat over hours (docs/benchmarks.md, "Live")."""
        with torch.inference_mode(), forward_context(self.precision, self.device):
            frames = torch.from_numpy(pixels).to(self.device)
            parts, start = [], 0
            while start < len(frames):
                size = 1 << ((len(frames) - start).bit_length() - 1)
                chunk = frames[start:start + size]
                parts.append(self.model.model.backbone(normalize(chunk, self.model.preprocessing)))
                start += size
            return torch.cat(parts)

    def _score(self, windows: List[Tuple[int, Marker]]) -> List[Tuple[Optional[np.ndarray], int]]:
        """(probabilities [C] or None when nothing of its clip is left, frames filled) of each window."""
        clips, fills, out = [], [], []
        for s, marker in windows:
            store = self._features[s].get(marker.segment.number, {})
            indices = [int(i) for i in marker.data["window"].indices]
            present = [i for i in dict.fromkeys(indices) if i in store]
            if not present:
                clips.append(None)
                fills.append(0)
                continue
            nearest = [i if i in store else min(present, key=lambda j: (abs(j - i), j)) for i in indices]
            clips.append([store[i] for i in nearest])
            fills.append(sum(i not in store for i in indices))
        real = [c for c in clips if c is not None]
        probs = iter(self._head(real) if real else [])
        for clip, filled in zip(clips, fills):
            out.append((None, 0) if clip is None else (next(probs), filled))
        return out

    def _head(self, clips: List[List[Any]]) -> np.ndarray:
        t = len(clips[0])
        flat = [value for clip in clips for value in clip]
        with torch.inference_mode(), forward_context(self.precision, self.device):
            if self.options.reuse_features:
                features = torch.stack(flat)
            else:  # the baseline: every window's clip through the CNN again
                features = self._embed(torch.stack(flat).numpy())
            index = torch.arange(len(flat), device=features.device).view(len(clips), t)
            return self.model.window_probabilities(features, index).float().cpu().numpy()

    def _window(self, s: int, marker: Marker, probs: Optional[np.ndarray], filled: int) -> Iterator[Dict[str, Any]]:
        segment, window = marker.segment, marker.data["window"]
        stats = self.stats[s]
        if self._segments[s] is not segment:
            self._segments[s] = segment
            self._events[s] = EventTracker(self.class_names, self.timeline)
        if not window.tail:  # later windows start here or later: earlier features are no longer needed
            store = self._features[s].get(segment.number, {})
            for index in [i for i in store if i < window.start]:
                del store[index]
        if not self.options.reuse_features:
            stats.embedded += len(window.indices)
        if probs is None:
            stats.skipped += 1
            return
        start, end = segment.stream_time(window.start), segment.stream_time(window.end)
        stats.stream_time = max(stats.stream_time, end)
        latency = (time.monotonic() - marker.data["arrival"]) * 1000.0
        stats.add_latency(latency)
        stats.windows += 1
        stats.filled += bool(filled)
        label = int(decide_labels(probs[None], self.class_names, self.model.threshold)[0])
        if not self.options.events_only:
            yield self._tag(s, window_record(end, start, end, probs, self.class_names, label, latency,
                                             segment.number, filled))
        for change in self._events[s].add(start, end, probs, marker.data.get("frame")):
            yield self._event(s, change, end, latency)

    def _close_events(self, s: int, segment: Any) -> Iterator[Dict[str, Any]]:
        tracker = self._events[s]
        self._events[s], self._segments[s] = None, None
        if tracker is None:
            return
        end = self.stats[s].stream_time if segment is None else segment.stream_time(segment.arrived)
        arrival = None if segment is None else segment.last_arrival
        latency = 0.0 if arrival is None else (time.monotonic() - arrival) * 1000.0
        for change in tracker.close_all():
            yield self._event(s, change, end, latency)

    def _event(self, s: int, change: EventChange, stream_time: float, latency: float) -> Dict[str, Any]:
        """An event record; the alerts get it (and add its snapshot) before it is written."""
        self.stats[s].events += change.kind == "start"
        record = self._tag(s, event_record(change.kind, change.event, stream_time, latency))
        if self.alerts is not None:
            self.alerts.handle(record, change.peak, s)
        return record

    def _tag(self, s: int, record: Dict[str, Any]) -> Dict[str, Any]:
        if len(self.sources) > 1:
            record["stream"] = self.names[s]
        return record


# ---------------------------------------------------------------------- the command and the API


def load_live_model(checkpoint: str, backbone_precision: Optional[str] = None, trust_checkpoint: bool = False) -> Any:
    """The checkpoint's classifier module, as predict.py loads it (InputError for an unusable one)."""
    from pipeline.inference.batch import load_model

    return load_model(PredictOptions(checkpoint=checkpoint, inputs=(), output="",
                                     backbone_precision=backbone_precision, trust_checkpoint=trust_checkpoint))


def stream_records(model: Any, sources: Sequence[str], options: LiveOptions, device: Any = "auto",
                   precision: Optional[str] = None) -> Iterator[Dict[str, Any]]:
    """The records of a live run over `sources` with a loaded classifier module, as an iterator;
    closing it (or leaving a for loop) ends the run. `device`: a --device or a torch.device."""
    from dataclasses import replace

    from pipeline.inference.batch import precision_for

    options = replace(options, sources=tuple(str(s) for s in sources))
    torch_dev = device if isinstance(device, torch.device) else torch_device(device)
    name = "gpu" if torch_dev.type == "cuda" else "cpu"
    run = LiveRun(model, options, torch_dev, precision or precision_for(PredictOptions("", (), "", device=name)))
    records = run.records()
    try:
        yield from records
    finally:
        run.stop()
        records.close()


def run_live(checkpoint: str, options: LiveOptions, output: Optional[str] = None, device: str = "auto",
             backbone_precision: Optional[str] = None, trust_checkpoint: bool = False,
             precision: Optional[str] = None, err: Optional[TextIO] = None) -> Dict[str, Any]:
    """scripts/live.py: records to `output` (appended; None: standard output), the status line and the
    log on stderr, SIGINT/SIGTERM end the run with its summary. Returns the summary record."""
    from pipeline.atomic_io import check_writable
    from pipeline.inference.batch import precision_for

    options.validate()
    for text in options.sources:  # a missing file ends the run before the model is loaded
        parse_source(text)
    if options.event_frames:
        check_frames_folder(Path(options.event_frames))
    err = err or sys.stderr
    model = load_live_model(checkpoint, backbone_precision, trust_checkpoint)
    torch_dev = torch_device(device)
    status = StatusLine(err) if err.isatty() else None
    run = LiveRun(model, options, torch_dev, precision or precision_for(PredictOptions("", (), "", device=device)),
                  log=lambda line: print(line, file=err, flush=True), status=status)
    if output:
        check_writable(Path(output))
    handle = open(output, "a", encoding="utf-8") if output else sys.stdout
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in previous:
        signal.signal(sig, lambda *_: run.stop())
    try:
        writer = RecordWriter(handle)
        for record in run.records():
            writer.write(record)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if output:
            handle.close()
    if run.summary is not None:
        print(summary_lines(run.summary), file=err, flush=True)
    return run.summary or {}
