"""One thread per source: decode, note each frame's arrival, convert the frames windows need, queue them.

The reader cuts its stream into segments: a segment is what one opening of the source delivers,
its frames numbered from 0. When a reconnecting source (network, camera) fails or stalls, the
segment ends, the source is reopened with backoff (0.5 s doubling up to `max_backoff`), and the
next segment starts after a `gap` marker that says how long the stream was missing; windows never
span a gap. A file or stdin ends the stream at its end. At every segment's end the reader adds the
timeline's last window when it is not a regular one, converting its frames from the last window's
worth of decoded frames it keeps.
"""
from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, Deque, Optional, Tuple

from pipeline.live.frame_queue import FrameItem, FrameQueues, Marker
from pipeline.live.sources import FILE, STDIN, FrameConverter, OpenSource, Source, SourceStalled, open_source
from pipeline.live.windows import SegmentWindows

BACKOFF_FIRST_S = 0.5


@dataclass
class Segment:
    """One continuous stretch of a stream: its number, windows, and where it starts in stream time."""

    stream: int
    number: int
    windows: SegmentWindows
    offset: float  # stream seconds of its frame 0
    arrived: int = 0
    last_arrival: Optional[float] = None  # monotonic seconds

    @property
    def fps(self) -> float:
        return self.windows.fps

    def stream_time(self, frames: float) -> float:
        """Stream seconds at `frames` frames into this segment."""
        return self.offset + frames / self.fps


class StreamReader(threading.Thread):
    """Reads one source into its queue until the source ends, `stop()` is called, or it cannot open."""

    def __init__(self, stream: int, source: Source, queues: FrameQueues,
                 make_windows: Callable[[float], SegmentWindows], converter: FrameConverter, *,
                 timeout: float, max_backoff: float, realtime: bool = False, fps: Optional[float] = None,
                 opener: Callable[..., OpenSource] = open_source):
        super().__init__(name=f"live-reader-{stream}", daemon=True)
        self.stream, self.source, self.queues = stream, source, queues
        self.make_windows, self.converter = make_windows, converter
        self.timeout, self.max_backoff, self.realtime, self.fps = timeout, max_backoff, realtime, fps
        self.opener = opener
        self.opened = threading.Event()  # set once the first opening succeeded or failed
        self.error: Optional[BaseException] = None  # why the first opening failed
        self.frames_in = self.needed = self.reconnects = 0
        self._stop_event = threading.Event()

    def stop(self) -> None:
        """End the stream at the next frame (a blocked read ends within the source's timeout)."""
        self._stop_event.set()

    @property
    def stopping(self) -> bool:
        return self._stop_event.is_set()

    def run(self) -> None:
        try:
            source = self.opener(self.source, self.timeout, self.fps)
        except BaseException as exc:  # reported by the runner as the run's one line
            self.error = exc
            self.opened.set()
            self.queues.put(self.stream, Marker("end", data={"reason": "failed"}))
            return
        self.opened.set()
        number, offset, gap_from = 0, 0.0, None
        reason = "end"
        while True:
            segment = Segment(self.stream, number, self.make_windows(source.fps), offset)
            reason = self._read(source, segment, gap_from)
            source.close()
            self._end_segment(segment)
            if reason != "stalled" or not self.source.reconnects or self.stopping:
                break
            if segment.arrived or gap_from is None:  # an opening that delivered nothing extends the same gap
                gap_from = (segment.last_arrival, segment.stream_time(segment.arrived), segment.fps, self._why)
            source = self._reopen()
            if source is None:  # stopped while the source was away: the gap so far
                self._put_gap(gap_from[1], time.monotonic() - gap_from[0] if gap_from[0] else 0.0, gap_from[3])
                reason = "stopped"
                break
            number, offset = number + 1, gap_from[1]
        self.queues.put(self.stream, Marker("end", data={"reason": reason}))

    def _read(self, source: OpenSource, segment: Segment, gap_from: Optional[Tuple]) -> str:
        ring: Deque[Tuple[int, Any]] = deque(maxlen=segment.windows.length)  # for the tail window
        self._ring = ring
        windows = segment.windows
        first_time: Optional[float] = None
        start = time.monotonic()
        self._why = ""
        try:
            for frame in source.frames():
                if self.stopping:
                    return "stopped"
                if self.realtime:
                    t = source.frame_time(frame)
                    t = segment.arrived / segment.fps if t is None else t
                    first_time = t if first_time is None else first_time
                    delay = start + (t - first_time) - time.monotonic()
                    if delay > 0:
                        self._stop_event.wait(delay)
                now = time.monotonic()
                index = segment.arrived
                if index == 0 and gap_from is not None:
                    last, gap_start, fps, why = gap_from
                    missing = max(0.0, now - last - 1.0 / fps) if last is not None else 0.0
                    segment.offset = gap_start + missing
                    self._put_gap(gap_start, missing, why)
                ring.append((index, frame))
                if windows.needed(index):
                    self.needed += 1
                    self.queues.put(self.stream, FrameItem(segment, index, now, self.converter(frame)))
                segment.arrived, segment.last_arrival = index + 1, now
                self.frames_in += 1
                for window in windows.completed(segment.arrived):
                    self.queues.put(self.stream, Marker("window", segment, {"window": window, "arrival": now}))
        except SourceStalled as exc:
            self._why = str(exc)
            return "stalled"
        return "end"

    def _end_segment(self, segment: Segment) -> None:
        tail = segment.windows.tail(segment.arrived)
        if tail is not None:
            held = dict(self._ring)
            for index in sorted(set(int(i) for i in tail.indices)):
                if not segment.windows.needed(index) and index in held:
                    pixels = self.converter(held[index])
                    self.queues.put(self.stream, FrameItem(segment, index, segment.last_arrival or time.monotonic(),
                                                           pixels, droppable=False))
            self.queues.put(self.stream, Marker("window", segment,
                                                {"window": tail, "arrival": segment.last_arrival or time.monotonic()}))
        self._ring = deque()
        self.queues.put(self.stream, Marker("segment_end", segment))

    def _put_gap(self, stream_time: float, duration: float, why: str = "") -> None:
        self.queues.put(self.stream, Marker("gap", data={"stream_time": stream_time, "duration": duration,
                                                         "reason": why}))

    def _reopen(self) -> Optional[OpenSource]:
        delay = BACKOFF_FIRST_S
        while not self.stopping:
            if self._stop_event.wait(delay):
                return None
            try:
                source = self.opener(self.source, self.timeout, self.fps)
            except Exception as exc:
                self._why = self._why or str(exc)
                delay = min(delay * 2, self.max_backoff)
                continue
            self.reconnects += 1
            return source
        return None


def drops_frames(source: Source, realtime: bool) -> bool:
    """Whether a full queue drops this source's frames (a network stream, a camera, a file at its own pace)
    rather than making the reader wait: a file read as fast as it decodes, or standard input, whose pipe
    makes the writer wait in turn (a live writer such as ffmpeg then drops or buffers by its own rules)."""
    return source.kind not in (FILE, STDIN) or realtime
