"""How well the motion window holds the actor, measured on a generated motion set (scripts/make_motion_data.py).

The generator draws any clip of the set again over a black and a white background
(`motion.actor_mask`), which says where the actor is in every frame. The window is found from the
encoded file, as training finds it (pipeline/data/motion_box.py). Per clip: the share of the actor's
pixels, over all its frames, inside the window, and the actor's height over the window's side (how
large the CNN sees it: 1.0 fills the input).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np

from pipeline.data.motion_box import probe_motion_box
from pipeline.data.readers import read_with_fallback
from pipeline.demo.motion import MOTION_CLASSES, actor_mask, background_pool, clip_path
from pipeline.errors import InputError


@dataclass(frozen=True)
class ClipCoverage:
    """One clip: `coverage` of its actor's pixels inside the window; `actor_height` over the window's side."""

    path: str
    label: str
    coverage: float
    actor_height: float


def _manifest(data_dir: Path) -> dict:
    try:
        manifest = json.loads((data_dir / "manifest.json").read_text())
        params = manifest["params"]
    except (OSError, ValueError, KeyError) as error:
        raise InputError(f"{data_dir}: not a generated motion set (manifest.json: {error})") from None
    if params.get("dataset") != "motion":
        raise InputError(f"{data_dir}: manifest.json is not a motion set's")
    return params


def window_coverage(data_dir: Path, clips_per_class: Optional[int] = None, backend: str = "auto") -> List[ClipCoverage]:
    """The window's coverage of the actor for the first `clips_per_class` clips of every class (all by default)."""
    data_dir = Path(data_dir)
    params = _manifest(data_dir)
    source = params["backgrounds"]
    pool, _ = background_pool(source, params["height"])
    if len(pool) != params["background_frames"]:
        raise InputError(f"{source}: gives {len(pool)} background frames, the set was made with "
                         f"{params['background_frames']}; the actors cannot be drawn again")
    count = params["clips_per_class"] if clips_per_class is None else min(clips_per_class, params["clips_per_class"])
    rows = []
    for class_index, label in enumerate(MOTION_CLASSES):
        for index in range(count):
            relative = clip_path(label, index)
            mask = actor_mask(label, (params["seed"], class_index, index), params["width"], params["height"],
                              tuple(params["frames"]), params["fps"], pool)
            box = read_with_fallback(data_dir / relative, backend, probe_motion_box, isolated=False)
            frames, height, width = mask.shape
            top, left, side = box.pixels(height, width)
            inside = int(mask[:, top:top + side, left:left + side].sum())
            rows_with_actor = [np.flatnonzero(frame.any(axis=1)) for frame in mask if frame.any()]
            actor_px = float(np.median([r[-1] - r[0] + 1 for r in rows_with_actor])) if rows_with_actor else 0.0
            rows.append(ClipCoverage(relative, label, inside / max(int(mask.sum()), 1), actor_px / side))
    return rows


def summarise(rows: Sequence[ClipCoverage]) -> Dict[str, float]:
    """Mean coverage, the share of clips with >= 90% and < 50% of the actor inside, the median actor height."""
    coverage = np.array([row.coverage for row in rows])
    return {"coverage_mean": float(coverage.mean()),
            "share_at_least_90": float((coverage >= 0.9).mean()), "share_below_50": float((coverage < 0.5).mean()),
            "actor_height_median": float(np.median([row.actor_height for row in rows]))}
