"""Accuracy, measured by k-fold cross-validation: what each small-data technique adds, for each head.

The techniques of the small-data recipe (configs/small.yaml) are measured one at a time, each added
alone to the earlier defaults (centre crop, one feature vector per frame, no augmentation); at each
step the recurrent head (GRU) and the order-blind mean of frame features are cross-validated with the
same folds, and a single frame per clip at the baseline. Each cell is an ordinary
`cross_validate` run under `<out>/<step>-<head>/`, so a stopped benchmark resumes where it stopped
and any cell can be inspected in TensorBoard. Data: any folder of class folders, made for this by
scripts/make_motion_data.py (actors that differ only in how they move).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from pipeline.atomic_io import write_text_atomic
from pipeline.training.crossval import cross_validate

SMALL_CONFIG = Path(__file__).resolve().parents[2] / "configs" / "small.yaml"

HEADS: Dict[str, List[str]] = {
    "rnn": [],  # the config's recurrent head
    "mean": ["--model.cell", "none"],  # mean of frame features: order-blind
    "single": ["--model.cell", "none", "--data.clip_len", "1", "--data.test_clips", "1"],  # one frame a video
}


@dataclass(frozen=True)
class Step:
    """One rung of the ladder: what it adds (train.py options, on top of the rungs before) and which heads run."""

    name: str
    adds: Tuple[str, ...]
    heads: Tuple[str, ...] = ("rnn", "mean")
    cumulative: bool = True  # False: an alternative measured beside the ladder, not kept for the next rungs
    note: str = ""


LADDER: Tuple[Step, ...] = (
    Step("centre crop (earlier default)", ("--model.frame_fit", "crop", "--model.spatial_grid", "1"),
         ("rnn", "mean", "single")),
    # Each technique alone on that baseline, so that each row's difference is that technique's.
    Step("whole frame, stretched", ("--model.frame_fit", "stretch"), ("rnn",), cumulative=False),
    Step("whole frame, padded", ("--model.frame_fit", "pad"), ("rnn",), cumulative=False),
    Step("motion window", ("--model.frame_fit", "motion"), ("rnn", "mean", "single"), cumulative=False),
    Step("spotlight", ("--model.frame_fit", "spotlight"), ("rnn", "mean", "single"), cumulative=False),
    Step("2x2 feature grid", ("--model.spatial_grid", "2"), cumulative=False),
    Step("motion: feature differences", ("--model.motion", "diff"), ("rnn",), cumulative=False),
    Step("cached views: flip, zoom", ("--data.cache_views", "[plain, flip, zoom]"), cumulative=False),
    Step("feature noise 0.1", ("--data.feature_noise", "0.1"), ("rnn",), cumulative=False),
    Step("temporal jitter 0.2", ("--data.temporal_jitter", "0.2"), ("rnn", "mean"), cumulative=False),
)


@dataclass
class Cell:
    """The cross-validated result of one head at one step."""

    step: str
    head: str
    acc_mean: float
    acc_std: float
    f1_mean: float
    folds: List[float] = field(default_factory=list)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def ladder_args(ladder: Sequence[Step]) -> List[Tuple[Step, List[str]]]:
    """Each step with the options in force at it: the cumulative steps before it, then its own."""
    kept: List[str] = []
    out = []
    for step in ladder:
        out.append((step, [*kept, *step.adds]))
        if step.cumulative:
            kept += list(step.adds)
    return out


def run_accuracy_benchmark(data_root: str, folds: int = 5, out: str = "runs/accuracy",
                           extra: Sequence[str] = (), ladder: Sequence[Step] = LADDER,
                           heads: Optional[Sequence[str]] = None,
                           steps: Optional[Sequence[str]] = None) -> List[Cell]:
    """Cross-validate every (step, head) cell of `ladder` on the class folders under `data_root` (only
    `heads`, and only the steps whose name contains one of `steps`, when given)."""
    base = ["--config", str(SMALL_CONFIG), "--data.root", data_root, "--trainer.enable_progress_bar", "false",
            *extra]
    cells = []
    for step, args in ladder_args(ladder):
        if steps is not None and not any(part.lower() in step.name.lower() for part in steps):
            continue
        for head in step.heads:
            if heads is not None and head not in heads:
                continue
            report = cross_validate([*base, *args, *HEADS[head]], folds, str(Path(out) / f"{_slug(step.name)}-{head}"))
            acc, f1 = report["metrics"]["test/acc"], report["metrics"]["test/f1_macro"]
            cells.append(Cell(step.name, head, acc["mean"], acc["std"], f1["mean"],
                              [m["test/acc"] for m in report["folds"]]))
            write_text_atomic(Path(out) / "accuracy.json", json.dumps([c.__dict__ for c in cells], indent=2))
    return cells


def format_markdown(cells: Sequence[Cell], folds: int) -> str:
    """One row per step, one column per head: test accuracy mean ± std over the folds."""
    steps = list(dict.fromkeys(c.step for c in cells))
    heads = [h for h in HEADS if any(c.head == h for c in cells)]
    titles = {"rnn": "GRU", "mean": "mean pooling", "single": "single frame"}
    lines = [f"| step ({folds}-fold test accuracy, mean ± std) | " + " | ".join(titles[h] for h in heads) + " |",
             "|---|" + "---|" * len(heads)]
    for step in steps:
        row = []
        for head in heads:
            cell = next((c for c in cells if c.step == step and c.head == head), None)
            row.append(f"{cell.acc_mean:.3f} ± {cell.acc_std:.3f}" if cell else "")
        lines.append(f"| {step} | " + " | ".join(row) + " |")
    return "\n".join(lines)
