"""The football scene's plan: everything random about one goal / no_goal clip (goal geometry, the
shot, the ball's path, the keeper and players), drawn from one generator before anything is rendered.

Draws happen in a fixed order (geometry, shot, ball path, keeper, players): changing that order
changes every data set a seed makes, so bump GENERATOR_VERSION in datasets.py when you do.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, List, Tuple

import numpy as np

from pipeline.demo.drawing import ease_out, lofted_height

FOOTBALL_CLASSES = ("goal", "no_goal")
NO_GOAL_VARIANTS = ("wide", "saved", "post", "over")
NO_GOAL_WEIGHTS = (0.3, 0.25, 0.2, 0.25)
BAR_HEIGHT = 1.0  # ball height z is measured in crossbar heights
REFERENCE_FRAMES = 40.0  # the timings below are written for a 40-frame clip and scaled to others


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


@dataclass
class _Geometry:
    """Sizes and places that stay fixed through a clip (fractions of the frame side)."""

    ball_radius: float
    goal_line_x: float
    goal_center_y: float
    goal_half_width: float
    post_radius: float
    net_depth: float


@dataclass
class _Shot:
    """The kick: from `start` along `direction` at `speed` (per frame) until it meets `contact`
    (the goal line, the keeper or a post) at frame `contact_time`."""

    start: np.ndarray
    direction: np.ndarray
    contact: np.ndarray
    speed: float
    kick_time: float
    contact_time: float
    chip: float  # loft of the shot, in crossbar heights (0: along the ground)
    post_side: float  # -1 or +1: which post a wide or post shot goes to (0 otherwise)
    keeper_x: float
    keeper_y_at_contact: float


@dataclass
class _Return:
    """Where every variant sends the ball back to, the same distribution for both classes."""

    point: np.ndarray
    duration: float
    drift: np.ndarray  # per-frame roll once it is back


class BallPath:
    """A ball path built from segments (each along a polyline); evaluated at integer frame times."""

    def __init__(self, start: np.ndarray):
        self.segments: List[tuple] = []
        self.point = np.asarray(start, dtype=np.float64)
        self.time = 0.0
        self.z = 0.0

    def to(self, *points, duration: float, ease: Callable = lambda u: u, z: float = 0.0, height: float = 0.0,
           peak: float = 0.5) -> BallPath:
        """Move through `points` in `duration` frames, ending at height `z` (plus an arc of `height`)."""
        polyline = np.array([self.point, *points], dtype=np.float64)
        duration = max(duration, 1e-3)
        self.segments.append((self.time, self.time + duration, polyline, ease, self.z, z, height, peak))
        self.point, self.time, self.z = polyline[-1], self.time + duration, z
        return self

    def hold(self, duration: float) -> BallPath:
        """Stay where the ball is for `duration` frames."""
        return self.to(self.point, duration=duration, z=self.z)

    def evaluate(self, num_frames: int) -> Tuple[np.ndarray, np.ndarray]:
        """Ball position [T,2] and height [T] at frames 0..T-1."""
        times = np.arange(num_frames, dtype=np.float64)
        xy = np.repeat(self.segments[0][2][:1], num_frames, axis=0)
        z = np.zeros(num_frames)
        for t0, t1, polyline, ease, z0, z1, height, peak in self.segments:
            mask = times >= t0
            progress = np.clip((times[mask] - t0) / (t1 - t0), 0.0, 1.0)
            legs = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(polyline, axis=0), axis=1))])
            along = ease(progress) * legs[-1]
            xy[mask] = np.stack([np.interp(along, legs, polyline[:, 0]), np.interp(along, legs, polyline[:, 1])],
                                axis=1)
            z[mask] = z0 + (z1 - z0) * progress + lofted_height(progress, height, peak)
        return xy, z


def football_trajectory(label: str, rng: np.random.Generator, num_frames: int = 40) -> FootballPlan:
    """The plan (ball path, goal geometry, variant) that `render_football_clip` draws.

    Given a generator in the same state, this returns the plan of exactly the clip that
    `render_football_clip(label, rng, size, num_frames)` renders (the plan is drawn first and does
    not depend on `size`).
    """
    if label not in FOOTBALL_CLASSES:
        raise ValueError(f"label must be one of {FOOTBALL_CLASSES}, got {label!r}")
    if num_frames < 8:
        raise ValueError(f"a football clip needs at least 8 frames, got {num_frames}")
    time_scale = num_frames / REFERENCE_FRAMES
    variant = "goal" if label == "goal" else str(rng.choice(NO_GOAL_VARIANTS, p=NO_GOAL_WEIGHTS))
    geometry = _draw_geometry(rng)
    mirrored = bool(rng.random() < 0.5)
    shot = _aim_shot(variant, geometry, rng, num_frames, time_scale)
    ball_xy, ball_z = _ball_path(variant, geometry, shot, rng, num_frames, time_scale)
    return FootballPlan(
        label=label,
        variant=variant,
        num_frames=num_frames,
        ball_xy=ball_xy,
        ball_z=ball_z,
        ball_radius=geometry.ball_radius,
        goal_line_x=geometry.goal_line_x,
        goal_center_y=geometry.goal_center_y,
        goal_half_width=geometry.goal_half_width,
        post_radius=geometry.post_radius,
        net_depth=geometry.net_depth,
        keeper_xy=_keeper_track(variant, geometry, shot, rng, num_frames),
        players_xy=_outfield_players(geometry, shot, rng, num_frames, time_scale),
        mirrored=mirrored,
    )


def _draw_geometry(rng: np.random.Generator) -> _Geometry:
    return _Geometry(
        ball_radius=rng.uniform(0.068, 0.08),
        goal_line_x=rng.uniform(0.62, 0.67),
        goal_center_y=rng.uniform(0.46, 0.54),
        goal_half_width=rng.uniform(0.23, 0.26),
        post_radius=rng.uniform(0.03, 0.035),
        net_depth=rng.uniform(0.18, 0.2),
    )


def _aim_shot(variant: str, geometry: _Geometry, rng: np.random.Generator, num_frames: int,
              time_scale: float) -> _Shot:
    """Timing, target and line of the shot, and where the keeper is when the ball arrives."""
    kick_time = rng.uniform(0, 6) * time_scale
    contact_time = rng.uniform(0.36, 0.52) * num_frames
    chip = rng.uniform(0.3, 0.85) if rng.random() < 0.3 else 0.0
    keeper_x = geometry.goal_line_x - rng.uniform(0.07, 0.1)
    target_y, post_side = _shot_target(variant, geometry, rng)
    keeper_y_at_contact = _keeper_y_at_contact(variant, geometry, target_y, rng)

    angle = math.radians(rng.uniform(-38, 38))
    direction = np.array([math.cos(angle), math.sin(angle)])
    speed = rng.uniform(0.045, 0.075) / time_scale
    contact = _contact_point(variant, geometry, target_y, post_side, keeper_x, direction, rng)
    # Start far enough back to reach the contact at contact_time, but on the pitch: then re-aim.
    distance = min(speed * (contact_time - kick_time), (contact[0] - 0.08) / direction[0])
    start = contact - direction * distance
    start[1] = np.clip(start[1], 0.08, 0.92)
    direction = (contact - start) / np.linalg.norm(contact - start)
    kick_time = contact_time - np.linalg.norm(contact - start) / speed
    return _Shot(start, direction, contact, speed, kick_time, contact_time, chip, post_side, keeper_x,
                 keeper_y_at_contact)


def _shot_target(variant: str, geometry: _Geometry, rng: np.random.Generator) -> Tuple[float, float]:
    """The y where the shot crosses the goal line, and which post's side it is on (wide, post)."""
    centre_y, half_width = geometry.goal_center_y, geometry.goal_half_width
    if variant == "wide":
        side = rng.choice([-1.0, 1.0])
        return centre_y + side * (half_width + geometry.post_radius + geometry.ball_radius
                                  + rng.uniform(0.005, 0.05)), side
    if variant == "post":
        side = rng.choice([-1.0, 1.0])
        return centre_y + side * half_width, side
    in_goal = half_width - geometry.post_radius - 0.8 * geometry.ball_radius
    return centre_y + rng.uniform(-in_goal, in_goal), 0.0


