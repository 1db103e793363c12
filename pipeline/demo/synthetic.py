"""Embedded demo data: synthetic labelled video clips drawn with OpenCV, written as H.264 mp4.

Two data sets, each laid out as ``out_dir/{train,val,test}/<class>/<split>_<class>_<i:04d>.mp4``
with a ``manifest.json`` (written last, so a killed run is detected as incomplete):

Football (``goal`` vs ``no_goal``)
    A pitch seen from above with a goal on one side (posts, crossbar, a net behind the goal line) and a
    ball shot from the field toward it. Every clip has the same three acts: the ball is shot at the goal,
    something happens at the goal line, and the ball comes back into the field where it ends the clip
    (so the last frames of both classes look alike). Which cue exists in which class:

    ======================================  ======  =========================================
    cue                                     goal    no_goal variant
    ======================================  ======  =========================================
    ball crosses the line between the       yes     never (``over`` crosses above the bar)
    posts on the ground / under the bar
    ball under the net, at its back         brief   no (``over`` passes *above* the net)
    ball over the net region                no      ``over``: lobbed over the bar, lands
                                                    behind the net, rolled back round a post
    ball behind the line beside a post      no      ``wide``, and ``over`` on its way back
    ball stops at the keeper, rebounds      no      ``saved``
    ball stops at a post, rebounds          no      ``post``
    ball leaves the goal area to the field  yes     yes (all variants)
    keeper moving in front of the goal      yes     yes
    ======================================  ======  =========================================

    The only goal-only frames are the few (4-7 of 40 with the whole ball past the line) in which the
    ball is under the net; the class is otherwise in the motion. Nuisances: pitch colour (greens, some
    brown or blue), mowing stripes, lighting ramp, goal position and size, mirroring (goal on the left
    or right), 1-2 moving players plus a keeper, ball start, speed, angle and chips, camera jitter,
    Gaussian pixel noise.

Direction (``left_to_right`` vs ``right_to_left``)
    A ball crossing a plain background among moving distractor shapes. A right_to_left clip is a
    rendered left_to_right clip played backwards, so both classes have exactly the same set of frames:
    only the order tells them apart (a model that averages frames cannot beat chance). Encoded at
    a high quality (crf 10) so compression leaves no per-frame difference either.

All randomness comes from ``np.random.Generator``; each clip has its own generator seeded from
``(seed, split, class, index)``, so a seed gives the same frames whatever else is generated.
"""
from __future__ import annotations

import colorsys
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Tuple, Union

import cv2
import numpy as np

from pipeline.atomic_io import write_text_atomic
from pipeline.demo.video_writer import write_video

PathLike = Union[str, "os.PathLike[str]"]

FOOTBALL_CLASSES = ("goal", "no_goal")
DIRECTION_CLASSES = ("left_to_right", "right_to_left")
NO_GOAL_VARIANTS = ("wide", "saved", "post", "over")
NO_GOAL_WEIGHTS = (0.3, 0.25, 0.2, 0.25)
SPLITS = ("train", "val", "test")
GENERATOR_VERSION = 3  # bump when rendering changes, so old data sets are regenerated

BAR_HEIGHT = 1.0  # ball height z is measured in crossbar heights
_SHIFT = 4  # fixed-point bits for sub-pixel cv2 drawing
_AA = cv2.LINE_AA

__all__ = [
    "FOOTBALL_CLASSES",
    "DIRECTION_CLASSES",
    "NO_GOAL_VARIANTS",
    "FootballPlan",
    "football_trajectory",
    "render_football_clip",
    "generate_football_dataset",
    "render_direction_clip",
    "generate_direction_dataset",
]


# ---------------------------------------------------------------------------- small helpers


def _fp(v: float, size: int) -> int:
    """A normalised coordinate as a fixed-point pixel coordinate for cv2 (shift=_SHIFT)."""
    return int(round(v * size * (1 << _SHIFT)))


def _fpt(x: float, y: float, size: int) -> Tuple[int, int]:
    return _fp(x, size), _fp(y, size)


def _hsv(h: float, s: float, v: float) -> np.ndarray:
    return np.array(colorsys.hsv_to_rgb(h % 1.0, s, v), dtype=np.float32) * 255.0


def _ease_out(u: np.ndarray) -> np.ndarray:
    """A rolling ball slowing down: fast start, gentle stop."""
    return 1.0 - (1.0 - u) ** 2


def _arc(u: np.ndarray, height: float, peak: float) -> np.ndarray:
    """Height of a lofted ball: 0 at u=0 and u=1, `height` at u=`peak`."""
    if height <= 0:
        return np.zeros_like(u)
    a = math.log(0.5) / math.log(peak)
    return height * np.sin(np.pi * np.clip(u, 0, 1) ** a)


