"""The demo data sets on disk: ``out_dir/{train,val,test}/<class>/<split>_<class>_<i:04d>.mp4`` and
a ``manifest.json`` written last, so a killed run is seen as incomplete and done again.

Each clip draws from its own generator, seeded from (seed, split, class, index): a seed gives the
same frames whatever else is generated. See docs/demo_data.md for what the clips show.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Set, Tuple, Union

import numpy as np

from pipeline.atomic_io import write_text_atomic
from pipeline.demo.direction import DIRECTION_CLASSES, render_direction_clip
from pipeline.demo.drawing import check_frame_size
from pipeline.demo.football_plan import FOOTBALL_CLASSES
from pipeline.demo.football_render import football_clip
from pipeline.demo.video_writer import write_video

PathLike = Union[str, "os.PathLike[str]"]
SPLITS = ("train", "val", "test")
GENERATOR_VERSION = 4  # bump when rendering changes, so old data sets are regenerated

# (label, generator, size, num_frames) -> (frames uint8 [T,S,S,3], the clip's variant for the manifest)
RenderClip = Callable[[str, np.random.Generator, int, int], Tuple[np.ndarray, str]]


@dataclass(frozen=True)
class DemoSet:
    """One kind of demo data set: its name, its two classes, how a clip is drawn and how hard it is encoded."""

    name: str
    classes: Tuple[str, str]
    render: RenderClip
    crf: int


def _render_football(label: str, rng: np.random.Generator, size: int, num_frames: int) -> Tuple[np.ndarray, str]:
    frames, plan = football_clip(label, rng, size, num_frames)
    return frames, plan.variant


def _render_direction(label: str, rng: np.random.Generator, size: int, num_frames: int) -> Tuple[np.ndarray, str]:
    return render_direction_clip(label, rng, size, num_frames), label


FOOTBALL_SET = DemoSet("football", FOOTBALL_CLASSES, _render_football, crf=18)
# Encoded at a high quality so that compression leaves no per-frame difference between the classes.
DIRECTION_SET = DemoSet("direction", DIRECTION_CLASSES, _render_direction, crf=10)


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
    return write_demo_set(FOOTBALL_SET, out_dir, {"train": n_train, "val": n_val, "test": n_test}, size, num_frames,
                          seed, fps, force)


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
    """Write the left_to_right / right_to_left data set under `out_dir` (same layout and reuse rules as
    `generate_football_dataset`)."""
    return write_demo_set(DIRECTION_SET, out_dir, {"train": n_train, "val": n_val, "test": n_test}, size,
                          num_frames, seed, fps, force)


def clip_rng(seed: int, split: str, class_index: int, index: int) -> np.random.Generator:
    """The generator of one clip: independent of every other clip in the set."""
    return np.random.default_rng([seed, SPLITS.index(split), class_index, index])


def write_demo_set(demo_set: DemoSet, out_dir: PathLike, counts: Dict[str, int], size: int, num_frames: int,
                   seed: int, fps: float, force: bool) -> Path:
    """Write every clip of `counts` (clips per split, both classes together), then the manifest.

    A complete set with the same parameters already in `out_dir` is kept unless `force`; clips left
    from an earlier, larger set in the same folder are removed.
    """
    check_frame_size(size)
    out_dir = Path(out_dir)
    num_classes = len(demo_set.classes)
    for split, count in counts.items():
        if count < 0 or count % num_classes:
            raise ValueError(f"n_{split} must be a non-negative multiple of {num_classes} (balanced), got {count}")
    # The key order is the manifest's: keep it, so a set written before still compares equal byte for byte.
    params = {"dataset": demo_set.name, "generator_version": GENERATOR_VERSION, "seed": seed, "size": size,
              "num_frames": num_frames, **{f"n_{split}": count for split, count in counts.items()}, "fps": fps,
              "crf": demo_set.crf}
    manifest_path = out_dir / "manifest.json"
    if not force and _is_complete(out_dir, params):
        return out_dir
    if manifest_path.exists():
        manifest_path.unlink()  # from here on the data set is incomplete until the new manifest lands

    clips = []
    for split, count in counts.items():
        for class_index, label in enumerate(demo_set.classes):
            for index in range(count // num_classes):
                path = out_dir / split / label / f"{split}_{label}_{index:04d}.mp4"
                frames, variant = demo_set.render(label, clip_rng(seed, split, class_index, index), size, num_frames)
                write_video(path, frames, fps=fps, crf=demo_set.crf)
                clips.append({"path": path.relative_to(out_dir).as_posix(), "split": split, "label": label,
                              "variant": variant})
    _remove_stale_clips(out_dir, demo_set.classes, {clip["path"] for clip in clips})
    manifest = {
        "params": params,
        "classes": list(demo_set.classes),
        "counts": {split: {label: count // num_classes for label in demo_set.classes}
                   for split, count in counts.items()},
        "clips": clips,
    }
    write_text_atomic(manifest_path, json.dumps(manifest, indent=1))
    return out_dir


def _is_complete(out_dir: Path, params: dict) -> bool:
    """True when `out_dir` holds a manifest written with `params` and every clip it lists."""
    try:
        manifest = json.loads((out_dir / "manifest.json").read_text())
    except (OSError, ValueError):
        return False
    return bool(manifest) and manifest.get("params") == params and all(
        (out_dir / clip["path"]).is_file() for clip in manifest["clips"])


def _remove_stale_clips(out_dir: Path, classes: Tuple[str, ...], wanted: Set[str]) -> None:
    """Delete clips left from an earlier, larger set in the same folder: they would join this one."""
    for split in SPLITS:
        for label in classes:
            for stale in (out_dir / split / label).glob(f"{split}_{label}_*.mp4"):
                if stale.relative_to(out_dir).as_posix() not in wanted:
                    stale.unlink()
