"""What every reader backend shares: the error type and its kinds, the metadata record, the
`VideoReader` interface, and the PyAV packet scan that tells whether a file's timestamps can be
trusted for seeking (used by the decord and PyAV backends).

A frame index always means "the i-th frame the decoder outputs, in presentation order", and
`meta.num_frames` counts the frames a backend can actually decode, not what the header claims.

Decoding to size: when the transform given to `get_frames` / `iter_frames` says what size it
shrinks frames to (a `scaled_size(height, width)` method, as `transforms.ResizeCrop` has), a
backend that can resize while decoding (`resizes = True`) outputs frames at that size and the
transform only crops them; no full-resolution RGB frame is made in Python.
"""

from __future__ import annotations

import abc
import importlib.util
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Optional, Sequence, Tuple, Union

import numpy as np

PathLike = Union[str, "os.PathLike[str]"]
FrameTransform = Callable[[np.ndarray], np.ndarray]  # uint8 [T,H,W,3] -> uint8 [T,h,w,3]
Size = Tuple[int, int]  # (height, width)



def first_pixel(frames: np.ndarray) -> np.ndarray:
    """A frame transform that keeps one pixel per frame: decoding is checked, nothing big is sent back.
    It lives here, not beside its callers, because the decoding child unpickles it and must stay torch-free."""
    return frames[:, :1, :1]


# Decoder threads per reader: one, because readers run in DataLoader workers that share the cores.
# A process that decodes alone asks for more; 0 means the decoder's own automatic count.
DEFAULT_THREADS = 1

ERROR_KINDS = (
    "not_found",
    "empty_file",
    "no_video_stream",
    "unreadable",
    "decode_error",
    "index_out_of_range",
    "decoder_crashed",  # the decoding process died (abort, segfault) on this file
    "decoder_timeout",  # the decoder did not answer in time and was stopped
    "bad_output",  # the decoder returned something other than the RGB uint8 frames asked for
    "transform_failed",  # the frames could not be resized or cropped (a picture no decoder should give)
    "unsupported",  # this decoder is known to misread this file (decord at some frame widths); another reads it
)


class VideoReadError(RuntimeError):
    """A video could not be opened or read; names the file, the reason and a machine-readable kind."""

    def __init__(self, path: PathLike, reason: str, kind: str = "unreadable") -> None:
        if kind not in ERROR_KINDS:
            raise ValueError(f"unknown VideoReadError kind {kind!r}; valid: {ERROR_KINDS}")
        self.path = str(path)
        self.reason = reason
        self.kind = kind
        super().__init__(f"{self.path}: {reason}")

    def __reduce__(self):  # keep it picklable across DataLoader worker processes
        return (type(self), (self.path, self.reason, self.kind))


@dataclass(frozen=True)
class VideoMeta:
    """What a backend found in a file. `num_frames` is what it can decode, not what the header says."""

    path: str
    num_frames: int
    fps: float
    duration: float
    width: int
    height: int
    backend: str
    header_frames: int | None = None
    # Frame indices of the keyframes, where the decoder knows them (files with trusted timestamps); None
    # elsewhere. Efficient sampling snaps to them. Left out of comparisons: it describes the file's coding.
    key_frames: Optional[Tuple[int, ...]] = field(default=None, compare=False, repr=False)


def _check_file(path: PathLike) -> str:
    path = os.fspath(path)
    if not os.path.exists(path):
        raise VideoReadError(path, "file does not exist", "not_found")
    if not os.path.isfile(path):
        raise VideoReadError(path, "not a regular file", "unreadable")
    if os.path.getsize(path) == 0:
        raise VideoReadError(path, "file is empty (0 bytes)", "empty_file")
    return path


def _sort_request(indices: Sequence[int], num_frames: int, path: str) -> tuple[np.ndarray, np.ndarray]:
    """Validate indices; return (sorted unique indices, inverse map back to the request order)."""
    request = np.asarray(indices, dtype=np.int64).reshape(-1)
    if request.size and (request.min() < 0 or request.max() >= num_frames):
        bad = request[(request < 0) | (request >= num_frames)]
        raise VideoReadError(
            path, f"frame index {int(bad[0])} outside [0, {num_frames})", "index_out_of_range"
        )
    unique, inverse = np.unique(request, return_inverse=True)
    return unique, inverse.reshape(-1)


def _describe(frames: Any) -> str:
    if isinstance(frames, np.ndarray):
        return f"an array of shape {tuple(frames.shape)} and dtype {frames.dtype}"
    return f"a {type(frames).__name__}"


