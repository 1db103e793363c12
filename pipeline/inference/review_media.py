"""What the review page (pipeline.inference.review_page) shows of each video: the file itself when a browser
plays it, else a small proxy, else a strip of frames.

A browser's `<video>` element plays few formats, and not the same ones everywhere. The rule here is the
common ground of current Chrome, Edge, Firefox and Safari, decided from what PyAV's demuxer says of the
first video stream (`probe_media`, no frame decoded):

- H.264 (8-bit 4:2:0) in an .mp4, .m4v or .mkv file;
- VP8 in a .webm or .mkv file;
- VP9 or AV1 (8- or 10-bit 4:2:0) in an .mp4, .m4v, .webm or .mkv file.

Anything else (raw AVI, MPEG-4 part 2 in AVI or MP4, Motion JPEG, HEVC, H.264 in 4:4:4 or 10 bits, a .mov
file) gets a proxy: the same frames at most `PROXY_HEIGHT` pixels high, H.264 in an .mp4 (VP8 in a .webm
where PyAV has no H.264 encoder), one frame for each decodable frame of the file at the file's frame rate,
so that frame i is shown at i / fps seconds: the time the timeline gave it (pipeline.data.sampling.
window_frames). The frames are read by the project's read path (`iter_with_fallback`: decoded in a
disposable child process, resized there, every installed decoder tried), so a file the timeline read is
read the same way here. When no proxy can be made, `write_strip` draws a few frames of the file in one PNG.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from pipeline.atomic_io import atomic_path
from pipeline.data.readers import VideoReader, iter_with_fallback, read_with_fallback

PROXY_HEIGHT = 240  # pixels; proxies of taller videos are scaled down to this height
PROXY_CRF = 28  # x264 quality: small files, enough to see what happens
STRIP_FRAMES = 8
STRIP_HEIGHT = 90
CHUNK_FRAMES = 64  # frames decoded, resized and encoded at a time

_MP4_FAMILY = "mp4"  # PyAV's demuxer name for mp4/m4v/mov: "mov,mp4,m4a,3gp,3g2,mj2"
_MATROSKA_FAMILY = "matroska"  # for mkv and webm: "matroska,webm"
_PLAYABLE = {  # suffix -> (demuxer family, codecs a browser plays in it)
    ".mp4": (_MP4_FAMILY, {"h264", "vp9", "av1"}),
    ".m4v": (_MP4_FAMILY, {"h264", "vp9", "av1"}),
    ".webm": (_MATROSKA_FAMILY, {"vp8", "vp9", "av1"}),
    ".mkv": (_MATROSKA_FAMILY, {"h264", "vp8", "vp9", "av1"}),
}
_EIGHT_BIT_420 = {"yuv420p", "yuvj420p"}
_TEN_BIT_420 = {"yuv420p10le", "yuv420p10be"}
# (encoder, container format, suffix): the first one this PyAV can encode with makes the proxies
_PROXY_ENCODERS = (("libx264", "mp4", ".mp4"), ("libvpx", "webm", ".webm"))


@dataclass(frozen=True)
class MediaInfo:
    """What PyAV's demuxer says of a file's first video stream."""

    container: str  # the demuxer's name: "mov,mp4,m4a,3gp,3g2,mj2", "avi", "matroska,webm"
    codec: str  # the codec's canonical name: "h264", "mpeg4", "rawvideo", "vp9"
    pix_fmt: str  # "yuv420p", "bgr24"; "" when unknown

    def describe(self) -> str:
        """"mpeg4 (yuv420p) in avi": for the page's notes."""
        pixels = f" ({self.pix_fmt})" if self.pix_fmt else ""
        names = self.container.split(",")
        container = _MP4_FAMILY if _MP4_FAMILY in names else names[0] or "an unknown container"
        return f"{self.codec or 'an unknown codec'}{pixels} in {container}"


class MediaError(ValueError):
    """A file PyAV's demuxer cannot open, or one without a video stream; the message names the file."""


def probe_media(path: os.PathLike) -> MediaInfo:
    """The container, codec and pixel format of `path`'s first video stream; MediaError naming the file and
    the cause when PyAV cannot open it or it has no video stream."""
    from pipeline.data.readers.base import open_container

    try:
        with open_container(str(path)) as container:
            if not container.streams.video:
                raise MediaError(f"{path}: no video stream")
            context = container.streams.video[0].codec_context
            codec = getattr(context.codec, "canonical_name", "") or context.name or ""
            return MediaInfo(container.format.name or "", codec, context.pix_fmt or "")
    except MediaError:
        raise
    except Exception as exc:  # PyAV's errors (FFmpegError subclasses OSError or ValueError), named with the file
        message = " ".join(str(getattr(exc, "strerror", None) or exc).split()) or type(exc).__name__
        raise MediaError(f"{path}: PyAV cannot open it: {message}") from exc


def browser_plays(path: os.PathLike, info: MediaInfo) -> bool:
    """Whether current browsers play `path` as it is (the rule of the module docstring)."""
    family, codecs = _PLAYABLE.get(Path(path).suffix.lower(), ("", set()))
    if not family or family not in info.container.split(",") or info.codec not in codecs:
        return False
    if info.pix_fmt in _EIGHT_BIT_420:
        return True
    return info.codec in ("vp9", "av1") and info.pix_fmt in _TEN_BIT_420


def proxy_suffix() -> Optional[str]:
    """The suffix of the proxies this PyAV writes (".mp4", or ".webm" without an H.264 encoder); None when
    it has neither encoder."""
    encoder = _proxy_encoder()
    return encoder[2] if encoder else None


