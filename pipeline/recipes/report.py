"""What the recipe search prints and writes: the table of candidates, and report.md.

report.md holds the table (mean ± std of test accuracy over the folds, each fold's figure), the
choice and why, how the search spent its budget, the chosen recipe's per-class scores and confusion
over the folds (every searched video tested once, when it ran on every fold), and where the final
training went.
"""
from __future__ import annotations

import math
from typing import Any, Dict, List, Mapping, Sequence

import numpy as np

from pipeline.recipes.choice import Choice, Row
from pipeline.recipes.search import SearchLog, TrialStore


def _cell(value: float) -> str:
    return f"{value:.3f}" if math.isfinite(value) else "-"


def _mark(name: str, choice: Choice) -> str:
    if name == choice.chosen:
        return "chosen"
    if name == choice.best:
        return "best"
    return "within noise" if name in choice.within else ""


def format_table(rows: Sequence[Row], recipes: Mapping[str, Any], choice: Choice) -> str:
    """The table the script prints: one line a candidate, its mean ± std and folds."""
    width = max(len(r.name) for r in rows)
    lines = [f"{'candidate':<{width}}  folds  accuracy (mean ± std)  per fold"]
    for row in rows:
        folds = " ".join(_cell(v) for v in row.folds.values()) or "not scored (budget)"
        score = f"{_cell(row.mean)} ± {_cell(row.std)}" if row.folds else ""
        lines.append(f"{row.name:<{width}}  {len(row.folds):>5}  {score:<21}  {folds}  {_mark(row.name, choice)}")
    lines.append(f"chosen: {choice.chosen}: {choice.why}")
    return "\n".join(lines)


def pooled(store: TrialStore, name: str, num_classes: int) -> tuple:
    """(confusion [C,C] rows true / columns predicted, number of folds) of a candidate's test videos over its folds."""
    matrix = np.zeros((num_classes, num_classes), dtype=int)
    results = store.folds_of(name)
    for result in results.values():
        for label, probs in zip(result.labels, result.probs):
            matrix[label, int(np.argmax(probs))] += 1
    return matrix, len(results)


def per_class_rows(matrix: np.ndarray, class_names: Sequence[str]) -> List[str]:
    """Markdown rows of each class's precision, recall, F1 and support from a confusion matrix."""
    lines = ["| class | precision | recall | F1 | videos |", "|---|---|---|---|---|"]
    for c, name in enumerate(class_names):
        hit, said, true = matrix[c, c], matrix[:, c].sum(), matrix[c].sum()
        precision = hit / said if said else 0.0
        recall = hit / true if true else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        lines.append(f"| {name} | {precision:.3f} | {recall:.3f} | {f1:.3f} | {true} |")
    return lines


def confusion_rows(matrix: np.ndarray, class_names: Sequence[str]) -> List[str]:
    lines = ["| true \\ predicted | " + " | ".join(class_names) + " |", "|---" * (len(class_names) + 1) + "|"]
    for name, row in zip(class_names, matrix):
        lines.append(f"| {name} | " + " | ".join(str(int(v)) for v in row) + " |")
    return lines


def write_report(rows: Sequence[Row], recipes: Mapping[str, Any], choice: Choice, store: TrialStore, log: SearchLog,
                 final: Dict[str, Any], num_folds: int, class_names: Sequence[str], *, search_minutes: float,
                 wall_minutes: float, budget_minutes: float) -> str:
    """report.md's text."""
    chosen = recipes[choice.chosen]
    data = chosen.data
    lines = [
        "# Recipe search",
        "",
        f"Videos: `{data.get('root')}` (format {data.get('format')}"
        + (f", list {data.get('train_list')}" if data.get("train_list") else "")
        + (f", groups by `{data.get('group_by')}`" if data.get("group_by") else ", no groups: each video its own")
        + f"). {num_folds}-fold cross-validation as `scripts/crossval.py --folds {num_folds}` deals it (groups held "
        "out whole); each fold trains the candidate's head on cached features of the other folds (validation carved "
        "from them) and tests it on the held-out fold.",
        "",
        f"Search: {search_minutes:.1f} of {budget_minutes:g} min of trials"
        + (" (stopped by the budget)" if log.stopped_by_budget else "")
        + f"; {wall_minutes:.1f} min in all with feature caching and the final training.",
        "",
        "| candidate | what it changes | folds | test accuracy, mean ± std | per fold | |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        what = recipes[row.name].candidate.what
        folds = ", ".join(_cell(v) for v in row.folds.values()) or "not scored"
        score = f"{_cell(row.mean)} ± {_cell(row.std)}" if row.folds else ""
        mark = _mark(row.name, choice)
        name = f"**{row.name}**" if row.name == choice.chosen else row.name
        lines.append(f"| {name} | {what} | {len(row.folds)} | {score} | {folds} | {mark} |")
    lines += ["", f"**Chosen: {choice.chosen}.** {choice.why}.", ""]
    changed = chosen.candidate.overrides
    if changed:
        lines += ["It changes the config's " + ", ".join(f"`{k}: {v}`" for k, v in changed.items()) + ".", ""]
    matrix, folds = pooled(store, choice.chosen, len(class_names))
    if folds:
        every = " (every searched video tested once)" if folds == num_folds else ""
        lines += [f"## {choice.chosen} over its {folds} test folds{every}", ""]
        lines += per_class_rows(matrix, class_names) + [""] + confusion_rows(matrix, class_names) + [""]
    lines += ["## Search log", "", "```", *log.lines, "```", "", "## Final training", ""]
    lines.append(f"`recipe.yaml` trained with train.py on every searched video (validation carved as train.py "
                 f"does): logs `{final.get('log_dir')}`, best checkpoint copied to `best.ckpt`.")
    if final.get("test_metrics"):
        given = "the given test list, never searched" if data.get("test_list") else \
            "the test split the dataset gives; it was among the searched videos, so this is no held-out figure"
        lines += ["", f"Test split ({given}): "
                  + ", ".join(f"{k} {v:.3f}" for k, v in sorted(final["test_metrics"].items()))]
    return "\n".join(lines) + "\n"

