"""Decoding in a disposable child process, so a decoder that aborts, segfaults or hangs costs one file.

Native decoders (FFmpeg inside OpenCV, decord, PyAV) can kill the process they run in: OpenCV 5
aborts ("corrupted size vs. prev_size") on some raw-video AVIs, and a DataLoader worker killed by a
signal ends the whole run. `IsolatedReader` is a `VideoReader` whose decoding runs in a child
process: one child per process that decodes, started on first use and kept for the next files.
When the child dies, the file gets a `decoder_crashed` error; when it does not answer within
`timeout` seconds, it is killed and the file gets `decoder_timeout`. Either way a fresh child takes
the next file.

The child is a new interpreter, not a fork: forking a process that holds torch or decoder threads can
deadlock, and DataLoader workers are daemons, which multiprocessing forbids to have children. Calls
and answers travel as pickles over two pipes. Frames are transformed in the child (resized to the
CNN's input, by the decoder itself where it can: see base.py), so full-resolution frames never
cross the pipe. The child's reader gets the decoder threads the parent asked for.
"""

from __future__ import annotations

import atexit
import os
import signal
import subprocess
import sys
from multiprocessing.connection import Connection
from typing import Any, Iterator, Optional, Sequence

import numpy as np

from pipeline.data.readers.base import (
    DEFAULT_THREADS,
    FrameTransform,
    PathLike,
    VideoMeta,
    VideoReader,
    VideoReadError,
)

DEFAULT_DECODE_TIMEOUT = 300.0  # seconds a decoder may take to answer one call (open, a clip, a chunk)
_CHILD_MAIN = "from pipeline.data.readers.isolated import serve; serve()"
_STARTUP_TIMEOUT = 300.0  # a fresh interpreter importing the decoders (not torch), on a busy machine


class DecoderProcess:
    """A child interpreter that runs one reader at a time; replaced after it crashes or hangs."""

    def __init__(self) -> None:
        self._proc: Optional[subprocess.Popen] = None
        self._requests: Optional[Connection] = None
        self._answers: Optional[Connection] = None
        self._owner = os.getpid()

    def _start(self) -> None:
        answers_read, answers_write = os.pipe()
        requests_read, requests_write = os.pipe()
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)  # custom reader modules import there too
        self._proc = subprocess.Popen(
            [sys.executable, "-c", _CHILD_MAIN, str(requests_read), str(answers_write)],
            pass_fds=(requests_read, answers_write),
            env=env,
            stdin=subprocess.DEVNULL,
            # FFmpeg and decord print their complaints about broken files here; the error that names the
            # file says what matters. RNN_AR_DEBUG=1 shows them.
            stderr=None if os.environ.get("RNN_AR_DEBUG") == "1" else subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C reaches the parent only; the child ends when its pipe closes
        )
        os.close(requests_read)
        os.close(answers_write)
        self._requests = Connection(requests_write, readable=False)
        self._answers = Connection(answers_read, writable=False)
        # The per-call timeout is for decoding: wait for the child's imports separately.
        try:
            ready = self._answers.poll(_STARTUP_TIMEOUT) and self._answers.recv() == ("ready", None)
        except (EOFError, OSError):
            ready = False
        if not ready:
            self.stop()
            raise RuntimeError(f"the decoding process did not start within {_STARTUP_TIMEOUT:g} s")

    @property
    def pid(self) -> Optional[int]:
        """The running child's process id (None when none runs)."""
        return self._proc.pid if self.alive() else None

    def alive(self) -> bool:
        """Whether a child is running (and belongs to this process)."""
        return self._owner == os.getpid() and self._proc is not None and self._proc.poll() is None

    def call(self, path: str, timeout: float, name: str, *args: Any) -> Iterator[Any]:
        """Run `name(*args)` in the child; yields its answer, or each item of a streamed answer."""
        if self._owner != os.getpid():  # inherited through a fork (a DataLoader worker): not ours
            self._proc = self._requests = self._answers = None
            self._owner = os.getpid()
        if not self.alive():
            self._start()
        finished = False
        try:
            try:
                self._requests.send((name, args))
            except OSError:
                raise self._crashed(path) from None
            while True:
                if not self._answers.poll(timeout):
                    raise VideoReadError(
                        path, f"the decoder did not answer within {timeout:g} s and was stopped", "decoder_timeout"
                    )
                try:
                    kind, value = self._answers.recv()
                except (EOFError, OSError):
                    raise self._crashed(path) from None
                if kind == "error":
                    finished = True
                    raise value
                if kind == "end":
                    finished = True
                    return
                finished = kind == "value"
                yield value
                if finished:
                    return
        finally:
            if not finished:  # a timeout, a crash, or a caller that stopped reading mid-stream
                self.stop()

    def _crashed(self, path: str) -> VideoReadError:
        code = self._proc.wait() if self._proc is not None else None
        self.stop()
        how = f"exit status {code}"
        if code is not None and code < 0:
            try:
                how = f"signal {signal.Signals(-code).name}"
            except ValueError:
                how = f"signal {-code}"
        return VideoReadError(path, f"the decoder process died ({how}) on this file", "decoder_crashed")

    def stop(self) -> None:
        """Stop the child now; the next call starts a fresh one."""
        if self._owner != os.getpid():  # a fork's copy: the child is the parent's to stop
            self._proc = self._requests = self._answers = None
            return
        for conn in (self._requests, self._answers):
            if conn is not None:
                conn.close()
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self._proc = self._requests = self._answers = None


