"""Draws a football plan into frames: the pitch, the goal and net seen from above, the players,
the ball with its shadow, then camera jitter, mirroring and noise (see football_plan.py for the plan)."""
from __future__ import annotations

import math
from typing import Callable, Tuple

import cv2
import numpy as np

from pipeline.demo.drawing import (
    ANTIALIASED,
    FIXED_POINT_BITS,
    blend,
    camera_jitter,
    check_frame_size,
    finish_frame,
    fixed,
    fixed_point,
    fixed_polyline,
    hsv_colour,
    rgb_tuple,
)
from pipeline.demo.football_plan import BAR_HEIGHT, FootballPlan, football_trajectory

SHIRT_COLOURS = [
    (220, 30, 30), (30, 60, 220), (250, 210, 20), (250, 130, 20), (130, 40, 170),
    (20, 20, 20), (20, 200, 220), (230, 40, 160), (120, 20, 30), (40, 40, 110),
]
_BITS, _AA = FIXED_POINT_BITS, ANTIALIASED


def render_football_clip(
    label: str, rng: np.random.Generator, size: int = 128, num_frames: int = 40
) -> np.ndarray:
    """One football clip, `label` "goal" or "no_goal": uint8 [T,H,W,3] RGB, H = W = `size` (even)."""
    return football_clip(label, rng, size, num_frames)[0]


def football_clip(label: str, rng: np.random.Generator, size: int, num_frames: int
                  ) -> Tuple[np.ndarray, FootballPlan]:
    """The frames uint8 [T,S,S,3] of one football clip and the plan they show."""
    check_frame_size(size)
    plan = football_trajectory(label, rng, num_frames)
    return _render(plan, rng, size), plan


def _render(plan: FootballPlan, rng: np.random.Generator, size: int) -> np.ndarray:
    num_frames = plan.num_frames
    background = _pitch(plan, rng, size)
    goal_colour, goal_alpha = _goal_overlay(plan, rng, size)
    shirts = rng.permutation(len(SHIRT_COLOURS))
    team_shirt, keeper_shirt = SHIRT_COLOURS[shirts[0]], SHIRT_COLOURS[shirts[1]]
    hair = rgb_tuple(rng.uniform(10, 90) * np.array([1.0, 0.8, 0.6]))
    ball_tint = rgb_tuple(rng.uniform(230, 255, 3))
    offsets = camera_jitter(num_frames, rng, size, 0.006)
    noise_sigma = rng.uniform(2.0, 7.0)

    player_headings = [_headings(track) for track in plan.players_xy]
    keeper_heading = 0.0  # facing the field (the goal is on the right)
    travelled = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(plan.ball_xy, axis=0), axis=1))])
    spin = rng.uniform(0, 2 * math.pi) + travelled / plan.ball_radius

    frames = np.empty((num_frames, size, size, 3), dtype=np.uint8)
    for t in range(num_frames):
        img = background.copy()
        for track, headings in zip(plan.players_xy, player_headings):
            _draw_player(img, track[t], headings[t] + math.pi / 2, team_shirt, hair, size)
        _draw_player(img, plan.keeper_xy[t], keeper_heading + math.pi / 2, keeper_shirt, hair, size)

        xy, z = plan.ball_xy[t], plan.ball_z[t]
        radius = plan.ball_radius * (1.0 + 0.3 * z)  # a lofted ball is nearer the camera
        shadow = img.copy()
        # The shadow drifts away from a ball in the air: how a viewer from above judges its height.
        shadow_xy = xy + np.array([0.2, 0.3]) * plan.ball_radius + np.array([0.08, 0.12]) * z
        cv2.circle(shadow, fixed_point(shadow_xy[0], shadow_xy[1], size), fixed(plan.ball_radius, size), (0, 0, 0),
                   -1, _AA, _BITS)
        img = blend(shadow, 0.3, img)
        under_bar = z < BAR_HEIGHT
        if under_bar:  # the goal frame and net are drawn over it
            _draw_ball(img, xy, radius, spin[t], ball_tint, size)
        img = (img * (1 - goal_alpha) + goal_colour * goal_alpha).astype(np.uint8)
        if not under_bar:
            _draw_ball(img, xy, radius, spin[t], ball_tint, size)
        noise = rng.normal(0, noise_sigma, img.shape).astype(np.float32)
        frames[t] = finish_frame(img, offsets[t], noise, plan.mirrored)
    return frames


