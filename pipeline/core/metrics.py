"""The numbers training's dashboards, evaluation and the threshold share: the confusion matrix, per-class
precision / recall / F1, the most confident mistakes, ROC and AUC, the positive class of a two-class task,
and a class name as a metric key."""
from __future__ import annotations

import re
from typing import Any, Dict, Optional, Sequence

import numpy as np


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, num_classes: int) -> np.ndarray:
    """Counts int64 [C,C]: rows the true class, columns the predicted one."""
    return np.bincount(labels * num_classes + predicted, minlength=num_classes ** 2).reshape(num_classes, -1)


def worst_mistakes(probs: np.ndarray, labels: np.ndarray, count: int,
                   predicted: Optional[np.ndarray] = None) -> np.ndarray:
    """Rows of the (at most `count`) misclassified videos, the most confident mistake first: those whose
    `predicted` class (default: the most probable one) is not the label, by the probability of that class."""
    predicted = probs.argmax(1) if predicted is None else np.asarray(predicted)
    wrong = np.flatnonzero(predicted != labels)
    return wrong[np.argsort(-probs[wrong, predicted[wrong]], kind="stable")][:count]


def per_class_scores(matrix: np.ndarray) -> Dict[str, np.ndarray]:
    """Precision, recall, F1 and support [C] of each class from a confusion matrix (0 where undefined)."""
    hits = matrix.diagonal().astype(np.float64)
    predicted, support = matrix.sum(0), matrix.sum(1)
    precision = np.divide(hits, predicted, out=np.zeros_like(hits), where=predicted > 0)
    recall = np.divide(hits, support, out=np.zeros_like(hits), where=support > 0)
    total = precision + recall
    f1 = np.divide(2 * precision * recall, total, out=np.zeros_like(hits), where=total > 0)
    return {"precision": precision, "recall": recall, "f1": f1, "support": support}


NEGATIVE_NAME = re.compile(r"^(no|not|non)[ _\-]|^(background|other|others|none|negative|nothing)$", re.IGNORECASE)


def default_positive(names: Sequence[str]) -> int:
    """The positive class of a two-class task: the one that is not named as an absence ("no_goal",
    "background", "other"...) when exactly one of them is, else the second."""
    negative = [bool(NEGATIVE_NAME.search(name)) for name in names]
    return negative.index(False) if len(names) == 2 and sum(negative) == 1 else 1


def binary_curves(scores: np.ndarray, positive: np.ndarray) -> Optional[Dict[str, Any]]:
    """The ROC (fpr, tpr) and its AUC of `scores` for the boolean labels `positive`; None when one
    of the two classes is absent (the curve is undefined)."""
    import torch
    from torchmetrics.functional.classification import binary_auroc, binary_roc

    if positive.all() or not positive.any():
        return None
    preds, target = torch.from_numpy(scores.astype(np.float32)), torch.from_numpy(positive.astype(np.int64))
    fpr, tpr, _ = binary_roc(preds, target)
    return {"fpr": fpr.numpy(), "tpr": tpr.numpy(), "auc": float(binary_auroc(preds, target))}


def metric_name(name: str) -> str:
    """A class name as loggers accept it in a metric key (MLflow allows letters, digits, _ - . / and space)."""
    return re.sub(r"[^\w.\- ]", "_", name)
