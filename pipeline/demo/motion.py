"""The motion set: a stick figure walking, running, jumping, waving, sitting down or standing up, over
a still frame of real video panning slowly, seen by a shaking camera. Classes differ in how the body
moves; everything else about a clip is drawn the same way for every class (see docs/motion_data.md).

    render_motion_clip        one clip, uint8 [T,H,W,3]
    generate_motion_dataset   ``out_dir/<class>/<class>_<i:04d>.mp4`` (flat, for k-fold) and manifest.json last

A clip's generator is split in three before anything is drawn: the scene (actor, size, clothes, place,
clip length, background, camera, noise), the action, and the noise. Given the same generator, every
class gets exactly the same scene; only the figure's motion differs. `stand_up` is `sit_down` played
backwards: the same frames in reverse order.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np

from pipeline.atomic_io import write_text_atomic
from pipeline.demo.backgrounds import (
    default_backgrounds,
    load_background_frames,
    panned_background,
    procedural_background,
)
from pipeline.demo.drawing import camera_jitter
from pipeline.demo.stick_figure import (
    REACH_ABOVE_GROUND,
    RUN_CADENCE,
    WALK_CADENCE,
    Motion,
    Outfit,
    draw_figure,
    gait,
    jump,
    sit_down,
    wave,
)
from pipeline.demo.video_writer import write_video

PathLike = Union[str, "os.PathLike[str]"]
MOTION_CLASSES = ("walk", "run", "jump", "wave", "sit_down", "stand_up")
REVERSED_CLASSES = {"stand_up": "sit_down"}  # class -> the class whose clip it plays backwards
MOTION_VERSION = 2  # bump when rendering changes, so old data sets are regenerated
WIDTH, HEIGHT, FRAMES, FPS = 320, 180, (48, 64), 25.0  # defaults: frame size (16:9), clip length range, rate
MOTION_CRF = 16  # high quality: compression should add as little per-frame difference as it can
HEIGHT_FRACTION = (0.3, 0.6)  # the standing figure's height, as a fraction of the frame's (KTH, Weizmann: 0.4-0.6)
TRAVEL_CHANCE = 0.5  # walk, run and jump move across the frame in this share of clips (else on the spot)
SHAKE = 0.006  # camera jitter scale (drawing.camera_jitter)
NOISE_SIGMA = (1.0, 4.0)  # sensor noise, grey levels
PROCEDURAL = "procedural"


@dataclass(frozen=True)
class MotionScene:
    """Everything about a clip but the action, drawn the same way for every class."""

    num_frames: int
    height_px: float  # the standing figure's height
    facing: int  # +1 facing right, -1 facing left
    outfit: Outfit
    ground_px: float  # y of the feet
    place: float  # 0..1: where the figure's path lies within the room the frame leaves it
    travels: bool
    background: int  # index into the background pool (-1: procedural)
    jitter: np.ndarray  # camera offsets in pixels [T,2]
    noise_sigma: float


def draw_scene(rng: np.random.Generator, width: int, height: int, frames: Tuple[int, int],
               pool_size: int) -> MotionScene:
    """The scene of one clip: `frames` is the (min, max) clip length, `pool_size` the background frames (0: none)."""
    num_frames = int(rng.integers(frames[0], frames[1] + 1))
    height_px = rng.uniform(*HEIGHT_FRACTION) * height
    lowest = REACH_ABOVE_GROUND * HEIGHT_FRACTION[1] * height  # the same headroom for every class and size
    burn_in = 20  # start the shake from its steady state, so that a clip played backwards shakes alike
    return MotionScene(
        num_frames=num_frames, height_px=height_px, facing=1 if rng.random() < 0.5 else -1,
        outfit=Outfit.random(rng), ground_px=rng.uniform(min(lowest, 0.95 * height), 1.02 * height),
        place=rng.random(), travels=bool(rng.random() < TRAVEL_CHANCE),
        background=int(rng.integers(pool_size)) if pool_size else -1,
        jitter=camera_jitter(num_frames + burn_in, rng, height, SHAKE)[burn_in:],
        noise_sigma=rng.uniform(*NOISE_SIGMA))


def motion_for(label: str, rng: np.random.Generator, num_frames: int, fps: float, travels: bool) -> Motion:
    """The figure's action for class `label` over `num_frames` (stand_up: sit_down, to be played backwards)."""
    seconds = np.arange(num_frames) / fps
    label = REVERSED_CLASSES.get(label, label)
    if label == "walk":
        return gait(rng, seconds, WALK_CADENCE, travels)
    if label == "run":
        return gait(rng, seconds, RUN_CADENCE, travels)
    if label == "jump":
        return jump(rng, seconds, travels)
    if label == "wave":
        return wave(rng, seconds)
    return sit_down(rng, seconds, fps)


