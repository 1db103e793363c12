"""The decision a checkpoint makes for a video's class probabilities, the one rule every reader applies:
with a two-class operating threshold (pipeline.training.threshold chooses it on validation) the positive
class when p(positive) >= threshold, else the other; without one (or with more than two classes) the
most probable class.

predict.py's labels (pipeline.inference.output), the evaluation report (pipeline.evaluation) and
training's test confusion matrix (pipeline.training.module) all decide with `decide_labels`; the
accuracies of both rules are said the same way by `accuracy_rows`. It lives outside pipeline/training
so that inference and evaluation need not import training for it; pipeline.training.threshold
re-exports it.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

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