def _jitter(num_frames: int, rng: np.random.Generator, size: int, scale: float) -> np.ndarray:
    """Per-frame camera offsets in pixels [T,2]: a damped random walk (a hand-held camera)."""
    sigma = rng.uniform(0.3, 1.0) * scale * size
    offsets = np.zeros((num_frames, 2))
    for t in range(1, num_frames):
        offsets[t] = 0.75 * offsets[t - 1] + rng.normal(0, sigma, 2)
    return np.clip(offsets, -0.04 * size, 0.04 * size)


def _finish(frame: np.ndarray, offset: np.ndarray, noise: np.ndarray, mirror: bool) -> np.ndarray:
    """Camera shift, mirror and sensor noise: uint8 [H,W,3] in, uint8 [H,W,3] out."""
    matrix = np.float32([[1, 0, offset[0]], [0, 1, offset[1]]])
    size = frame.shape[1], frame.shape[0]
    frame = cv2.warpAffine(frame, matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    if mirror:
        frame = frame[:, ::-1]
    return np.clip(frame.astype(np.float32) + noise, 0, 255).astype(np.uint8)


# ---------------------------------------------------------------------------- football: the plan


@dataclass
class FootballPlan:
    """Everything random about one football clip, in a canonical frame with the goal on the right.

    Coordinates are fractions of the frame side (x right, y down) before mirroring and camera jitter;
    ball height `ball_z` is in crossbar heights. `mirrored` clips show the goal on the left.
    """

    label: str
    variant: str
    num_frames: int
    ball_xy: np.ndarray  # float [T,2]
    ball_z: np.ndarray  # float [T]
    ball_radius: float
    goal_line_x: float
    goal_center_y: float
    goal_half_width: float  # from the centre to a post's centre
    post_radius: float
    net_depth: float
    keeper_xy: np.ndarray  # float [T,2]
    players_xy: np.ndarray  # float [P,T,2] outfield players
    mirrored: bool

    def scored(self) -> bool:
        """True when in some frame the whole ball is over the goal line, in the net (under the bar)."""
        x, y = self.ball_xy[:, 0], self.ball_xy[:, 1]
        inside = (
            (x > self.goal_line_x + self.ball_radius)
            & (x < self.goal_line_x + self.net_depth)
            & (np.abs(y - self.goal_center_y) < self.goal_half_width)
            & (self.ball_z < BAR_HEIGHT)
        )
        return bool(inside.any())

    def ball_pixels(self, size: int) -> np.ndarray:
        """Ball centre in pixels of the rendered frame (mirroring applied, camera jitter not): [T,2]."""
        xy = self.ball_xy.copy()
        if self.mirrored:
            xy[:, 0] = 1.0 - xy[:, 0]
        return xy * size - 0.5


class _Path:
    """A ball path built from segments (each along a polyline); evaluated at integer frame times."""

    def __init__(self, start: np.ndarray):
        self.segments: List[tuple] = []
        self.point = np.asarray(start, dtype=np.float64)
        self.time = 0.0
        self.z = 0.0

    def to(self, *points, duration: float, ease: Callable = lambda u: u, z: float = 0.0, height: float = 0.0,
           peak: float = 0.5) -> _Path:
        """Move through `points` in `duration` frames, ending at height `z` (plus an arc of `height`)."""
        pts = np.array([self.point, *points], dtype=np.float64)
        duration = max(duration, 1e-3)
        self.segments.append((self.time, self.time + duration, pts, ease, self.z, z, height, peak))
        self.point, self.time, self.z = pts[-1], self.time + duration, z
        return self

    def hold(self, duration: float) -> _Path:
        return self.to(self.point, duration=duration, z=self.z)

    def evaluate(self, num_frames: int) -> Tuple[np.ndarray, np.ndarray]:
        t = np.arange(num_frames, dtype=np.float64)
        xy = np.repeat(self.segments[0][2][:1], num_frames, axis=0)
        z = np.zeros(num_frames)
        for t0, t1, pts, ease, z0, z1, height, peak in self.segments:
            mask = t >= t0
            u = np.clip((t[mask] - t0) / (t1 - t0), 0.0, 1.0)
            legs = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(pts, axis=0), axis=1))])
            s = ease(u) * legs[-1]
            xy[mask] = np.stack([np.interp(s, legs, pts[:, 0]), np.interp(s, legs, pts[:, 1])], axis=1)
            z[mask] = z0 + (z1 - z0) * u + _arc(u, height, peak)
        return xy, z


