"""Where a live stream's footage has a hole, and how long it is, measured from the frames that arrive.

A network stream can fall silent and come back (a sender restarted, a link down for a few seconds)
without the source ever failing: FFmpeg just waits, and frames come again. Each decoded frame carries
two clocks: when it arrived here (monotonic seconds) and its timestamp (its pts in seconds; cameras
read with OpenCV have none). `GapDetector` reads both, frame by frame:

- A *run* is a stretch of frames whose timestamps continue one another. Within a run, a frame's
  lateness (arrival - timestamp) is smallest when nothing held it up; the smallest over the last
  `PACE_WINDOW_S` seconds is the run's pace, and timestamp + pace is when the frame would have arrived
  had nothing held it up: its *expected arrival*. Bursts, probing and decoder delays do not move it.
- A new run starts after a gap when the timestamps go back (a new stream on the same port) or jump
  forward by more than the gap threshold (`max(GAP_FRAMES frame intervals, GAP_MIN_S)`), when frames
  without timestamps stop for longer than the threshold, when the source had to be reopened, or when
  frames come again after a silence longer than the threshold and keep the pace they came back at (a
  sender that paused without moving its timestamps). Frames that come after a silence and then catch up
  (a burst: the network or this machine held them up; a decoder handing over the frames it still held
  when data arrives again) are no gap: nothing was lost. To tell the two apart, frames that arrive after
  a silence are held back (at most `HOLD_S` seconds of them) until their pace says which it is.
- A gap lasts from the last frame before it to the first frame after it: the difference of their
  expected arrivals less one frame interval, whether or not the source had to be reopened. Not the
  reopening timeout, nor the pipeline's delays: the demuxer and the decoder hand over the last frames
  before a silence only when data comes again or the read times out, and a reopened source probes about
  a second of frames before it gives the first. The run after a gap has its pace once a frame has come
  at the stream's pace (`settled`); the gap's duration is final then (`finish_gap`).

A source that is not live (a file, or standard input read as fast as it decodes) has no gaps: every
frame continues the run (`watch=False`). The detector knows nothing of threads or segments: the reader
(reader.py) hands it each frame with its arrival and timestamp and applies the steps it returns.
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Deque, Generic, List, Optional, Tuple, TypeVar, Union

GAP_FRAMES = 4  # a gap is footage missing for longer than this many frame intervals...
GAP_MIN_S = 0.25  # ...and than this many seconds (arrival times jitter by tens of ms on a busy machine)
HOLD_S = 1.0  # frames that come after a silence are held back this long at most, to see whether they catch up
HOLD_MIN_FRAMES = 8  # and at least this many (a decoder may still hold a few frames of the old stream)
CATCH_UP_FRAMES = 2  # held frames that gain this many frame intervals on the pace they came back at: a burst
PACE_WINDOW_S = 30.0  # the pace is the smallest lateness over this many seconds of timestamps (clock drift)

RESTARTED, JUMPED, SILENCE = "timestamps restarted", "timestamps jumped", "silence"

T = TypeVar("T")


@dataclass
class Gap:
    """A hole in a stream's footage: `before` is the expected arrival (monotonic s) of the last frame
    before it (None when no frame came before), `reason` what showed it, `reopened` whether the source
    had to be reopened; `duration` (seconds of footage missing) is set by `GapDetector.finish_gap`."""

    before: Optional[float]
    reason: str
    reopened: bool = False
    duration: Optional[float] = None


@dataclass
class FrameStep(Generic[T]):
    """A frame that continues the current run: `item` as it was handed in, and its arrival."""

    item: T
    arrival: float


Step = Union[FrameStep, Gap]  # a Gap step: the run ends here, the frames that follow start a new one


class _Pace:
    """The smallest lateness of a run's frames over the last `PACE_WINDOW_S` seconds of timestamps."""

    def __init__(self) -> None:
        self._window: Deque[Tuple[float, float]] = deque()  # (timestamp, lateness), lateness increasing

    def add(self, pts: float, lateness: float) -> None:
        while self._window and self._window[-1][1] >= lateness:
            self._window.pop()
        self._window.append((pts, lateness))
        while self._window[0][0] < pts - PACE_WINDOW_S:
            self._window.popleft()

    @property
    def lateness(self) -> Optional[float]:
        return self._window[0][1] if self._window else None


class _Run:
    """A stretch of frames whose timestamps continue one another."""

    def __init__(self) -> None:
        self.pace = _Pace()
        self.frames = 0
        self.first: Optional[Tuple[float, Optional[float]]] = None  # (arrival, pts) of its first frame
        self.last: Optional[Tuple[float, Optional[float]]] = None
        self.settled = False

    def add(self, arrival: float, pts: Optional[float], interval: float) -> None:
        if pts is None:
            self.settled = True  # no timestamps: the arrival is all there is
        else:
            if self.last is not None and self.last[1] is not None:
                gained = (pts - self.last[1]) - (arrival - self.last[0])  # > 0: came faster than the stream
                self.settled = self.settled or gained < 0.5 * interval
            self.pace.add(pts, arrival - pts)
        self.first = self.first or (arrival, pts)
        self.last = (arrival, pts)
        self.frames += 1

    def expected(self, frame: Tuple[float, Optional[float]]) -> float:
        """When a frame of this run (arrival, pts) would have arrived had nothing held it up."""
        arrival, pts = frame
        pace = self.pace.lateness
        return arrival if pts is None or pace is None else pts + pace


