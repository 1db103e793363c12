"""What a live run says: one JSON object a line, flushed as it is produced, and what the terminal shows.

Record types (docs/inference.md, "Live"): `window` (a window's probabilities and label), `event_start`
and `event_end` (the timeline's event segments, as soon as they are certain), `gap` (a stream was
missing), `summary` (the last line). Every record has `type`, `stream_time` (seconds of the stream),
`wall_time` (Unix seconds) and, with several sources, `stream` (the source as given); windows and
events have `latency_ms`: from the arrival of the window's last frame to the record.

Latency percentiles come from a histogram of 1 ms bins (up to a minute), so memory does not grow
with the run's length. `StatusLine` is the one-line status on a terminal; `minute_line` the line the
log gets every minute.
"""
from __future__ import annotations

import json
import sys
import time
from typing import Any, Dict, List, Optional, Sequence, TextIO

import numpy as np

from pipeline.inference.timeline import Event

LATENCY_BINS_MS = 60_000  # 1 ms bins up to a minute; later ones count in the last bin


class LatencyStats:
    """Latencies in ms: count, percentiles (to the ms), reset."""

    def __init__(self) -> None:
        self.counts = np.zeros(LATENCY_BINS_MS + 1, dtype=np.int64)
        self.n = 0

    def add(self, ms: float) -> None:
        self.counts[min(max(int(ms), 0), LATENCY_BINS_MS)] += 1
        self.n += 1

    def percentile(self, q: float) -> Optional[float]:
        """The smallest latency (ms) at or below which `q` percent of them lie; None when there is none."""
        if not self.n:
            return None
        rank = int(np.ceil(q / 100.0 * self.n))
        return float(np.searchsorted(np.cumsum(self.counts), max(rank, 1)))

    def merge(self, other: LatencyStats) -> None:
        self.counts += other.counts
        self.n += other.n

    def reset(self) -> None:
        self.counts[:] = 0
        self.n = 0


class StreamStats:
    """What one stream did: frames in, frames embedded, drops, windows, events, gaps, latencies."""

    def __init__(self, name: str):
        self.name = name
        self.frames_in = self.needed = self.embedded = self.dropped = 0
        self.windows = self.filled = self.skipped = self.events = self.gaps = 0
        self.stream_time = 0.0
        self.latency = LatencyStats()
        self.recent = LatencyStats()  # since the last minute line
        self.started = time.monotonic()

    def add_latency(self, ms: float) -> None:
        self.latency.add(ms)
        self.recent.add(ms)

    def fields(self) -> Dict[str, Any]:
        """The summary's fields for this stream."""
        wall = time.monotonic() - self.started
        return {
            "frames": self.frames_in,
            "fps_in": _round(self.frames_in / wall if wall > 0 else 0.0, 2),
            "sampled": self.needed,
            "embedded": self.embedded,
            "dropped": self.dropped,
            "dropped_share": _round(self.dropped / self.needed if self.needed else 0.0, 4),
            "windows": self.windows,
            "windows_filled": self.filled,
            "windows_skipped": self.skipped,
            "events": self.events,
            "gaps": self.gaps,
            "latency_ms_p50": self.latency.percentile(50),
            "latency_ms_p95": self.latency.percentile(95),
            "stream_time": _round(self.stream_time, 3),
            "wall_seconds": _round(wall, 3),
        }


def _round(value: float, digits: int) -> float:
    return round(float(value), digits)


def window_record(stream_time: float, start: float, end: float, probs: np.ndarray, class_names: Sequence[str],
                  label: int, latency_ms: float, segment: int, filled: int) -> Dict[str, Any]:
    """A window: its [start, end] in stream seconds, every class's probability, the decided label."""
    record = {
        "type": "window", "stream_time": _round(stream_time, 3), "wall_time": round(time.time(), 3),
        "latency_ms": _round(latency_ms, 1), "start": _round(start, 3), "end": _round(end, 3),
        "label": class_names[label], "probability": _round(probs[label], 6),
        "probabilities": {name: _round(p, 6) for name, p in zip(class_names, probs)}, "segment": segment,
    }
    if filled:
        record["filled"] = filled  # frames of its clip that were dropped, replaced by the nearest embedded one
    return record


def event_record(change: str, event: Event, stream_time: float, latency_ms: float) -> Dict[str, Any]:
    """`event_start` (the segment has become an event; its peak so far) or `event_end` (final)."""
    record = {"type": f"event_{change}", "stream_time": _round(stream_time, 3), "wall_time": round(time.time(), 3),
              "latency_ms": _round(latency_ms, 1), "label": event.label, "start": _round(event.start, 3)}
    if change == "end":
        record["end"] = _round(event.end, 3)
    record["peak_probability"] = _round(event.peak_probability, 6)
    record["peak_time"] = _round(event.peak_time, 3)
    return record


