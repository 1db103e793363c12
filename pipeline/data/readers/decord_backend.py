"""The decord backend: fast batched random access, with a forward-reading fallback for files whose
timestamps would make decord's seeking return the wrong picture."""

from __future__ import annotations

import numpy as np

from pipeline.data.readers.base import PathLike, VideoReader, VideoReadError, timestamps_trustworthy


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
        self._trusted = timestamps_trustworthy(self.path)
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

