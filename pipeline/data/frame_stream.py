"""Many frames of one video, in chunks, resized as they are decoded: memory that does not grow with
the video's length.

The feature cache (every frame of a video) and the timeline (every frame its windows use) need far
more frames than a clip. `stream_frames` decodes them in an isolated child process, resizes each
chunk there, and hands the chunks over one at a time, so a 1-hour 1080p match never sits in memory
at full resolution, nor in bulk at crop size. A decoder that cannot read the file hands it to the
next installed one, as long as no chunk has been handed over yet.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Callable, Iterator, Optional, Sequence, Tuple

import numpy as np

from models.preprocessing import Preprocessing
from pipeline.data.readers import (
    DEFAULT_DECODE_TIMEOUT,
    VideoMeta,
    VideoReadError,
    another_decoder_may_help,
    fallback_order,
    open_video,
)
from pipeline.data.transforms import resize_crop

log = logging.getLogger(__name__)

DEFAULT_CHUNK_FRAMES = 64  # frames decoded, resized and handed over at a time

FrameChooser = Callable[[VideoMeta], Sequence[int]]  # which frames (increasing) to stream, given the metadata


def all_frames(meta: VideoMeta) -> Sequence[int]:
    """Every decodable frame."""
    return range(meta.num_frames)


def stream_frames(
    path: str,
    preprocessing: Preprocessing,
    backend: str = "auto",
    choose: FrameChooser = all_frames,
    chunk_frames: int = DEFAULT_CHUNK_FRAMES,
    timeout: float = DEFAULT_DECODE_TIMEOUT,
) -> Iterator[Tuple[VideoMeta, np.ndarray, np.ndarray]]:
    """Yields (meta, frame indices int64 [n], frames uint8 [n,c,c,3]) for the increasing frames
    `choose(meta)` picks, `chunk_frames` at a time. Raises `VideoReadError` when no decoder can read
    the file, or when the decoder fails after chunks were handed over."""
    transform = partial(resize_crop, preprocessing=preprocessing)
    first_error: Optional[VideoReadError] = None
    for name in fallback_order(backend):
        handed_over = False
        try:
            with open_video(path, name, isolated=True, timeout=timeout) as reader:
                meta = reader.meta
                indices = np.asarray(choose(meta), dtype=np.int64)
                start = 0
                for frames in reader.iter_frames(indices, chunk_frames, transform):
                    handed_over = True
                    yield meta, indices[start : start + len(frames)], frames
                    start += len(frames)
        except VideoReadError as exc:
            if handed_over or not another_decoder_may_help(exc):
                raise
            first_error = first_error or exc
            continue
        if first_error is not None:
            log.warning("%s; read with %s instead", first_error, name)
        return
    assert first_error is not None
    raise first_error
