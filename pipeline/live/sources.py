"""Where live frames come from, and how each becomes the CNN's input.

A source is a camera index (`0`: OpenCV's capture), a URL that FFmpeg opens (`rtsp://`, `udp://`,
`srt://`, `rtmp://`, `http(s)://`, HLS: PyAV), a video file (PyAV), or `-`: an MPEG-TS stream on
standard input (PyAV reading `pipe:0`). `open_source` opens one and gives an `OpenSource`: its frame
rate and an iterator of decoded frames; an error or `timeout` seconds without data ends the
iterator with `SourceStalled`, so that the reader can reopen it. A source that cannot be opened at
all raises `SourceError` (an input error: exit status 4).

`FrameConverter` turns a decoded frame into uint8 [c,c,3] exactly as `predict.py --timeline` does
with the PyAV decoder: swscale converts to RGB and shrinks (area averaging) in one call where the
readers would, then `ResizeCrop` crops. Only the frames a window uses are converted.
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Any, Dict, Iterator, Optional, Tuple

import numpy as np

from models.preprocessing import WINDOW_FITS, Preprocessing
from pipeline.data.transforms import ResizeCrop
from pipeline.errors import InputError, UsageError

CAMERA, NETWORK, FILE, STDIN = "camera", "network", "file", "stdin"
# Options FFmpeg's protocols take; unknown ones are ignored by the others.
_NETWORK_OPTIONS: Dict[str, Dict[str, str]] = {
    "rtsp": {"rtsp_transport": "tcp"},  # lost UDP packets would corrupt frames
    "udp": {"overrun_nonfatal": "1", "fifo_size": "100000"},
}
_PROBE_OPTIONS = {"analyzeduration": "2000000"}  # microseconds FFmpeg may read to find the stream's format


class SourceError(InputError):
    """A source that cannot be opened (no such file, unreachable URL, no camera): names it and why."""


class SourceStalled(Exception):
    """An open source failed or delivered nothing for its timeout; the reader reopens it."""


@dataclass(frozen=True)
class Source:
    """A parsed --source: what the user wrote and what kind of source it is."""

    text: str
    kind: str

    @property
    def reconnects(self) -> bool:
        """Whether a failure or stall is a gap to wait out (network, camera) rather than the end."""
        return self.kind in (NETWORK, CAMERA)


def parse_source(text: str) -> Source:
    """`-` (stdin), a camera index, a URL (scheme://...) or a file, which must exist."""
    text = str(text)
    if text == "-":
        return Source(text, STDIN)
    if text.isdigit():
        return Source(text, CAMERA)
    if "://" in text and not text.lower().startswith("file://"):
        return Source(text, NETWORK)
    path = text[len("file://"):] if text.lower().startswith("file://") else text
    if not os.path.exists(path):
        raise SourceError(f"{path}: no such file (a source is a file, a URL, a camera index or - for stdin)")
    if os.path.isdir(path):
        raise SourceError(f"{path}: a folder; a source is one video file, a URL, a camera index or -")
    return Source(path, FILE)


class OpenSource:
    """An opened source: `fps`, `frames()` (decoded frames, each a PyAV VideoFrame or an RGB uint8
    ndarray), `frame_time(frame)` (seconds in the stream, for --realtime pacing), `close()`."""

    fps: float

    def frames(self) -> Iterator[Any]:
        raise NotImplementedError

    def frame_time(self, frame: Any) -> Optional[float]:
        return None

    def close(self) -> None:
        pass


class _PyAVSource(OpenSource):
    def __init__(self, source: Source, timeout: float, fps: Optional[float]):
        import av

        av.logging.set_level(av.logging.PANIC)
        self._av = av
        url, options, fmt = source.text, dict(_PROBE_OPTIONS), None
        if source.kind == STDIN:
            url, fmt = "pipe:0", "mpegts"
        elif source.kind == NETWORK:
            options.update(_NETWORK_OPTIONS.get(source.text.split("://", 1)[0].lower(), {}))
        try:
            self.container = av.open(url, format=fmt, options=options, timeout=(timeout, timeout))
        except Exception as exc:
            raise SourceError(f"{source.text}: cannot be opened ({_reason(exc)})") from exc
        if not self.container.streams.video:
            self.container.close()
            raise SourceError(f"{source.text}: has no video stream")
        self.stream = self.container.streams.video[0]
        self.stream.thread_count = 1  # frame threads would delay every frame by their number
        rate = fps or self.stream.average_rate or self.stream.guessed_rate or self.stream.base_rate
        self.fps = float(rate) if rate else 0.0
        if not self.fps > 0:
            self.container.close()
            raise UsageError(f"{source.text}: the stream does not say its frame rate; give it with --fps")

    def frames(self) -> Iterator[Any]:
        decoder = self.stream.codec_context
        try:
            for packet in self.container.demux(self.stream):
                try:
                    yield from packet.decode()
                except self._av.error.InvalidDataError:
                    continue  # one damaged packet (a lost datagram): the decoder recovers at the next
        except self._av.error.EOFError:
            pass
        except Exception as exc:
            yield from self._flush(decoder)
            raise SourceStalled(_reason(exc)) from exc
        yield from self._flush(decoder)

    def _flush(self, decoder: Any) -> Iterator[Any]:
        try:
            yield from decoder.decode(None)  # the frames the decoder still holds (B-frame delay)
        except Exception:
            return

    def frame_time(self, frame: Any) -> Optional[float]:
        return None if frame.pts is None else float(frame.pts * self.stream.time_base)

    def close(self) -> None:
        try:
            self.container.close()
        except Exception:
            pass


class _CameraSource(OpenSource):
    def __init__(self, source: Source, fps: Optional[float]):
        import cv2

        self._cv2 = cv2
        self.capture = cv2.VideoCapture(int(source.text))
        if not self.capture.isOpened():
            self.capture.release()
            raise SourceError(f"camera {source.text}: cannot be opened (no such camera, or it is busy)")
        self.fps = float(fps or self.capture.get(cv2.CAP_PROP_FPS) or 0.0)
        if not self.fps > 0:
            self.capture.release()
            raise UsageError(f"camera {source.text}: it does not say its frame rate; give it with --fps")

    def frames(self) -> Iterator[Any]:
        while True:
            ok, frame = self.capture.read()
            if not ok:
                raise SourceStalled("the camera delivered no frame")
            yield self._cv2.cvtColor(frame, self._cv2.COLOR_BGR2RGB)

    def close(self) -> None:
        self.capture.release()


def open_source(source: Source, timeout: float, fps: Optional[float] = None) -> OpenSource:
    """Open `source`; FFmpeg waits at most `timeout` seconds for it to open and for each read.
    `fps`: the frame rate to assume (None: the stream's own). Raises SourceError."""
    if source.kind == CAMERA:
        return _CameraSource(source, fps)
    return _PyAVSource(source, timeout, fps)


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    if "Immediate exit requested" in text:
        return "no data before the timeout"
    return text.split(": '")[0] if ": '" in text else text


class FrameConverter:
    """A decoded frame -> uint8 [c,c,3], as the timeline's PyAV reader makes it."""

    def __init__(self, preprocessing: Preprocessing):
        if preprocessing.fit in WINDOW_FITS:
            raise UsageError(f"this checkpoint fits frames by {preprocessing.fit!r}, which finds each video's "
                             f"motion window from the whole video first: a live stream has no whole video; "
                             f"use a checkpoint trained with the crop, pad or stretch fit")
        self.transform = ResizeCrop(preprocessing)
        self._local = threading.local()  # a swscale context per reader thread: they are not thread-safe
        self._sizes: Dict[Tuple[int, int], Optional[Tuple[int, int]]] = {}

    def decode_size(self, height: int, width: int) -> Optional[Tuple[int, int]]:
        """The size swscale shrinks a frame to before the crop, or None (as `VideoReader.size_for`)."""
        if (height, width) not in self._sizes:
            size = tuple(self.transform.scaled_size(height, width))
            fits = size[0] < height and size[1] < width and tuple(self.transform.scaled_size(*size)) == size
            self._sizes[(height, width)] = size if fits else None  # type: ignore[assignment]
        return self._sizes[(height, width)]

    def __call__(self, frame: Any) -> np.ndarray:
        if isinstance(frame, np.ndarray):
            return self.transform(frame[None])[0]
        reformatter = getattr(self._local, "reformatter", None)
        if reformatter is None:
            from av.video.reformatter import VideoReformatter

            reformatter = self._local.reformatter = VideoReformatter()  # keeps its context from frame to frame
        size = self.decode_size(frame.height, frame.width)
        height, width = size or (None, None)
        rgb = reformatter.reformat(frame, width=width, height=height, format="rgb24",
                                         interpolation="AREA" if size else None).to_ndarray()
        return self.transform(rgb[None])[0]