def gap_record(stream_time: float, duration: float, reason: str, reopened: bool = False) -> Dict[str, Any]:
    """The stream's footage was missing for `duration` seconds from `stream_time` (`reason`: what showed
    it; `reopened`: whether the source had to be reopened)."""
    return {"type": "gap", "stream_time": _round(stream_time, 3), "wall_time": round(time.time(), 3),
            "duration": _round(duration, 3), "reason": reason, "reopened": bool(reopened)}


def summary_record(stats: List[StreamStats], several: bool) -> Dict[str, Any]:
    """The run's totals (latency percentiles over every stream), and each stream's own with several."""
    total = StreamStats("all")
    total.started = min(s.started for s in stats)
    for s in stats:
        for name in ("frames_in", "needed", "embedded", "dropped", "windows", "filled", "skipped", "events", "gaps"):
            setattr(total, name, getattr(total, name) + getattr(s, name))
        total.latency.merge(s.latency)
        total.stream_time = max(total.stream_time, s.stream_time)
    record: Dict[str, Any] = {"type": "summary", "stream_time": _round(total.stream_time, 3),
                              "wall_time": round(time.time(), 3), **total.fields()}
    if several:
        record["streams"] = [{"stream": s.name, **s.fields()} for s in stats]
    return record


def summary_lines(record: Dict[str, Any]) -> str:
    """The summary as the lines scripts/live.py prints on stderr."""
    parts = [_summary_line("", record)]
    for stream in record.get("streams", []):
        parts.append(_summary_line(f"  {stream['stream']}: ", stream))
    alerts = record.get("alerts") or {}
    said = []
    for name, c in alerts.items():
        if name == "frames":
            said.append(f"{c['written']} frames written" + (f", {c['failed']} failed" if c["failed"] else ""))
        else:
            said.append(f"{name} {c['delivered']} delivered, {c['failed']} failed, {c['dropped']} dropped, "
                        f"{c['unsent']} unsent")
    if said:
        parts.append("alerts: " + "; ".join(said))
    return "\n".join(parts)


def _summary_line(prefix: str, r: Dict[str, Any]) -> str:
    latency = "no window" if r["latency_ms_p50"] is None else \
        f"latency p50 {r['latency_ms_p50']:.0f} ms, p95 {r['latency_ms_p95']:.0f} ms"
    return (f"{prefix}{r['stream_time']:.1f} s of stream in {r['wall_seconds']:.1f} s: {r['frames']} frames, "
            f"{r['embedded']} embedded, dropped {r['dropped']} ({100 * r['dropped_share']:.1f}%), "
            f"{r['windows']} windows, {r['events']} events, {r['gaps']} gaps; {latency}")


def minute_line(stats: List[StreamStats]) -> str:
    """The log's periodic line: per stream, stream time, dropped share and recent latency p50/p95."""
    parts = []
    for s in stats:
        p50, p95 = s.recent.percentile(50), s.recent.percentile(95)
        latency = "no window" if p50 is None else f"latency p50 {p50:.0f} ms p95 {p95:.0f} ms"
        share = 100 * s.dropped / s.needed if s.needed else 0.0
        parts.append(f"{s.name}: {s.stream_time:.0f} s, {s.windows} windows, dropped {share:.1f}%, {latency}")
        s.recent.reset()
    return "live: " + "; ".join(parts)


class RecordWriter:
    """Writes records as JSON lines, each flushed as it is written."""

    def __init__(self, stream: TextIO):
        self.stream = stream

    def write(self, record: Dict[str, Any]) -> None:
        self.stream.write(json.dumps(record) + "\n")
        self.stream.flush()


class StatusLine:
    """One line on a terminal, rewritten at most twice a second: stream time, fps in and embedded,
    latency, dropped share."""

    def __init__(self, stream: Optional[TextIO] = None, every_s: float = 0.5):
        self.stream = stream or sys.stderr
        self.every_s = every_s
        self.last = 0.0
        self.shown = False
        self._counts = (time.monotonic(), 0, 0)

    def update(self, stats: List[StreamStats], force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last < self.every_s:
            return
        then, frames_then, embedded_then = self._counts
        frames = sum(s.frames_in for s in stats)
        embedded = sum(s.embedded for s in stats)
        dt = max(now - then, 1e-6)
        needed = sum(s.needed for s in stats)
        dropped = sum(s.dropped for s in stats)
        latest = [s.latency for s in stats if s.latency.n]
        merged = LatencyStats() if latest else None
        for latency in latest:
            merged.merge(latency)
        latency = f"{merged.percentile(50):.0f}/{merged.percentile(95):.0f} ms" if merged else "-"
        text = (f"live {max(s.stream_time for s in stats):8.1f} s | in {(frames - frames_then) / dt:5.1f} fps | "
                f"embedded {(embedded - embedded_then) / dt:5.1f} fps | latency p50/p95 {latency} | "
                f"dropped {100 * dropped / needed if needed else 0.0:.1f}%")
        self.stream.write("\r" + text + "\x1b[K")
        self.stream.flush()
        self.shown = True
        self.last = now
        self._counts = (now, frames, embedded)

    def clear(self) -> None:
        if self.shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self.shown = False