class GapDetector(Generic[T]):
    """Per stream: which frames continue the footage and where a gap lies (the module's docstring).

    `add(item, arrival, pts)` returns the steps that frame makes certain, in order: `FrameStep`s (a
    frame continues the current run) and `Gap`s (the run ended; the next frames start a new one). It may
    return nothing (the frame is held back) or several (held frames released)."""

    def __init__(self, fps: float, watch: bool = True):
        self.watch = watch
        self.set_fps(fps)
        self._run: Optional[_Run] = None
        self._held: List[Tuple[T, float, Optional[float]]] = []
        self._gap: Optional[Gap] = None  # the gap before the current run, until finished
        self._reopened: Optional[str] = None

    def set_fps(self, fps: float) -> None:
        """The stream's frame rate (a reopened source may have another)."""
        self.interval = 1.0 / fps
        self.threshold = max(GAP_FRAMES * self.interval, GAP_MIN_S)
        self.hold_limit = max(HOLD_MIN_FRAMES, int(math.ceil(HOLD_S * fps)))

    # ------------------------------------------------------------------ frames

    def add(self, item: T, arrival: float, pts: Optional[float]) -> List[Step]:
        run = self._run
        if run is None or self._reopened is not None:
            steps: List[Step] = []
            if self._reopened is not None and run is not None and run.last is not None:
                steps.append(self._start_gap(run, self._reopened, reopened=True))
            self._reopened = None
            self._run = _Run()
            return steps + [self._take(item, arrival, pts)]
        if not self.watch:
            return [self._take(item, arrival, pts)]
        previous = (self._held[-1][1], self._held[-1][2]) if self._held else run.last
        broken = self._discontinuity(previous, arrival, pts)
        if broken is not None:
            steps = self._release()
            steps.append(self._start_gap(run, broken))
            self._run = _Run()
            return steps + [self._take(item, arrival, pts)]
        if self._held:
            self._held.append((item, arrival, pts))
            first_arrival, first_pts = self._held[0][1], self._held[0][2]
            gained = (first_arrival - first_pts) - (arrival - pts)
            pace = run.pace.lateness
            back_to_pace = pace is not None and arrival - pts - pace <= self.threshold
            if gained >= CATCH_UP_FRAMES * self.interval or back_to_pace:
                return self._release()  # a burst: they were held up, not missing
            if len(self._held) >= self.hold_limit:  # they keep the pace they came back at: the stream paused
                held, self._held = self._held, []
                steps = [self._start_gap(run, SILENCE)]
                self._run = _Run()
                return steps + [self._take(*frame) for frame in held]
            return []
        if pts is not None and previous[1] is not None and \
                (arrival - previous[0]) - (pts - previous[1]) > self.threshold:
            self._held.append((item, arrival, pts))  # after a silence: a burst, or a paused stream?
            return []
        return [self._take(item, arrival, pts)]

    def flush(self) -> List[Step]:
        """The frames held back, now in the current run: the source's frames ended (a stall, its end, a stop)."""
        return self._release()

    def reopened(self, reason: str) -> None:
        """The source had to be reopened (why: `reason`): the next frame starts a new run after a gap."""
        assert not self._held, "flush() the frames held back before reopening"
        self._reopened = reason

    # ------------------------------------------------------------------ the gap

    @property
    def gap_pending(self) -> Optional[Gap]:
        """The gap before the current run, while its duration is not final."""
        return self._gap

    @property
    def settled(self) -> bool:
        """Whether the current run has its pace (a frame came at the stream's pace): a gap can be finished."""
        return self._run is not None and self._run.settled

    def finish_gap(self) -> Gap:
        """The pending gap with its `duration`: from the expected arrival of the last frame before it to that
        of the first frame after it, less one frame interval (its best measure so far when not `settled`)."""
        gap, self._gap = self._gap, None
        assert gap is not None
        self._finish(gap)
        return gap

    def gap_so_far(self, now: float) -> Optional[Gap]:
        """The gap that began with the last frame, as long as it has lasted at `now` (the run ends while
        the source is away); None when no frame came."""
        run = self._run
        if run is None or run.last is None:
            return None
        gap = Gap(run.expected(run.last), self._reopened or SILENCE, reopened=self._reopened is not None)
        gap.duration = max(0.0, now - gap.before - self.interval)
        return gap

    # ------------------------------------------------------------------ helpers

    def _discontinuity(self, previous: Optional[Tuple[float, Optional[float]]], arrival: float,
                       pts: Optional[float]) -> Optional[str]:
        """Why this frame cannot continue the run after `previous` (arrival, pts), or None."""
        if previous is None:
            return None
        if pts is None or previous[1] is None:
            return SILENCE if arrival - previous[0] - self.interval > self.threshold else None
        step = pts - previous[1]
        if step < -0.5 * self.interval:
            return RESTARTED
        if step - self.interval > self.threshold:
            return JUMPED
        return None

    def _take(self, item: T, arrival: float, pts: Optional[float]) -> FrameStep:
        assert self._run is not None
        self._run.add(arrival, pts, self.interval)
        return FrameStep(item, arrival)

    def _release(self) -> List[Step]:
        held, self._held = self._held, []
        return [self._take(*frame) for frame in held]

    def _start_gap(self, run: _Run, reason: str, reopened: bool = False) -> Gap:
        """A gap after `run`; the gap before `run`, when still pending, is finished with what `run` gave."""
        assert run.last is not None
        if self._gap is not None:
            self._finish(self._gap)
        self._gap = Gap(run.expected(run.last), reason, reopened)
        return self._gap

    def _finish(self, gap: Gap) -> None:
        assert self._run is not None and self._run.first is not None
        after = self._run.expected(self._run.first)
        gap.duration = 0.0 if gap.before is None else max(0.0, after - gap.before - self.interval)

