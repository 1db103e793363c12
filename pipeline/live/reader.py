"""One thread per source: decode, note each frame's arrival, convert the frames windows need, queue them.

The reader cuts its stream into segments: a segment is a continuous stretch of footage, its frames
numbered from 0, and windows never span two. A `GapDetector` (gaps.py) decides, from each frame's
arrival and timestamp, where the footage has a hole: the stream fell silent and came back, its
timestamps restarted (a new stream on the same port) or jumped, or the source failed or stalled for
the timeout and had to be reopened (0.5 s doubling up to `max_backoff` between attempts). The segment
then ends and the next one starts after a `gap` marker that says how long the footage was missing,
measured, whether or not the source was reopened; the next segment's stream time starts that much
later, so stream time keeps counting through the gap. The gap's marker (and the new segment's windows)
wait until the detector has measured it: until a frame of the new segment has come at the stream's
pace, at most until the segment ends. A file or stdin ends the stream at its end. At every segment's
end the reader adds the timeline's last window when it is not a regular one, converting its frames
from the last window's worth of decoded frames it keeps. With `keep_frames`, each window marker also
carries the decoded frame at the window's middle (the frame an event's snapshot shows).
"""
from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, Deque, List, Optional, Tuple

from pipeline.live.frame_queue import FrameItem, FrameQueues, Marker
from pipeline.live.gaps import FrameStep, Gap, GapDetector
from pipeline.live.sources import FILE, STDIN, FrameConverter, OpenSource, Source, SourceStalled, open_source
from pipeline.live.windows import SegmentWindows, Window

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
                 opener: Callable[..., OpenSource] = open_source, keep_frames: bool = False):
        super().__init__(name=f"live-reader-{stream}", daemon=True)
        self.stream, self.source, self.queues = stream, source, queues
        self.make_windows, self.converter = make_windows, converter
        self.timeout, self.max_backoff, self.realtime, self.fps = timeout, max_backoff, realtime, fps
        self.opener = opener
        self.keep_frames = keep_frames
        # live sources have gaps; a file, or stdin read as fast as it decodes, is one continuous stretch
        self.watch = source.reconnects or (source.kind == STDIN and realtime)
        self.opened = threading.Event()  # set once the first opening succeeded or failed
        self.error: Optional[BaseException] = None  # why the first opening failed
        self.frames_in = self.needed = self.reconnects = 0
        self._stop_event = threading.Event()
        self._segment: Optional[Segment] = None
        self._segments = 0  # segments started so far
        self._stream_end = 0.0  # stream seconds at the end of the last segment
        self._ring: Deque[Tuple[int, Any]] = deque()  # the segment's last window's worth of decoded frames
        self._gap: Optional[Gap] = None  # the gap before the current segment, until measured
        self._waiting: List[Marker] = []  # the current segment's window markers, until its gap is measured
        self._why = ""
        self._detector: GapDetector[Any] = GapDetector(1.0)  # replaced by the stream's own once it is open

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
        detector: GapDetector[Any] = GapDetector(source.fps, watch=self.watch)
        self._detector = detector
        while True:
            reason = self._read(source, detector)
            source.close()
            self._apply(detector.flush(), source.fps)
            if reason != "stalled" or not self.source.reconnects or self.stopping:
                break
            self._end_segment()  # the footage goes on, if at all, after a gap
            detector.reopened(self._why)
            source = self._reopen()
            if source is None:  # stopped while the source was away: the gap so far
                gap = detector.gap_so_far(time.monotonic())
                if gap is not None:
                    self._put_gap(self._stream_end, gap)
                reason = "stopped"
                break
            detector.set_fps(source.fps)
        self._end_segment()
        self.queues.put(self.stream, Marker("end", data={"reason": reason}))

    def _read(self, source: OpenSource, detector: GapDetector[Any]) -> str:
        first_time: Optional[float] = None
        start = time.monotonic()
        paced = 0
        self._why = ""
        try:
            for frame in source.frames():
                if self.stopping:
                    return "stopped"
                t = source.frame_time(frame)
                if self.realtime:
                    pace_t = paced / source.fps if t is None else t
                    if first_time is None or pace_t < first_time:  # the first frame, or a new stream
                        first_time, start = pace_t, time.monotonic()
                    delay = start + (pace_t - first_time) - time.monotonic()
                    if delay > 0:
                        self._stop_event.wait(delay)
                    paced += 1
                self.frames_in += 1
                self._apply(detector.add(frame, time.monotonic(), t), source.fps)
                if self._gap is not None and detector.gap_pending is self._gap and detector.settled:
                    self._finish_gap(detector.finish_gap())
        except SourceStalled as exc:
            self._why = str(exc)
            return "stalled"
        return "end"

    def _apply(self, steps: List[Any], fps: float) -> None:
        """Carry out the detector's steps: frames into the current segment; a gap ends it."""
        for step in steps:
            if isinstance(step, FrameStep):
                if self._segment is None:
                    self._start_segment(fps)
                self._take(step.item, step.arrival)
            else:
                self._end_segment()
                self._gap = step

    def _start_segment(self, fps: float) -> None:
        self._segment = Segment(self.stream, self._segments, self.make_windows(fps), self._stream_end)
        self._segments += 1
        self._ring = deque(maxlen=self._segment.windows.length)  # for the tail window and the kept frames

    def _take(self, frame: Any, arrival: float) -> None:
        segment = self._segment
        assert segment is not None
        index = segment.arrived
        self._ring.append((index, frame))
        if segment.windows.needed(index):
            self.needed += 1
            self.queues.put(self.stream, FrameItem(segment, index, arrival, self.converter(frame)))
        segment.arrived, segment.last_arrival = index + 1, arrival
        for window in segment.windows.completed(segment.arrived):
            self._put_window(segment, window, arrival)

    def _put_window(self, segment: Segment, window: Window, arrival: float) -> None:
        data = {"window": window, "arrival": arrival}
        if self.keep_frames:
            middle = (window.start + window.end) // 2  # the frame at the window's middle time
            data["frame"] = next((f for i, f in self._ring if i == middle), None)
        marker = Marker("window", segment, data)
        if self._gap is not None:
            self._waiting.append(marker)  # its stream time is known once the gap before it is measured
        else:
            self.queues.put(self.stream, marker)

    def _finish_gap(self, gap: Gap) -> None:
        """The gap before the current segment is measured: its marker, then the windows that waited for it."""
        self._gap = None
        assert gap.duration is not None
        if self._segment is not None:
            self._segment.offset = self._stream_end + gap.duration
        self._put_gap(self._stream_end, gap)
        waiting, self._waiting = self._waiting, []
        for marker in waiting:
            self.queues.put(self.stream, marker)

    def _end_segment(self) -> None:
        segment = self._segment
        if segment is None:
            return
        if self._gap is not None:  # the segment ends before it settled: the gap's best measure
            gap = self._gap
            if gap.duration is None:
                gap = self._detector.finish_gap()
            self._finish_gap(gap)
        tail = segment.windows.tail(segment.arrived)
        arrival = segment.last_arrival or time.monotonic()
        if tail is not None:
            held = dict(self._ring)
            for index in sorted(set(int(i) for i in tail.indices)):
                if not segment.windows.needed(index) and index in held:
                    pixels = self.converter(held[index])
                    self.queues.put(self.stream, FrameItem(segment, index, arrival, pixels, droppable=False))
            self._put_window(segment, tail, arrival)
        self._ring = deque()
        self.queues.put(self.stream, Marker("segment_end", segment))
        self._stream_end = segment.stream_time(segment.arrived)
        self._segment = None

    def _put_gap(self, stream_time: float, gap: Gap) -> None:
        self.queues.put(self.stream, Marker("gap", data={"stream_time": stream_time, "duration": gap.duration,
                                                         "reason": gap.reason, "reopened": gap.reopened}))

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