def _keeper_y_at_contact(variant: str, geometry: _Geometry, target_y: float, rng: np.random.Generator) -> float:
    centre_y, half_width = geometry.goal_center_y, geometry.goal_half_width
    if variant == "saved":
        return target_y + rng.uniform(-0.02, 0.02)
    if variant == "goal":
        # The keeper is beaten: somewhere in the goal, but not where the ball goes.
        room_up, room_down = target_y - (centre_y - 0.9 * half_width), (centre_y + 0.9 * half_width) - target_y
        sign = -1.0 if room_up > room_down else 1.0
        return target_y + sign * rng.uniform(0.12, max(0.13, max(room_up, room_down)))
    return centre_y + rng.uniform(-0.6, 0.6) * half_width


def _contact_point(variant: str, geometry: _Geometry, target_y: float, post_side: float, keeper_x: float,
                   direction: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Where the shot ends: at the keeper (saved), against a post (post), else on the goal line."""
    ball_radius, post_radius = geometry.ball_radius, geometry.post_radius
    if variant == "saved":
        return np.array([keeper_x - 0.045 - ball_radius, target_y])
    if variant == "post":
        # Hit the post slightly off-centre; the contact is where the centres are r + pr apart.
        post = np.array([geometry.goal_line_x, geometry.goal_center_y + post_side * geometry.goal_half_width])
        offset = rng.uniform(-0.5, 0.5) * (ball_radius + post_radius)
        normal = np.array([-direction[1], direction[0]])
        along = math.sqrt((ball_radius + post_radius) ** 2 - offset**2)
        return post + normal * offset - direction * along
    return np.array([geometry.goal_line_x, target_y])


def _ball_path(variant: str, geometry: _Geometry, shot: _Shot, rng: np.random.Generator, num_frames: int,
               time_scale: float) -> Tuple[np.ndarray, np.ndarray]:
    """Ball position [T,2] and height [T]: the shot, what the variant does at the goal, the way back."""
    back = _Return(
        point=np.array([geometry.goal_line_x - rng.uniform(0.15, 0.45), rng.uniform(0.15, 0.85)]),
        duration=rng.uniform(5, 9) * time_scale,
        drift=rng.normal(0, 0.004, 2) / time_scale,
    )
    path = BallPath(shot.start).hold(shot.kick_time)
    play = {"goal": _play_goal, "over": _play_over, "wide": _play_wide}.get(variant, _play_rebound)
    play(path, geometry, shot, back, rng, time_scale)
    path.to(path.point + back.drift * num_frames, duration=num_frames)  # slow roll until the end of the clip
    ball_xy, ball_z = path.evaluate(num_frames)
    return np.clip(ball_xy, -0.2, 1.2), ball_z


def _in_front_of_goal(geometry: _Geometry, y: float, rng: np.random.Generator) -> np.ndarray:
    """A point just in front of the goal line, on the ball's way back to the field."""
    return np.array([geometry.goal_line_x - geometry.ball_radius - geometry.post_radius - rng.uniform(0.0, 0.04), y])


def _play_goal(path: BallPath, geometry: _Geometry, shot: _Shot, back: _Return, rng: np.random.Generator,
               time_scale: float) -> None:
    """Into the net, a short stay there, then taken out and back to the field."""
    radius, centre_y, half_width = geometry.ball_radius, geometry.goal_center_y, geometry.goal_half_width
    start, direction = shot.start, shot.direction
    rest = start + direction * ((geometry.goal_line_x + geometry.net_depth - 0.5 * radius - start[0]) / direction[0])
    rest[1] = np.clip(rest[1], centre_y - half_width + 0.7 * radius, centre_y + half_width - 0.7 * radius)
    shot_length = np.linalg.norm(rest - start)
    path.to(rest, duration=shot_length / shot.speed, height=shot.chip)
    bounce = rest + (start - rest) / shot_length * rng.uniform(0.0, 0.015)
    # A short stay in the net (a fifth of the clip at most), then the ball is taken out: the
    # last frames do not give the class away.
    path.to(bounce, duration=rng.uniform(0.5, 1.5) * time_scale).hold(max(1.0, rng.uniform(4.0, 6.0) * time_scale))
    exit_half_width = half_width - geometry.post_radius - radius - 0.01  # clear of the posts on the way out
    mouth_y = np.clip(bounce[1], centre_y - exit_half_width, centre_y + exit_half_width)
    path.to(_in_front_of_goal(geometry, mouth_y, rng), back.point, duration=back.duration, ease=ease_out)


def _play_over(path: BallPath, geometry: _Geometry, shot: _Shot, back: _Return, rng: np.random.Generator,
               time_scale: float) -> None:
    """Lobbed: above the bar at the line, above the net to its back, then it drops behind the net
    and is rolled back round a post."""
    centre_y, half_width = geometry.goal_center_y, geometry.goal_half_width
    start, direction = shot.start, shot.direction
    net_back_x = geometry.goal_line_x + geometry.net_depth + 0.3 * geometry.ball_radius
    over_back = start + direction * ((net_back_x - start[0]) / direction[0])
    over_back[1] = np.clip(over_back[1], centre_y - half_width, centre_y + half_width)
    landing = over_back + direction * rng.uniform(0.03, 0.08)
    flight = np.linalg.norm(over_back - start) / shot.speed
    path.to(over_back, duration=flight, z=rng.uniform(1.2, 1.5), height=rng.uniform(0.3, 0.7))
    path.to(landing, duration=rng.uniform(1, 2) * time_scale).hold(rng.uniform(1, 3) * time_scale)
    side = 1.0 if landing[1] > centre_y else -1.0
    outside_y = centre_y + side * (half_width + geometry.post_radius + geometry.ball_radius + rng.uniform(0.02, 0.05))
    corner = np.array([geometry.goal_line_x + rng.uniform(0.02, 0.06), outside_y])
    path.to([landing[0], outside_y], corner, _in_front_of_goal(geometry, outside_y, rng),
            duration=rng.uniform(3, 5) * time_scale)
    path.to(back.point, duration=back.duration, ease=ease_out)


def _play_wide(path: BallPath, geometry: _Geometry, shot: _Shot, back: _Return, rng: np.random.Generator,
               time_scale: float) -> None:
    """Past a post, rolls to a stop behind the line, then back to the field."""
    stop = shot.contact + shot.direction * rng.uniform(0.08, 0.16)
    stop[1] = np.clip(stop[1], 0.06, 0.94)
    path.to(shot.contact, duration=np.linalg.norm(shot.contact - shot.start) / shot.speed, height=shot.chip)
    path.to(stop, duration=rng.uniform(2, 4) * time_scale, ease=ease_out).hold(rng.uniform(1, 3) * time_scale)
    path.to(_in_front_of_goal(geometry, stop[1], rng), back.point, duration=back.duration, ease=ease_out)


def _play_rebound(path: BallPath, geometry: _Geometry, shot: _Shot, back: _Return, rng: np.random.Generator,
                  time_scale: float) -> None:
    """Saved or post: the ball rebounds from the contact point to the field."""
    path.to(shot.contact, duration=np.linalg.norm(shot.contact - shot.start) / shot.speed, height=shot.chip)
    path.to(back.point, duration=back.duration + rng.uniform(1, 3) * time_scale, ease=ease_out)


def _keeper_track(variant: str, geometry: _Geometry, shot: _Shot, rng: np.random.Generator,
                  num_frames: int) -> np.ndarray:
    """Keeper [T,2]: slides along the goal line in every clip, where planned at the contact time;
    a keeper who saves stays where the ball hit him."""
    times = np.arange(num_frames, dtype=np.float64)
    amplitude = rng.uniform(0.02, 0.6 * geometry.goal_half_width)
    omega = rng.uniform(0.3, 1.0) * 2 * math.pi / num_frames
    phase = rng.uniform(0, 2 * math.pi)
    keeper_y = shot.keeper_y_at_contact + amplitude * (np.sin(omega * (times - shot.contact_time) + phase)
                                                       - math.sin(phase))
    keeper_y = np.clip(keeper_y, geometry.goal_center_y - geometry.goal_half_width,
                       geometry.goal_center_y + geometry.goal_half_width)
    if variant == "saved":
        contact_frame = int(round(shot.contact_time))
        keeper_y[contact_frame:] = keeper_y[min(contact_frame, num_frames - 1)]
    keeper_x = shot.keeper_x + 0.01 * np.sin(omega * 1.7 * times + phase)
    return np.stack([keeper_x, keeper_y], axis=1)


def _outfield_players(geometry: _Geometry, shot: _Shot, rng: np.random.Generator, num_frames: int,
                      time_scale: float) -> np.ndarray:
    """1-2 outfield players [P,T,2]; the first is the shooter, starting just behind the ball.
    They stay out of the goal area, so they never hide the event."""
    num_players = int(rng.integers(1, 3))
    players = np.zeros((num_players, num_frames, 2))
    limits = (geometry.goal_line_x - 0.25, 0.95)  # the furthest x and y a player goes to
    for k in range(num_players):
        if k == 0:
            position = shot.start - shot.direction * (geometry.ball_radius + 0.05)
            velocity = shot.direction * rng.uniform(0.003, 0.01) / time_scale
        else:
            position = np.array([rng.uniform(0.05, limits[0]), rng.uniform(0.1, 0.9)])
            velocity = rng.normal(0, 0.008, 2) / time_scale
        for t in range(num_frames):
            velocity = 0.9 * velocity + rng.normal(0, 0.002, 2) / time_scale
            position = position + velocity
            for axis in range(2):
                if not 0.03 < position[axis] < limits[axis]:
                    velocity[axis] = -velocity[axis]
                    position[axis] = np.clip(position[axis], 0.03, limits[axis])
            players[k, t] = position
    return players
