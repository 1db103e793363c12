"""Read exactly the frames asked for from a video file, as RGB uint8, with honest metadata.

One interface (`VideoReader`), three CPU backends (PyAV, decord, OpenCV) and an optional GPU one
(nvdec: NVIDIA's hardware decoder through torchcodec, used only when asked for by name). A frame index always means
"the i-th frame the decoder outputs, in presentation order", and `meta.num_frames` counts the
frames that backend can actually decode: container headers lie (a cinepak AVI that claims 444
frames and holds 68), and decoders disagree by a frame at the end of packed-B-frame MPEG-4 files.

Readers use one decoder thread (`DEFAULT_THREADS`), because they are opened inside DataLoader
workers; a process that decodes alone (feature caching, timelines) asks for more with `threads`.
Given a transform that says its output size (`transforms.ResizeCrop`), decord and PyAV decode
straight to that size and OpenCV shrinks before its colour conversion (see base.py).

    with open_video("clip.mp4") as reader:
        frames = reader.get_frames([0, 8, 16])   # uint8 [3,H,W,3]
        small = reader.get_frames([0, 8, 16], ResizeCrop(preprocessing))   # uint8 [3,c,c,3]

The files:

    base.py            VideoReadError and its ERROR_KINDS, VideoMeta, the VideoReader interface
                       (request checks, index sorting, metadata), and the PyAV packet scan that
                       says whether a file's timestamps can be trusted for seeking.
    decord_backend.py  DecordReader: batched seeking where timestamps are trusted, else forward.
    opencv_backend.py  OpenCVReader: always forward (grab/retrieve), reopening to rewind.
    pyav_backend.py    PyAVReader: the read plan on trusted timestamps (seeks to other GOPs only, skips
                       frames nothing needs), else forward decoding. `auto`'s first choice: the
                       cheapest on every kind of file measured (docs/benchmarks.md).
    read_plan.py       the seek rule and keyframe bookkeeping the PyAV reader follows.
    nvdec_backend.py   NvdecReader: decoding and resizing on the GPU (pip install -e ".[gpu]"); files
                       it refuses go to a CPU decoder. Not yet run on a GPU.
    isolated.py        IsolatedReader: any backend, decoding in a child process, so a decoder that
                       crashes or hangs on one file costs that file only (decoder_crashed / _timeout).
    __init__.py        the factory (here): BACKENDS, available_backends, open_video, read_meta;
                       a backend asked for but not installed falls back to the next, with a warning;
                       iter_with_fallback, the one way every part of the toolkit reads frames
                       (read_with_fallback for one result), tries the other installed decoders on a
                       file the first cannot read. A custom reader is named "package.module:ClassName".
    fallbacks.py       which files another decoder read: one warning per run, a count, a list file.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import warnings
from typing import Callable, Iterable, Iterator, Optional, TypeVar

from pipeline.data.readers.base import DEFAULT_THREADS, ERROR_KINDS, PathLike, VideoMeta, VideoReader, VideoReadError
from pipeline.data.readers.decord_backend import DecordReader
from pipeline.data.readers.fallbacks import (
    FALLBACK_LIST,
    fallback_summary,
    format_fallbacks,
    note_fallback,
    recording_fallbacks,
    remember_decoder,
    remembered_decoder,
)
from pipeline.data.readers.isolated import DEFAULT_DECODE_TIMEOUT, IsolatedReader
from pipeline.data.readers.nvdec_backend import NvdecReader
from pipeline.data.readers.opencv_backend import OpenCVReader
from pipeline.data.readers.pyav_backend import PyAVReader

__all__ = [
    "BACKENDS",
    "DEFAULT_BACKEND",
    "DEFAULT_DECODE_TIMEOUT",
    "DEFAULT_THREADS",
    "ERROR_KINDS",
    "FALLBACK_LIST",
    "DecordReader",
    "IsolatedReader",
    "NvdecReader",
    "OpenCVReader",
    "PathLike",
    "PyAVReader",
    "VideoMeta",
    "VideoReadError",
    "VideoReader",
    "another_decoder_may_help",
    "as_read_error",
    "available_backends",
    "fallback_order",
    "fallback_summary",
    "format_fallbacks",
    "iter_with_fallback",
    "note_fallback",
    "open_video",
    "read_meta",
    "read_with_fallback",
    "recording_fallbacks",
]

T = TypeVar("T")

DEFAULT_BACKEND = "pyav"  # it alone can skip the frames a clip does not need: measured cheapest (docs/benchmarks.md)
_AUTO_ORDER = ("pyav", "decord", "opencv")
_MODULES = {"decord": "decord", "opencv": "cv2", "pyav": "av", "nvdec": "torchcodec"}
_OPT_IN = ("nvdec",)  # used only when asked for by name: "auto" would pick it only once measured faster on a GPU
_NOT_RETRIED = ("not_found", "empty_file", "index_out_of_range")  # no other decoder changes these

BACKENDS: dict[str, type[VideoReader]] = {
    "decord": DecordReader,
    "opencv": OpenCVReader,
    "pyav": PyAVReader,
    "nvdec": NvdecReader,
}


def _installed(backend: str) -> bool:
    return importlib.util.find_spec(_MODULES[backend]) is not None


def available_backends() -> list[str]:
    """Backends whose library is installed, in the order `open_video(backend="auto")` tries them."""
    return [name for name in _AUTO_ORDER if _installed(name)]


def _resolve_backend(backend: str) -> str:
    if ":" in backend:  # a custom reader, "package.module:ClassName"
        _custom_reader(backend)
        return backend
    if backend != "auto" and backend not in BACKENDS:
        raise ValueError(f"unknown video backend {backend!r}; valid: {['auto', *BACKENDS]} or 'module:Class'")
    available = available_backends()
    if not available:
        raise RuntimeError(f"no video backend is installed; install one of {list(_MODULES.values())}")
    if backend == "auto":
        return DEFAULT_BACKEND if DEFAULT_BACKEND in available else available[0]
    if backend in available or (backend in _OPT_IN and _installed(backend)):
        return backend
    order = _AUTO_ORDER[_AUTO_ORDER.index(backend) + 1 :] + _AUTO_ORDER if backend in _AUTO_ORDER else _AUTO_ORDER
    used = next(name for name in order if name in available)
    warnings.warn(
        f"video backend {backend!r} is not installed ({_MODULES[backend]} does not import); using {used!r}",
        stacklevel=3,
    )
    return used


def _custom_reader(backend: str) -> type[VideoReader]:
    module, _, name = backend.partition(":")
    try:
        reader = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"video backend {backend!r} cannot be imported: {exc}") from exc
    if not (isinstance(reader, type) and issubclass(reader, VideoReader)):
        raise ValueError(f"video backend {backend!r} is not a VideoReader subclass")
    return reader


def open_video(
    path: PathLike,
    backend: str = "auto",
    *,
    isolated: bool = False,
    timeout: float = DEFAULT_DECODE_TIMEOUT,
    threads: int = DEFAULT_THREADS,
) -> VideoReader:
    """Open `path` with `backend`: "auto" (pyav if installed, else decord, else opencv), a name from
    `BACKENDS`, or a custom `VideoReader` subclass as "package.module:ClassName".

    `isolated` decodes in a child process (see `isolated.py`), so that a decoder that crashes or
    hangs on this file raises a `VideoReadError` (`decoder_crashed`, `decoder_timeout`) here instead
    of ending this process; `timeout` is how long one call may take there. `threads` is the
    decoder's thread count (0: the decoder's automatic count); a custom reader gets it when its
    constructor takes `threads`.
    """
    name = _resolve_backend(backend)
    if isolated:
        return IsolatedReader(path, name, timeout, threads)
    reader = _custom_reader(name) if ":" in name else BACKENDS[name]
    try:
        if "threads" in inspect.signature(reader).parameters:
            return reader(path, threads=threads)
        return reader(path)
    except VideoReadError:
        raise
    except Exception as exc:  # a decoder (a custom one too) that fails to open the file names it
        message = " ".join(str(exc).split()) or "no message"
        raise VideoReadError(path, f"{name} cannot open it: {type(exc).__name__}: {message}", "unreadable") from exc


def read_meta(path: PathLike, backend: str = "auto") -> VideoMeta:
    """The honest metadata of one file, read in this process as every read is (`read_with_fallback`)."""
    return read_with_fallback(path, backend, lambda reader: reader.meta, isolated=False)


def fallback_order(backend: str) -> list[str]:
    """`backend` (resolved), then every other installed decoder: the order to try a file in."""
    first = _resolve_backend(backend)
    return [first] + [name for name in available_backends() if name != first]


def another_decoder_may_help(error: VideoReadError) -> bool:
    """False for failures no decoder changes: a missing or empty file, a request outside the video."""
    return error.kind not in _NOT_RETRIED


def as_read_error(path: PathLike, decoder: str, exc: BaseException) -> VideoReadError:
    """`exc` as a `VideoReadError`: itself when it is one, else a "decode_error" naming the decoder and the
    exception (a custom reader's plain `ValueError`, a transform's failure that escaped its checks)."""
    if isinstance(exc, VideoReadError):
        return exc
    message = " ".join(str(exc).split()) or "no message"
    return VideoReadError(path, f"{decoder}: {type(exc).__name__}: {message}", "decode_error")


def iter_with_fallback(
    path: PathLike,
    backend: str,
    job: Callable[[VideoReader], Iterable[T]],
    *,
    isolated: bool = True,
    timeout: float = DEFAULT_DECODE_TIMEOUT,
    threads: int = DEFAULT_THREADS,
    fallback: bool = True,
    on_fallback: Optional[Callable[[VideoReadError, str], None]] = None,
) -> Iterator[T]:
    """The one way frames are read: yields the items of `job(reader)` for the file opened with `backend`;
    when that decoder cannot read it (it fails, crashes, hangs, returns wrong frames, or its frames cannot
    be transformed), again with each other installed decoder, as long as no item has been handed over.

    A decoder's failures come out as `VideoReadError`s naming the file (`open_video` and
    `VideoReader.get_frames` turn any exception of a decoder or a transform into one, and check what a
    decoder returns before any transform sees it); an exception of `job`'s own code is not a decoder's
    failure and is raised as it is. A file that another decoder read is noted once (`on_fallback(first
    error, decoder used)`, default `fallbacks.note_fallback`: one warning per run, the rest counted) and
    remembered: this process reads it with that decoder first next time. A missing or empty file, or a
    request outside the video, is not retried. The first decoder's error is raised when none succeeds.
    `fallback=False` tries `backend` alone (to measure or check one decoder).
    """
    order = fallback_order(backend)
    chosen = order[0]
    if not fallback:
        order = order[:1]
    elif (known := remembered_decoder(path, chosen)) in order:  # read before in this process: start there
        order = [known] + [name for name in order if name != known]
    first_error: Optional[VideoReadError] = None
    for name in order:
        handed_over = False
        try:
            with open_video(path, name, isolated=isolated, timeout=timeout, threads=threads) as reader:
                for item in job(reader):
                    handed_over = True
                    yield item
        except VideoReadError as exc:
            if handed_over or not another_decoder_may_help(exc):
                raise
            first_error = first_error or exc
            continue
        if name != chosen:
            remember_decoder(path, chosen, name)
        if first_error is not None:
            (on_fallback or note_fallback)(first_error, name)
        return
    assert first_error is not None
    raise first_error


def read_with_fallback(
    path: PathLike,
    backend: str,
    job: Callable[[VideoReader], T],
    *,
    isolated: bool = True,
    timeout: float = DEFAULT_DECODE_TIMEOUT,
    threads: int = DEFAULT_THREADS,
    fallback: bool = True,
    on_fallback: Optional[Callable[[VideoReadError, str], None]] = None,
) -> T:
    """`job(reader)`'s result, read as `iter_with_fallback` reads (the reader's `meta.backend` names the
    decoder that did the work)."""
    results = list(iter_with_fallback(path, backend, lambda reader: (job(reader),), isolated=isolated,
                                      timeout=timeout, threads=threads, fallback=fallback,
                                      on_fallback=on_fallback))
    return results[0]
