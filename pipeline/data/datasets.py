"""Datasets that turn labelled video records into clips: decoded frames, or cached features.

Both compose a clip sampler (which frames) with a source (the decoder, or per-frame features
computed once); neither knows about models. A video that cannot be read yields an item with
an `error` message instead of failing the run; `collate_clips` drops it from the batch and
keeps the message so the training loop can report it.

Training augments each clip with draws from one generator per item (`_worker_rng`, seeded by
Lightning), in this order: the sampler's frames, one spatial view for the whole clip (when
several are given, pipeline.data.views), and, on cached features, Gaussian feature noise. Nothing
is drawn for an augmentation that is off, and evaluation draws nothing: it sees the plain view.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch.utils.data import Dataset, default_collate

from models.preprocessing import Preprocessing
from pipeline.data.annotations import VideoRecord
from pipeline.data.feature_rate import CachedFeatures
from pipeline.data.readers import DEFAULT_DECODE_TIMEOUT, VideoMeta, VideoReader, VideoReadError, read_with_fallback
from pipeline.data.sampling import ClipSampler
from pipeline.data.transforms import ResizeCrop, previous_indices, with_previous
from pipeline.data.views import DEFAULT_VIEWS, PLAIN, ViewsResizeCrop, check_views


def _worker_rng() -> np.random.Generator:
    # Seeded from torch's generator, which Lightning seeds per worker (seed_everything(workers=True)).
    return np.random.default_rng(int(torch.randint(0, 2**31 - 1, (1,)).item()))


def clip_indices(sampler: ClipSampler, num_frames: int, training: bool,
                 rng: Optional[np.random.Generator] = None, key_frames: Optional[Sequence[int]] = None) -> np.ndarray:
    """Frame indices of every clip the sampler takes from a video: int64 [K,T]. Training draws from
    `rng` (default: a new `_worker_rng()`); the "efficient" sampling mode snaps to `key_frames`."""
    if training and rng is None:
        rng = _worker_rng()
    clips = sampler(num_frames, training=training, rng=rng if training else None, key_frames=key_frames)
    return np.asarray([clip.indices for clip in clips], dtype=np.int64)


def draw_view(views: Sequence[str], rng: np.random.Generator) -> str:
    """One of `views`, uniformly (no draw when there is only one)."""
    return views[0] if len(views) == 1 else views[int(rng.integers(len(views)))]


def read_clips(
    path: str,
    sampler: ClipSampler,
    preprocessing: Preprocessing,
    training: bool,
    backend: str = "auto",
    decode_timeout: float = DEFAULT_DECODE_TIMEOUT,
    isolated: bool = True,
    view: str = PLAIN,
    rng: Optional[np.random.Generator] = None,
) -> Dict[str, Any]:
    """Decode the sampled clips of one video: frames uint8 [K,T,c,c,3] under spatial `view`, plus what was read
    (and with the motion stream, `preprocessing.rgb_diff`, "previous_frames": the frame before each).

    Decoding runs in an isolated child process (a decoder that crashes or hangs costs this file
    only; `isolated=False` decodes here, for measuring what that costs), frames are resized there,
    and a decoder that cannot read the file hands it to the next installed one
    (`read_with_fallback`); `meta.backend` says which one read it. Training draws the frames from `rng`
    (default: a new `_worker_rng()`).
    """

    def read(reader: VideoReader) -> Tuple[VideoMeta, np.ndarray, np.ndarray]:
        indices = clip_indices(sampler, reader.meta.num_frames, training, rng, reader.meta.key_frames)
        # Decode each distinct frame once, even when clips overlap or padding repeats frames.
        unique = with_previous(indices) if preprocessing.rgb_diff else np.unique(indices)
        if view == PLAIN:
            frames = reader.get_frames(unique.tolist(), transform=ResizeCrop(preprocessing).for_video(reader))
        else:
            transform = ViewsResizeCrop(preprocessing, (view,)).for_video(reader)
            frames = reader.get_frames(unique.tolist(), transform=transform)[:, 0]
        return reader.meta, indices, unique, frames

    meta, indices, unique, decoded = read_with_fallback(path, backend, read, isolated=isolated,
                                                        timeout=decode_timeout)
    k, t = indices.shape
    frames_of = lambda wanted: torch.from_numpy(  # noqa: E731
        decoded[np.searchsorted(unique, wanted.reshape(-1))].reshape(k, t, *decoded.shape[1:]))
    clips = {"frames": frames_of(indices), "frame_indices": indices, "meta": meta}
    if preprocessing.rgb_diff:
        clips["previous_frames"] = frames_of(previous_indices(indices))
    return clips


class VideoClipDataset(Dataset):
    """records -> {"frames": uint8 [K,T,c,c,3], "label", "index"} (K = 1 when training; with the motion
    stream also "previous_frames", the frame before each).

    In training each clip is one of `views`, drawn uniformly, applied to the decoded frames before
    the preprocessing's fit; evaluation reads the plain view.
    """

    def __init__(
        self,
        records: Sequence[VideoRecord],
        sampler: ClipSampler,
        preprocessing: Preprocessing,
        training: bool,
        backend: str = "auto",
        decode_timeout: float = DEFAULT_DECODE_TIMEOUT,
        views: Sequence[str] = DEFAULT_VIEWS,
    ):
        self.records = list(records)
        self.sampler = sampler
        self.preprocessing = preprocessing
        self.training = training
        self.backend = backend
        self.decode_timeout = decode_timeout
        self.views = check_views(views)

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> Dict[str, Any]:
        record = self.records[index]
        rng = _worker_rng() if self.training else None
        view = draw_view(self.views, rng) if rng is not None else PLAIN
        try:
            clips = read_clips(str(record.path), self.sampler, self.preprocessing, self.training, self.backend,
                               self.decode_timeout, view=view, rng=rng)
        except VideoReadError as exc:
            return {"index": index, "label": record.label, "error": str(exc)}
        item = {"frames": clips["frames"], "label": record.label, "index": index, "error": ""}
        if "previous_frames" in clips:
            item["previous_frames"] = clips["previous_frames"]
        return item


class FeatureClipDataset(Dataset):
    """records + cached per-frame features of each video -> {"features": float [K,T,D], "label", "index"}.

    The clip sampler picks frames of the whole video exactly as it would for decoding, and each is
    served by the nearest frame the cache stored, so train-time jitter and multi-clip evaluation
    work unchanged on a frozen backbone. In training each clip is one of the cached `views`, drawn
    uniformly, and with `feature_noise` s > 0 gets Gaussian noise of standard deviation s times each
    feature dimension's spread (`feature_spread` of the training videos' plain features); evaluation
    serves the plain view, noiseless.
    """

    def __init__(
        self,
        records: Sequence[VideoRecord],
        features: Sequence[Optional[CachedFeatures]],
        sampler: ClipSampler,
        training: bool,
        errors: Optional[Dict[int, str]] = None,
        views: Sequence[str] = DEFAULT_VIEWS,
        feature_noise: float = 0.0,
    ):
        self.records = list(records)
        self.features = list(features)
        self.sampler = sampler
        self.training = training
        self.errors = dict(errors or {})
        self.views = check_views(views)
        self.noise_scale: Optional[np.ndarray] = None  # float32 [D]: the noise's std per feature dimension
        if training and check_feature_noise(feature_noise) > 0:
            self.noise_scale = (feature_noise * feature_spread(self.features)).astype(np.float32)

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> Dict[str, Any]:
        record, entry = self.records[index], self.features[index]
        if entry is None:
            return {"index": index, "label": record.label, "error": self.errors.get(index, "no features")}
        if not self.training:
            clip = entry.clip(clip_indices(self.sampler, entry.num_frames, False))
            return {"features": torch.from_numpy(clip), "label": record.label, "index": index, "error": ""}
        rng = _worker_rng()
        indices = clip_indices(self.sampler, entry.num_frames, True, rng)
        clip = entry.clip(indices, draw_view(self.views, rng))  # [K,T,D]
        if self.noise_scale is not None:
            clip += rng.standard_normal(clip.shape, dtype=np.float32) * self.noise_scale
        return {"features": torch.from_numpy(clip), "label": record.label, "index": index, "error": ""}


def check_feature_noise(feature_noise: float) -> float:
    """`feature_noise` when it is a number >= 0; a ValueError otherwise."""
    if not isinstance(feature_noise, (int, float)) or not feature_noise >= 0:
        raise ValueError(f"feature_noise must be a number >= 0, got {feature_noise!r}")
    return float(feature_noise)


def feature_spread(entries: Sequence[Optional[CachedFeatures]]) -> np.ndarray:
    """The standard deviation of each feature dimension over every stored frame of `entries` (plain
    view; None entries skipped): float64 [D], ones when there are no features."""
    count, total, squares = 0, 0.0, 0.0
    for entry in entries:
        if entry is not None:
            rows = np.asarray(entry.features, dtype=np.float64)
            count, total, squares = count + len(rows), total + rows.sum(0), squares + (rows ** 2).sum(0)
    if not count:
        return np.ones(1)
    mean = total / count
    return np.sqrt(np.maximum(squares / count - mean ** 2, 0.0))


def collate_clips(items: List[Dict[str, Any]]) -> Dict[str, Any]:
    """Stack the readable items; unreadable ones are left out and listed under "errors"."""
    good = [item for item in items if not item["error"]]
    batch: Dict[str, Any] = {}
    if good:
        batch = default_collate([{k: v for k, v in item.items() if k != "error"} for item in good])
    batch["errors"] = [item["error"] for item in items if item["error"]]
    return batch