def _proxy_encoder() -> Optional[Tuple[str, str, str]]:
    import av

    for name, container, suffix in _PROXY_ENCODERS:
        try:
            av.codec.Codec(name, "w")
        except Exception:
            continue
        return name, container, suffix
    return None


class ProxySize:
    """A picklable frame transform (it runs in the decoding child): frames scaled to at most `height`
    pixels high, both sides even (H.264's 4:2:0 needs it). Readers that resize decode straight to
    `scaled_size`; frames already at that size pass unchanged."""

    def __init__(self, height: int = PROXY_HEIGHT) -> None:
        self.height = height

    def scaled_size(self, height: int, width: int) -> Tuple[int, int]:
        """(new_h, new_w) a `height` x `width` frame becomes."""
        new_h = max(2, min(self.height, height) // 2 * 2)
        new_w = max(2, int(round(width * new_h / height / 2)) * 2)
        return new_h, new_w

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        """uint8 [T,H,W,3] -> uint8 [T,h,w,3]."""
        import cv2

        height, width = frames.shape[1:3]
        size = self.scaled_size(height, width)
        if size == (height, width):
            return frames
        out = np.empty((len(frames), *size, 3), dtype=np.uint8)
        for i, frame in enumerate(frames):
            out[i] = cv2.resize(frame, (size[1], size[0]), interpolation=cv2.INTER_AREA)
        return out

    def __repr__(self) -> str:
        return f"ProxySize({self.height})"


def write_proxy(source: os.PathLike, target: os.PathLike, backend: str = "auto", height: int = PROXY_HEIGHT) -> Path:
    """Encode `source` again, at most `height` pixels high, into `target` (its suffix: `proxy_suffix()`),
    atomically: every decodable frame at the file's frame rate (frame i at i / fps seconds). Raises
    ValueError naming the file when this PyAV has no proxy encoder, `VideoReadError` when no decoder reads
    the file, and PyAV's errors when encoding fails."""
    import av

    encoder = _proxy_encoder()
    if encoder is None:
        raise ValueError(f"{source}: no proxy can be made: this PyAV has neither an H.264 nor a VP8 encoder")
    name, container_format, _ = encoder
    target = Path(target)
    transform = ProxySize(height)

    def chunks(reader: VideoReader) -> Iterator[Tuple[float, np.ndarray]]:
        fps = reader.meta.fps
        yield from ((fps, frames) for frames in reader.iter_frames(range(reader.meta.num_frames), CHUNK_FRAMES,
                                                                    transform))

    options = {"movflags": "+faststart"} if container_format == "mp4" else {}
    with atomic_path(target) as tmp, av.open(str(tmp), mode="w", format=container_format, options=options) as out:
        stream, pts = None, 0
        for fps, frames in iter_with_fallback(str(source), backend, chunks):
            if stream is None:
                stream = _open_stream(out, name, fps, *frames.shape[1:3])
            for frame in frames:
                picture = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
                picture.pts = pts
                pts += 1
                for packet in stream.encode(picture):
                    out.mux(packet)
        if stream is None:
            raise ValueError(f"{source}: no frame could be decoded for its proxy")
        for packet in stream.encode():
            out.mux(packet)
    return target


def _open_stream(container: Any, encoder: str, fps: float, height: int, width: int) -> Any:
    rate = Fraction(fps if fps > 0 else 25.0).limit_denominator(1001)
    stream = container.add_stream(encoder, rate=rate)
    stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
    stream.codec_context.time_base = 1 / rate
    stream.codec_context.gop_size = max(1, int(round(float(rate))))  # a keyframe a second: quick seeks
    if encoder == "libx264":
        stream.options = {"crf": str(PROXY_CRF), "preset": "veryfast"}
    else:
        stream.options = {"crf": "40", "b": "300k", "deadline": "realtime", "cpu-used": "8"}
    return stream


def write_strip(source: os.PathLike, target: os.PathLike, backend: str = "auto", frames: int = STRIP_FRAMES,
                height: int = STRIP_HEIGHT) -> List[float]:
    """`frames` frames spread over `source` side by side in one PNG (`target`, atomically), each headed by
    its index; returns their times (seconds, index / fps). Raises `VideoReadError` when no decoder reads
    the file."""
    from PIL import Image

    from pipeline.core.figures import frame_strip, resize_height

    def job(reader: VideoReader) -> Tuple[np.ndarray, List[int], float]:
        meta = reader.meta
        count = max(1, min(frames, meta.num_frames))
        indices = sorted({int(round(i)) for i in np.linspace(0, max(meta.num_frames - 1, 0), count)})
        return reader.get_frames(indices), indices, meta.fps

    pictures, indices, fps = read_with_fallback(str(source), backend, job)
    fps = fps if fps > 0 else 25.0
    times = [round(i / fps, 3) for i in indices]
    image = frame_strip(np.stack([resize_height(f, height) for f in pictures]), indices,
                        [f"{Path(source).name}: frames at " + ", ".join(f"{t:g} s" for t in times)])
    with atomic_path(target) as tmp:
        Image.fromarray(image).save(tmp, format="PNG")
    return times


def is_fresh(derived: Path, sources: Sequence[Path]) -> bool:
    """Whether `derived` exists and is newer than every file of `sources` (a proxy made by an earlier run of
    the same video is reused)."""
    try:
        made = derived.stat().st_mtime
        return all(made >= source.stat().st_mtime for source in sources)
    except OSError:
        return False