def _plan_football(label: str, rng: np.random.Generator, num_frames: int) -> FootballPlan:
    if label not in FOOTBALL_CLASSES:
        raise ValueError(f"label must be one of {FOOTBALL_CLASSES}, got {label!r}")
    if num_frames < 8:
        raise ValueError(f"a football clip needs at least 8 frames, got {num_frames}")
    n = num_frames
    sc = n / 40.0  # timings below are for 40 frames
    variant = "goal" if label == "goal" else str(rng.choice(NO_GOAL_VARIANTS, p=NO_GOAL_WEIGHTS))

    r = rng.uniform(0.068, 0.08)
    gx = rng.uniform(0.62, 0.67)
    gy = rng.uniform(0.46, 0.54)
    hw = rng.uniform(0.23, 0.26)
    pr = rng.uniform(0.03, 0.035)
    depth = rng.uniform(0.18, 0.2)
    mirrored = bool(rng.random() < 0.5)

    t_start = rng.uniform(0, 6) * sc
    t_event = rng.uniform(0.36, 0.52) * n
    chip = rng.uniform(0.3, 0.85) if rng.random() < 0.3 else 0.0

    # Where the shot meets the goal line (or the keeper / post), and the keeper's y at that moment.
    keeper_x = gx - rng.uniform(0.07, 0.1)
    in_goal = hw - pr - 0.8 * r
    if variant == "wide":
        side = rng.choice([-1.0, 1.0])
        target_y = gy + side * (hw + pr + r + rng.uniform(0.005, 0.05))
    elif variant == "post":
        side = rng.choice([-1.0, 1.0])
        target_y = gy + side * hw
    else:
        target_y = gy + rng.uniform(-in_goal, in_goal)
    if variant == "saved":
        keeper_y_event = target_y + rng.uniform(-0.02, 0.02)
    elif variant == "goal":
        # The keeper is beaten: somewhere in the goal, but not where the ball goes.
        room_up, room_down = target_y - (gy - 0.9 * hw), (gy + 0.9 * hw) - target_y
        sign = -1.0 if room_up > room_down else 1.0
        keeper_y_event = target_y + sign * rng.uniform(0.12, max(0.13, max(room_up, room_down)))
    else:
        keeper_y_event = gy + rng.uniform(-0.6, 0.6) * hw

    angle = math.radians(rng.uniform(-38, 38))
    direction = np.array([math.cos(angle), math.sin(angle)])
    speed = rng.uniform(0.045, 0.075) / sc
    if variant == "saved":
        event = np.array([keeper_x - 0.045 - r, target_y])
    elif variant == "post":
        # Hit the post slightly off-centre; the contact is where centres are r + pr apart.
        post = np.array([gx, gy + side * hw])
        offset = rng.uniform(-0.5, 0.5) * (r + pr)
        normal = np.array([-direction[1], direction[0]])
        along = math.sqrt((r + pr) ** 2 - offset**2)
        event = post + normal * offset - direction * along
    else:
        event = np.array([gx, target_y])
    distance = speed * (t_event - t_start)
    max_back = (event[0] - 0.08) / direction[0]
    distance = min(distance, max_back)
    start = event - direction * distance
    start[1] = np.clip(start[1], 0.08, 0.92)
    direction = (event - start) / np.linalg.norm(event - start)
    t_start = t_event - np.linalg.norm(event - start) / speed

    # Where every variant sends the ball back to: the same distribution for both classes.
    back = np.array([gx - rng.uniform(0.15, 0.45), rng.uniform(0.15, 0.85)])
    back_time = rng.uniform(5, 9) * sc
    drift = rng.normal(0, 0.004, 2) / sc

    def in_front(y: float) -> np.ndarray:  # a point just in front of the goal line, on the way back
        return np.array([gx - r - pr - rng.uniform(0.0, 0.04), y])

    path = _Path(start).hold(t_start)
    if variant == "goal":
        rest = start + direction * ((gx + depth - 0.5 * r - start[0]) / direction[0])
        rest[1] = np.clip(rest[1], gy - hw + 0.7 * r, gy + hw - 0.7 * r)
        total = np.linalg.norm(rest - start)
        path.to(rest, duration=total / speed, height=chip)
        bounce = rest + (start - rest) / total * rng.uniform(0.0, 0.015)
        # A short stay in the net (a fifth of the clip at most), then the ball is taken out: the
        # last frames do not give the class away.
        path.to(bounce, duration=rng.uniform(0.5, 1.5) * sc).hold(max(1.0, rng.uniform(4.0, 6.0) * sc))
        exit_y = hw - pr - r - 0.01  # clear of the posts on the way out
        mouth = in_front(np.clip(bounce[1], gy - exit_y, gy + exit_y))
        path.to(mouth, back, duration=back_time, ease=_ease_out)
    elif variant == "over":
        # Lobbed: above the bar at the line, above the net to its back, then it drops behind the net.
        over_back = start + direction * ((gx + depth + 0.3 * r - start[0]) / direction[0])
        over_back[1] = np.clip(over_back[1], gy - hw, gy + hw)
        land = over_back + direction * rng.uniform(0.03, 0.08)
        flight = np.linalg.norm(over_back - start) / speed
        path.to(over_back, duration=flight, z=rng.uniform(1.2, 1.5), height=rng.uniform(0.3, 0.7))
        path.to(land, duration=rng.uniform(1, 2) * sc).hold(rng.uniform(1, 3) * sc)
        side = 1.0 if land[1] > gy else -1.0
        outside = gy + side * (hw + pr + r + rng.uniform(0.02, 0.05))
        corner = np.array([gx + rng.uniform(0.02, 0.06), outside])
        path.to([land[0], outside], corner, in_front(outside), duration=rng.uniform(3, 5) * sc)
        path.to(back, duration=back_time, ease=_ease_out)
    elif variant == "wide":
        stop = event + direction * rng.uniform(0.08, 0.16)
        stop[1] = np.clip(stop[1], 0.06, 0.94)
        path.to(event, duration=np.linalg.norm(event - start) / speed, height=chip)
        path.to(stop, duration=rng.uniform(2, 4) * sc, ease=_ease_out).hold(rng.uniform(1, 3) * sc)
        path.to(in_front(stop[1]), back, duration=back_time, ease=_ease_out)
    else:  # saved, post: the ball rebounds from the contact point
        path.to(event, duration=np.linalg.norm(event - start) / speed, height=chip)
        path.to(back, duration=back_time + rng.uniform(1, 3) * sc, ease=_ease_out)
    path.to(path.point + drift * n, duration=n)  # slow roll until the end of the clip
    ball_xy, ball_z = path.evaluate(n)
    ball_xy = np.clip(ball_xy, -0.2, 1.2)

    # Keeper: slides along the goal line in every clip, passing keeper_y_event at t_event.
    t = np.arange(n, dtype=np.float64)
    amp = rng.uniform(0.02, 0.6 * hw)
    omega = rng.uniform(0.3, 1.0) * 2 * math.pi / n
    phase = rng.uniform(0, 2 * math.pi)
    keeper_y = keeper_y_event + amp * (np.sin(omega * (t - t_event) + phase) - math.sin(phase))
    keeper_y = np.clip(keeper_y, gy - hw, gy + hw)
    if variant == "saved":
        keeper_y[int(round(t_event)):] = keeper_y[min(int(round(t_event)), n - 1)]
    keeper_xs = keeper_x + 0.01 * np.sin(omega * 1.7 * t + phase)
    keeper_xy = np.stack([keeper_xs, keeper_y], axis=1)

    # Outfield players: the first is the shooter, starting just behind the ball.
    # Outfield players stay out of the goal area, so they never hide the event.
    num_players = int(rng.integers(1, 3))
    players = np.zeros((num_players, n, 2))
    for k in range(num_players):
        if k == 0:
            pos = start - direction * (r + 0.05)
            vel = direction * rng.uniform(0.003, 0.01) / sc
        else:
            pos = np.array([rng.uniform(0.05, gx - 0.25), rng.uniform(0.1, 0.9)])
            vel = rng.normal(0, 0.008, 2) / sc
        for i in range(n):
            vel = 0.9 * vel + rng.normal(0, 0.002, 2) / sc
            pos = pos + vel
            for d in range(2):
                high = gx - 0.25 if d == 0 else 0.95
                if not 0.03 < pos[d] < high:
                    vel[d] = -vel[d]
                    pos[d] = np.clip(pos[d], 0.03, high)
            players[k, i] = pos
    return FootballPlan(
        label=label,
        variant=variant,
        num_frames=n,
        ball_xy=ball_xy,
        ball_z=ball_z,
        ball_radius=r,
        goal_line_x=gx,
        goal_center_y=gy,
        goal_half_width=hw,
        post_radius=pr,
        net_depth=depth,
        keeper_xy=keeper_xy,
        players_xy=players,
        mirrored=mirrored,
    )


