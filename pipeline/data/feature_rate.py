"""Which frames of a video the feature cache embeds, and how a clip's frames map onto them.

A clip uses 8-16 frames of a video that may hold thousands, so embedding every frame makes the
CNN's cost scale with the file instead of the clip. A `FeatureRate` caps the stored frames per
second of video and per video, spread evenly over it; the clip samplers still pick frame indices
of the whole video (so their meaning does not change), and each picked frame is served by the
nearest stored one (`CachedFeatures.rows_for`). With no cap every frame is stored and the mapping
is the identity.

A window sampler reads frames `frame_stride` apart; the rate never spaces stored frames further
apart than that (`max_step`), so its windows keep their spacing.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping, Optional

import numpy as np

from pipeline.data.readers import VideoMeta
from pipeline.data.views import PLAIN


@dataclass(frozen=True)
class FeatureRate:
    """At most `fps` stored frames per second of video and `max_frames` per video (None: no cap),
    evenly spread, never more than `max_step` frames apart (None: no limit)."""

    fps: Optional[float] = None
    max_frames: Optional[int] = 128
    max_step: Optional[int] = None

    def __post_init__(self) -> None:
        if self.fps is not None and not self.fps > 0:
            raise ValueError(f"cache_fps must be a positive number or None (every frame), got {self.fps!r}")
        if self.max_frames is not None and (int(self.max_frames) != self.max_frames or self.max_frames < 1):
            raise ValueError(f"cache_max_frames must be a positive integer or None (no cap), got {self.max_frames!r}")
        if self.max_step is not None and (int(self.max_step) != self.max_step or self.max_step < 1):
            raise ValueError(f"max_step must be a positive integer or None, got {self.max_step!r}")

    @property
    def every_frame(self) -> bool:
        """Whether every frame is stored, whatever the video."""
        return self.max_step == 1 or (self.fps is None and self.max_frames is None)

    def key(self) -> str:
        """A name for the rate, part of the cache's folder name: a new rate means new entries."""
        if self.every_frame:
            return "all"
        parts = [f"fps{self.fps:g}" if self.fps else "", f"max{self.max_frames}" if self.max_frames else "",
                 f"step{self.max_step}" if self.max_step else ""]
        return "-".join(p for p in parts if p)

    def step(self, num_frames: int, video_fps: float) -> float:
        """Frames between two stored frames (>= 1) for a video of `num_frames` at `video_fps`."""
        step = 1.0
        if self.fps and video_fps > self.fps:
            step = video_fps / self.fps
        if self.max_frames and num_frames / step > self.max_frames:
            step = num_frames / self.max_frames
        if self.max_step:
            step = min(step, float(self.max_step))
        return max(step, 1.0)

    def frames(self, num_frames: int, video_fps: float) -> np.ndarray:
        """The increasing frame indices (int64) stored for a video: the centre frame of each of
        ceil(num_frames / step) equal stretches, or every frame when the step is 1."""
        step = self.step(num_frames, video_fps)
        if step == 1.0:
            return np.arange(num_frames, dtype=np.int64)
        count = math.ceil(num_frames / step - 1e-9)
        centres = np.floor((np.arange(count) + 0.5) * step).astype(np.int64)
        return np.unique(np.minimum(centres, num_frames - 1))

    def frames_of(self, meta: VideoMeta) -> np.ndarray:
        """`frames` for a decoder's metadata (a `stream_frames` frame chooser)."""
        return self.frames(meta.num_frames, meta.fps)


FEATURE_RATE_DEFAULTS = FeatureRate()  # the one place the cache's default rate lives


@dataclass(frozen=True)
class CachedFeatures:
    """One cache entry: `features` float16 [M,D] of the frames `frames` (int64 [M], increasing) of a
    video that has `num_frames` decodable frames, and the same frames' features under other spatial
    views (`views`: name -> float16 [M,D]; see pipeline.data.views); `features` is the plain view."""

    features: np.ndarray
    frames: np.ndarray
    num_frames: int
    views: Mapping[str, np.ndarray] = field(default_factory=dict)

    def of_view(self, view: str = PLAIN) -> np.ndarray:
        """The stored features [M,D] of `view` ("plain": `features`)."""
        if view == PLAIN:
            return self.features
        try:
            return self.views[view]
        except KeyError:
            raise KeyError(f"view {view!r} is not cached in this entry (cached: plain, {', '.join(self.views)})") \
                from None

    def __len__(self) -> int:
        """Stored frames (rows)."""
        return len(self.frames)

    def rows_for(self, indices: np.ndarray) -> np.ndarray:
        """The row of the nearest stored frame for each frame index (any shape). Ties go to the later
        frame, so that a window of frames `max_step` apart that starts at frame 0 keeps its spacing."""
        indices = np.asarray(indices, dtype=np.int64)
        last = len(self.frames) - 1
        after = np.minimum(np.searchsorted(self.frames, indices), last)
        before = np.maximum(after - 1, 0)
        closer_before = np.abs(self.frames[before] - indices) < np.abs(self.frames[after] - indices)
        return np.where(closer_before & (before != after), before, after)

    def clip(self, indices: np.ndarray, view: str = PLAIN) -> np.ndarray:
        """Features (float32) of the frames at `indices` (any shape) under `view`: [..., D]."""
        return np.asarray(self.of_view(view)[self.rows_for(indices)], dtype=np.float32)
