"""Progress over videos, counted in frames, for a terminal or a log file.

A long 1080p file must not look frozen: `FrameProgress` counts the frames decoded and embedded,
with the videos done beside them, and estimates what is left from the frames of the videos seen so
far. On a terminal it is a tqdm bar; when the output is a file or a pipe it prints a plain line at
most every `every_s` seconds and one at the end (no carriage returns, no line per refresh).
Used by the feature cache; it imports nothing of the rest of the package.
"""
from __future__ import annotations

import sys
import time
from typing import Optional, TextIO

PROGRESS_EVERY_S = 60.0  # plain-line mode: a line at most this often


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


class FrameProgress:
    """Progress of `videos` videos, counted in frames: call `start_video(frames)` when a video's frame
    count is known, `advance(frames, video_done)` as frames are done, `close()` at the end."""

    def __init__(self, videos: int, desc: str, stream: Optional[TextIO] = None, every_s: float = PROGRESS_EVERY_S):
        self.videos, self.desc, self.every_s = videos, desc, every_s
        self.stream = stream or sys.stderr
        self.started = self.finished = self.known_frames = self.done_frames = 0
        self.start_time = self.last_line = time.monotonic()
        self.bar = None
        if self.stream.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=0, desc=desc, unit="frame", unit_scale=True, dynamic_ncols=True, file=self.stream)

    def total_frames(self) -> int:
        """The frames of the videos started so far, and an estimate for the others (their mean)."""
        if not self.started:
            return 0
        return self.known_frames + round((self.videos - self.started) * self.known_frames / self.started)

    def start_video(self, frames: int) -> None:
        """A video has started; it will give `frames` frames."""
        self.started += 1
        self.known_frames += frames
        if self.bar is not None:
            self.bar.total = self.total_frames()
            self.bar.refresh()

    def advance(self, frames: int, video_done: bool = False) -> None:
        """`frames` more frames are done (and a video, when `video_done`)."""
        self.done_frames += frames
        self.finished += int(video_done)
        if self.bar is not None:
            self.bar.set_postfix_str(f"videos {self.finished}/{self.videos}", refresh=False)
            self.bar.update(frames)
        elif time.monotonic() - self.last_line >= self.every_s:
            self._line()

    def _line(self) -> None:
        elapsed = time.monotonic() - self.start_time
        total = self.total_frames()
        left = ""
        if self.done_frames and total > self.done_frames:
            left = f", about {_duration(elapsed * (total - self.done_frames) / self.done_frames)} left"
        self.stream.write(f"{self.desc}: {self.finished}/{self.videos} videos, {self.done_frames}/~{total} frames, "
                          f"{_duration(elapsed)}{left}\n")
        self.stream.flush()
        self.last_line = time.monotonic()

    def close(self) -> None:
        """End the bar, or print the last line."""
        if self.bar is not None:
            self.bar.close()
        else:
            self._line()
