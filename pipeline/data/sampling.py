"""Choose which frame indices form a fixed-length clip. Knows indices and nothing else.

Names follow PyTorchVideo's clip_sampling: a sampler is a small object that, given a video's frame
count, returns `ClipInfo`s. Training gives one jittered clip; evaluation gives `num_clips`
deterministic clips. The segment sampler's `jitter` (data.temporal_jitter) lets a training clip cover
a random sub-span of the video (speed and phase jitter); evaluation never jitters. Videos shorter than
a clip are padded by a stated policy, never dropped:

    loop:        0, 1, ..., n-1, 0, 1, ...
    repeat_last: 0, 1, ..., n-1, n-1, n-1, ...

Sampling modes (MMAction2 has the same pair, "accurate" and "efficient"): "exact" takes the frames the
sampler computes; "efficient" moves each to the nearest keyframe of the video, where the decoder knows
them (`VideoMeta.key_frames`; files without, such as AVIs, are sampled exactly), so that decoding a clip
costs one keyframe per distinct frame instead of the GOPs before each frame. A clip then holds as many
distinct frames as the video has keyframes near its segments: fewer on long-GOP files.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any, List, Optional, Sequence, Tuple

import numpy as np

PAD_POLICIES = ("loop", "repeat_last")
SAMPLING_MODES = ("exact", "efficient")


@dataclass(frozen=True)
class SamplingDefaults:
    """The one place clip sampling's defaults live (the data module's signature reads them)."""

    sampler: str = "segment"
    clip_len: int = 16
    frame_stride: int = 1
    num_clips: int = 1
    pad: str = "loop"
    temporal_jitter: float = 0.0  # segment sampler, training only: see SegmentSampler
    mode: str = "exact"  # or "efficient": frames snapped to the nearest keyframes (module docstring)


SAMPLING_DEFAULTS = SamplingDefaults()


@dataclass(frozen=True)
class ClipInfo:
    """One clip: `indices` (clip_len of them, in [0, num_frames)), and its place among its video's clips."""

    indices: tuple[int, ...]
    clip_index: int
    num_clips: int
    padded: bool


def snap_to_keyframes(indices: Sequence[int], key_frames: Sequence[int]) -> list[int]:
    """Each index moved to the nearest of the sorted `key_frames` (a tie goes to the earlier one)."""
    keys = np.asarray(key_frames, dtype=np.int64)
    wanted = np.asarray(indices, dtype=np.int64)
    after = np.minimum(np.searchsorted(keys, wanted), len(keys) - 1)
    before = np.maximum(after - 1, 0)
    take_before = np.abs(wanted - keys[before]) <= np.abs(keys[after] - wanted)
    return np.where(take_before, keys[before], keys[after]).tolist()


def pad_indices(indices: list[int], clip_len: int, pad: str) -> list[int]:
    """Extend `indices` to `clip_len` by `pad` ("loop" repeats the sequence, "repeat_last" its last item)."""
    if pad not in PAD_POLICIES:
        raise ValueError(f"unknown pad policy {pad!r}; valid: {PAD_POLICIES}")
    if not indices:
        raise ValueError("cannot pad an empty index list")
    out = list(indices)
    while len(out) < clip_len:
        out.append(indices[len(out) % len(indices)] if pad == "loop" else indices[-1])
    return out


