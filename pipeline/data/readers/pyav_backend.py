"""The PyAV backend: seeks to keyframes where the packet timestamps prove trustworthy, else decodes
forward; any disagreement seen while decoding drops it to forward decoding for good. Frames wanted
small are scaled by FFmpeg's swscale (area averaging) in the same C call that converts them to RGB."""

from __future__ import annotations

import bisect
from typing import Any, Iterator

import numpy as np

from pipeline.data.readers.base import (
    DEFAULT_THREADS,
    PathLike,
    VideoReader,
    VideoReadError,
    open_container,
    scan_packets,
)
from pipeline.data.readers.read_plan import keyframe_indices, seek_target

_REFORMAT_THREADS = True  # whether this PyAV's reformat takes `threads` (PyAV >= 17); found at the first frame
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

    def __init__(self, path: PathLike, threads: int = DEFAULT_THREADS, skipping: bool = True) -> None:
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
        self._skipping = skipping
        self._trusted = self._pts is not None and self._verify_tail()
        count = len(self._pts) if self._trusted else self._count_by_decoding()
        self._key_index = keyframe_indices(self._pts, self._key_pts) if self._trusted else ()
        self._key_set = set(self._key_index)
        self._meta = self._make_meta(count, fps, width, height, header, self._key_index)
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
        self._sent: set = set()
        self._wanted: set = set()
        self._keys_only = False

    def _scan_packets(self) -> tuple[list[int] | None, list[int]]:
        try:
            return scan_packets(self._container, self._stream)
        finally:
            self._open()

    def _verify_tail(self) -> bool:
        """Decode from the last keyframe to the end: the packets there must give frames in pts order, ending
        with the last one. With skipping, frames no other frame refers to are skipped (but the last), so the
        check decodes what the last frame needs; without, every packet there must give its frame."""
        if not self._key_pts:
            return False
        start = self._key_pts[-1]
        expected = self._pts[bisect.bisect_left(self._pts, start) :]
        context = self._stream.codec_context
        got = []
        try:
            self._container.seek(start, stream=self._stream, backward=True, any_frame=False)
            for packet in self._container.demux(self._stream):
                if self._skipping:
                    context.skip_frame = "DEFAULT" if packet.size == 0 or packet.pts == expected[-1] else "NONREF"
                got += [f.pts for f in packet.decode() if f.pts is not None and f.pts >= start]
        except Exception:
            return False
        finally:
            self._open()
        if not self._skipping:
            return got == expected
        return bool(got) and got[-1] == expected[-1] and got == sorted(set(got)) and set(got) <= set(expected)

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

    def _seek_to(self, key: int) -> None:
        """Position the decoder at keyframe `key` (a frame index; trusted mode only)."""
        self._container.seek(self._pts[key], stream=self._stream, backward=True, any_frame=False)
        self._start_decoding(key)

    def _start_decoding(self, key: int) -> None:
        self._frames = self._decode_packets()
        self._next = key
        self._skip_before = self._pts[key]  # leading pictures of an open GOP come out before the keyframe: drop them
        self._sent = set()  # pts of wanted frames whose packets the decoder has been given since then

    def _decode_packets(self) -> Iterator[Any]:
        """Frames of the packets from the demuxer's position on. With trusted timestamps each packet is
        decoded only where something may need it (read_plan.py): a wanted frame's packet always, others
        with "NONREF" (frames nothing is predicted from are skipped) or, while every frame still wanted
        is a keyframe, "NONKEY"; then, once the last wanted keyframe's packet is in, the decoder is
        drained rather than fed packets it would skip (the next read seeks)."""
        context = self._stream.codec_context
        for packet in self._container.demux(self._stream):
            if self._trusted and self._skipping:
                if packet.size == 0 or packet.pts in self._wanted:
                    context.skip_frame = "DEFAULT"
                    self._sent.add(packet.pts)
                else:
                    context.skip_frame = "NONKEY" if self._keys_only else "NONREF"
            yield from packet.decode()
            if self._keys_only and packet.size and self._sent >= self._wanted:
                yield from context.decode(None)
                return

    def _next_frame(self):
        """The next frame the decoder outputs (all of them in forward mode; with trusted timestamps the next
        one at or after `_next`, which skipping may move on by more than one). None: trusted decoding ran
        out (the caller seeks again or gives up)."""
        if self._frames is None:
            self._frames = iter(self._container.decode(self._stream))
            self._skip_before = None
        while True:
            frame = next(self._frames, None)
            if frame is None:
                if self._trusted:
                    return None
                raise VideoReadError(
                    self.path, f"pyav stopped decoding at frame {self._next}", "decode_error"
                )
            self.decoded_frames += 1
            if self._trusted:
                if frame.pts is None or (self._skip_before is not None and frame.pts < self._skip_before):
                    continue
                index = bisect.bisect_left(self._pts, frame.pts)
                if index < self._next or index >= len(self._pts) or self._pts[index] != frame.pts:
                    raise _Untrusted
                if index > self._next and not self._skipping:
                    raise _Untrusted  # without skipping, every frame comes out
                self._next = index
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
        if not self._trusted:
            return self._read_forward(indices)
        wanted = indices + [i for i in self._upcoming if i > indices[-1]]
        self._wanted = {self._pts[i] for i in wanted}
        self._keys_only = all(i in self._key_set for i in wanted)
        out = []
        for index in indices:
            out.append(self._to_rgb(self._read_trusted(index)))
        return np.stack(out)

    def _read_trusted(self, index: int):
        """Frame `index`, reached by the read plan's rule: seek to its keyframe only when that skips frames."""
        for _attempt in range(2):
            position = self._next if self._frames is not None else None
            key = seek_target(index, position, self._key_index, pending=self._pts[index] in self._sent)
            if key is not None:
                self._seek_to(key)
            while self._next <= index:
                frame = self._next_frame()
                if frame is None:
                    break
                if self._next - 1 == index:
                    return frame
            # Ran out, or passed it: its packet went to the decoder before it was wanted and was skipped, or
            # the decoder was drained. Seek back for it, once.
            self._frames = None
        raise VideoReadError(self.path, f"pyav stopped decoding before frame {index}", "decode_error")

    def _read_forward(self, indices: list[int]) -> np.ndarray:
        out = []
        for index in indices:
            if index < self._next:
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
