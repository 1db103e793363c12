"""Backgrounds of the motion set: still frames taken from real videos (or, without any, a procedural
scene), cropped at a random place and scale and panned slowly across the clip.

    load_background_frames   a few frames of every readable video in a folder, read with the project's readers
    procedural_background    a textured scene (sky, ground, blocks) for users without a folder of videos
    panned_background        one clip's background, uint8 [T,H,W,3]: a crop sliding from one place to another

Every class draws its background the same way, from the same pool, so a background says nothing about the class.
"""
from __future__ import annotations

import logging
import math
import os
from pathlib import Path
from typing import List, Optional, Union

import cv2
import numpy as np

from pipeline.data.annotations.discovery import find_videos
from pipeline.data.readers import VideoReader, VideoReadError, read_with_fallback
from pipeline.demo.drawing import hsv_colour, rgb_tuple
from pipeline.errors import InputError

PathLike = Union[str, "os.PathLike[str]"]
log = logging.getLogger(__name__)

# ../shared/data/real-videos beside the repository, where the project keeps third-party clips (absent in a fresh clone).
DEFAULT_BACKGROUNDS = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "real-videos"
FRAMES_PER_VIDEO = 4
MAX_ZOOM = 1.5  # a crop shows between 1/MAX_ZOOM and all of the largest crop of the output's shape
PAN_ROOM = 1.1  # the crop is this much smaller than it could be, to leave room to pan
MAX_PAN = 0.08  # the furthest a crop slides over a clip, as a fraction of its width


def default_backgrounds() -> Optional[Path]:
    """The folder of real videos beside the repository, or None where it does not exist."""
    return DEFAULT_BACKGROUNDS if DEFAULT_BACKGROUNDS.is_dir() else None


def _spread_frames(reader: VideoReader) -> np.ndarray:
    count = reader.meta.num_frames
    return reader.get_frames(sorted({int(count * (i + 0.5) / FRAMES_PER_VIDEO) for i in range(FRAMES_PER_VIDEO)}))


def load_background_frames(folder: PathLike, height: int) -> List[np.ndarray]:
    """`FRAMES_PER_VIDEO` frames (uint8 [h,w,3]) spread over every readable video under `folder`, in sorted
    file order, shrunk to at most `height` * MAX_ZOOM * PAN_ROOM rows. A video no decoder reads is skipped
    (logged); a folder without any readable video is an `InputError`."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: background folder does not exist")
    limit = int(math.ceil(height * MAX_ZOOM * PAN_ROOM))
    frames: List[np.ndarray] = []
    for path in find_videos(folder):
        try:
            picked = read_with_fallback(path, "auto", _spread_frames)
        except VideoReadError as exc:
            log.warning("%s; not used as a background", exc)
            continue
        for frame in picked:
            if frame.shape[0] > limit:
                width = int(round(frame.shape[1] * limit / frame.shape[0]))
                frame = cv2.resize(frame, (width, limit), interpolation=cv2.INTER_AREA)
            frames.append(np.ascontiguousarray(frame))
    if not frames:
        raise InputError(f"{folder}: no readable video to take background frames from")
    return frames


def procedural_background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A textured outdoor-like scene, uint8 [H,W,3]: sky and ground split at a random horizon, blocks
    standing on it, low-frequency texture and grain."""
    rows = ((np.arange(height) + 0.5) / height)[:, None, None]
    horizon, softness = rng.uniform(0.3, 0.7), rng.uniform(0.01, 0.08)
    sky = hsv_colour(rng.uniform(0.5, 0.7), rng.uniform(0.05, 0.5), rng.uniform(0.5, 0.95))
    ground = hsv_colour(rng.random(), rng.uniform(0.1, 0.6), rng.uniform(0.2, 0.7))
    step = 1 / (1 + np.exp(-(rows - horizon) / softness))
    img = np.broadcast_to(sky * (1 - step) + ground * step, (height, width, 3)).astype(np.float32).copy()
    for _ in range(int(rng.integers(3, 9))):
        block_w, block_h = rng.uniform(0.05, 0.3) * width, rng.uniform(0.1, 0.5) * height
        left = rng.uniform(-0.1, 1.0) * width
        bottom = (horizon + rng.uniform(0.0, 0.1)) * height
        colour = hsv_colour(rng.random(), rng.uniform(0.0, 0.7), rng.uniform(0.15, 0.9))
        cv2.rectangle(img, (int(left), int(bottom - block_h)), (int(left + block_w), int(bottom)),
                      rgb_tuple(colour), -1)
    coarse = rng.normal(0, 1, (height // 8 + 2, width // 8 + 2, 3)).astype(np.float32)
    texture = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.5, 2.0))
    img += texture * rng.uniform(5, 20) + rng.normal(0, 3, img.shape).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


def panned_background(source: np.ndarray, rng: np.random.Generator, height: int, width: int,
                      shake: np.ndarray) -> np.ndarray:
    """A crop of `source` with the output's shape, at a random scale, sliding in a straight line (random
    direction) across the clip and moved by the camera's `shake` (pixels [T,2]): uint8 [T,H,W,3]. Start
    and end are drawn alike (played backwards, the pan is as likely); the source is mirrored half the time."""
    num_frames = len(shake)
    if rng.random() < 0.5:
        source = source[:, ::-1]
    src_h, src_w = source.shape[:2]
    largest = min(src_h, src_w * height / width)  # the tallest crop of the output's shape
    crop_h = largest / (rng.uniform(1.0, MAX_ZOOM) * PAN_ROOM)
    crop_w = crop_h * width / height
    room = np.array([src_w - crop_w, src_h - crop_h])
    shift = np.clip(rng.uniform(-1, 1, 2) * MAX_PAN * crop_w * np.array([1.0, 0.4]), -room, room)
    middle = np.abs(shift) / 2 + rng.random(2) * (room - np.abs(shift))  # the crop's corner half-way
    scale = crop_h / height
    brightness = rng.uniform(0.8, 1.1)
    frames = np.empty((num_frames, height, width, 3), dtype=np.uint8)
    for t in range(num_frames):
        corner = middle + shift * (t / max(num_frames - 1, 1) - 0.5) - shake[t] * scale
        matrix = np.float32([[scale, 0, corner[0]], [0, scale, corner[1]]])  # output pixel -> source pixel
        frame = cv2.warpAffine(source, matrix, (width, height), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                               borderMode=cv2.BORDER_REFLECT_101)
        frames[t] = cv2.convertScaleAbs(frame, alpha=brightness)
    return frames
