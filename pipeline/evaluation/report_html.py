"""The evaluation report as one self-contained HTML page: inline CSS, images as base64 data URIs, no
script, no external asset, so that it opens from disk in any browser (evaluate.py writes it)."""
from __future__ import annotations

from html import escape
from typing import Any, Dict, List, Sequence, Tuple

from pipeline.core.decision import accuracy_rows

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 70em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 0.5em 0; } td, th { border: 1px solid #ddd; padding: 0.25em 0.6em; }
th { background: #f3f3f3; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.meta { color: #555; } img { max-width: 100%; image-rendering: auto; } figure { margin: 1em 0; }
figcaption { color: #555; font-size: 0.9em; }
"""


def accuracy_lines(report: Dict[str, Any]) -> List[Tuple[str, float]]:
    """(label, value) of the report's accuracies by the most probable class and at the threshold: both
    when they differ, one when equal, none without a threshold (pipeline.core.decision.accuracy_rows);
    then the threshold's mean class accuracy and macro F1 (of the confusion matrix the report shows)."""
    accuracy = report.get("accuracy")
    if not accuracy:
        return []
    rows = accuracy_rows(accuracy["most_probable_class"], accuracy["at_threshold"],
                         report["confusion_matrix"]["classes"], report.get("threshold"))
    at = report.get("metrics_at_threshold") or {}
    return rows + [(f"{key} at the threshold", at[key]) for key in ("mean_class_acc", "f1_macro") if key in at]


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f'<td class="num">{value:.4f}</td>'
        if isinstance(value, int):
            return f'<td class="num">{value}</td>'
        return f"<td>{escape(str(value))}</td>"

    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(cell(v) for v in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _threshold_section(threshold: Dict[str, Any]) -> List[str]:
    rows = [[key, value] for key, value in threshold.items() if not isinstance(value, dict)]
    return ["<h2>Operating threshold</h2>",
            "<p>The positive class is decided by p(positive) &ge; threshold instead of the most probable class.</p>",
            _table(["", ""], rows)]


def render_report(report: Dict[str, Any], confusion_uri: str, strips: Sequence[Dict[str, str]]) -> str:
    """The page: metrics, per-class table, confusion matrix, mistakes with their probabilities, frame strips.
    With an operating threshold, "predicted" is its decision and both accuracies are shown."""
    names = report["confusion_matrix"]["classes"]
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Evaluation: {escape(report['checkpoint'])}</title><style>{STYLE}</style></head><body>",
        "<h1>Evaluation report</h1>",
        f'<p class="meta">checkpoint <code>{escape(report["checkpoint"])}</code><br>'
        f'{escape(report["source"])}: {report["videos"]} videos</p>',
        "<h2>Metrics</h2>",
        _table(["metric", "value"], [*report["metrics"].items(), *accuracy_lines(report)]),
    ]
    if report.get("predicted_by"):
        parts.append(f"<p>Predicted: {escape(report['predicted_by'])} (the checkpoint's operating threshold, as "
                     "predict.py labels). The per-class table, the confusion matrix and the misclassified videos "
                     "follow it, as do the figures \"at the threshold\"; acc, mean_class_acc, f1_macro and "
                     "loss are of the most probable class.</p>")
    if report.get("threshold"):
        parts += _threshold_section(report["threshold"])
    per_class = report["per_class"]
    parts += ["<h2>Per class</h2>",
              _table(["class", "precision", "recall", "F1", "videos"],
                     [[n, per_class[n]["precision"], per_class[n]["recall"], per_class[n]["f1"],
                       per_class[n]["support"]] for n in names]),
              "<h2>Confusion matrix</h2>", "<p>Rows: the true class; columns: the predicted one.</p>",
              f'<img alt="confusion matrix" src="{confusion_uri}">']
    mistakes = report["mistakes"]
    parts.append(f"<h2>Misclassified videos ({len(mistakes)})</h2>")
    if mistakes:
        parts.append(_table(["video", "true", "predicted", *(f"p({n})" for n in names)],
                            [[m["video"], m["true"], m["predicted"], *(m["probabilities"][n] for n in names)]
                             for m in mistakes]))
    else:
        parts.append("<p>None.</p>")
    if strips:
        parts.append("<h2>The most confident mistakes: the frames the model saw</h2>")
        for strip in strips:
            parts.append(f'<figure><img alt="frames of {escape(strip["video"])}" src="{strip["image"]}">'
                         f"<figcaption>{escape(strip['video'])}</figcaption></figure>")
    if report.get("skipped_videos"):
        parts.append("<h2>Videos that could not be read</h2><ul>")
        parts += [f"<li>{escape(v)}</li>" for v in report["skipped_videos"]]
        parts.append("</ul>")
    parts.append("</body></html>")
    return "\n".join(parts)
