"""Read exactly the frames asked for from a video file, as RGB uint8, with honest metadata.

One interface (`VideoReader`), three backends (decord, OpenCV, PyAV). A frame index always means
"the i-th frame the decoder outputs, in presentation order", and `meta.num_frames` counts the
frames that backend can actually decode: container headers lie (a cinepak AVI that claims 444
frames and holds 68), and decoders disagree by a frame at the end of packed-B-frame MPEG-4 files.

Readers use one decoder thread, because they are opened inside DataLoader workers.

    with open_video("clip.mp4") as reader:
        frames = reader.get_frames([0, 8, 16])   # uint8 [3,H,W,3]
"""

from __future__ import annotations

import abc
import bisect
import importlib.util
import os
import warnings
from dataclasses import dataclass
from typing import Any, Sequence, Union

import numpy as np

PathLike = Union[str, "os.PathLike[str]"]

DEFAULT_BACKEND = "decord"
_AUTO_ORDER = ("decord", "opencv", "pyav")
_MODULES = {"decord": "decord", "opencv": "cv2", "pyav": "av"}

ERROR_KINDS = (
    "not_found",
    "empty_file",
    "no_video_stream",
    "unreadable",
    "decode_error",
    "index_out_of_range",
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


class VideoReader(abc.ABC):
    """Random access to a video's decoded frames. Use as a context manager or call `close()`."""

    name: str = ""

    def __init__(self, path: PathLike) -> None:
        self.path = _check_file(path)
        self._meta: VideoMeta | None = None

    @property
    def meta(self) -> VideoMeta:
        assert self._meta is not None
        return self._meta

    def get_frames(self, indices: Sequence[int]) -> np.ndarray:
        """Frames at `indices` (any order, repeats allowed) as RGB uint8 [T,H,W,3], in the order asked."""
        unique, inverse = _sort_request(indices, self.meta.num_frames, self.path)
        if unique.size == 0:
            return np.empty((0, self.meta.height, self.meta.width, 3), dtype=np.uint8)
        try:
            frames = self._read_sorted([int(i) for i in unique])
        except VideoReadError:
            raise
        except Exception as exc:  # native libraries raise all sorts of things
            raise VideoReadError(
                self.path, f"{self.name} failed to decode frames: {exc}", "decode_error"
            ) from exc
        return frames[inverse]

    @abc.abstractmethod
    def _read_sorted(self, indices: list[int]) -> np.ndarray:
        """Frames for strictly increasing, in-range indices, uint8 [T,H,W,3]."""

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
        self, num_frames: int, fps: float, width: int, height: int, header: int | None
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
        )


def _scan_packets(container: Any, stream: Any) -> tuple[list[int] | None, list[int]]:
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


def _timestamps_trustworthy(path: str) -> bool:
    """Whether seeking by timestamp lands on the right frame (decided from PyAV's packet list)."""
    if importlib.util.find_spec("av") is None:
        return False
    import av

    try:
        with av.open(path, metadata_errors="ignore") as container:
            if not container.streams.video:
                return False
            return _scan_packets(container, container.streams.video[0])[0] is not None
    except Exception:
        return False


# --------------------------------------------------------------------------------------------- decord


class DecordReader(VideoReader):
    """decord: its own packet index gives the count; the last frame is test-decoded before trusting it.

    decord's seeking finds frame i as the packet with the i-th smallest pts. Where the pts are not
    presentation times (AVI with packed B-frames, some MP4s) that returns the wrong picture, so such
    files are read forward with `next()` instead (decord's sequential output order is right).
    """

    name = "decord"

    def __init__(self, path: PathLike) -> None:
        super().__init__(path)
        import decord

        decord.logging.set_level(decord.logging.QUIET)
        self._vr = None
        try:
            self._vr = decord.VideoReader(self.path, ctx=decord.cpu(0), num_threads=1)
        except Exception as exc:
            message = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
            kind = "no_video_stream" if "video stream" in message.lower() else "unreadable"
            raise VideoReadError(self.path, f"decord cannot open it: {message}", kind) from exc
        header = len(self._vr)
        count = self._decodable_count(header)
        height, width = self._vr[0].shape[:2] if count else (0, 0)
        self._meta = self._make_meta(count, self._vr.get_avg_fps(), width, height, header)
        self._trusted = _timestamps_trustworthy(self.path)
        self._vr.seek(0)
        self._next = 0  # index of the frame next() yields (sequential mode)

    def _decodes(self, index: int) -> bool:
        try:
            self._vr[index]
            return True
        except Exception:
            return False

    def _decodable_count(self, header: int) -> int:
        if header < 1 or self._decodes(header - 1):
            return header
        # Backwards search: step back in growing strides to a decodable frame, then bisect.
        bad, step = header - 1, 1
        good = bad - step
        while good >= 0 and not self._decodes(good):
            bad, step = good, step * 2
            good = bad - step
        if good < 0:
            good = -1 if not self._decodes(0) else 0
            if good < 0:
                return 0
        while bad - good > 1:
            mid = (good + bad) // 2
            good, bad = (mid, bad) if self._decodes(mid) else (good, mid)
        return good + 1

    def _read_sorted(self, indices: list[int]) -> np.ndarray:
        if self._trusted:
            return self._vr.get_batch(indices).asnumpy()
        if indices[0] < self._next:
            self._vr.seek(0)
            self._next = 0
        out = []
        for index in indices:
            while True:
                frame = self._vr.next()
                self._next += 1
                if self._next - 1 == index:
                    break
            out.append(frame.asnumpy())
        return np.stack(out)

    def close(self) -> None:
        self._vr = None