def _hip_x(scene: MotionScene, motion: Motion, width: int) -> np.ndarray:
    """The figure's x in pixels [T]: its whole path kept within the frame's width (so at worst half
    the figure is out of the frame), placed by `scene.place`."""
    offsets = scene.facing * motion.travel * scene.height_px
    low, high = -offsets.min(), width - offsets.max()
    start = low + scene.place * (high - low) if high >= low else (low + high) / 2
    return start + offsets


def render_motion_clip(label: str, rng: np.random.Generator, width: int = WIDTH, height: int = HEIGHT,
                       frames: Tuple[int, int] = FRAMES, fps: float = FPS,
                       backgrounds: Sequence[np.ndarray] = (), background_fill: Optional[int] = None) -> np.ndarray:
    """One clip of class `label`: uint8 [T,H,W,3] RGB, T drawn from `frames` (min, max). The background is
    a frame from `backgrounds` (uint8 [h,w,3] each), or a procedural scene when there are none;
    `background_fill` paints it one grey level instead, all else drawn alike (see `actor_mask`)."""
    if label not in MOTION_CLASSES:
        raise ValueError(f"label must be one of {MOTION_CLASSES}, got {label!r}")
    _check_size(width, height, frames)
    scene_rng, motion_rng, noise_rng = (np.random.default_rng(seed) for seed in rng.integers(2**63, size=3))
    scene = draw_scene(scene_rng, width, height, frames, len(backgrounds))
    source = backgrounds[scene.background] if backgrounds else procedural_background(
        scene_rng, int(height * 1.3), int(width * 1.3))
    if background_fill is not None:
        source = np.full_like(source, background_fill)
    clip = panned_background(source, scene_rng, height, width, scene.jitter)
    motion = motion_for(label, motion_rng, scene.num_frames, fps, scene.travels)
    hip_x = _hip_x(scene, motion, width)
    for t, img in enumerate(clip):  # the camera shake moves the figure with the background
        foot = (hip_x[t] + scene.jitter[t, 0], scene.ground_px + scene.jitter[t, 1])
        draw_figure(img, motion.angles[t], motion.lift[t], foot, scene.height_px, scene.facing, scene.outfit)
        noise = noise_rng.standard_normal((height, width), dtype=np.float32) * scene.noise_sigma
        clip[t] = cv2.add(img, cv2.merge([noise] * 3), dtype=cv2.CV_8U)  # grey sensor noise, rounded, saturated
    return clip[::-1].copy() if label in REVERSED_CLASSES else clip


def actor_mask(label: str, rng_key: Sequence[int], width: int = WIDTH, height: int = HEIGHT,
               frames: Tuple[int, int] = FRAMES, fps: float = FPS,
               backgrounds: Sequence[np.ndarray] = ()) -> np.ndarray:
    """bool [T,H,W]: where the actor is in the clip `render_motion_clip` draws from `clip_rng(*rng_key)`,
    found by drawing it again over a black and over a white background (the ground truth for how well
    the motion window holds the actor)."""
    black, white = (render_motion_clip(label, clip_rng(*rng_key), width, height, frames, fps, backgrounds, fill)
                    for fill in (0, 255))
    return np.abs(black.astype(np.int16) - white.astype(np.int16)).max(axis=-1) < 64


