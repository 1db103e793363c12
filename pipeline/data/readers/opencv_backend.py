"""The OpenCV backend (FFmpeg inside), read strictly forward because its seeking trusts timestamps.
OpenCV cannot decode to a size: frames wanted small are shrunk while still BGR (cv2.INTER_AREA, as
`resize_crop` does) and only the small frame is converted to RGB, into the output array."""

from __future__ import annotations

import numpy as np

from pipeline.data.readers.base import DEFAULT_THREADS, PathLike, VideoReader, VideoReadError


class OpenCVReader(VideoReader):
    """OpenCV (FFmpeg backend), read strictly sequentially.

    OpenCV's frame seeking maps indices to timestamps, which is wrong for files with holes in their
    timeline (tree.avi: 444 timestamps, 68 frames), and it exposes no packets to check against. So
    the count is one grab pass (decode, no colour conversion) and access decodes forward, rewinding
    by reopening when an earlier frame is asked for.
    """

    name = "opencv"
    resizes = True

    def __init__(self, path: PathLike, threads: int = DEFAULT_THREADS) -> None:
        super().__init__(path)
        import cv2

        self._cv2 = cv2
        self.threads = threads
        self._bgr = None  # the buffer retrieve() decodes into, reused from frame to frame
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
        params = [cv2.CAP_PROP_N_THREADS, self.threads] if hasattr(cv2, "CAP_PROP_N_THREADS") else []
        try:
            cap = cv2.VideoCapture(self.path, cv2.CAP_FFMPEG, params)
        except Exception as exc:
            raise VideoReadError(self.path, f"opencv cannot open it: {exc}", "unreadable") from exc
        if not cap.isOpened():
            raise VideoReadError(self.path, "opencv cannot open it as a video", "unreadable")
        self._cap = cap
        self._next = 0  # index of the frame the next grab() yields

    def _read_sorted(self, indices: list[int]) -> np.ndarray:
        if indices[0] < self._next:
            self._open()
        out = None
        for i, index in enumerate(indices):
            while self._next <= index:
                if not self._cap.grab():
                    raise VideoReadError(
                        self.path, f"opencv stopped decoding at frame {self._next}", "decode_error"
                    )
                self._next += 1
            ok, self._bgr = self._cap.retrieve(self._bgr)
            if not ok or self._bgr is None:
                raise VideoReadError(self.path, f"opencv could not retrieve frame {index}", "decode_error")
            if out is None:
                full = self._bgr.shape  # checked before shrinking, which would hide a change of size
                size = self.decode_size or full[:2]
                out = np.empty((len(indices), *size, 3), dtype=np.uint8)
            elif self._bgr.shape != full:
                raise VideoReadError(self.path, f"frame {index} changes the frame size", "decode_error")
            bgr = self._shrunk(self._bgr)
            self._cv2.cvtColor(bgr, self._cv2.COLOR_BGR2RGB, dst=out[i])
        return out

    def _shrunk(self, bgr: np.ndarray) -> np.ndarray:
        if self.decode_size is None:
            return bgr
        height, width = self.decode_size
        return self._cv2.resize(bgr, (width, height), interpolation=self._cv2.INTER_AREA)

    def close(self) -> None:
        if getattr(self, "_cap", None) is not None:
            self._cap.release()
            self._cap = None