def _pitch(plan: FootballPlan, rng: np.random.Generator, size: int) -> np.ndarray:
    """The static background: grass, stripes, markings, the shaded floor of the net. uint8 [S,S,3]."""
    kind = rng.random()
    if kind < 0.65:  # green
        colour = hsv_colour(rng.uniform(0.22, 0.38), rng.uniform(0.45, 0.85), rng.uniform(0.35, 0.7))
    elif kind < 0.85:  # brown
        colour = hsv_colour(rng.uniform(0.07, 0.13), rng.uniform(0.35, 0.7), rng.uniform(0.35, 0.6))
    else:  # blue
        colour = hsv_colour(rng.uniform(0.5, 0.6), rng.uniform(0.35, 0.7), rng.uniform(0.35, 0.6))
    coords = (np.arange(size) + 0.5) / size
    yy, xx = np.meshgrid(coords, coords, indexing="ij")
    shade = np.ones((size, size), dtype=np.float32)
    if rng.random() < 0.8:  # mowing stripes
        angle = rng.choice([0.0, math.pi / 2, rng.uniform(0, math.pi)])
        along = xx * math.cos(angle) + yy * math.sin(angle)
        width = rng.uniform(0.07, 0.18)
        shade += rng.uniform(0.05, 0.12) * np.where(np.floor(along / width) % 2 == 0, 1.0, -1.0)
    light_angle = rng.uniform(0, 2 * math.pi)
    shade += rng.uniform(0.0, 0.12) * ((xx - 0.5) * math.cos(light_angle) + (yy - 0.5) * math.sin(light_angle))
    image = colour[None, None] * shade[..., None] + rng.normal(0, rng.uniform(2, 5), (size, size, 3))
    image = np.clip(image, 0, 255).astype(np.uint8)

    line_x, centre_y, half_width = plan.goal_line_x, plan.goal_center_y, plan.goal_half_width
    net_floor = (xx > line_x) & (xx < line_x + plan.net_depth) & (np.abs(yy - centre_y) < half_width)
    image[net_floor] = (image[net_floor] * 0.6).astype(np.uint8)

    lines = image.copy()
    white = (245, 245, 245)
    thickness = max(1, int(round(0.01 * size)))
    cv2.line(lines, fixed_point(line_x, -0.1, size), fixed_point(line_x, 1.1, size), white, thickness, _AA, _BITS)
    penalty_depth, goal_area_depth = rng.uniform(0.5, 0.56), rng.uniform(0.16, 0.2)
    for box_depth, box_half in ((penalty_depth, 0.6), (goal_area_depth, half_width + 0.11)):
        corners = np.array([[line_x, centre_y - box_half], [line_x - box_depth, centre_y - box_half],
                            [line_x - box_depth, centre_y + box_half], [line_x, centre_y + box_half]])
        cv2.polylines(lines, [fixed_polyline(corners, size)], False, white, thickness, _AA, _BITS)
    spot_x = line_x - 0.65 * penalty_depth
    cv2.circle(lines, fixed_point(spot_x, centre_y, size), fixed(0.012, size), white, -1, _AA, _BITS)
    arc_centre, arc_axes = fixed_point(spot_x, centre_y, size), (fixed(0.28, size), fixed(0.28, size))
    cv2.ellipse(lines, arc_centre, arc_axes, 0, 127, 233, white, thickness, _AA, _BITS)
    alpha = rng.uniform(0.5, 0.85)  # markings fainter than the goal
    return blend(lines, alpha, image)


