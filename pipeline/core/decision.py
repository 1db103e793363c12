"""The decision a checkpoint makes for a video's class probabilities, and the operating threshold it uses.

The rule every reader applies: with a two-class operating threshold, the positive class when
p(positive) >= threshold, else the other; without one (or with more than two classes) the most
probable class. predict.py's labels (pipeline.inference.output), the evaluation report
(pipeline.evaluation) and training's test confusion matrix (pipeline.core.module) all decide with
`decide_labels`; the accuracies of both rules are said the same way by `accuracy_rows`.

The threshold of a two-class event task (goal / no_goal) is chosen on the validation videos at every
validation (so the best checkpoint holds the one of its own weights) by the module's
`threshold_objective`: "f1" (best F1 of the positive class), "precision=0.9" (the highest recall whose
precision reaches 0.9), "recall=0.8" (the highest precision whose recall reaches 0.8) or "none"
(`choose_threshold`). It is stored in the checkpoint as the dict `threshold` (threshold, positive,
objective, precision, recall, f1, videos, met). The positive class is pipeline.core.metrics.default_positive
(the one not named as an absence).
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

THRESHOLD_OBJECTIVE_DEFAULT = "f1"
_OBJECTIVES = ("f1", "none", "precision=<p>", "recall=<r>")

Threshold = Optional[Dict[str, Any]]  # the checkpoint's dict: threshold, positive, objective, precision, ...


def operating_point(class_names: Sequence[str], threshold: Threshold) -> Optional[Tuple[int, float]]:
    """(index of the positive class, threshold) when `threshold` decides for these classes (two classes,
    its positive one of them); None when the most probable class decides."""
    if not threshold or len(class_names) != 2 or threshold.get("positive") not in class_names:
        return None
    return list(class_names).index(threshold["positive"]), float(threshold["threshold"])


def decide_labels(probs: np.ndarray, class_names: Sequence[str], threshold: Threshold) -> np.ndarray:
    """The predicted class (int64 [N]) of each row of probabilities [N,C]: the operating threshold's
    decision for its positive class when there is one (two classes), else the most probable class."""
    probs = np.asarray(probs)
    point = operating_point(class_names, threshold)
    if point is None:
        return probs.argmax(-1).astype(np.int64)
    pos, value = point
    return np.where(probs[..., pos] >= value, pos, 1 - pos).astype(np.int64)


def decide_label(probs: np.ndarray, class_names: Sequence[str], threshold: Threshold) -> int:
    """The predicted class of probabilities [C] (`decide_labels` of one row)."""
    return int(decide_labels(np.asarray(probs)[None], class_names, threshold)[0])


def describe_decision(class_names: Sequence[str], threshold: Threshold) -> str:
    """How the predicted class is chosen, in words: "the most probable class" or the threshold's rule."""
    point = operating_point(class_names, threshold)
    if point is None:
        return "the most probable class"
    pos, value = point
    return f"{class_names[pos]} when p({class_names[pos]}) >= {value:.4f}, else {class_names[1 - pos]}"


def accuracy_rows(most_probable: float, at_threshold: float, class_names: Sequence[str],
                  threshold: Threshold) -> List[Tuple[str, float]]:
    """(label, accuracy) rows of the two rules: both when they differ, one row naming both when they are
    equal, none without an operating threshold (the most probable class is then the only rule)."""
    point = operating_point(class_names, threshold)
    if point is None:
        return []
    at = f"at threshold {point[1]:.4f} for {class_names[point[0]]}"
    if abs(most_probable - at_threshold) < 1e-9:
        return [(f"accuracy (most probable class, and {at})", most_probable)]
    return [("accuracy (most probable class)", most_probable), (f"accuracy {at}", at_threshold)]


def format_threshold(threshold: Threshold) -> str:
    """One line: the threshold and the precision / recall it gave on validation ("" without one)."""
    if not threshold:
        return ""
    missed = "" if threshold.get("met", True) else f" (target {threshold['objective']} not reached)"
    return (f"operating threshold: {threshold['positive']} when p >= {threshold['threshold']:.4f} "
            f"({threshold['objective']}; on {threshold['videos']} validation videos precision "
            f"{threshold['precision']:.3f}, recall {threshold['recall']:.3f}, F1 {threshold['f1']:.3f}){missed}")

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
