"""The numbers training's dashboards, evaluation and the threshold share: the confusion matrix, per-class
precision / recall / F1, the summary figures of a confusion matrix (accuracy, mean class accuracy, macro
F1), the most confident mistakes, ROC and AUC, the positive class of a two-class task, and a class name as
a metric key.

Every summary figure of a set of predictions is computed from its one confusion matrix
(`summary_scores`), wherever it is reported (Lightning's val/test metrics, evaluate.py, the recipe
search), so the figures of one evaluation agree with each other and with its confusion matrix by
construction."""
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


def summary_scores(matrix: np.ndarray) -> Dict[str, float]:
    """acc, mean_class_acc and f1_macro of a confusion matrix [C,C] (rows true, columns predicted).

    mean_class_acc is the mean recall over the classes that have videos (balanced accuracy); f1_macro
    the mean F1 over the classes that have videos or were predicted (a class absent from both says
    nothing). All three are 0.0 for an empty matrix."""
    matrix = np.asarray(matrix)
    total = int(matrix.sum())
    if total == 0:
        return {"acc": 0.0, "mean_class_acc": 0.0, "f1_macro": 0.0}
    scores = per_class_scores(matrix)
    present = scores["support"] > 0
    seen = present | (matrix.sum(0) > 0)
    return {"acc": float(matrix.diagonal().sum() / total),
            "mean_class_acc": float(scores["recall"][present].mean()),
            "f1_macro": float(scores["f1"][seen].mean())}


def video_scores(probs: np.ndarray, labels: np.ndarray) -> Dict[str, float]:
    """What Lightning's val/test metrics report, from videos' class probabilities [N,C] and labels [N]:
    `summary_scores` of the most probable class's confusion matrix, acc_top5 with more than five classes,
    and loss (the mean negative log-likelihood of each video's probabilities, clamped at 1e-8)."""
    probs, labels = np.asarray(probs, dtype=np.float64), np.asarray(labels, dtype=np.int64)
    num_classes = probs.shape[1]
    out = summary_scores(confusion_matrix(labels, probs.argmax(1), num_classes))
    if num_classes > 5 and len(labels):
        top5 = np.argsort(-probs, axis=1, kind="stable")[:, :5]
        out["acc_top5"] = float(np.mean((top5 == labels[:, None]).any(1)))
    if len(labels):
        out["loss"] = float(-np.log(np.clip(probs[np.arange(len(labels)), labels], 1e-8, None)).mean())
    return out


# "no_goal", "not-fight", "non fight", "noFight" (camel case, as the fight set names it), "background"...
NEGATIVE_NAME = re.compile(r"^(?i:no|not|non)[ _\-]|^(?:no|No|not|Not|non|Non)(?=[A-Z][a-z])"
                           r"|^(?i:background|other|others|none|negative|nothing)$")


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
