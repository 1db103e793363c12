"""The decord backend: fast batched random access, with a forward-reading fallback for files whose
timestamps would make decord's seeking return the wrong picture. decord resizes in its decoder
(FFmpeg's scaler) when opened at a size, so frames wanted small are decoded by a second
`decord.VideoReader` opened at that size; the full-size one counts frames and gives the metadata.

decord (0.6 and decord2 3.4 alike) misreads frames of some output widths (8, 12, 16, 24, 48, 72 px on
x86_64, whatever the codec; the raw 48x64 AVIs of academic sets among them): `get_batch` fails with
"Check failed: from_size == to_size" and single frames come back with 4 or 6 bytes a pixel. The first
frame, decoded anyway for the metadata, shows it: such a file is declined when opened ("unsupported"),
so the next decoder reads it on the first try instead of after a failed decode; a decode-to-size width
that shows it is not used (the frames are decoded at full size and resized after)."""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from pipeline.data.readers.base import (
    DEFAULT_THREADS,
    PathLike,
    Size,
    VideoReader,
    VideoReadError,
    decodable_count,
    inspect_stream,
)

_WIDTH_OK: dict[int, bool] = {}  # output widths decord decodes right at, as probed in this process


class DecordReader(VideoReader):
    """decord: its own packet index gives the count; the last frame is test-decoded before trusting it.

    decord's seeking finds frame i as the packet with the i-th smallest pts. Where the pts are not
    presentation times (AVI with packed B-frames, some MP4s) that returns the wrong picture, so such
    files are read forward with `next()` instead (decord's sequential output order is right; its
    `skip_frames` is not: it returned other pictures on a packed-B-frame AVI). Seeking files are read with
    `get_batch`, which already seeks only to reach another GOP (measured: it decodes about what one
    forward pass to the last wanted frame does).
    """

    name = "decord"
    resizes = True

    def __init__(self, path: PathLike, threads: int = DEFAULT_THREADS) -> None:
        super().__init__(path)
        import decord

        decord.logging.set_level(decord.logging.QUIET)
        self._decord = decord
        self.threads = threads
        self._vr = None
        self._sized: dict[Size, Any] = {}  # a decoder opened at the size last asked for
        try:
            self._vr = self._open(None)
        except Exception as exc:
            message = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
            kind = "no_video_stream" if "video stream" in message.lower() else "unreadable"
            raise VideoReadError(self.path, f"decord cannot open it: {message}", kind) from exc
        header = len(self._vr)
        count = decodable_count(header, self._decodes)
        first = self._vr[0].shape if count else (0, 0, 3)
        if first[2] != 3:
            raise VideoReadError(self.path, f"decord returns {first[2]} bytes a pixel for frames {first[1]} px wide "
                                 "(a decord bug at some widths)", "unsupported")
        height, width = first[:2]
        stream = inspect_stream(self.path)
        self._trusted = stream.trusted
        keys = list(self._vr.get_key_indices()) if self._trusted else None
        self._meta = self._make_meta(count, self._vr.get_avg_fps(), width, height, header, keys)
        self._vr.seek(0)
        self._next: dict[Optional[Size], int] = {None: 0}  # per decoder: the frame next() yields (sequential mode)

    def _open(self, size: Optional[Size]) -> Any:
        height, width = size if size is not None else (-1, -1)
        return self._decord.VideoReader(
            self.path, ctx=self._decord.cpu(0), width=width, height=height, num_threads=self.threads
        )

    def size_for(self, transform: Any) -> Optional[Size]:
        size = super().size_for(transform)
        if size is None:
            return None
        width = size[1]
        if width not in _WIDTH_OK:  # the bug follows the width: probed once per process and width
            vr = self._decoder(size)
            try:
                _WIDTH_OK[width] = vr[0].shape == (*size, 3)
                vr.seek(0)
            except Exception:
                _WIDTH_OK[width] = False
            self._next[size] = 0
        return size if _WIDTH_OK[width] else None

    def _decoder(self, size: Optional[Size]) -> Any:
        """The full-size decoder, or one that outputs `size` (opened on first use, replacing another size)."""
        if size is None:
            return self._vr
        if size not in self._sized:
            self._sized = {size: self._open(size)}
            self._next = {None: self._next.get(None, 0), size: 0}
        return self._sized[size]

    def _decodes(self, index: int) -> bool:
        try:
            self._vr[index]
            return True
        except Exception:
            return False

    def _read_sorted(self, indices: list[int]) -> np.ndarray:
        size = self.decode_size
        vr = self._decoder(size)
        if self._trusted:
            return vr.get_batch(indices).asnumpy()
        if indices[0] < self._next[size]:
            vr.seek(0)
            self._next[size] = 0
        out = []
        for index in indices:
            while True:
                frame = vr.next()
                self._next[size] += 1
                if self._next[size] - 1 == index:
                    break
            out.append(frame.asnumpy())
        return np.stack(out)

    def close(self) -> None:
        self._vr = None
        self._sized = {}