# ---------------------------------------------------------------------------- football: drawing

_SHIRTS = [
    (220, 30, 30), (30, 60, 220), (250, 210, 20), (250, 130, 20), (130, 40, 170),
    (20, 20, 20), (20, 200, 220), (230, 40, 160), (120, 20, 30), (40, 40, 110),
]


def _pitch(plan: FootballPlan, rng: np.random.Generator, size: int) -> np.ndarray:
    """The static background: grass, stripes, markings, the shaded floor of the net. uint8 [S,S,3]."""
    kind = rng.random()
    if kind < 0.65:
        colour = _hsv(rng.uniform(0.22, 0.38), rng.uniform(0.45, 0.85), rng.uniform(0.35, 0.7))
    elif kind < 0.85:
        colour = _hsv(rng.uniform(0.07, 0.13), rng.uniform(0.35, 0.7), rng.uniform(0.35, 0.6))
    else:
        colour = _hsv(rng.uniform(0.5, 0.6), rng.uniform(0.35, 0.7), rng.uniform(0.35, 0.6))
    coords = (np.arange(size) + 0.5) / size
    yy, xx = np.meshgrid(coords, coords, indexing="ij")
    shade = np.ones((size, size), dtype=np.float32)
    if rng.random() < 0.8:
        angle = rng.choice([0.0, math.pi / 2, rng.uniform(0, math.pi)])
        u = xx * math.cos(angle) + yy * math.sin(angle)
        width = rng.uniform(0.07, 0.18)
        shade += rng.uniform(0.05, 0.12) * np.where(np.floor(u / width) % 2 == 0, 1.0, -1.0)
    gangle = rng.uniform(0, 2 * math.pi)
    shade += rng.uniform(0.0, 0.12) * ((xx - 0.5) * math.cos(gangle) + (yy - 0.5) * math.sin(gangle))
    image = colour[None, None] * shade[..., None] + rng.normal(0, rng.uniform(2, 5), (size, size, 3))
    image = np.clip(image, 0, 255).astype(np.uint8)

    gx, gy, hw, depth = plan.goal_line_x, plan.goal_center_y, plan.goal_half_width, plan.net_depth
    net = (xx > gx) & (xx < gx + depth) & (np.abs(yy - gy) < hw)
    image[net] = (image[net] * 0.6).astype(np.uint8)

    lines = image.copy()
    white = (245, 245, 245)
    thick = max(1, int(round(0.01 * size)))
    cv2.line(lines, _fpt(gx, -0.1, size), _fpt(gx, 1.1, size), white, thick, _AA, _SHIFT)
    box, small = rng.uniform(0.5, 0.56), rng.uniform(0.16, 0.2)
    for depth_x, half in ((box, 0.6), (small, hw + 0.11)):
        pts = np.array([[gx, gy - half], [gx - depth_x, gy - half], [gx - depth_x, gy + half], [gx, gy + half]])
        pts = np.round(pts * size * (1 << _SHIFT)).astype(np.int32)
        cv2.polylines(lines, [pts], False, white, thick, _AA, _SHIFT)
    spot = gx - 0.65 * box
    cv2.circle(lines, _fpt(spot, gy, size), _fp(0.012, size), white, -1, _AA, _SHIFT)
    centre, axes = _fpt(spot, gy, size), (_fp(0.28, size), _fp(0.28, size))
    cv2.ellipse(lines, centre, axes, 0, 127, 233, white, thick, _AA, _SHIFT)
    alpha = rng.uniform(0.5, 0.85)  # markings fainter than the goal
    return cv2.addWeighted(lines, alpha, image, 1 - alpha, 0)


