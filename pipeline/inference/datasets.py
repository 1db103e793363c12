"""What the predict loop reads: one video per item, its frames and its metadata, or why it failed.

A file that cannot be read becomes an item with a status and an error instead of frames, so it
gets its row in the output and the run goes on.
"""
from __future__ import annotations

from typing import Any, Dict, List, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from models.preprocessing import Preprocessing
from pipeline.data.datasets import read_clips
from pipeline.data.readers import VideoReadError, open_video
from pipeline.data.sampling import ClipSampler
from pipeline.data.transforms import resize_crop
from pipeline.inference.timeline import TimelineOptions, window_frames, window_indices


def _item(path: str) -> Dict[str, Any]:
    return {"path": path, "status": "ok", "error": ""}


def _failure(path: str, exc: Exception) -> Dict[str, Any]:
    if isinstance(exc, VideoReadError):
        return {"path": path, "status": exc.kind, "error": exc.reason}
    return {"path": path, "status": "error", "error": f"{type(exc).__name__}: {exc}"}


class PredictClipDataset(Dataset):
    """One video per item: its evaluation clips (uint8 [K,T,c,c,3]) and what was read."""

    def __init__(self, paths: Sequence[str], sampler: ClipSampler, preprocessing: Preprocessing, backend: str):
        self.paths, self.sampler, self.preprocessing, self.backend = list(paths), sampler, preprocessing, backend

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> Dict[str, Any]:
        path = self.paths[index]
        try:
            clips = read_clips(path, self.sampler, self.preprocessing, training=False, backend=self.backend)
        except Exception as exc:  # any failure of one file becomes its row, never the end of the run
            return {"item": _failure(path, exc)}
        meta = clips["meta"]
        item = _item(path)
        item.update(
            num_frames=meta.num_frames,
            fps=round(meta.fps, 4),
            duration=round(meta.duration, 4),
            frame_indices=clips["frame_indices"].tolist(),
            clips=len(clips["frame_indices"]),
            decoder=meta.backend,
        )
        return {"item": item, "frames": clips["frames"]}


class TimelineDataset(Dataset):
    """One video per item: the distinct frames of all its windows (uint8 [U,c,c,3]) and, per
    window, which of them form its clip (int64 [W,T]); the backbone sees each frame once."""

    def __init__(
        self,
        paths: Sequence[str],
        sampler: ClipSampler,
        preprocessing: Preprocessing,
        backend: str,
        options: TimelineOptions,
    ):
        self.paths, self.sampler, self.preprocessing, self.backend = list(paths), sampler, preprocessing, backend
        self.options = options

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> Dict[str, Any]:
        path = self.paths[index]
        try:
            with open_video(path, self.backend) as reader:
                meta = reader.meta
                ranges = window_frames(meta.num_frames, meta.fps, self.options.window, self.options.stride)
                indices = window_indices(ranges, self.sampler)
                unique, inverse = np.unique(indices, return_inverse=True)
                frames = resize_crop(reader.get_frames(unique.tolist()), self.preprocessing)
        except Exception as exc:  # as above: the file's row says why
            return {"item": _failure(path, exc)}
        item = _item(path)
        item.update(
            num_frames=meta.num_frames,
            fps=round(meta.fps, 4),
            duration=round(meta.duration, 4),
            frame_indices=[],
            clips=len(ranges),
            decoder=meta.backend,
            window_times=[(s / meta.fps, e / meta.fps) for s, e in ranges],
        )
        return {
            "item": item,
            "unique_frames": torch.from_numpy(frames),
            "window_index": torch.from_numpy(inverse.reshape(indices.shape)),
        }


def collate_predictions(batch: List[Dict[str, Any]]) -> Dict[str, Any]:
    """Keep every item's metadata in order; stack the frames of the readable ones."""
    out: Dict[str, Any] = {"items": [b["item"] for b in batch]}
    frames = [b["frames"] for b in batch if "frames" in b]
    if frames:
        out["frames"] = torch.stack(frames)
    timeline = [b for b in batch if "unique_frames" in b]
    if timeline:  # timeline batches hold one video
        out["unique_frames"] = timeline[0]["unique_frames"]
        out["window_index"] = timeline[0]["window_index"]
    return out
