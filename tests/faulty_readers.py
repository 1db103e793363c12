"""Readers that fail the way native decoders do, for the isolation tests: named as custom backends
("faulty_readers:AbortingReader"), they are imported in the decoding child process too."""
from __future__ import annotations

import os
import time

import numpy as np

from pipeline.data.readers import PyAVReader


class AbortingReader(PyAVReader):
    """Aborts the process (as OpenCV does on some raw-video AVIs) on files whose name holds 'abort'."""

    def __init__(self, path) -> None:
        if "abort" in os.path.basename(os.fspath(path)):
            os.abort()
        super().__init__(path)


class HangingReader(PyAVReader):
    """Never answers on files whose name holds 'hang', like a decoder stuck in a loop."""

    def __init__(self, path) -> None:
        if "hang" in os.path.basename(os.fspath(path)):
            time.sleep(3600)
        super().__init__(path)


class CrashOnReadReader(PyAVReader):
    """Opens every file but segfaults-by-abort when frames of a file named 'midway' are read."""

    def _read_sorted(self, indices):
        if "midway" in os.path.basename(self.path):
            os.abort()
        return super()._read_sorted(indices)


class FourChannelReader(PyAVReader):
    """Returns 4 bytes a pixel (as decord does at some frame widths)."""

    def _read_sorted(self, indices):
        frames = super()._read_sorted(indices)
        return np.concatenate([frames, frames[..., :1]], axis=-1)


class FrameShortReader(PyAVReader):
    """Returns one frame fewer than asked for."""

    def _read_sorted(self, indices):
        return super()._read_sorted(indices)[:-1]


class ValueErrorReader(PyAVReader):
    """Raises a plain ValueError, not a VideoReadError, when frames are read."""

    def _read_sorted(self, indices):
        raise ValueError("this reader has a bug")


class ValueErrorOpenReader(PyAVReader):
    """Raises a plain ValueError when it opens a file."""

    def __init__(self, path, threads: int = 1) -> None:
        raise ValueError("this reader cannot open anything")