def _goal_overlay(plan: FootballPlan, rng: np.random.Generator, size: int) -> Tuple[np.ndarray, np.ndarray]:
    """The goal seen from above, drawn over a ball under the bar: colour [S,S,3] and alpha [S,S,1]."""
    gx, gy, hw, depth, pr = plan.goal_line_x, plan.goal_center_y, plan.goal_half_width, plan.net_depth, plan.post_radius
    colour = np.zeros((size, size, 3), dtype=np.uint8)
    alpha = np.zeros((size, size), dtype=np.float32)
    net_colour = tuple(int(c) for c in rng.uniform(200, 240) * np.ones(3))
    mesh = rng.uniform(0.028, 0.036)
    x0, x1, y0, y1 = gx, gx + depth, gy - hw, gy + hw

    def draw(a: float, fn: Callable[[np.ndarray, tuple], None], c: tuple) -> None:
        layer = np.zeros((size, size), dtype=np.uint8)
        fn(layer, (255,))
        fn(colour, c)
        np.maximum(alpha, layer.astype(np.float32) / 255.0 * a, out=alpha)

    def mesh_lines(img: np.ndarray, c: tuple) -> None:
        for x in np.arange(x0, x1, mesh):
            cv2.line(img, _fpt(x, y0, size), _fpt(x, y1, size), c, 1, _AA, _SHIFT)
        for y in np.arange(y0, y1, mesh):
            cv2.line(img, _fpt(x0, y, size), _fpt(x1, y, size), c, 1, _AA, _SHIFT)

    def frame_lines(img: np.ndarray, c: tuple) -> None:
        pts = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])
        pts = np.round(pts * size * (1 << _SHIFT)).astype(np.int32)
        cv2.polylines(img, [pts], False, c, max(1, int(round(0.012 * size))), _AA, _SHIFT)

    def woodwork(img: np.ndarray, c: tuple) -> None:
        cv2.line(img, _fpt(gx, y0, size), _fpt(gx, y1, size), c, max(2, int(round(0.022 * size))), _AA, _SHIFT)
        for y in (y0, y1):
            cv2.circle(img, _fpt(gx, y, size), _fp(pr, size), c, -1, _AA, _SHIFT)

    def post_rims(img: np.ndarray, c: tuple) -> None:
        for y in (y0, y1):
            cv2.circle(img, _fpt(gx, y, size), _fp(pr, size), c, 1, _AA, _SHIFT)

    draw(rng.uniform(0.45, 0.65), mesh_lines, net_colour)
    draw(0.9, frame_lines, net_colour)
    draw(1.0, woodwork, (252, 252, 252))
    draw(1.0, post_rims, (40, 40, 40))
    return colour, alpha[..., None]


def _draw_player(img: np.ndarray, xy: np.ndarray, heading: float, shirt: tuple, hair: tuple, size: int) -> None:
    """A player from above: shoulders (an ellipse across the heading) and a head."""
    centre = _fpt(xy[0], xy[1], size)
    axes = (_fp(0.032, size), _fp(0.065, size))
    cv2.ellipse(img, centre, axes, math.degrees(heading), 0, 360, shirt, -1, _AA, _SHIFT)
    cv2.ellipse(img, centre, axes, math.degrees(heading), 0, 360, (25, 25, 25), 1, _AA, _SHIFT)
    cv2.circle(img, centre, _fp(0.021, size), hair, -1, _AA, _SHIFT)


