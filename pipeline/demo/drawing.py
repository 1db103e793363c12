"""Drawing helpers shared by the demo scenes: sub-pixel cv2 coordinates, colours, motion curves,
the hand-held camera, and the frame finish (camera shift, mirror, sensor noise).

Coordinates in the scenes are fractions of the frame side (x right, y down); cv2 draws them in
fixed point with `FIXED_POINT_BITS` fractional bits, so motion is smooth below a pixel.

Blending and the camera shift are integer arithmetic here rather than cv2.addWeighted and
cv2.warpAffine, whose results depend on the SIMD code OpenCV picks for the CPU (with AVX2 disabled,
every football clip's frames changed), so the CPU that renders a seed does not change its frames.
"""
from __future__ import annotations

import colorsys
import math
from typing import Tuple

import cv2
import numpy as np

FIXED_POINT_BITS = 4  # cv2's `shift`: sub-pixel bits of every drawn coordinate
ANTIALIASED = cv2.LINE_AA
BLEND_BITS = 15  # fractional bits of a blend weight
SHIFT_BITS = 5  # the camera shift moves in steps of 1/32 pixel, as cv2's bilinear warp does


def check_frame_size(size: int) -> None:
    """Refuse a frame side that H.264 (even sides) or the scenes (room to draw) cannot use."""
    if size < 16 or size % 2:
        raise ValueError(f"size must be an even number of pixels >= 16, got {size}")


def fixed(value: float, size: int) -> int:
    """A normalised length or coordinate as a fixed-point pixel value for cv2."""
    return int(round(value * size * (1 << FIXED_POINT_BITS)))


def fixed_point(x: float, y: float, size: int) -> Tuple[int, int]:
    """A normalised (x, y) as a fixed-point cv2 point."""
    return fixed(x, size), fixed(y, size)


def fixed_polyline(points: np.ndarray, size: int) -> np.ndarray:
    """Normalised points [N,2] as fixed-point int32 pixel points for cv2.polylines."""
    return np.round(points * size * (1 << FIXED_POINT_BITS)).astype(np.int32)


def hsv_colour(hue: float, saturation: float, value: float) -> np.ndarray:
    """An RGB colour, float32 [3] in 0..255, from HSV in 0..1 (the hue wraps round)."""
    return np.array(colorsys.hsv_to_rgb(hue % 1.0, saturation, value), dtype=np.float32) * 255.0


def ease_out(progress: np.ndarray) -> np.ndarray:
    """A rolling ball slowing down: fast start, gentle stop."""
    return 1.0 - (1.0 - progress) ** 2


def lofted_height(progress: np.ndarray, height: float, peak: float) -> np.ndarray:
    """Height of a lofted ball: 0 at progress 0 and 1, `height` at progress `peak`."""
    if height <= 0:
        return np.zeros_like(progress)
    exponent = math.log(0.5) / math.log(peak)
    return height * np.sin(np.pi * np.clip(progress, 0, 1) ** exponent)


def camera_jitter(num_frames: int, rng: np.random.Generator, size: int, scale: float) -> np.ndarray:
    """Per-frame camera offsets in pixels [T,2]: a damped random walk (a hand-held camera)."""
    sigma = rng.uniform(0.3, 1.0) * scale * size
    offsets = np.zeros((num_frames, 2))
    for t in range(1, num_frames):
        offsets[t] = 0.75 * offsets[t - 1] + rng.normal(0, sigma, 2)
    return np.clip(offsets, -0.04 * size, 0.04 * size)


def blend(top: np.ndarray, alpha: float, bottom: np.ndarray) -> np.ndarray:
    """`top` * `alpha` + `bottom` * (1 - `alpha`), rounded: uint8 images of one shape in, uint8 out."""
    one = 1 << BLEND_BITS
    weight = int(round(alpha * one))
    total = top.astype(np.int32) * weight + bottom.astype(np.int32) * (one - weight)
    return ((total + one // 2) >> BLEND_BITS).astype(np.uint8)


def shift_frame(frame: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """`frame` uint8 [H,W,C] moved right by `dx` and down by `dy` pixels: bilinear, with borders mirrored
    as cv2's BORDER_REFLECT_101 (`dx`, `dy` smaller than the frame)."""
    height, width = frame.shape[:2]
    one = 1 << SHIFT_BITS
    # Output pixel x reads the source at x - dx: an integer step and a fraction in 1/32 pixel.
    step_x, step_y = int(round(-dx * one)), int(round(-dy * one))
    ix, fx = step_x >> SHIFT_BITS, step_x & (one - 1)
    iy, fy = step_y >> SHIFT_BITS, step_y & (one - 1)
    pad = max(abs(ix), abs(iy)) + 1
    padded = np.pad(frame, ((pad, pad), (pad, pad), (0, 0)), mode="reflect").astype(np.int32)

    def source(down: int, right: int) -> np.ndarray:
        top, left = pad + iy + down, pad + ix + right
        return padded[top:top + height, left:left + width]

    total = ((source(0, 0) * (one - fx) + source(0, 1) * fx) * (one - fy)
             + (source(1, 0) * (one - fx) + source(1, 1) * fx) * fy)
    return ((total + one * one // 2) >> (2 * SHIFT_BITS)).astype(np.uint8)


def finish_frame(frame: np.ndarray, offset: np.ndarray, noise: np.ndarray, mirror: bool) -> np.ndarray:
    """Camera shift, mirror and sensor noise: uint8 [H,W,3] in, uint8 [H,W,3] out."""
    frame = shift_frame(frame, float(offset[0]), float(offset[1]))
    if mirror:
        frame = frame[:, ::-1]
    return np.clip(frame.astype(np.float32) + noise, 0, 255).astype(np.uint8)


def rgb_tuple(colour: np.ndarray) -> Tuple[int, ...]:
    """A colour array as the tuple of ints cv2 draws with."""
    return tuple(int(channel) for channel in colour)
