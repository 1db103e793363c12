"""The frames a model saw of a video, decoded again for a picture: the first evaluation clip of a dataset's
record, resized and cropped as the model sees it (training's mistake strips and evaluation's report draw them)."""
from __future__ import annotations

from typing import Any, Callable, Tuple

import numpy as np

from pipeline.data.datasets import clip_indices, read_clips
from pipeline.data.readers import DEFAULT_DECODE_TIMEOUT, read_with_fallback
from pipeline.data.transforms import ResizeCrop


def eval_clip_frames(dataset: Any, index: int, preprocessing: Any, backend: str = "auto",
                     timeout: float = DEFAULT_DECODE_TIMEOUT) -> Tuple[np.ndarray, np.ndarray]:
    """The frames uint8 [T,h,w,3] (resized and cropped as the model sees them) and frame indices int64 [T]
    of the first evaluation clip of `dataset.records[index]`, decoded from its file.

    A dataset of cached features (`dataset.features[index]`, a CachedFeatures) served each sampled frame
    by the nearest stored one: those stored frames are the ones decoded. Raises VideoReadError.
    Decoded in this process's isolated decoding child, as the loaders decode: a decoder that crashes on
    the file costs the picture, not the run.
    """
    record, sampler = dataset.records[index], dataset.sampler
    entry = getattr(dataset, "features", None)
    entry = entry[index] if entry is not None else None
    if entry is None:
        clips = read_clips(str(record.path), sampler, preprocessing, False, backend, timeout)
        return clips["frames"][0].numpy(), clips["frame_indices"][0]
    used = entry.frames[entry.rows_for(clip_indices(sampler, entry.num_frames, False)[0])]
    return _decode(str(record.path), used, preprocessing, backend, timeout), used


def _decode(path: str, indices: np.ndarray, preprocessing: Any, backend: str, timeout: float) -> np.ndarray:
    unique, inverse = np.unique(indices, return_inverse=True)
    job: Callable[[Any], np.ndarray] = lambda reader: reader.get_frames(  # noqa: E731
        unique.tolist(), transform=ResizeCrop(preprocessing).for_video(reader))
    return read_with_fallback(path, backend, job, timeout=timeout)[inverse.reshape(-1)]