def _headings(track: np.ndarray) -> np.ndarray:
    step = np.diff(track, axis=0, prepend=track[:1] - 1e-3)
    step[0] = step[1] if len(step) > 1 else step[0]
    return np.arctan2(step[:, 1], step[:, 0])


def _draw_ball(img: np.ndarray, xy: np.ndarray, radius: float, spin: float, tint: tuple, size: int) -> None:
    centre = _fpt(xy[0], xy[1], size)
    cv2.circle(img, centre, _fp(radius, size), tint, -1, _AA, _SHIFT)
    for k in range(3):
        a = spin + 2 * math.pi * k / 3
        patch = xy + 0.55 * radius * np.array([math.cos(a), math.sin(a)])
        cv2.circle(img, _fpt(patch[0], patch[1], size), _fp(0.24 * radius, size), (20, 20, 20), -1, _AA, _SHIFT)
    cv2.circle(img, centre, _fp(radius, size), (15, 15, 15), 1, _AA, _SHIFT)


def _render_football(plan: FootballPlan, rng: np.random.Generator, size: int) -> np.ndarray:
    n = plan.num_frames
    background = _pitch(plan, rng, size)
    overlay, alpha = _goal_overlay(plan, rng, size)
    shirts = rng.permutation(len(_SHIRTS))
    team, keeper_shirt = _SHIRTS[shirts[0]], _SHIRTS[shirts[1]]
    hair = tuple(int(c) for c in rng.uniform(10, 90) * np.array([1.0, 0.8, 0.6]))
    tint = tuple(int(c) for c in rng.uniform(230, 255, 3))
    offsets = _jitter(n, rng, size, 0.006)
    noise_sigma = rng.uniform(2.0, 7.0)

    heads = [_headings(track) for track in plan.players_xy]
    keeper_heading = np.full(n, 0.0)  # facing the field (the goal is on the right)
    travelled = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(plan.ball_xy, axis=0), axis=1))])
    spin = rng.uniform(0, 2 * math.pi) + travelled / plan.ball_radius

    frames = np.empty((n, size, size, 3), dtype=np.uint8)
    for t in range(n):
        img = background.copy()
        for k, track in enumerate(plan.players_xy):
            _draw_player(img, track[t], heads[k][t] + math.pi / 2, team, hair, size)
        _draw_player(img, plan.keeper_xy[t], keeper_heading[t] + math.pi / 2, keeper_shirt, hair, size)

        xy, z = plan.ball_xy[t], plan.ball_z[t]
        radius = plan.ball_radius * (1.0 + 0.3 * z)  # a lofted ball is nearer the camera
        shadow = img.copy()
        # The shadow drifts away from a ball in the air: how a viewer from above judges its height.
        sxy = xy + np.array([0.2, 0.3]) * plan.ball_radius + np.array([0.08, 0.12]) * z
        cv2.circle(shadow, _fpt(sxy[0], sxy[1], size), _fp(plan.ball_radius, size), (0, 0, 0), -1, _AA, _SHIFT)
        img = cv2.addWeighted(shadow, 0.3, img, 0.7, 0)
        under = z < BAR_HEIGHT
        if under:
            _draw_ball(img, xy, radius, spin[t], tint, size)
        img = (img * (1 - alpha) + overlay * alpha).astype(np.uint8)
        if not under:
            _draw_ball(img, xy, radius, spin[t], tint, size)
        noise = rng.normal(0, noise_sigma, img.shape).astype(np.float32)
        frames[t] = _finish(img, offsets[t], noise, plan.mirrored)
    return frames


def football_trajectory(label: str, rng: np.random.Generator, num_frames: int = 40) -> FootballPlan:
    """The plan (ball path, goal geometry, variant) that `render_football_clip` draws.

    Given a generator in the same state, this returns the plan of exactly the clip that
    `render_football_clip(label, rng, size, num_frames)` renders (the plan is drawn first and does
    not depend on `size`).
    """
    return _plan_football(label, rng, num_frames)


def render_football_clip(
    label: str, rng: np.random.Generator, size: int = 128, num_frames: int = 40
) -> np.ndarray:
    """One football clip, `label` "goal" or "no_goal": uint8 [T,H,W,3] RGB, H = W = `size` (even)."""
    return _football_clip(label, rng, size, num_frames)[0]


def _football_clip(label: str, rng: np.random.Generator, size: int, num_frames: int):
    _check_size(size)
    plan = _plan_football(label, rng, num_frames)
    return _render_football(plan, rng, size), plan


# ---------------------------------------------------------------------------- direction set


