"""Datasets that turn labelled video records into clips: decoded frames, or cached features.

Both compose a clip sampler (which frames) with a source (the decoder, or per-frame features
computed once); neither knows about models. A video that cannot be read yields an item with
an `error` message instead of failing the run; `collate_clips` drops it from the batch and
keeps the message so the training loop can report it.
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
from pipeline.data.transforms import ResizeCrop


def _worker_rng() -> np.random.Generator:
    # Seeded from torch's generator, which Lightning seeds per worker (seed_everything(workers=True)).
    return np.random.default_rng(int(torch.randint(0, 2**31 - 1, (1,)).item()))


def clip_indices(sampler: ClipSampler, num_frames: int, training: bool) -> np.ndarray:
    """Frame indices of every clip the sampler takes from a video: int64 [K,T]."""
    clips = sampler(num_frames, training=training, rng=_worker_rng() if training else None)
    return np.asarray([clip.indices for clip in clips], dtype=np.int64)


def read_clips(
    path: str,
    sampler: ClipSampler,
    preprocessing: Preprocessing,
    training: bool,
    backend: str = "auto",
    decode_timeout: float = DEFAULT_DECODE_TIMEOUT,
    isolated: bool = True,
) -> Dict[str, Any]:
    """Decode the sampled clips of one video: frames uint8 [K,T,c,c,3] plus what was read.

    Decoding runs in an isolated child process (a decoder that crashes or hangs costs this file
    only; `isolated=False` decodes here, for measuring what that costs), frames are resized there,
    and a decoder that cannot read the file hands it to the next installed one
    (`read_with_fallback`); `meta.backend` says which one read it.
    """

    def read(reader: VideoReader) -> Tuple[VideoMeta, np.ndarray, np.ndarray]:
        indices = clip_indices(sampler, reader.meta.num_frames, training)
        # Decode each distinct frame once, even when clips overlap or padding repeats frames.
        unique, inverse = np.unique(indices, return_inverse=True)
        frames = reader.get_frames(unique.tolist(), transform=ResizeCrop(preprocessing))
        return reader.meta, indices, frames[inverse.reshape(-1)]

    meta, indices, frames = read_with_fallback(path, backend, read, isolated=isolated, timeout=decode_timeout)
    k, t = indices.shape
    return {
        "frames": torch.from_numpy(frames.reshape(k, t, *frames.shape[1:])),
        "frame_indices": indices,
        "meta": meta,
    }


class VideoClipDataset(Dataset):
    """records -> {"frames": uint8 [K,T,c,c,3], "label", "index"} (K = 1 when training)."""

    def __init__(
        self,
        records: Sequence[VideoRecord],
        sampler: ClipSampler,
        preprocessing: Preprocessing,
        training: bool,
        backend: str = "auto",
        decode_timeout: float = DEFAULT_DECODE_TIMEOUT,
    ):
        self.records = list(records)
        self.sampler = sampler
        self.preprocessing = preprocessing
        self.training = training
        self.backend = backend
        self.decode_timeout = decode_timeout

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> Dict[str, Any]:
        record = self.records[index]
        try:
            clips = read_clips(str(record.path), self.sampler, self.preprocessing, self.training, self.backend,
                               self.decode_timeout)
        except VideoReadError as exc:
            return {"index": index, "label": record.label, "error": str(exc)}
        return {"frames": clips["frames"], "label": record.label, "index": index, "error": ""}


class FeatureClipDataset(Dataset):
    """records + cached per-frame features of each video -> {"features": float [K,T,D], "label", "index"}.

    The clip sampler picks frames of the whole video exactly as it would for decoding, and each is
    served by the nearest frame the cache stored, so train-time jitter and multi-clip evaluation
    work unchanged on a frozen backbone.
    """

    def __init__(
        self,
        records: Sequence[VideoRecord],
        features: Sequence[Optional[CachedFeatures]],
        sampler: ClipSampler,
        training: bool,
        errors: Optional[Dict[int, str]] = None,
    ):
        self.records = list(records)
        self.features = list(features)
        self.sampler = sampler
        self.training = training
        self.errors = dict(errors or {})

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> Dict[str, Any]:
        record, entry = self.records[index], self.features[index]
        if entry is None:
            return {"index": index, "label": record.label, "error": self.errors.get(index, "no features")}
        indices = clip_indices(self.sampler, entry.num_frames, self.training)
        clip = torch.from_numpy(entry.clip(indices))  # [K,T,D]
        return {"features": clip, "label": record.label, "index": index, "error": ""}


def collate_clips(items: List[Dict[str, Any]]) -> Dict[str, Any]:
    """Stack the readable items; unreadable ones are left out and listed under "errors"."""
    good = [item for item in items if not item["error"]]
    batch: Dict[str, Any] = {}
    if good:
        batch = default_collate([{k: v for k, v in item.items() if k != "error"} for item in good])
    batch["errors"] = [item["error"] for item in items if item["error"]]
    return batch