def check_frames(frames: Any, count: int, path: str, decoder: str, size: Optional[Size] = None) -> None:
    """Raise `VideoReadError` ("bad_output") unless `frames` is uint8 [count,H,W,3] (at `size` when one
    was asked for): what a decoder returns is checked before any transform sees it."""
    ok = (isinstance(frames, np.ndarray) and frames.dtype == np.uint8 and frames.ndim == 4
          and frames.shape[0] == count and frames.shape[3] == 3 and frames.shape[1] > 0 and frames.shape[2] > 0
          and (size is None or tuple(frames.shape[1:3]) == tuple(size)))
    if not ok:
        wanted = f"[{count},{size[0]},{size[1]},3]" if size is not None else f"[{count},H,W,3]"
        raise VideoReadError(path, f"{decoder} returned {_describe(frames)}, not uint8 frames {wanted}",
                             "bad_output")


class VideoReader(abc.ABC):
    """Random access to a video's decoded frames. Use as a context manager or call `close()`."""

    name: str = ""
    resizes: bool = False  # whether `_read_sorted` can output frames at `decode_size`

    def __init__(self, path: PathLike) -> None:
        self.path = _check_file(path)
        self._meta: VideoMeta | None = None
        self.decode_size: Optional[Size] = None  # (h, w) `_read_sorted` outputs, for one call; None: the file's
        self.decoded_frames = 0  # frames the decoder has output so far (counted where the backend can)
        self._upcoming: Sequence[int] = ()  # frames `iter_frames` will ask for in its later chunks

    @property
    def meta(self) -> VideoMeta:
        assert self._meta is not None
        return self._meta

    def get_frames(self, indices: Sequence[int], transform: FrameTransform | None = None) -> np.ndarray:
        """Frames at `indices` (any order, repeats allowed) as RGB uint8 [T,H,W,3], in the order asked,
        passed through `transform` (e.g. a resize to the CNN's input) when one is given."""
        unique, inverse = _sort_request(indices, self.meta.num_frames, self.path)
        if unique.size == 0:
            frames = np.empty((0, self.meta.height, self.meta.width, 3), dtype=np.uint8)
            return transform(frames) if transform is not None else frames
        size = None
        try:
            self.decode_size = size = self.size_for(transform)
            frames = self._read_sorted([int(i) for i in unique])
        except VideoReadError:
            raise
        except Exception as exc:  # native libraries raise all sorts of things
            raise VideoReadError(
                self.path, f"{self.name} failed to decode frames: {exc}", "decode_error"
            ) from exc
        finally:
            self.decode_size = None
        check_frames(frames, unique.size, self.path, self.name, size)
        if transform is not None:  # before the repeats are expanded: each distinct frame once
            try:
                frames = transform(frames)
            except Exception as exc:
                raise VideoReadError(
                    self.path, f"frames from {self.name} could not be transformed: {type(exc).__name__}: {exc}",
                    "transform_failed") from exc
            if not isinstance(frames, np.ndarray) or frames.dtype != np.uint8 or len(frames) != unique.size:
                raise VideoReadError(self.path, f"the transform of frames from {self.name} returned "
                                     f"{_describe(frames)}, not {unique.size} uint8 frames", "transform_failed")
        return frames[inverse]

    def size_for(self, transform: FrameTransform | None) -> Optional[Size]:
        """The (height, width) to decode to for `transform`, or None for the file's own size.

        Only where this backend resizes, the transform shrinks both sides, and it would leave frames of
        that size as they are (so its output is the same picture, resampled once)."""
        scaled = getattr(transform, "scaled_size", None)
        if not self.resizes or scaled is None:
            return None
        height, width = self.meta.height, self.meta.width
        size = tuple(scaled(height, width))
        if not (size[0] < height and size[1] < width) or tuple(scaled(*size)) != size:
            return None
        return size  # type: ignore[return-value]

    def iter_frames(
        self, indices: Sequence[int], chunk_size: int, transform: FrameTransform | None = None
    ) -> Iterator[np.ndarray]:
        """The frames at increasing `indices`, `chunk_size` at a time (each chunk `transform`ed), so
        that memory holds one chunk however long the video is."""
        indices = [int(i) for i in indices]
        try:
            for start in range(0, len(indices), chunk_size):
                self._upcoming = indices[start + chunk_size :]  # a decoder that skips frames must not skip these
                yield self.get_frames(indices[start : start + chunk_size], transform)
        finally:
            self._upcoming = ()

    @abc.abstractmethod
    def _read_sorted(self, indices: list[int]) -> np.ndarray:
        """Frames for strictly increasing, in-range indices, uint8 [T,H,W,3]; [T,h,w,3] at
        `self.decode_size` when that is set (only where `resizes` is True)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release the decoder. Safe to call twice."""

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    def __len__(self) -> int:
        return self.meta.num_frames

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.path!r})"

    def _make_meta(
        self, num_frames: int, fps: float, width: int, height: int, header: int | None,
        key_frames: Optional[Sequence[int]] = None,
    ) -> VideoMeta:
        if num_frames < 1:
            raise VideoReadError(self.path, f"{self.name} decoded no frames", "decode_error")
        if not fps or not np.isfinite(fps) or fps <= 0:
            fps = 25.0  # unknown rate; an explicit guess beats a division by zero downstream
        return VideoMeta(
            path=self.path,
            num_frames=int(num_frames),
            fps=float(fps),
            duration=num_frames / float(fps),
            width=int(width),
            height=int(height),
            backend=self.name,
            header_frames=int(header) if header else None,
            key_frames=tuple(int(k) for k in key_frames if k < num_frames) if key_frames else None,
        )