def render_direction_clip(
    direction: str, rng: np.random.Generator, size: int = 128, num_frames: int = 16
) -> np.ndarray:
    """A ball crossing the frame: uint8 [T,H,W,3] RGB.

    "right_to_left" is the "left_to_right" clip that the same generator state renders, reversed in
    time: same frames, opposite order.
    """
    if direction not in DIRECTION_CLASSES:
        raise ValueError(f"direction must be one of {DIRECTION_CLASSES}, got {direction!r}")
    _check_size(size)
    if num_frames < 2:
        raise ValueError(f"a direction clip needs at least 2 frames, got {num_frames}")
    n = num_frames
    coords = (np.arange(size) + 0.5) / size
    yy, xx = np.meshgrid(coords, coords, indexing="ij")
    c0 = _hsv(rng.random(), rng.uniform(0.1, 0.6), rng.uniform(0.25, 0.75))
    c1 = np.clip(c0 + rng.normal(0, 40, 3), 0, 255)
    angle = rng.uniform(0, 2 * math.pi)
    ramp = np.clip((xx - 0.5) * math.cos(angle) + (yy - 0.5) * math.sin(angle) + 0.5, 0, 1)[..., None]
    background = c0 * (1 - ramp) + c1 * ramp + rng.normal(0, 3, (size, size, 3))
    background = np.clip(background, 0, 255).astype(np.uint8)

    radius = rng.uniform(0.06, 0.1)
    hue = rng.random()
    ball = _hsv(hue, rng.uniform(0.0, 0.9), rng.uniform(0.85, 1.0))
    if np.abs(ball - background.reshape(-1, 3).mean(0)).sum() < 150:
        ball = 255 - background.reshape(-1, 3).mean(0)  # keep the ball visible on its background
    ball = tuple(int(c) for c in ball)
    t = np.arange(n) / max(n - 1, 1)
    x0, x1 = rng.uniform(0.08, 0.22), rng.uniform(0.78, 0.92)
    x = x0 + (x1 - x0) * (t + rng.uniform(-0.3, 0.3) * t * (1 - t))  # some speed up, some slow down
    wobble = rng.uniform(0, 0.06) * np.sin(2 * math.pi * rng.uniform(0.3, 1.5) * t + rng.uniform(0, 2 * math.pi))
    y = rng.uniform(0.25, 0.75) + wobble

    distractors = []
    for _ in range(int(rng.integers(1, 4))):
        pos = rng.uniform(0.1, 0.9, 2)
        vel = rng.normal(0, 0.02, 2) * 16 / n
        colour = tuple(int(c) for c in _hsv(rng.random(), rng.uniform(0.4, 1.0), rng.uniform(0.3, 1.0)))
        half = rng.uniform(0.03, 0.07, 2)
        distractors.append((pos, vel, colour, half, rng.uniform(0, 180), rng.normal(0, 5)))
    offsets = _jitter(n, rng, size, 0.004)
    noise_sigma = rng.uniform(1.0, 4.0)

    frames = np.empty((n, size, size, 3), dtype=np.uint8)
    for i in range(n):
        img = background.copy()
        for pos, vel, colour, half, rot, spin in distractors:
            p = pos + vel * i
            p = np.abs((p + 1) % 2 - 1)  # bounce off the frame edges (triangle wave in [0, 1])
            box = cv2.boxPoints(((p[0] * size, p[1] * size), (half[0] * 2 * size, half[1] * 2 * size), rot + spin * i))
            cv2.fillPoly(img, [np.round(box * (1 << _SHIFT)).astype(np.int32)], colour, _AA, _SHIFT)
        cv2.circle(img, _fpt(x[i], y[i], size), _fp(radius, size), ball, -1, _AA, _SHIFT)
        cv2.circle(img, _fpt(x[i], y[i], size), _fp(radius, size), (20, 20, 20), 1, _AA, _SHIFT)
        noise = rng.normal(0, noise_sigma, img.shape).astype(np.float32)
        frames[i] = _finish(img, offsets[i], noise, False)
    if direction == "right_to_left":
        frames = frames[::-1].copy()
    return frames


# ---------------------------------------------------------------------------- data sets on disk


def _check_size(size: int) -> None:
    if size < 16 or size % 2:
        raise ValueError(f"size must be an even number of pixels >= 16, got {size}")


def _clip_rng(seed: int, split: str, class_index: int, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, SPLITS.index(split), class_index, index])


def _write_json_atomic(path: Path, data: dict) -> None:
    write_text_atomic(path, json.dumps(data, indent=1))


