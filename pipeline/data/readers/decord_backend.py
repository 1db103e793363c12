"""The decord backend: fast batched random access, with a forward-reading fallback for files whose
timestamps would make decord's seeking return the wrong picture. decord resizes in its decoder
(FFmpeg's scaler) when opened at a size, so frames wanted small are decoded by a second
`decord.VideoReader` opened at that size; the full-size one counts frames and gives the metadata.

decord misreads raw-video streams (`rawvideo`, as uncompressed academic AVIs hold): depending on the
frame width it fails with "Check failed: from_size == to_size" or returns 4 bytes a pixel. Such files are
declined when opened ("unsupported", from the stream's codec, before decord touches them), so the next
decoder reads them on the first try instead of after a failed decode."""

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

MISREAD_CODECS = ("rawvideo",)  # FFmpeg decoder names whose frames decord gets wrong


class DecordReader(VideoReader):
    """decord: its own packet index gives the count; the last frame is test-decoded before trusting it.

    decord's seeking finds frame i as the packet with the i-th smallest pts. Where the pts are not
    presentation times (AVI with packed B-frames, some MP4s) that returns the wrong picture, so such
    files are read forward with `next()` instead (decord's sequential output order is right).
    """

    name = "decord"
    resizes = True

    def __init__(self, path: PathLike, threads: int = DEFAULT_THREADS) -> None:
        super().__init__(path)
        stream = inspect_stream(self.path)
        if stream.codec in MISREAD_CODECS:
            raise VideoReadError(self.path, f"decord misreads {stream.codec} ({stream.pix_fmt}) video streams",
                                 "unsupported")
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
        height, width = self._vr[0].shape[:2] if count else (0, 0)
        self._meta = self._make_meta(count, self._vr.get_avg_fps(), width, height, header)
        self._trusted = stream.trusted
        self._vr.seek(0)
        self._next: dict[Optional[Size], int] = {None: 0}  # per decoder: the frame next() yields (sequential mode)

    def _open(self, size: Optional[Size]) -> Any:
        height, width = size if size is not None else (-1, -1)
        return self._decord.VideoReader(
            self.path, ctx=self._decord.cpu(0), width=width, height=height, num_threads=self.threads
        )

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