def _goal_overlay(plan: FootballPlan, rng: np.random.Generator, size: int) -> Tuple[np.ndarray, np.ndarray]:
    """The goal seen from above, drawn over a ball under the bar: colour [S,S,3] and alpha [S,S,1]."""
    line_x, post_radius = plan.goal_line_x, plan.post_radius
    colour = np.zeros((size, size, 3), dtype=np.uint8)
    alpha = np.zeros((size, size), dtype=np.float32)
    net_colour = rgb_tuple(rng.uniform(200, 240) * np.ones(3))
    mesh = rng.uniform(0.028, 0.036)
    x0, x1 = line_x, line_x + plan.net_depth
    y0, y1 = plan.goal_center_y - plan.goal_half_width, plan.goal_center_y + plan.goal_half_width

    def draw(opacity: float, strokes: Callable[[np.ndarray, tuple], None], stroke_colour: tuple) -> None:
        coverage = np.zeros((size, size), dtype=np.uint8)
        strokes(coverage, (255,))
        strokes(colour, stroke_colour)
        np.maximum(alpha, coverage.astype(np.float32) / 255.0 * opacity, out=alpha)

    def mesh_lines(img: np.ndarray, c: tuple) -> None:
        for x in np.arange(x0, x1, mesh):
            cv2.line(img, fixed_point(x, y0, size), fixed_point(x, y1, size), c, 1, _AA, _BITS)
        for y in np.arange(y0, y1, mesh):
            cv2.line(img, fixed_point(x0, y, size), fixed_point(x1, y, size), c, 1, _AA, _BITS)

    def net_frame(img: np.ndarray, c: tuple) -> None:
        corners = fixed_polyline(np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]]), size)
        cv2.polylines(img, [corners], False, c, max(1, int(round(0.012 * size))), _AA, _BITS)

    def woodwork(img: np.ndarray, c: tuple) -> None:
        bar_thickness = max(2, int(round(0.022 * size)))
        cv2.line(img, fixed_point(line_x, y0, size), fixed_point(line_x, y1, size), c, bar_thickness, _AA, _BITS)
        for y in (y0, y1):
            cv2.circle(img, fixed_point(line_x, y, size), fixed(post_radius, size), c, -1, _AA, _BITS)

    def post_rims(img: np.ndarray, c: tuple) -> None:
        for y in (y0, y1):
            cv2.circle(img, fixed_point(line_x, y, size), fixed(post_radius, size), c, 1, _AA, _BITS)

    draw(rng.uniform(0.45, 0.65), mesh_lines, net_colour)
    draw(0.9, net_frame, net_colour)
    draw(1.0, woodwork, (252, 252, 252))
    draw(1.0, post_rims, (40, 40, 40))
    return colour, alpha[..., None]


def _draw_player(img: np.ndarray, xy: np.ndarray, heading: float, shirt: tuple, hair: tuple, size: int) -> None:
    """A player from above: shoulders (an ellipse across the heading) and a head."""
    centre = fixed_point(xy[0], xy[1], size)
    axes = (fixed(0.032, size), fixed(0.065, size))
    cv2.ellipse(img, centre, axes, math.degrees(heading), 0, 360, shirt, -1, _AA, _BITS)
    cv2.ellipse(img, centre, axes, math.degrees(heading), 0, 360, (25, 25, 25), 1, _AA, _BITS)
    cv2.circle(img, centre, fixed(0.021, size), hair, -1, _AA, _BITS)


def _headings(track: np.ndarray) -> np.ndarray:
    """The direction of travel [T] (radians) along a track [T,2]."""
    step = np.diff(track, axis=0, prepend=track[:1] - 1e-3)
    step[0] = step[1] if len(step) > 1 else step[0]
    return np.arctan2(step[:, 1], step[:, 0])


def _draw_ball(img: np.ndarray, xy: np.ndarray, radius: float, spin: float, tint: tuple, size: int) -> None:
    """A ball with three dark patches turned by `spin`, so its rolling shows."""
    centre = fixed_point(xy[0], xy[1], size)
    cv2.circle(img, centre, fixed(radius, size), tint, -1, _AA, _BITS)
    for k in range(3):
        angle = spin + 2 * math.pi * k / 3
        patch = xy + 0.55 * radius * np.array([math.cos(angle), math.sin(angle)])
        cv2.circle(img, fixed_point(patch[0], patch[1], size), fixed(0.24 * radius, size), (20, 20, 20), -1, _AA,
                   _BITS)
    cv2.circle(img, centre, fixed(radius, size), (15, 15, 15), 1, _AA, _BITS)