def clip_path(label: str, index: int) -> str:
    """Where clip `index` of class `label` lies in a motion set, relative to the set's folder."""
    return f"{label}/{label}_{index:04d}.mp4"


def clip_rng(seed: int, class_index: int, index: int) -> np.random.Generator:
    """The random state clip `index` of class `class_index` of a set made with `seed` is drawn from."""
    return np.random.default_rng([seed, class_index, index])


def _check_size(width: int, height: int, frames: Tuple[int, int]) -> None:
    if width < 16 or height < 16 or width % 2 or height % 2:
        raise ValueError(f"size must be even numbers of pixels >= 16, got {width}x{height}")
    if not 2 <= frames[0] <= frames[1]:
        raise ValueError(f"frames must be (min, max) with 2 <= min <= max, got {frames}")


def background_pool(backgrounds: str, height: int) -> Tuple[List[np.ndarray], str]:
    """The background frames and where they come from: "auto" (the real videos beside the repository
    when there, else procedural), "procedural", or a folder of videos."""
    if backgrounds == "auto":
        folder = default_backgrounds()
        backgrounds = str(folder) if folder is not None else PROCEDURAL
    if backgrounds == PROCEDURAL:
        return [], PROCEDURAL
    return load_background_frames(backgrounds, height), str(Path(backgrounds).resolve())


def generate_motion_dataset(
    out_dir: PathLike,
    clips_per_class: int = 30,
    width: int = WIDTH,
    height: int = HEIGHT,
    frames: Tuple[int, int] = FRAMES,
    fps: float = FPS,
    seed: int = 0,
    backgrounds: str = "auto",
    force: bool = False,
) -> Path:
    """Write `clips_per_class` clips of every class in `MOTION_CLASSES` under `out_dir`, one folder per class,
    then manifest.json. `backgrounds`: "auto", "procedural" or a folder of videos (see `_background_pool`).

    A complete set with the same parameters already there is kept unless `force`; clips left from an
    earlier, larger set in the same folder are removed.
    """
    _check_size(width, height, frames)
    if clips_per_class < 1:
        raise ValueError(f"clips_per_class must be at least 1, got {clips_per_class}")
    out_dir = Path(out_dir)
    pool, source = background_pool(backgrounds, height)
    params = {"dataset": "motion", "version": MOTION_VERSION, "seed": seed, "clips_per_class": clips_per_class,
              "width": width, "height": height, "frames": list(frames), "fps": fps, "crf": MOTION_CRF,
              "backgrounds": source, "background_frames": len(pool)}
    manifest_path = out_dir / "manifest.json"
    if not force and _is_complete(out_dir, params):
        return out_dir
    if manifest_path.exists():
        manifest_path.unlink()  # incomplete from here until the new manifest lands
    clips: List[Dict[str, object]] = []
    for class_index, label in enumerate(MOTION_CLASSES):
        for index in range(clips_per_class):
            path = out_dir / clip_path(label, index)
            video = render_motion_clip(label, clip_rng(seed, class_index, index), width, height, frames, fps, pool)
            write_video(path, video, fps=fps, crf=MOTION_CRF)
            clips.append({"path": path.relative_to(out_dir).as_posix(), "label": label, "num_frames": len(video)})
    wanted = {clip["path"] for clip in clips}
    for stale in out_dir.glob("*/*.mp4"):
        if stale.parent.name in MOTION_CLASSES and stale.relative_to(out_dir).as_posix() not in wanted:
            stale.unlink()
    manifest = {"params": params, "classes": list(MOTION_CLASSES), "clips": clips}
    write_text_atomic(manifest_path, json.dumps(manifest, indent=1))
    return out_dir


def _is_complete(out_dir: Path, params: dict) -> bool:
    """True when `out_dir` holds a manifest written with `params` and every clip it lists."""
    try:
        manifest = json.loads((out_dir / "manifest.json").read_text())
    except (OSError, ValueError):
        return False
    return manifest.get("params") == params and all((out_dir / clip["path"]).is_file() for clip in manifest["clips"])

