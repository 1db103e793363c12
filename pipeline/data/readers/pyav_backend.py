"""The PyAV backend: seeks to keyframes where the packet timestamps prove trustworthy, else decodes
forward; any disagreement seen while decoding drops it to forward decoding for good. Frames wanted
small are scaled by FFmpeg's swscale (area averaging) in the same C call that converts them to RGB."""

from __future__ import annotations

import bisect

import numpy as np

from pipeline.data.readers.base import (
    DEFAULT_THREADS,
    PathLike,
    VideoReader,
    VideoReadError,
    open_container,
    scan_packets,
)

_REFORMAT_THREADS = True  # whether this PyAV's reformat takes `threads` (PyAV >= 17); found at the first frame
_SEEK_GAP = 32  # decode forward through gaps up to this many frames rather than seek
_SHRINK = "AREA"  # swscale's area averaging: the closest to cv2.INTER_AREA, and as fast as its bilinear


class _Untrusted(Exception):
    """Internal: a decoded frame's pts did not match the packet index."""


class PyAVReader(VideoReader):
    """PyAV, with timestamp seeking only where the file's timestamps prove trustworthy.

    A demux pass (no decoding) lists the video packets. When their timestamps are real presentation
    times, frame i is the packet with the i-th smallest pts: the count is the packet count, checked
    by decoding the last GOP, and far-apart frames are reached by seeking to a keyframe. Files whose
    timestamps are decode order or garbage (AVI, MP4 without composition offsets) are counted and read
    by decoding forward. Any inconsistency seen while decoding drops the reader to that safe mode.
    """

    name = "pyav"
    resizes = True

    def __init__(self, path: PathLike, threads: int = DEFAULT_THREADS) -> None:
        super().__init__(path)
        import av
        from av.video.reformatter import VideoReformatter

        av.logging.set_level(av.logging.PANIC)
        self._av = av
        self.threads = threads
        self._reformatter = VideoReformatter()  # keeps its swscale context from frame to frame
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
        if self._container is not None:
            self._container.close()
        try:
            container = open_container(self.path)
        except Exception as exc:
            raise VideoReadError(self.path, f"pyav cannot open it: {exc}", "unreadable") from exc
        if not container.streams.video:
            container.close()
            raise VideoReadError(self.path, "the file has no video stream", "no_video_stream")
        self._container = container
        self._stream = container.streams.video[0]
        self._stream.thread_count = self.threads
        if self.threads != 1:
            self._stream.thread_type = "AUTO"  # frame and slice threads
        self._frames = None  # decode iterator
        self._next = 0  # index of the frame the iterator yields next

    def _scan_packets(self) -> tuple[list[int] | None, list[int]]:
        try:
            return scan_packets(self._container, self._stream)
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
            out.append(self._to_rgb(frame))
        return np.stack(out)

    def _to_rgb(self, frame) -> np.ndarray:
        """uint8 [H,W,3], or [h,w,3] at `decode_size`: swscale converts (and scales) in one pass."""
        global _REFORMAT_THREADS
        height, width = self.decode_size or (None, None)
        options = dict(width=width, height=height, format="rgb24", interpolation=_SHRINK if self.decode_size else None)
        if _REFORMAT_THREADS:
            try:
                return self._reformatter.reformat(frame, **options, threads=self.threads).to_ndarray()
            except TypeError as exc:  # PyAV < 17 has no threaded reformat
                if "threads" not in str(exc):
                    raise
                _REFORMAT_THREADS = False
        return self._reformatter.reformat(frame, **options).to_ndarray()

    def close(self) -> None:
        if getattr(self, "_container", None) is not None:
            self._container.close()
            self._container = None