class ClipSampler(abc.ABC):
    """Maps a frame count to clips of `clip_len` indices."""

    name: str = ""

    def __init__(self, clip_len: int, num_clips: int = SAMPLING_DEFAULTS.num_clips,
                 pad: str = SAMPLING_DEFAULTS.pad, mode: str = SAMPLING_DEFAULTS.mode) -> None:
        if mode not in SAMPLING_MODES:
            raise ValueError(f"unknown sampling mode {mode!r}; valid: {SAMPLING_MODES}")
        if int(clip_len) != clip_len or clip_len < 1:
            raise ValueError(f"clip_len must be a positive integer, got {clip_len!r}")
        if int(num_clips) != num_clips or num_clips < 1:
            raise ValueError(f"num_clips must be a positive integer, got {num_clips!r}")
        if pad not in PAD_POLICIES:
            raise ValueError(f"unknown pad policy {pad!r}; valid: {PAD_POLICIES}")
        self.clip_len = int(clip_len)
        self.num_clips = int(num_clips)
        self.pad = pad
        self.mode = mode

    def __call__(
        self, num_frames: int, training: bool, rng: np.random.Generator | None = None,
        key_frames: Optional[Sequence[int]] = None,
    ) -> list[ClipInfo]:
        """One random clip when `training` (drawn from `rng`), else `num_clips` deterministic clips; in the
        "efficient" mode each frame moved to the nearest of the video's `key_frames` (when given)."""
        if int(num_frames) != num_frames or num_frames < 1:
            raise ValueError(f"num_frames must be a positive integer, got {num_frames!r}")
        num_frames = int(num_frames)
        if training:
            rng = rng if rng is not None else np.random.default_rng()
            raw = [self._train_indices(num_frames, rng)]
        else:
            raw = [self._eval_indices(num_frames, k, self.num_clips) for k in range(self.num_clips)]
        clips = []
        for k, indices in enumerate(raw):
            padded = len(indices) < self.clip_len
            indices = pad_indices(indices, self.clip_len, self.pad)
            if self.mode == "efficient" and key_frames:
                indices = snap_to_keyframes(indices, key_frames)
            clips.append(ClipInfo(tuple(int(i) for i in indices), k, len(raw), padded))
        return clips

    @abc.abstractmethod
    def _train_indices(self, num_frames: int, rng: np.random.Generator) -> list[int]:
        """At most clip_len indices (fewer means: pad them)."""

    @abc.abstractmethod
    def _eval_indices(self, num_frames: int, clip_index: int, num_clips: int) -> list[int]:
        """At most clip_len indices for clip `clip_index` of `num_clips`."""

    def to_config(self) -> dict[str, Any]:
        """Name and parameters, JSON-serialisable; `sampler_from_config` rebuilds the sampler."""
        config = {"name": self.name, "clip_len": self.clip_len, "num_clips": self.num_clips, "pad": self.pad}
        if self.mode != "exact":  # absent when exact, so that configs written before modes existed stay the same
            config["mode"] = self.mode
        return config

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.to_config().items() if k != "name")
        return f"{type(self).__name__}({args})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ClipSampler) and self.to_config() == other.to_config()

    def __hash__(self) -> int:
        return hash(tuple(sorted(self.to_config().items())))


class SegmentSampler(ClipSampler):
    """TSN-style: clip_len equal segments, one frame from each.

    Training takes a random frame inside each segment; evaluation clip k of K takes the frame at
    offset (k + 0.5) / K of each segment (the centre when K == 1). A video shorter than clip_len
    gives all its frames, then padding.

    With `jitter` j > 0, a training clip's segments divide a random sub-span of the video instead
    of all of it: its length a fraction of the video drawn uniformly from [1 - j, 1] (never fewer
    than clip_len frames), at a uniformly random offset. That varies the clip's speed and phase;
    evaluation is unchanged.
    """

    name = "segment"

    def __init__(self, clip_len: int, num_clips: int = SAMPLING_DEFAULTS.num_clips, pad: str = SAMPLING_DEFAULTS.pad,
                 jitter: float = SAMPLING_DEFAULTS.temporal_jitter, mode: str = SAMPLING_DEFAULTS.mode) -> None:
        super().__init__(clip_len, num_clips, pad, mode)
        if not 0.0 <= float(jitter) < 1.0:
            raise ValueError(f"temporal_jitter must be in [0, 1), got {jitter!r}")
        self.jitter = float(jitter)

    def _train_indices(self, num_frames: int, rng: np.random.Generator) -> list[int]:
        if num_frames < self.clip_len:
            return list(range(num_frames))
        first, span = 0, num_frames
        if self.jitter > 0:  # no draw without jitter: the same random sequence as before it existed
            fraction = rng.uniform(1.0 - self.jitter, 1.0)
            span = min(num_frames, max(self.clip_len, int(round(fraction * num_frames))))
            first = int(rng.integers(0, num_frames - span + 1))
        edges = np.linspace(0, span, self.clip_len + 1)
        starts = np.floor(edges[:-1]).astype(np.int64)
        ends = np.maximum(np.floor(edges[1:]).astype(np.int64), starts + 1)  # exclusive
        return (first + rng.integers(starts, ends)).tolist()

    def _eval_indices(self, num_frames: int, clip_index: int, num_clips: int) -> list[int]:
        if num_frames < self.clip_len:
            return list(range(num_frames))
        seg = num_frames / self.clip_len
        offset = (clip_index + 0.5) / num_clips
        positions = (np.arange(self.clip_len) + offset) * seg
        return np.minimum(np.floor(positions).astype(np.int64), num_frames - 1).tolist()

    def to_config(self) -> dict[str, Any]:
        config = super().to_config()
        if self.jitter:  # absent when off, so that configs written before it existed stay the same
            config["temporal_jitter"] = self.jitter
        return config