# --------------------------------------------------------------------------------------------- opencv


class OpenCVReader(VideoReader):
    """OpenCV (FFmpeg backend), read strictly sequentially.

    OpenCV's frame seeking maps indices to timestamps, which is wrong for files with holes in their
    timeline (tree.avi: 444 timestamps, 68 frames), and it exposes no packets to check against. So
    the count is one grab pass (decode, no colour conversion) and access decodes forward, rewinding
    by reopening when an earlier frame is asked for.
    """

    name = "opencv"

    def __init__(self, path: PathLike) -> None:
        super().__init__(path)
        import cv2

        self._cv2 = cv2
        self._cap = None
        self._open()
        cap = self._cap
        header = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        width = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH))
        height = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        count = 0
        while cap.grab():
            count += 1
        self._meta = self._make_meta(count, fps, width, height, header)
        self._open()

    def _open(self) -> None:
        cv2 = self._cv2
        if self._cap is not None:
            self._cap.release()
        params = [cv2.CAP_PROP_N_THREADS, 1] if hasattr(cv2, "CAP_PROP_N_THREADS") else []
        try:
            cap = cv2.VideoCapture(self.path, cv2.CAP_FFMPEG, params)
        except Exception as exc:
            raise VideoReadError(self.path, f"opencv cannot open it: {exc}", "unreadable") from exc
        if not cap.isOpened():
            raise VideoReadError(self.path, "opencv cannot open it as a video", "unreadable")
        self._cap = cap
        self._next = 0  # index of the frame the next grab() yields

    def _read_sorted(self, indices: list[int]) -> np.ndarray:
        cv2 = self._cv2
        if indices[0] < self._next:
            self._open()
        out = []
        for index in indices:
            while self._next <= index:
                if not self._cap.grab():
                    raise VideoReadError(
                        self.path, f"opencv stopped decoding at frame {self._next}", "decode_error"
                    )
                self._next += 1
            ok, bgr = self._cap.retrieve()
            if not ok or bgr is None:
                raise VideoReadError(self.path, f"opencv could not retrieve frame {index}", "decode_error")
            out.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
        return np.stack(out)

    def close(self) -> None:
        if getattr(self, "_cap", None) is not None:
            self._cap.release()
            self._cap = None


# ----------------------------------------------------------------------------------------------- pyav

_SEEK_GAP = 32  # decode forward through gaps up to this many frames rather than seek


