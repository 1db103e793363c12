"""The articulated stick figure of the motion set: its skeleton, the joint angles of each action over
time, and the drawing of one pose into a frame.

A pose is 9 joint angles in radians (`JOINTS`), seen from the side with the figure facing +x:
the torso's lean forward, and for the near and far side the hip (thigh from straight down, forward
positive), the knee (flexion, the shin folds back), the shoulder (upper arm from straight down,
forward positive, relative to the torso) and the elbow (flexion, the forearm folds forward). An
action is `Motion`: the angles [T,9], the lift of the whole body off the ground [T] and the distance
travelled forward [T], both in body heights.

What is random inside an action (stride, knee lift, arm swing, lean, crouch depth) is drawn from one
distribution shared by every action that uses it: walk and run draw the same gait and differ only in
cadence (strides per second), so a single frame cannot tell them apart (see docs/motion_data.md).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, Sequence, Tuple

import cv2
import numpy as np

from pipeline.demo.drawing import ANTIALIASED, FIXED_POINT_BITS, hsv_colour, rgb_tuple

JOINTS = ("lean", "hip_near", "knee_near", "hip_far", "knee_far",
          "shoulder_near", "elbow_near", "shoulder_far", "elbow_far")
# Segment lengths in body heights (a standing figure is about 1.0 tall from sole to crown).
THIGH, SHIN, FOOT = 0.235, 0.235, 0.06
TORSO, NECK, HEAD_RADIUS = 0.30, 0.03, 0.075
UPPER_ARM, FOREARM = 0.15, 0.14
# Drawn widths in body heights, near a person's (thigh about 0.09, upper arm 0.055, chest 0.17): thinner
# lines leave a figure that a frozen ImageNet CNN barely sees once the frame is downscaled.
LIMB_WIDTH = {"leg": 0.08, "arm": 0.06, "torso": 0.16}
REACH_ABOVE_GROUND = 1.45  # the highest a hand or head gets (arms up at a jump's top): room kept above every figure

WALK_CADENCE = (0.8, 1.0)  # strides (two steps) per second
RUN_CADENCE = (1.4, 1.8)
JUMP_RATE = (0.6, 1.0)  # jumps per second
WAVE_RATE = (1.5, 2.5)  # hand oscillations per second
SIT_SECONDS = (0.8, 1.4)  # how long sitting down takes


@dataclass(frozen=True)
class Motion:
    """An action over T frames: joint angles [T,9] (`JOINTS`), lift and forward travel [T] in body heights."""

    angles: np.ndarray
    lift: np.ndarray
    travel: np.ndarray


@dataclass(frozen=True)
class Outfit:
    """The colours of one figure: skin, shirt (torso and arms), trousers, as RGB tuples."""

    skin: Tuple[int, ...]
    shirt: Tuple[int, ...]
    trousers: Tuple[int, ...]

    @staticmethod
    def random(rng: np.random.Generator) -> Outfit:
        """Clothing drawn from one distribution for every action."""
        skin = hsv_colour(rng.uniform(0.03, 0.1), rng.uniform(0.3, 0.7), rng.uniform(0.3, 0.95))
        shirt = hsv_colour(rng.random(), rng.uniform(0.0, 1.0), rng.uniform(0.15, 1.0))
        trousers = hsv_colour(rng.random(), rng.uniform(0.0, 0.8), rng.uniform(0.1, 0.8))
        return Outfit(rgb_tuple(skin), rgb_tuple(shirt), rgb_tuple(trousers))


def _idle(rng: np.random.Generator, seconds: np.ndarray) -> np.ndarray:
    """Small body sway every action has: angles [T,9] to add."""
    sway = np.zeros((len(seconds), len(JOINTS)))
    for joint in range(len(JOINTS)):
        rate, phase = rng.uniform(0.2, 0.6), rng.uniform(0, 2 * math.pi)
        sway[:, joint] = rng.uniform(0.0, 0.04) * np.sin(2 * math.pi * rate * seconds + phase)
    return sway


def gait(rng: np.random.Generator, seconds: np.ndarray, cadence: Tuple[float, float], travels: bool) -> Motion:
    """Walking or running: one gait distribution, `cadence` strides per second; on the spot, or moving
    forward (`travels`) at the speed the stride gives, so that the feet do not slide."""
    rate = rng.uniform(*cadence)
    phase = 2 * math.pi * (rate * seconds + rng.random())
    stride, knee_lift = rng.uniform(0.3, 0.5), rng.uniform(0.6, 1.1)
    arm_swing, elbow = rng.uniform(0.25, 0.6), rng.uniform(0.15, 1.4)
    lean, bounce = rng.uniform(0.0, 0.2), rng.uniform(0.0, 0.03)
    angles = np.zeros((len(seconds), len(JOINTS)))
    angles[:, 0] = lean + 0.03 * np.cos(2 * phase)
    for side, offset in ((1, 0.0), (3, math.pi)):  # near leg, far leg half a stride later
        leg_phase = phase + offset
        angles[:, side] = 0.05 + stride * np.sin(leg_phase)
        angles[:, side + 1] = 0.08 + knee_lift * np.maximum(0.0, np.cos(leg_phase)) ** 1.5
        arm = 5 if side == 1 else 7  # the arm swings against the leg on its side
        angles[:, arm] = -arm_swing * np.sin(leg_phase)
        angles[:, arm + 1] = elbow + 0.3 * np.maximum(0.0, np.sin(leg_phase))
    lift = bounce * np.abs(np.cos(phase))  # highest as the legs pass each other
    speed = 4 * (THIGH + SHIN) * math.sin(stride) * rate * rng.uniform(0.85, 1.0) if travels else 0.0
    travel = speed * seconds
    return Motion(angles + _idle(rng, seconds), lift, travel)


def _pose(lean: float, hip: float, knee: float, shoulder: float, elbow: float) -> np.ndarray:
    """Both sides alike, the far side a little apart so that it shows."""
    return np.array([lean, hip, knee, hip + 0.06, knee + 0.04, shoulder, elbow, shoulder - 0.08, elbow])


def _keyframes(keys: Sequence[Tuple[float, np.ndarray]], progress: np.ndarray) -> np.ndarray:
    """Poses at `progress` [T] (0..1) eased between (progress, pose) keys: [T,9]."""
    stops = np.array([key for key, _ in keys])
    poses = np.stack([pose for _, pose in keys])
    segment = np.clip(np.searchsorted(stops, progress, side="right") - 1, 0, len(keys) - 2)
    local = np.clip((progress - stops[segment]) / (stops[segment + 1] - stops[segment]), 0, 1)
    eased = (0.5 - 0.5 * np.cos(math.pi * local))[:, None]
    return poses[segment] * (1 - eased) + poses[segment + 1] * eased


def jump(rng: np.random.Generator, seconds: np.ndarray, travels: bool) -> Motion:
    """Jumping on the spot, or hopping forward (`travels`): crouch, take off with the arms up, fly, land, absorb."""
    rate, start = rng.uniform(*JUMP_RATE), rng.random()
    depth, height = rng.uniform(0.6, 1.1), rng.uniform(0.12, 0.3)
    hop = rng.uniform(0.1, 0.4) if travels else 0.0
    stand, crouch = _pose(0.03, 0.05, 0.05, 0.1, 0.2), _pose(0.45, depth, 1.6 * depth, -0.6, 0.3)
    keys = [(0.0, stand), (0.2, crouch), (0.32, _pose(0.1, -0.05, 0.0, 2.7, 0.1)),
            (0.55, _pose(0.05, 0.35, 0.7, 2.2, 0.3)), (0.78, _pose(0.05, 0.1, 0.15, 1.2, 0.3)),
            (0.88, _pose(0.35, 0.8 * depth, 1.3 * depth, 0.6, 0.4)), (1.0, stand)]
    cycles = rate * seconds + start
    within = cycles % 1.0
    flight = np.clip((within - 0.32) / 0.46, 0, 1)
    lift = height * 4 * flight * (1 - flight)
    travel = hop * (np.floor(cycles) + 0.5 - 0.5 * np.cos(math.pi * flight))
    return Motion(_keyframes(keys, within) + _idle(rng, seconds), lift, travel - travel[0])


def wave(rng: np.random.Generator, seconds: np.ndarray) -> Motion:
    """Standing and waving one raised hand (raised from the start, or raised during the clip)."""
    rate, phase = rng.uniform(*WAVE_RATE), rng.uniform(0, 2 * math.pi)
    raise_at = rng.uniform(-0.5, 0.3 * seconds[-1])
    raised = np.clip((seconds - raise_at) / 0.4, 0, 1)
    raised = 0.5 - 0.5 * np.cos(math.pi * raised)
    angles = np.tile(_pose(0.03, 0.05, 0.05, 0.1, 0.2), (len(seconds), 1))
    arm = 5 if rng.random() < 0.5 else 7
    swing = np.sin(2 * math.pi * rate * seconds + phase)
    shoulder = rng.uniform(2.4, 2.9) + 0.1 * swing
    elbow = rng.uniform(0.3, 0.6) + rng.uniform(0.3, 0.6) * swing
    angles[:, arm] = angles[:, arm] * (1 - raised) + shoulder * raised
    angles[:, arm + 1] = angles[:, arm + 1] * (1 - raised) + elbow * raised
    zeros = np.zeros(len(seconds))
    return Motion(angles + _idle(rng, seconds), zeros, zeros.copy())


def sit_down(rng: np.random.Generator, seconds: np.ndarray, fps: float) -> Motion:
    """From standing to sitting on an unseen seat; the wait before and after is drawn alike, so that
    the motion played backwards (standing up) comes from the same distribution of clips."""
    num_frames = len(seconds)
    duration = min(rng.uniform(*SIT_SECONDS) * fps, 0.7 * num_frames)
    margin = 0.1 * num_frames
    begin = rng.uniform(margin, num_frames - duration - margin)
    progress = np.clip((np.arange(num_frames) - begin) / duration, 0, 1)
    seat = rng.uniform(1.3, 1.6)
    keys = [(0.0, _pose(0.03, 0.05, 0.05, 0.1, 0.2)), (0.45, _pose(0.6, 0.9, 1.0, 1.3, 0.3)),
            (0.8, _pose(0.35, seat, seat, 0.9, 0.5)), (1.0, _pose(0.15, seat, seat, 0.6, 0.7))]
    zeros = np.zeros(num_frames)
    return Motion(_keyframes(keys, progress) + _idle(rng, seconds), zeros, zeros.copy())


def _joints(pose: np.ndarray) -> Dict[str, np.ndarray]:
    """Joint positions in body heights (x forward, y up), hip at the origin."""
    lean = pose[0]
    shoulder = np.array([math.sin(lean), math.cos(lean)]) * TORSO
    points = {"hip": np.zeros(2), "shoulder": shoulder,
              "head": shoulder + np.array([math.sin(lean), math.cos(lean)]) * (NECK + HEAD_RADIUS)}
    for side, base in (("near", 1), ("far", 3)):
        hip, knee = pose[base], pose[base + 1]
        points[f"knee_{side}"] = THIGH * np.array([math.sin(hip), -math.cos(hip)])
        shin = hip - knee
        points[f"ankle_{side}"] = points[f"knee_{side}"] + SHIN * np.array([math.sin(shin), -math.cos(shin)])
        points[f"toe_{side}"] = points[f"ankle_{side}"] + FOOT * np.array([math.cos(shin), math.sin(shin)])
    for side, base in (("near", 5), ("far", 7)):
        upper = pose[base] + lean
        points[f"elbow_{side}"] = shoulder + UPPER_ARM * np.array([math.sin(upper), -math.cos(upper)])
        fore = upper + pose[base + 1]
        points[f"hand_{side}"] = points[f"elbow_{side}"] + FOREARM * np.array([math.sin(fore), -math.cos(fore)])
    return points


def body_points(pose: np.ndarray, lift: float) -> Dict[str, np.ndarray]:
    """Joint positions in body heights with the lowest foot point on the ground (y = 0) plus `lift`."""
    points = _joints(pose)
    ground = min(points[name][1] for name in ("ankle_near", "ankle_far", "toe_near", "toe_far"))
    return {name: point - np.array([0.0, ground - lift]) for name, point in points.items()}


_LIMBS = {"leg": ("hip", "knee", "ankle", "toe"), "arm": ("shoulder", "elbow", "hand")}


def draw_figure(img: np.ndarray, pose: np.ndarray, lift: float, foot_xy: Tuple[float, float], height_px: float,
                facing: int, outfit: Outfit) -> None:
    """Draw one pose into `img` (uint8 [H,W,3], in place): hip above `foot_xy` (pixels), `height_px` tall,
    facing +x (1) or -x (-1). The far limbs are darker and drawn first."""
    points = body_points(pose, lift)
    scale = float(1 << FIXED_POINT_BITS)

    def pixel(name: str) -> Tuple[int, int]:
        x, y = points[name]
        return (int(round((foot_xy[0] + facing * x * height_px) * scale)),
                int(round((foot_xy[1] - y * height_px) * scale)))

    shade = {"far": 0.7, "near": 1.0}

    def width(kind: str) -> int:
        return max(1, int(round(LIMB_WIDTH[kind] * height_px)))

    def limb(kind: str, side: str, colour: Tuple[int, ...]) -> None:
        names = [name if name in ("hip", "shoulder") else f"{name}_{side}" for name in _LIMBS[kind]]
        tone = tuple(int(channel * shade[side]) for channel in colour)
        for start, end in zip(names[:-1], names[1:]):
            cv2.line(img, pixel(start), pixel(end), tone, width(kind), ANTIALIASED, FIXED_POINT_BITS)

    limb("arm", "far", outfit.shirt)
    limb("leg", "far", outfit.trousers)
    cv2.line(img, pixel("hip"), pixel("shoulder"), outfit.shirt, width("torso"), ANTIALIASED, FIXED_POINT_BITS)
    radius = int(round(HEAD_RADIUS * height_px * scale))
    cv2.circle(img, pixel("head"), radius, outfit.skin, -1, ANTIALIASED, FIXED_POINT_BITS)
    limb("leg", "near", outfit.trousers)
    limb("arm", "near", outfit.shirt)