class RandomWindowSampler(ClipSampler):
    """A contiguous window of clip_len frames, `stride` apart (span = (clip_len - 1) * stride + 1).

    Training starts it at random; evaluation centres it, or for K clips uses K evenly spaced starts
    from 0 to num_frames - span. A video shorter than the span gives every stride-th frame from 0,
    then padding.
    """

    name = "window"

    def __init__(self, clip_len: int, num_clips: int = SAMPLING_DEFAULTS.num_clips,
                 stride: int = SAMPLING_DEFAULTS.frame_stride, pad: str = SAMPLING_DEFAULTS.pad,
                 mode: str = SAMPLING_DEFAULTS.mode) -> None:
        super().__init__(clip_len, num_clips, pad, mode)
        if int(stride) != stride or stride < 1:
            raise ValueError(f"stride must be a positive integer, got {stride!r}")
        self.stride = int(stride)

    @property
    def span(self) -> int:
        """Frames from the window's first index to its last, inclusive."""
        return (self.clip_len - 1) * self.stride + 1

    def _window(self, start: int, num_frames: int) -> list[int]:
        return list(range(start, min(start + self.span, num_frames), self.stride))

    def _train_indices(self, num_frames: int, rng: np.random.Generator) -> list[int]:
        last_start = num_frames - self.span
        start = int(rng.integers(0, last_start + 1)) if last_start > 0 else 0
        return self._window(start, num_frames)

    def _eval_indices(self, num_frames: int, clip_index: int, num_clips: int) -> list[int]:
        last_start = max(num_frames - self.span, 0)
        if num_clips == 1:
            start = last_start // 2
        else:
            start = int(round(clip_index * last_start / (num_clips - 1)))
        return self._window(start, num_frames)

    def to_config(self) -> dict[str, Any]:
        return {**super().to_config(), "stride": self.stride}


SAMPLERS: dict[str, type[ClipSampler]] = {
    SegmentSampler.name: SegmentSampler,
    RandomWindowSampler.name: RandomWindowSampler,
}


def build_sampler(
    name: str,
    clip_len: int,
    num_clips: int = SAMPLING_DEFAULTS.num_clips,
    stride: int = SAMPLING_DEFAULTS.frame_stride,
    pad: str = SAMPLING_DEFAULTS.pad,
    temporal_jitter: float = SAMPLING_DEFAULTS.temporal_jitter,
    mode: str = SAMPLING_DEFAULTS.mode,
) -> ClipSampler:
    """A sampler by name: "segment" or "window" (`stride` applies to "window" only, `temporal_jitter`
    to "segment" only: a window already starts at random), in sampling `mode` ("exact", "efficient")."""
    if name not in SAMPLERS:
        raise ValueError(f"unknown clip sampler {name!r}; valid: {sorted(SAMPLERS)}")
    if name == RandomWindowSampler.name:
        if temporal_jitter:
            raise ValueError(f"temporal_jitter={temporal_jitter} has no meaning for the {name!r} sampler")
        return RandomWindowSampler(clip_len, num_clips=num_clips, stride=stride, pad=pad, mode=mode)
    if stride != 1:
        raise ValueError(f"stride={stride} has no meaning for the {name!r} sampler")
    return SegmentSampler(clip_len, num_clips=num_clips, pad=pad, jitter=temporal_jitter, mode=mode)


def sampler_from_config(cfg: dict[str, Any]) -> ClipSampler:
    """Rebuild a sampler from `ClipSampler.to_config()` output (e.g. stored in a checkpoint)."""
    cfg = dict(cfg)
    try:
        name = cfg.pop("name")
    except KeyError:
        raise ValueError(f"sampler config has no 'name': {cfg!r}") from None
    return build_sampler(name, **cfg)


def window_frames(num_frames: int, fps: float, window: float, stride: float) -> List[Tuple[int, int]]:
    """[first, last) frame ranges of the windows; a video shorter than one window is one window."""
    if window <= 0 or stride <= 0:
        raise ValueError(f"window and stride must be positive seconds, got {window} and {stride}")
    length = max(1, int(round(window * fps)))
    step = max(1, int(round(stride * fps)))
    if num_frames <= length:
        return [(0, num_frames)]
    starts = list(range(0, num_frames - length + 1, step))
    if starts[-1] + length < num_frames:  # the tail gets a window of its own
        starts.append(num_frames - length)
    return [(s, s + length) for s in starts]


def window_indices(ranges: Sequence[Tuple[int, int]], sampler: ClipSampler) -> np.ndarray:
    """Frame indices of one clip per window: int64 [W,T] (the sampler's evaluation clip)."""
    return np.asarray(
        [np.asarray(sampler(end - start, training=False)[0].indices) + start for start, end in ranges], dtype=np.int64
    )