class PyAVReader(VideoReader):
    """PyAV, with timestamp seeking only where the file's timestamps prove trustworthy.

    A demux pass (no decoding) lists the video packets. When their timestamps are real presentation
    times, frame i is the packet with the i-th smallest pts: the count is the packet count, checked
    by decoding the last GOP, and far-apart frames are reached by seeking to a keyframe. Files whose
    timestamps are decode order or garbage (AVI, MP4 without composition offsets) are counted and read
    by decoding forward. Any inconsistency seen while decoding drops the reader to that safe mode.
    """

    name = "pyav"

    def __init__(self, path: PathLike) -> None:
        super().__init__(path)
        import av

        av.logging.set_level(av.logging.PANIC)
        self._av = av
        self._container = None
        self._open()
        stream = self._stream
        header = int(stream.frames or 0)
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        fps = float(rate) if rate else 0.0
        width, height = stream.codec_context.width, stream.codec_context.height
        try:
            self._pts, self._key_pts = self._scan_packets()
        except Exception as exc:
            raise VideoReadError(self.path, f"pyav cannot read its packets: {exc}", "unreadable") from exc
        self._trusted = self._pts is not None and self._verify_tail()
        count = len(self._pts) if self._trusted else self._count_by_decoding()
        self._meta = self._make_meta(count, fps, width, height, header)
        self._open()

    def _open(self) -> None:
        av = self._av
        if self._container is not None:
            self._container.close()
        try:
            container = av.open(self.path, metadata_errors="ignore")
        except Exception as exc:
            raise VideoReadError(self.path, f"pyav cannot open it: {exc}", "unreadable") from exc
        if not container.streams.video:
            container.close()
            raise VideoReadError(self.path, "the file has no video stream", "no_video_stream")
        self._container = container
        self._stream = container.streams.video[0]
        self._stream.thread_count = 1
        self._frames = None  # decode iterator
        self._next = 0  # index of the frame the iterator yields next

    def _scan_packets(self) -> tuple[list[int] | None, list[int]]:
        try:
            return _scan_packets(self._container, self._stream)
        finally:
            self._open()

    def _verify_tail(self) -> bool:
        """Decode from the last keyframe to the end: every packet there must give a frame, in pts order."""
        if not self._key_pts:
            return False
        start = self._key_pts[-1]
        expected = self._pts[bisect.bisect_left(self._pts, start) :]
        try:
            self._container.seek(start, stream=self._stream, backward=True, any_frame=False)
            got = [
                f.pts for f in self._container.decode(self._stream) if f.pts is not None and f.pts >= start
            ]
        except Exception:
            return False
        finally:
            self._open()
        return got == expected

    def _count_by_decoding(self) -> int:
        count = 0
        try:
            for _ in self._container.decode(self._stream):
                count += 1
        except self._av.error.FFmpegError:
            pass  # a damaged tail ends the count; the frames before it are real
        except Exception as exc:
            raise VideoReadError(
                self.path, f"pyav failed while counting frames: {exc}", "decode_error"
            ) from exc
        finally:
            self._open()
        return count

    def _seek_to(self, index: int) -> None:
        """Position the decoder at the last keyframe at or before frame `index` (trusted mode only)."""
        target = self._pts[index]
        key = self._key_pts[max(bisect.bisect_right(self._key_pts, target) - 1, 0)]
        self._container.seek(key, stream=self._stream, backward=True, any_frame=False)
        self._frames = iter(self._container.decode(self._stream))
        self._next = bisect.bisect_left(self._pts, key)
        self._skip_before = key  # leading pictures of an open GOP come out before the keyframe: drop them

    def _next_frame(self):
        if self._frames is None:
            self._frames = iter(self._container.decode(self._stream))
            self._skip_before = None
        while True:
            frame = next(self._frames, None)
            if frame is None:
                raise VideoReadError(
                    self.path, f"pyav stopped decoding at frame {self._next}", "decode_error"
                )
            if self._trusted:
                if frame.pts is None or (self._skip_before is not None and frame.pts < self._skip_before):
                    continue
                if self._next >= len(self._pts) or frame.pts != self._pts[self._next]:
                    raise _Untrusted
            self._skip_before = None
            self._next += 1
            return frame

    def _read_sorted(self, indices: list[int]) -> np.ndarray:
        try:
            return self._read_sorted_once(indices)
        except _Untrusted:
            self._trusted = False  # timestamps disagreed with the decoder's order: decode forward from now on
            self._open()
            return self._read_sorted_once(indices)

    def _read_sorted_once(self, indices: list[int]) -> np.ndarray:
        out = []
        for index in indices:
            if self._trusted and (
                index < self._next or index - self._next > _SEEK_GAP or self._frames is None
            ):
                self._seek_to(index)
            elif index < self._next:
                self._open()
            while True:
                frame = self._next_frame()
                if self._next - 1 == index:
                    break
            out.append(frame.to_ndarray(format="rgb24"))
        return np.stack(out)

    def close(self) -> None:
        if getattr(self, "_container", None) is not None:
            self._container.close()
            self._container = None


class _Untrusted(Exception):
    """Internal: a decoded frame's pts did not match the packet index."""


# ---------------------------------------------------------------------------------------------- factory

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
