"""Training windows cut from long videos with event times, as slices of each video's cached features.

A long video is embedded once (the feature cache, at `window_rate`: the clip's frames per window
second, no cap per video), and every window is a clip of the cached sequence: an hour of footage costs
one pass of the CNN however many windows are drawn. Windows are those the timeline slides at inference
(`pipeline.data.sampling.window_frames`, `window` seconds every `stride` seconds) and a window's
clip is the checkpoint's evaluation clip inside it, served by the nearest stored frames.

How a window is labelled (`label_window`, the rule of sliding-window detectors such as S-CNN and of
SoccerNet's chunk baselines, fixed and not tuned per set):
- a segment event labels a window when it covers at least half of the window, or when at least half of
  the event lies inside the window (an event shorter than the window counts when mostly inside it);
- a spotted event (one instant) labels a window when its instant falls in the window's central half;
- a window that touches an event without meeting its rule is left out (it would be mislabelled either
  way); a window that touches no event is `background`;
- two events of different classes that both label a window: the one covering more of it (a segment)
  or nearest its centre (a spot) wins. The head is single-label (softmax), so overlapping classes
  (a goal and its celebration) share their overlap this way; the windows outside the overlap keep
  each class.

Training sees every event window every epoch and `background_ratio` times as many background windows,
drawn afresh each epoch from all of them (all of them when there are fewer), so that three goals are
not drowned by ninety minutes of play. Validation and test see every labelled window.
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch.utils.data import Dataset

from pipeline.data.annotations import AnnotatedEvent, AnnotatedVideo
from pipeline.data.datasets import _worker_rng
from pipeline.data.feature_rate import CachedFeatures, FeatureRate
from pipeline.data.sampling import ClipSampler, window_frames, window_indices

IGNORED = -1  # a window that grazes an event: left out of training and evaluation
SEGMENT_COVER = 0.5  # of the window, or of the event, that a segment must cover to label a window
SPOT_CENTRE = 0.5  # the central fraction of a window in which a spot labels it


@dataclass(frozen=True)
class EventWindows:
    """How long videos are cut into labelled windows (the data module's `data.window`, `data.stride`)."""

    window: float = 2.0  # seconds
    stride: float = 0.5  # seconds between window starts (training and evaluation)
    background_ratio: float = 3.0  # background windows drawn per event window, each training epoch

    def __post_init__(self) -> None:
        if not (self.window > 0 and self.stride > 0):
            raise ValueError(f"window and stride must be positive seconds, got {self.window} and {self.stride}")
        if not self.background_ratio >= 0:
            raise ValueError(f"background_ratio must be >= 0, got {self.background_ratio}")

    def rate(self, clip_len: int) -> FeatureRate:
        """The feature cache's rate for long videos: `clip_len` stored frames per window, every frame kept."""
        return FeatureRate(fps=clip_len / self.window, max_frames=None)


EVENT_WINDOW_DEFAULTS = EventWindows()  # the one place the window options' defaults live


def label_window(start: float, end: float, video: AnnotatedVideo, class_names: Sequence[str]) -> int:
    """The class index of the window [start, end) seconds of `video` (0: background), or IGNORED."""
    return _label(start, end, video.events, {name: i for i, name in enumerate(class_names)})


def _label(start: float, end: float, events: Sequence[AnnotatedEvent], class_index: Dict[str, int]) -> int:
    """`label_window` over `events` (any that may touch the window; others are skipped by the rule)."""
    best, best_score, touched = 0, -1.0, False
    length = end - start
    centre = (start + end) / 2
    for event in events:
        if event.label not in class_index:
            continue
        if event.is_spot:
            if not start <= event.start < end:
                continue
            touched = True
            if abs(event.start - centre) <= SPOT_CENTRE * length / 2:
                score = 1.0 - abs(event.start - centre) / length
            else:
                continue
        else:
            overlap = min(end, event.end) - max(start, event.start)
            if overlap <= 0:
                continue
            touched = True
            if overlap >= SEGMENT_COVER * min(length, event.end - event.start):
                score = overlap / length
            else:
                continue
        if score > best_score:
            best, best_score = class_index[event.label], score
    if best_score < 0:
        return IGNORED if touched else 0
    return best


def window_labels(times: np.ndarray, video: AnnotatedVideo, class_names: Sequence[str]) -> np.ndarray:
    """`label_window` of each window [start, end) in `times` float [W,2], int64 [W]. Only the events that
    can touch a window are looked at, so an hour of windows and hundreds of
    events cost one pass rather than windows x events."""
    class_index = {name: i for i, name in enumerate(class_names)}
    events = sorted((event for event in video.events if event.label in class_index), key=lambda e: e.start)
    starts = [event.start for event in events]
    longest = max((event.end - event.start for event in events), default=0.0)
    labels = np.empty(len(times), dtype=np.int64)
    for w, (start, end) in enumerate(times):
        first = bisect.bisect_left(starts, start - longest - 1e-9)  # earlier events end before the window
        labels[w] = _label(start, end, events[first:bisect.bisect_left(starts, end)], class_index)
    return labels


def video_windows(video: AnnotatedVideo, entry: CachedFeatures, sampler: ClipSampler, windows: EventWindows,
                  class_names: Sequence[str]) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every timeline window of a long video: times float [W,2] (seconds), labels int64 [W] (IGNORED
    included), and the clip's frame indices int64 [W,T] (the sampler's evaluation clip in each window)."""
    fps = entry.num_frames / video.duration if video.duration > 0 else 25.0
    ranges = window_frames(entry.num_frames, fps, windows.window, windows.stride)
    times = np.asarray([(s / fps, e / fps) for s, e in ranges], dtype=np.float64)
    labels = window_labels(times, video, class_names)
    return times, labels, window_indices(ranges, sampler)


class EventWindowDataset(Dataset):
    """Labelled windows of long videos -> {"features": float [1,T,D], "label", "index"}, from cached features.

    `index` is the window's position in `windows` ((video, window) pairs); training items past the event
    windows are background windows drawn at random each time (a new draw every epoch)."""

    def __init__(self, videos: Sequence[AnnotatedVideo], features: Sequence[Optional[CachedFeatures]],
                 sampler: ClipSampler, windows: EventWindows, class_names: Sequence[str], training: bool):
        self.videos, self.features, self.training = list(videos), list(features), training
        self.entries: List[Tuple[int, np.ndarray]] = []  # (video, frame indices [T]) of each labelled window
        labels, times = [], []
        for v, (video, entry) in enumerate(zip(self.videos, self.features)):
            if entry is None:
                continue
            span, label, indices = video_windows(video, entry, sampler, windows, class_names)
            keep = label != IGNORED
            self.entries += [(v, row) for row in indices[keep]]
            labels.append(label[keep])
            times.append(span[keep])
        self.labels = np.concatenate(labels) if labels else np.zeros(0, np.int64)
        self.times = np.concatenate(times) if times else np.zeros((0, 2))
        self.event_rows = np.flatnonzero(self.labels > 0)
        self.background_rows = np.flatnonzero(self.labels == 0)
        drawn = int(round(windows.background_ratio * max(len(self.event_rows), 1)))
        self.background_drawn = min(drawn, len(self.background_rows)) if training else len(self.background_rows)

    def __len__(self) -> int:
        return len(self.event_rows) + self.background_drawn if self.training else len(self.labels)

    def __getitem__(self, index: int) -> Dict[str, Any]:
        if not self.training:
            row = index
        elif index < len(self.event_rows):
            row = int(self.event_rows[index])
        else:
            row = int(self.background_rows[_worker_rng().integers(len(self.background_rows))])
        video, frames = self.entries[row]
        clip = self.features[video].clip(frames[None])  # [1,T,D]
        return {"features": torch.from_numpy(clip), "label": int(self.labels[row]), "index": row, "error": ""}

    def counts(self, class_names: Sequence[str]) -> Dict[str, Any]:
        """Windows per class, the background share of all windows, and what training draws of it per epoch."""
        per_class = np.bincount(self.labels, minlength=len(class_names))
        return {"windows": {name: int(n) for name, n in zip(class_names, per_class)},
                "background_share": float(per_class[0] / max(len(self.labels), 1)),
                "background_per_epoch": self.background_drawn}