def _generate(
    name: str,
    classes: Tuple[str, str],
    render: Callable[[str, np.random.Generator], Tuple[np.ndarray, str]],
    out_dir: PathLike,
    counts: Dict[str, int],
    params: dict,
    fps: float,
    crf: int,
    force: bool,
) -> Path:
    out_dir = Path(out_dir)
    for split, count in counts.items():
        if count < 0 or count % len(classes):
            raise ValueError(f"n_{split} must be a non-negative multiple of {len(classes)} (balanced), got {count}")
    params = {"dataset": name, "generator_version": GENERATOR_VERSION, **params, "fps": fps, "crf": crf}
    manifest_path = out_dir / "manifest.json"
    if not force and manifest_path.is_file():
        try:
            old = json.loads(manifest_path.read_text())
        except (OSError, ValueError):
            old = None
        if old and old.get("params") == params and all((out_dir / c["path"]).is_file() for c in old["clips"]):
            return out_dir
    if manifest_path.exists():
        manifest_path.unlink()  # from here on the data set is incomplete until the new manifest lands

    clips, wanted = [], set()
    for split, count in counts.items():
        for class_index, label in enumerate(classes):
            folder = out_dir / split / label
            for i in range(count // len(classes)):
                path = folder / f"{split}_{label}_{i:04d}.mp4"
                frames, variant = render(label, _clip_rng(params["seed"], split, class_index, i))
                write_video(path, frames, fps=fps, crf=crf)
                rel = path.relative_to(out_dir).as_posix()
                wanted.add(rel)
                clips.append({"path": rel, "split": split, "label": label, "variant": variant})
    # Clips left over from an earlier, larger data set in the same folder would join this one.
    for split in SPLITS:
        for label in classes:
            for stale in (out_dir / split / label).glob(f"{split}_{label}_*.mp4"):
                if stale.relative_to(out_dir).as_posix() not in wanted:
                    stale.unlink()
    manifest = {
        "params": params,
        "classes": list(classes),
        "counts": {split: {label: count // len(classes) for label in classes} for split, count in counts.items()},
        "clips": clips,
    }
    _write_json_atomic(manifest_path, manifest)
    return out_dir


def generate_football_dataset(
    out_dir: PathLike,
    n_train: int = 400,
    n_val: int = 60,
    n_test: int = 100,
    size: int = 128,
    num_frames: int = 40,
    seed: int = 0,
    fps: float = 25.0,
    force: bool = False,
) -> Path:
    """Write the goal / no_goal data set under `out_dir` (split sizes count both classes together).

    A complete data set with the same parameters already there is kept as it is unless `force`.
    """
    _check_size(size)

    def render(label: str, rng: np.random.Generator) -> Tuple[np.ndarray, str]:
        frames, plan = _football_clip(label, rng, size, num_frames)
        return frames, plan.variant

    counts = {"train": n_train, "val": n_val, "test": n_test}
    params = {"seed": seed, "size": size, "num_frames": num_frames, "n_train": n_train, "n_val": n_val,
              "n_test": n_test}
    return _generate("football", FOOTBALL_CLASSES, render, out_dir, counts, params, fps, 18, force)


def generate_direction_dataset(
    out_dir: PathLike,
    n_train: int = 60,
    n_val: int = 20,
    n_test: int = 40,
    size: int = 128,
    num_frames: int = 16,
    seed: int = 0,
    fps: float = 25.0,
    force: bool = False,
) -> Path:
    """Write the left_to_right / right_to_left data set under `out_dir` (see the module docstring)."""
    _check_size(size)

    def render(label: str, rng: np.random.Generator) -> Tuple[np.ndarray, str]:
        return render_direction_clip(label, rng, size, num_frames), label

    counts = {"train": n_train, "val": n_val, "test": n_test}
    params = {"seed": seed, "size": size, "num_frames": num_frames, "n_train": n_train, "n_val": n_val,
              "n_test": n_test}
    return _generate("direction", DIRECTION_CLASSES, render, out_dir, counts, params, fps, 10, force)


def generate_match_video(
    out_dir: PathLike,
    n_clips: int = 20,
    goals: int = 3,
    size: int = 128,
    num_frames: int = 40,
    seed: int = 0,
    fps: float = 25.0,
) -> Path:
    """A long "match" for timeline mode: `n_clips` football clips played one after another, `goals`
    of them goals at random places. Writes out_dir/match.mp4 and out_dir/goals.csv (the true
    start and end, in seconds, of every goal clip); returns the video's path."""
    if not 0 <= goals <= n_clips:
        raise ValueError(f"goals must be between 0 and n_clips ({n_clips}), got {goals}")
    _check_size(size)
    out_dir = Path(out_dir)
    rng = np.random.default_rng([seed, 7919])  # apart from the data sets' clip seeds
    is_goal = np.zeros(n_clips, dtype=bool)
    is_goal[rng.choice(n_clips, size=goals, replace=False)] = True
    frames: List[np.ndarray] = []
    truth = []
    for i, goal in enumerate(is_goal):
        clip, _plan = _football_clip("goal" if goal else "no_goal", np.random.default_rng([seed, 7919, i]), size,
                                     num_frames)
        if goal:
            truth.append((len(frames) / fps, (len(frames) + len(clip)) / fps))
        frames.extend(clip)
    video = write_video(out_dir / "match.mp4", frames, fps=fps)
    lines = ["start,end"] + [f"{start:.3f},{end:.3f}" for start, end in truth]
    write_text_atomic(out_dir / "goals.csv", "\n".join(lines) + "\n")
    return video
