"""The direction scene: a ball crossing a plain background among moving distractor shapes.

A right_to_left clip is the left_to_right clip of the same generator state played backwards, so both
classes have exactly the same frames and only their order tells them apart.
"""
from __future__ import annotations

import math
from typing import List, Tuple

import cv2
import numpy as np

from pipeline.demo.drawing import (
    ANTIALIASED,
    FIXED_POINT_BITS,
    camera_jitter,
    check_frame_size,
    finish_frame,
    fixed,
    fixed_point,
    hsv_colour,
    rgb_tuple,
)

DIRECTION_CLASSES = ("left_to_right", "right_to_left")


def render_direction_clip(
    direction: str, rng: np.random.Generator, size: int = 128, num_frames: int = 16
) -> np.ndarray:
    """A ball crossing the frame: uint8 [T,H,W,3] RGB.

    "right_to_left" is the "left_to_right" clip that the same generator state renders, reversed in
    time: same frames, opposite order.
    """
    if direction not in DIRECTION_CLASSES:
        raise ValueError(f"direction must be one of {DIRECTION_CLASSES}, got {direction!r}")
    check_frame_size(size)
    if num_frames < 2:
        raise ValueError(f"a direction clip needs at least 2 frames, got {num_frames}")
    background = _background(rng, size)
    radius = rng.uniform(0.06, 0.1)
    ball_colour = _ball_colour(background, rng)
    ball_x, ball_y = _ball_track(rng, num_frames)
    distractors = _distractors(rng, num_frames)
    offsets = camera_jitter(num_frames, rng, size, 0.004)
    noise_sigma = rng.uniform(1.0, 4.0)

    frames = np.empty((num_frames, size, size, 3), dtype=np.uint8)
    for t in range(num_frames):
        img = background.copy()
        for position, velocity, colour, half_size, rotation, spin in distractors:
            centre = position + velocity * t
            centre = np.abs((centre + 1) % 2 - 1)  # bounce off the frame edges (triangle wave in [0, 1])
            box = cv2.boxPoints(((centre[0] * size, centre[1] * size),
                                 (half_size[0] * 2 * size, half_size[1] * 2 * size), rotation + spin * t))
            cv2.fillPoly(img, [np.round(box * (1 << FIXED_POINT_BITS)).astype(np.int32)], colour, ANTIALIASED,
                         FIXED_POINT_BITS)
        ball_centre = fixed_point(ball_x[t], ball_y[t], size)
        cv2.circle(img, ball_centre, fixed(radius, size), ball_colour, -1, ANTIALIASED, FIXED_POINT_BITS)
        cv2.circle(img, ball_centre, fixed(radius, size), (20, 20, 20), 1, ANTIALIASED, FIXED_POINT_BITS)
        noise = rng.normal(0, noise_sigma, img.shape).astype(np.float32)
        frames[t] = finish_frame(img, offsets[t], noise, False)
    if direction == "right_to_left":
        frames = frames[::-1].copy()
    return frames


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """A two-colour gradient with a little grain: uint8 [S,S,3]."""
    coords = (np.arange(size) + 0.5) / size
    yy, xx = np.meshgrid(coords, coords, indexing="ij")
    colour_from = hsv_colour(rng.random(), rng.uniform(0.1, 0.6), rng.uniform(0.25, 0.75))
    colour_to = np.clip(colour_from + rng.normal(0, 40, 3), 0, 255)
    angle = rng.uniform(0, 2 * math.pi)
    ramp = np.clip((xx - 0.5) * math.cos(angle) + (yy - 0.5) * math.sin(angle) + 0.5, 0, 1)[..., None]
    background = colour_from * (1 - ramp) + colour_to * ramp + rng.normal(0, 3, (size, size, 3))
    return np.clip(background, 0, 255).astype(np.uint8)


def _ball_colour(background: np.ndarray, rng: np.random.Generator) -> Tuple[int, ...]:
    colour = hsv_colour(rng.random(), rng.uniform(0.0, 0.9), rng.uniform(0.85, 1.0))
    mean = background.reshape(-1, 3).mean(0)
    if np.abs(colour - mean).sum() < 150:
        colour = 255 - mean  # keep the ball visible on its background
    return rgb_tuple(colour)


def _ball_track(rng: np.random.Generator, num_frames: int) -> Tuple[np.ndarray, np.ndarray]:
    """Ball centre x [T] (left to right) and y [T]: uneven speed, a little wobble."""
    progress = np.arange(num_frames) / max(num_frames - 1, 1)
    x_start, x_end = rng.uniform(0.08, 0.22), rng.uniform(0.78, 0.92)
    speed_change = rng.uniform(-0.3, 0.3)  # some speed up, some slow down
    x = x_start + (x_end - x_start) * (progress + speed_change * progress * (1 - progress))
    amplitude, cycles, phase = rng.uniform(0, 0.06), rng.uniform(0.3, 1.5), rng.uniform(0, 2 * math.pi)
    wobble = amplitude * np.sin(2 * math.pi * cycles * progress + phase)
    y = rng.uniform(0.25, 0.75) + wobble
    return x, y


def _distractors(rng: np.random.Generator, num_frames: int) -> List[tuple]:
    """1-3 drifting, turning boxes: (position, velocity, colour, half size, rotation, spin) each."""
    distractors = []
    for _ in range(int(rng.integers(1, 4))):
        position = rng.uniform(0.1, 0.9, 2)
        velocity = rng.normal(0, 0.02, 2) * 16 / num_frames
        colour = rgb_tuple(hsv_colour(rng.random(), rng.uniform(0.4, 1.0), rng.uniform(0.3, 1.0)))
        half_size = rng.uniform(0.03, 0.07, 2)
        distractors.append((position, velocity, colour, half_size, rng.uniform(0, 180), rng.normal(0, 5)))
    return distractors
