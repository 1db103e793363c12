"""What the predict loop reads: one video per item, its frames and its metadata, or why it failed.

A file that cannot be read becomes an item with a status and an error instead of frames, so it
gets its row in the output and the run goes on.
"""
from __future__ import annotations

from typing import Any, Dict, Iterator, List, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset, IterableDataset, get_worker_info

from models.preprocessing import Preprocessing
from pipeline.data.datasets import read_clips
from pipeline.data.frame_stream import DEFAULT_CHUNK_FRAMES, stream_frames
from pipeline.data.readers import DEFAULT_DECODE_TIMEOUT, VideoMeta, VideoReadError
from pipeline.data.sampling import ClipSampler
from pipeline.data.transforms import with_previous
from pipeline.inference.timeline import TimelineOptions, window_frames, window_indices


def _item(path: str) -> Dict[str, Any]:
    return {"path": path, "status": "ok", "error": ""}


def _failure(path: str, exc: Exception) -> Dict[str, Any]:
    if isinstance(exc, VideoReadError):
        return {"path": path, "status": exc.kind, "error": exc.reason}
    return {"path": path, "status": "error", "error": f"{type(exc).__name__}: {exc}"}


class PredictClipDataset(Dataset):
    """One video per item: its evaluation clips (uint8 [K,T,c,c,3]) and what was read."""

    def __init__(self, paths: Sequence[str], sampler: ClipSampler, preprocessing: Preprocessing, backend: str,
                 decode_timeout: float = DEFAULT_DECODE_TIMEOUT):
        self.paths, self.sampler, self.preprocessing, self.backend = list(paths), sampler, preprocessing, backend
        self.decode_timeout = decode_timeout

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> Dict[str, Any]:
        path = self.paths[index]
        try:
            clips = read_clips(path, self.sampler, self.preprocessing, training=False, backend=self.backend,
                               decode_timeout=self.decode_timeout)
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
        out = {"item": item, "frames": clips["frames"]}
        if "previous_frames" in clips:  # the motion stream: the frame before each
            out["previous_frames"] = clips["previous_frames"]
        return out


class TimelineDataset(IterableDataset):
    """The distinct frames of all of a video's windows, streamed in chunks (uint8 [n,c,c,3]), so that
    memory does not grow with the video's length; the backbone sees each frame once.

    Each video arrives as items {"video": path, "frame_chunk": frames} in order, then one item with
    the video's row ("item") and, per window, which of the streamed frames form its clip
    ("window_index", int64 [W,T]). A video that cannot be read ends with an item holding only its
    failure row.
    Videos are shared out between processes (DDP ranks) and loader workers here, each taking every
    n-th one, since Lightning's distributed sampler does not apply to iterable datasets.
    """

    def __init__(
        self,
        paths: Sequence[str],
        sampler: ClipSampler,
        preprocessing: Preprocessing,
        backend: str,
        options: TimelineOptions,
        decode_timeout: float = DEFAULT_DECODE_TIMEOUT,
        chunk_frames: int = DEFAULT_CHUNK_FRAMES,
    ):
        self.paths, self.sampler, self.preprocessing, self.backend = list(paths), sampler, preprocessing, backend
        self.options, self.decode_timeout, self.chunk_frames = options, decode_timeout, chunk_frames

    def _my_paths(self) -> List[str]:
        rank, world = 0, 1
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            rank, world = torch.distributed.get_rank(), torch.distributed.get_world_size()
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        return self.paths[rank * workers + worker :: world * workers]

    def __iter__(self) -> Iterator[Dict[str, Any]]:
        for path in self._my_paths():
            yield from self._video(path)

    def _video(self, path: str) -> Iterator[Dict[str, Any]]:
        windows: Dict[str, Any] = {}

        def choose(meta: VideoMeta) -> np.ndarray:  # every distinct frame of every window, increasing
            windows["meta"] = meta
            windows["ranges"] = window_frames(meta.num_frames, meta.fps, self.options.window, self.options.stride)
            windows["indices"] = window_indices(windows["ranges"], self.sampler)
            # With the motion stream each frame's predecessor is streamed too (the row before it).
            wanted = windows["indices"]
            unique = with_previous(wanted) if self.preprocessing.rgb_diff else np.unique(wanted)
            windows["inverse"] = np.searchsorted(unique, wanted.reshape(-1))
            return unique

        try:
            for _, _, frames in stream_frames(path, self.preprocessing, self.backend, choose, self.chunk_frames,
                                              self.decode_timeout):
                yield {"video": path, "frame_chunk": torch.from_numpy(frames)}
        except Exception as exc:  # as above: the file's row says why
            yield {"video": path, "item": _failure(path, exc)}
            return
        meta, ranges, indices = windows["meta"], windows["ranges"], windows["indices"]
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
        window_index = torch.from_numpy(windows["inverse"].reshape(indices.shape))
        yield {"video": path, "item": item, "window_index": window_index}


def collate_predictions(batch: List[Dict[str, Any]]) -> Dict[str, Any]:
    """Keep every item's metadata in order; stack the frames of the readable ones. Timeline batches
    hold one item of one video: a chunk of its frames, or its row."""
    out: Dict[str, Any] = {"items": [b["item"] for b in batch if "item" in b]}
    for key in ("frames", "previous_frames"):
        stacked = [b[key] for b in batch if key in b]
        if stacked:
            out[key] = torch.stack(stacked)
    if batch and "video" in batch[0]:
        (chunk,) = batch
        out["video"] = chunk["video"]
        for key in ("frame_chunk", "window_index"):
            if key in chunk:
                out[key] = chunk[key]
    return out
