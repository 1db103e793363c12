"""What the dashboards and the evaluation report draw: the confusion matrix and ROC as matplotlib figures,
a per-class table in Markdown, and a strip of a clip's frames as an image (the module's test, the
Dashboards callback and pipeline.evaluation use them)."""
from __future__ import annotations

from typing import Any, Dict, Sequence

import numpy as np


def per_class_table(names: Sequence[str], scores: Dict[str, np.ndarray]) -> str:
    """A Markdown table of precision, recall, F1 and support per class."""
    rows = ["| class | precision | recall | F1 | videos |", "|---|---|---|---|---|"]
    for i, name in enumerate(names):
        rows.append(f"| {name} | {scores['precision'][i]:.3f} | {scores['recall'][i]:.3f} | {scores['f1'][i]:.3f} "
                    f"| {int(scores['support'][i])} |")
    return "\n".join(rows)


def resize_height(frame: np.ndarray, height: int) -> np.ndarray:
    """uint8 [H,W,3] -> uint8 [height,W*height/H,3]."""
    from PIL import Image

    width = max(1, round(frame.shape[1] * height / frame.shape[0]))
    return np.asarray(Image.fromarray(frame).resize((width, height), Image.BILINEAR))


def frame_strip(frames: np.ndarray, indices: Sequence[int], caption: Sequence[str], gap: int = 2) -> np.ndarray:
    """uint8 [H,W,3]: the caption's lines on top, then the frames side by side, each headed by its index."""
    from PIL import Image, ImageDraw

    t, h, w, _ = frames.shape
    line, width = 12, t * (w + gap) - gap
    top = line * len(caption) + 4
    canvas = Image.new("RGB", (width, top + line + h), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    for row, text in enumerate(caption):
        try:
            draw.text((2, 2 + row * line), text, fill=(0, 0, 0))
        except UnicodeEncodeError:  # Pillow without FreeType: its bitmap font has Latin-1 only
            draw.text((2, 2 + row * line), text.encode("latin-1", "replace").decode("latin-1"), fill=(0, 0, 0))
    for i, (frame, index) in enumerate(zip(frames, indices)):
        x = i * (w + gap)
        draw.text((x + 2, top), f"#{int(index)}", fill=(80, 80, 80))
        canvas.paste(Image.fromarray(frame), (x, top + line))
    return np.asarray(canvas)


def confusion_figure(matrix: np.ndarray, class_names: Sequence[str]) -> Any:
    """A matplotlib Figure of the confusion matrix (rows true, columns predicted), shaded by row share."""
    from matplotlib.figure import Figure

    n = len(class_names)
    size = min(16.0, max(4.0, 0.5 * n + 2))
    fig = Figure(figsize=(size, size))
    ax = fig.subplots()
    rows = matrix.sum(1, keepdims=True)
    ax.imshow(np.divide(matrix, rows, out=np.zeros(matrix.shape), where=rows > 0), cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(n), class_names, rotation=90)
    ax.set_yticks(range(n), class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if n <= 30:
        for (i, j), count in np.ndenumerate(matrix):
            ax.text(j, i, int(count), ha="center", va="center", fontsize=8)
    fig.tight_layout()
    return fig


def roc_figure(curve: Dict[str, Any], positive: str) -> Any:
    """A matplotlib Figure of the ROC of class `positive`, with its AUC."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4, 4))
    ax = fig.subplots()
    ax.plot(curve["fpr"], curve["tpr"], marker=".")
    ax.plot([0, 1], [0, 1], linestyle=":", color="grey")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title(f"ROC of {positive}: AUC {curve['auc']:.3f}")
    fig.tight_layout()
    return fig
