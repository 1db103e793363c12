"""Read exactly the frames asked for from a video file, as RGB uint8, with honest metadata.

One interface (`VideoReader`), three backends (decord, OpenCV, PyAV). A frame index always means
"the i-th frame the decoder outputs, in presentation order", and `meta.num_frames` counts the
frames that backend can actually decode: container headers lie (a cinepak AVI that claims 444
frames and holds 68), and decoders disagree by a frame at the end of packed-B-frame MPEG-4 files.

Readers use one decoder thread, because they are opened inside DataLoader workers.

    with open_video("clip.mp4") as reader:
        frames = reader.get_frames([0, 8, 16])   # uint8 [3,H,W,3]

The files:

    base.py            VideoReadError and its ERROR_KINDS, VideoMeta, the VideoReader interface
                       (request checks, index sorting, metadata), and the PyAV packet scan that
                       says whether a file's timestamps can be trusted for seeking.
    decord_backend.py  DecordReader: batched seeking where timestamps are trusted, else forward.
    opencv_backend.py  OpenCVReader: always forward (grab/retrieve), reopening to rewind.
    pyav_backend.py    PyAVReader: keyframe seeking on trusted timestamps, else forward decoding.
    __init__.py        the factory (here): BACKENDS, available_backends, open_video, read_meta;
                       a backend asked for but not installed falls back to the next, with a warning.
"""

from __future__ import annotations

import importlib.util
import warnings

from pipeline.data.readers.base import ERROR_KINDS, PathLike, VideoMeta, VideoReader, VideoReadError
from pipeline.data.readers.decord_backend import DecordReader
from pipeline.data.readers.opencv_backend import OpenCVReader
from pipeline.data.readers.pyav_backend import PyAVReader

__all__ = [
    "BACKENDS",
    "DEFAULT_BACKEND",
    "ERROR_KINDS",
    "DecordReader",
    "OpenCVReader",
    "PathLike",
    "PyAVReader",
    "VideoMeta",
    "VideoReadError",
    "VideoReader",
    "available_backends",
    "open_video",
    "read_meta",
]

DEFAULT_BACKEND = "decord"
_AUTO_ORDER = ("decord", "opencv", "pyav")
_MODULES = {"decord": "decord", "opencv": "cv2", "pyav": "av"}

BACKENDS: dict[str, type[VideoReader]] = {
    "decord": DecordReader,
    "opencv": OpenCVReader,
    "pyav": PyAVReader,
}


def _installed(backend: str) -> bool:
    return importlib.util.find_spec(_MODULES[backend]) is not None


def available_backends() -> list[str]:
    """Backends whose library is installed, in the order `open_video(backend="auto")` tries them."""
    return [name for name in _AUTO_ORDER if _installed(name)]


def _resolve_backend(backend: str) -> str:
    if backend != "auto" and backend not in BACKENDS:
        raise ValueError(f"unknown video backend {backend!r}; valid: {['auto', *BACKENDS]}")
    available = available_backends()
    if not available:
        raise RuntimeError(f"no video backend is installed; install one of {list(_MODULES.values())}")
    if backend == "auto":
        return DEFAULT_BACKEND if DEFAULT_BACKEND in available else available[0]
    if backend in available:
        return backend
    order = _AUTO_ORDER[_AUTO_ORDER.index(backend) + 1 :] + _AUTO_ORDER
    used = next(name for name in order if name in available)
    warnings.warn(
        f"video backend {backend!r} is not installed ({_MODULES[backend]} does not import); using {used!r}",
        stacklevel=3,
    )
    return used


def open_video(path: PathLike, backend: str = "auto") -> VideoReader:
    """Open `path` with `backend` ("auto" = decord if installed, else opencv, else pyav)."""
    return BACKENDS[_resolve_backend(backend)](path)


def read_meta(path: PathLike, backend: str = "auto") -> VideoMeta:
    """The honest metadata of one file, closing the reader afterwards."""
    with open_video(path, backend) as reader:
        return reader.meta
