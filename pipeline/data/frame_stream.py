"""Many frames of one video, in chunks, resized as they are decoded: memory that does not grow with
the video's length.

The feature cache (every frame of a video) and the timeline (every frame its windows use) need far
more frames than a clip. `stream_frames` decodes them in an isolated child process, resizes each
chunk there, and hands the chunks over one at a time, so a 1-hour 1080p match never sits in memory
at full resolution, nor in bulk at crop size. A decoder that cannot read the file hands it to the
next installed one, as long as no chunk has been handed over yet.

Frames are decoded straight to the CNN's size where the decoder can (`transforms.ResizeCrop`), with
as many decoder threads as this process's share of the cores (`decoder_threads`): a stream is one
video decoded from start to end, often by a process that decodes alone.
"""

from __future__ import annotations

from typing import Callable, Iterator, Optional, Sequence, Tuple

import numpy as np
from torch.utils.data import get_worker_info

from models.preprocessing import Preprocessing
from pipeline.data.readers import DEFAULT_DECODE_TIMEOUT, VideoMeta, VideoReader, iter_with_fallback
from pipeline.data.readers.base import FrameTransform
from pipeline.data.transforms import ResizeCrop
from pipeline.data.workers import available_cores, processes_per_node

DEFAULT_CHUNK_FRAMES = 64  # frames decoded, resized and handed over at a time

FrameChooser = Callable[[VideoMeta], Sequence[int]]  # which frames (increasing) to stream, given the metadata


def decoder_threads() -> int:
    """Decoder threads for one stream: the cores this process may use, shared among the DataLoader
    workers of its loader and the processes (DDP ranks) of this machine."""
    cores = available_cores()
    info = get_worker_info()
    sharers = (info.num_workers if info is not None else 1) * processes_per_node()
    return max(1, cores // sharers)


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
    threads: Optional[int] = None,
    transform: Optional[FrameTransform] = None,
) -> Iterator[Tuple[VideoMeta, np.ndarray, np.ndarray]]:
    """Yields (meta, frame indices int64 [n], frames uint8 [n,c,c,3]) for the increasing frames
    `choose(meta)` picks, `chunk_frames` at a time. Raises `VideoReadError` when no decoder can read
    the file, or when the decoder fails after chunks were handed over. `threads`: decoder threads
    (None: `decoder_threads()`; 0: the decoder's automatic count). `transform`: what each decoded
    frame becomes (default `ResizeCrop(preprocessing)`; `views.ViewsResizeCrop` makes each frame's
    spatial views, frames uint8 [n,V,c,c,3])."""
    transform = ResizeCrop(preprocessing) if transform is None else transform
    threads = decoder_threads() if threads is None else threads

    def chunks(reader: VideoReader) -> Iterator[Tuple[VideoMeta, np.ndarray, np.ndarray]]:
        meta = reader.meta
        indices = np.asarray(choose(meta), dtype=np.int64)
        start = 0
        bound = transform.for_video(reader) if hasattr(transform, "for_video") else transform
        for frames in reader.iter_frames(indices, chunk_frames, bound):
            yield meta, indices[start : start + len(frames)], frames
            start += len(frames)

    yield from iter_with_fallback(path, backend, chunks, isolated=True, timeout=timeout, threads=threads)
