"""The operating threshold of a two-class event task (goal / no_goal): the positive class is predicted when
p(positive) >= threshold instead of by the most probable class.

RecognizerModule chooses it on the validation videos at every validation (so the best checkpoint holds
the one of its own weights) by its `threshold_objective`: "f1" (best F1 of the positive class),
"precision=0.9" (the highest recall whose precision reaches 0.9), "recall=0.8" (the highest precision
whose recall reaches 0.8) or "none". It is stored in the checkpoint as the dict `threshold`
(threshold, positive, objective, precision, recall, f1, videos, met). The decision it makes
(`decide_label`, `decide_labels`) and its one-line description (`format_threshold`) live in
pipeline.decision, shared with inference and evaluation, and are re-exported here. The positive class is
dashboards.default_positive (the one not named as an absence).
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

import numpy as np

from pipeline.decision import decide_label, decide_labels, format_threshold  # noqa: F401  (re-exported)

THRESHOLD_OBJECTIVE_DEFAULT = "f1"
_OBJECTIVES = ("f1", "none", "precision=<p>", "recall=<r>")


def parse_objective(text: str) -> Tuple[str, Optional[float]]:
    """("f1", None), ("none", None), ("precision", 0.9) or ("recall", 0.8); ValueError for anything else."""
    name, _, value = str(text).strip().partition("=")
    if name in ("f1", "none") and not value:
        return name, None
    if name in ("precision", "recall") and value:
        try:
            target = float(value)
        except ValueError:
            target = -1.0
        if 0.0 < target <= 1.0:
            return name, target
    raise ValueError(f"threshold_objective {text!r}: choose one of {', '.join(_OBJECTIVES)} (targets in (0, 1])")


def choose_threshold(scores: np.ndarray, positive: np.ndarray, objective: str) -> Optional[Dict[str, Any]]:
    """The threshold on `scores` [N] (p(positive)) for boolean labels `positive` [N] that meets `objective`,
    with the precision, recall and F1 it gives on them; None for "none" or when a class is absent.
    Candidates are the scores themselves; a target that no threshold meets gives the closest one, met false."""
    name, target = parse_objective(objective)
    positive = np.asarray(positive, dtype=bool)
    if name == "none" or positive.all() or not positive.any():
        return None
    candidates = np.unique(scores)[::-1]  # high to low: recall rises, precision tends to fall
    chosen = (scores[None, :] >= candidates[:, None])  # [K,N]
    hits = (chosen & positive).sum(1).astype(np.float64)
    precision = hits / chosen.sum(1)
    recall = hits / positive.sum()
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros_like(hits),
                   where=precision + recall > 0)
    met = True
    if name == "f1":
        best = int(np.argmax(f1))  # the first (highest threshold) of equal F1s
    else:
        reached = (precision if name == "precision" else recall) >= target - 1e-12
        other = recall if name == "precision" else precision
        met = bool(reached.any())
        if met:
            best = int(np.flatnonzero(reached)[np.argmax(other[reached])])
        else:
            best = int(np.argmax(precision if name == "precision" else recall))
    return {"threshold": float(candidates[best]), "objective": objective, "precision": float(precision[best]),
            "recall": float(recall[best]), "f1": float(f1[best]), "videos": int(len(scores)), "met": met}
