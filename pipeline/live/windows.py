"""The timeline's windows, found as a stream's frames arrive instead of over a whole file.

`predict.py --timeline` cuts a video of n frames into windows of `length` frames every `step` frames
(`pipeline.inference.timeline.window_frames`) plus, when frames are left over, a tail window that ends
at the last frame; the checkpoint's sampler picks each window's clip at the same offsets inside it.
A stream's n is unknown until it ends, but every window except the tail depends only on frames that
have arrived: window [s, s + length) is complete once frame s + length - 1 has arrived. So here:

- `needed(i)`: whether frame i belongs to some regular window's clip (only those frames are converted
  and embedded, each once);
- `completed(arrived)`: the regular windows whose last frame has arrived, each once, in order;
- `tail(n)`: at the end of a segment of n frames, the timeline's last window when it is not a regular
  one (the tail, or the one short window of a segment shorter than `length`).

One `SegmentWindows` covers one continuous segment of a stream (windows never span a gap).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Tuple

import numpy as np

from pipeline.data.sampling import ClipSampler
from pipeline.inference.timeline import TimelineOptions, window_frames, window_indices


def window_geometry(fps: float, window: float, stride: float) -> Tuple[int, int]:
    """(frames per window, frames between window starts), rounded as `window_frames` rounds them."""
    if window <= 0 or stride <= 0:
        raise ValueError(f"window and stride must be positive seconds, got {window} and {stride}")
    return max(1, int(round(window * fps))), max(1, int(round(stride * fps)))


@dataclass(frozen=True)
class Window:
    """One window of a segment: frames [start, end) and its clip's frame indices (int64 [T])."""

    start: int
    end: int
    indices: np.ndarray
    tail: bool = False


class SegmentWindows:
    """The windows of one continuous segment at `fps`, in the order the timeline lists them."""

    def __init__(self, fps: float, options: TimelineOptions, sampler: ClipSampler):
        if not fps > 0:
            raise ValueError(f"a stream needs a frame rate, got {fps}")
        self.fps, self.options, self.sampler = float(fps), options, sampler
        self.length, self.step = window_geometry(self.fps, options.window, options.stride)
        self.offsets = window_indices([(0, self.length)], sampler)[0]  # the clip inside any full window
        self._offset_set = sorted(set(int(o) for o in self.offsets))
        self.next_start = 0  # the start of the next regular window to complete

    def needed(self, index: int) -> bool:
        """Whether frame `index` is in the clip of a regular window (start a multiple of `step`)."""
        return any(index >= o and (index - o) % self.step == 0 for o in self._offset_set)

    def completed(self, arrived: int) -> List[Window]:
        """The regular windows not yet returned whose frames have all arrived (`arrived` frames so far)."""
        out = []
        while self.next_start + self.length <= arrived:
            s = self.next_start
            out.append(Window(s, s + self.length, self.offsets + s))
            self.next_start += self.step
        return out

    def tail(self, num_frames: int) -> Optional[Window]:
        """The timeline's last window of a segment of `num_frames` frames when it is not a regular one."""
        if num_frames < 1:
            return None
        start, end = window_frames(num_frames, self.fps, self.options.window, self.options.stride)[-1]
        if end - start == self.length and start % self.step == 0:
            return None  # a regular window, already returned by `completed`
        return Window(start, end, window_indices([(start, end)], self.sampler)[0], tail=True)

    def times(self, window: Window) -> Tuple[float, float]:
        """The window's (start, end) in seconds of its segment, as the timeline writes them."""
        return window.start / self.fps, window.end / self.fps