def decodable_count(claimed: int, decodes: Callable[[int], bool]) -> int:
    """How many of `claimed` frames (a header's or a packet scan's count) really decode, given a probe
    `decodes(index)`: the count itself when the last frame decodes, else the end of the good run found
    by stepping back in doubling strides from the end and bisecting (a damaged tail costs a few probes)."""
    if claimed < 1 or decodes(claimed - 1):
        return max(claimed, 0)
    bad, step = claimed - 1, 1
    good = bad - step
    while good >= 0 and not decodes(good):
        bad, step = good, step * 2
        good = bad - step
    if good < 0:
        if not decodes(0):
            return 0
        good = 0
    while bad - good > 1:
        mid = (good + bad) // 2
        good, bad = (mid, bad) if decodes(mid) else (good, mid)
    return good + 1


def scan_packets(container: Any, stream: Any) -> tuple[list[int] | None, list[int]]:
    """Demux (no decoding) a PyAV stream: sorted packet pts and keyframe pts, or (None, []) when the
    pts are not presentation times, so that "the i-th smallest pts" would not be the i-th frame shown.

    AVI has no presentation timestamps (its demuxer counts packets, and packed B-frames reorder them);
    an MP4 whose codec reorders frames but whose packets carry pts == dts holds decode times.
    """
    pts, keys, reordered = [], [], False
    for packet in container.demux(stream):
        if packet.size == 0:
            continue
        if packet.pts is None:
            return None, []
        pts.append(packet.pts)
        reordered |= packet.dts is not None and packet.pts != packet.dts
        if packet.is_keyframe:
            keys.append(packet.pts)
    if not pts or len(set(pts)) != len(pts) or "avi" in container.format.name.split(","):
        return None, []
    if not reordered and stream.codec_context.has_b_frames:
        return None, []
    if not keys or min(keys) != min(pts):  # frames before the first keyframe cannot be reached by seeking
        return None, []
    return sorted(pts), sorted(keys)


def open_container(path: str) -> Any:
    """`av.open(path)` for reading, tolerant of undecodable metadata text on every PyAV release.

    PyAV < 19 raises on metadata that is not UTF-8 unless told `metadata_errors="ignore"`; PyAV 19
    removed that argument, so it is passed only where it is accepted.
    """
    import av

    try:
        return av.open(path, metadata_errors="ignore")
    except TypeError as exc:
        if "metadata_errors" not in str(exc):
            raise
    return av.open(path)


@dataclass(frozen=True)
class StreamInfo:
    """What PyAV's demuxer says of a file's first video stream, without decoding a frame."""

    codec: str = ""  # FFmpeg's decoder name ("h264", "mpeg4", "rawvideo"); "" when unknown
    pix_fmt: str = ""  # the stream's pixel format ("yuv420p", "bgr24"); "" when unknown
    trusted: bool = False  # whether seeking by timestamp lands on the right frame (`scan_packets`)


def inspect_stream(path: str, scan: bool = True) -> StreamInfo:
    """The codec and pixel format of `path`'s video stream and, with `scan`, whether its timestamps can be
    trusted for seeking; an unknown `StreamInfo()` when PyAV is missing or cannot read the file (the
    decoder that opens it says why)."""
    if importlib.util.find_spec("av") is None:
        return StreamInfo()
    try:
        with open_container(path) as container:
            if not container.streams.video:
                return StreamInfo()
            stream = container.streams.video[0]
            context = stream.codec_context
            codec, pix_fmt = context.name or "", context.pix_fmt or ""
            if not scan:
                return StreamInfo(codec, pix_fmt)
            return StreamInfo(codec, pix_fmt, scan_packets(container, stream)[0] is not None)
    except Exception:
        return StreamInfo()


def timestamps_trustworthy(path: str) -> bool:
    """Whether seeking by timestamp lands on the right frame (decided from PyAV's packet list)."""
    return inspect_stream(path).trusted