DECODER = DecoderProcess()  # one per process; DataLoader workers each start their own on first use
atexit.register(DECODER.stop)


class IsolatedReader(VideoReader):
    """A `VideoReader` whose decoder runs in this process's `DecoderProcess` child."""

    def __init__(
        self, path: PathLike, backend: str, timeout: float = DEFAULT_DECODE_TIMEOUT, threads: int = DEFAULT_THREADS
    ) -> None:
        super().__init__(path)  # missing and empty files are told apart here, without a child
        self.timeout = timeout
        self._open = False
        self._meta = self._ask("open", self.path, backend, threads)
        self._open = True
        self.name = self._meta.backend

    def _ask(self, name: str, *args: Any) -> Any:
        return next(DECODER.call(self.path, self.timeout, name, *args))

    def get_frames(self, indices: Sequence[int], transform: FrameTransform | None = None) -> np.ndarray:
        return self._ask("frames", [int(i) for i in indices], transform)

    def iter_frames(
        self, indices: Sequence[int], chunk_size: int, transform: FrameTransform | None = None
    ) -> Iterator[np.ndarray]:
        yield from DECODER.call(self.path, self.timeout, "chunks", [int(i) for i in indices], chunk_size, transform)

    def _read_sorted(self, indices: list[int]) -> np.ndarray:
        return self.get_frames(indices)

    def close(self) -> None:
        if self._open and DECODER.alive():
            self._open = False
            try:
                self._ask("close")
            except VideoReadError:
                pass
        self._open = False


# ---------------------------------------------------------------------------------- the child's side


class _ChildReader:
    """The calls a child serves, on the one reader it holds open."""

    def __init__(self) -> None:
        self.reader: Optional[VideoReader] = None

    def open(self, path: str, backend: str, threads: int) -> VideoMeta:
        from pipeline.data.readers import open_video

        self.close()
        self.reader = open_video(path, backend, threads=threads)
        return self.reader.meta

    def frames(self, indices: list[int], transform: FrameTransform | None) -> np.ndarray:
        return self.reader.get_frames(indices, transform)

    def chunks(self, indices: list[int], chunk_size: int, transform: FrameTransform | None) -> Iterator[np.ndarray]:
        return self.reader.iter_frames(indices, chunk_size, transform)

    def close(self) -> None:
        if self.reader is not None:
            self.reader.close()
        self.reader = None


def _serve(requests: Connection, answers: Connection) -> None:
    """Answer calls until the parent closes the pipe."""
    import pipeline.data.readers  # noqa: F401  imported before "ready": not counted in any call's time
    import pipeline.data.transforms  # noqa: F401  (frames are resized here: cv2; torch is never loaded)

    state = _ChildReader()
    answers.send(("ready", None))
    while True:
        try:
            name, args = requests.recv()
        except (EOFError, OSError):
            return
        try:
            result = getattr(state, name)(*args)
            if name == "chunks":
                for chunk in result:
                    answers.send(("item", chunk))
                answers.send(("end", None))
            else:
                answers.send(("value", result))
        except Exception as exc:  # one file's error, re-raised in the parent
            if not isinstance(exc, VideoReadError):
                path = state.reader.path if state.reader is not None else (args[0] if args else "?")
                exc = VideoReadError(path, f"{type(exc).__name__}: {exc}", "decode_error")
            answers.send(("error", exc))


def serve() -> None:
    """The child's main: decode with one thread, ignore Ctrl-C (the parent decides), answer calls."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        import cv2

        cv2.setNumThreads(1)
    except ImportError:
        pass
    _serve(Connection(int(sys.argv[1]), writable=False), Connection(int(sys.argv[2]), readable=False))
