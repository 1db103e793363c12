"""Write uint8 RGB frames to a video file with PyAV, atomically: H.264 mp4 (write_video) or raw AVI (write_raw_avi)."""
from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable, Iterable, Optional, Union

import av
import numpy as np

from pipeline.atomic_io import atomic_path

PathLike = Union[str, "os.PathLike[str]"]


def _encode(path: PathLike, frames: Iterable[np.ndarray], container_format: Optional[str],
            open_stream: Callable[[Any, int, int], Any]) -> Path:
    """Encode uint8 [H,W,3] RGB frames into `path` through the stream `open_stream(container, height, width)`
    adds for the first frame, atomically: written beside its destination and renamed into place, so a
    killed run never leaves a half-written video behind."""
    path = Path(path)
    with atomic_path(path) as tmp, av.open(str(tmp), mode="w", format=container_format) as container:
        stream = None
        for frame in frames:
            frame = np.ascontiguousarray(frame, dtype=np.uint8)
            if stream is None:
                stream = open_stream(container, *frame.shape[:2])
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        if stream is None:
            raise ValueError(f"{path}: no frames to write")
        for packet in stream.encode():
            container.mux(packet)
    return path


def write_video(
    path: PathLike,
    frames: Iterable[np.ndarray],
    fps: float = 25.0,
    crf: int = 18,
    codec: str = "libx264",
) -> Path:
    """Encode frames (each uint8 [H,W,3] RGB, even H and W) to `path` (H.264 mp4 by default), atomically."""

    def open_stream(container: Any, height: int, width: int) -> Any:
        if height % 2 or width % 2:
            raise ValueError(f"{path}: H.264 needs even frame sizes, got {width}x{height}")
        stream = container.add_stream(codec, rate=Fraction(fps).limit_denominator(1001))
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p"
        # One encoder thread: x264 splits work by the machine's core count otherwise, and the bytes
        # follow the split. With one thread the same frames give the same bytes, run after run
        # (tests/test_demo_determinism.py) and with x264's asm limited to SSSE3, AVX or AVX2.
        stream.options = {"crf": str(crf), "preset": "veryfast", "threads": "1"}
        return stream

    return _encode(path, frames, None, open_stream)


def write_raw_avi(path: PathLike, frames: Iterable[np.ndarray], fps: float = 25.0) -> Path:
    """Store frames (each uint8 [H,W,3] RGB, any size) uncompressed in an AVI (`rawvideo`, `bgr24`), as
    KTH and many lab recordings ship, atomically."""

    def open_stream(container: Any, height: int, width: int) -> Any:
        stream = container.add_stream("rawvideo", rate=Fraction(fps).limit_denominator(1001))
        stream.height, stream.width, stream.pix_fmt = height, width, "bgr24"
        return stream

    return _encode(path, frames, "avi", open_stream)
