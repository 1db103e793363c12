"""Which candidate to keep: the simplest of those the folds cannot tell from the best.

Candidates are compared on the folds that at least two of them were scored on (a budget can end with
one candidate a fold ahead), and the best is the one with the highest mean test accuracy there.
Another is within noise of it when, fold by fold on the same folds, its mean shortfall is at most one
standard error of those differences (the one-standard-error rule on paired folds: folds share their
difficulty, so the pairs are far less noisy than two separate means). Of those, the simplest is kept:
fewer CNN passes a frame (no motion stream), fewer CNN stages fine-tuned (model.trainable_stages), no
motion window, a smaller head, shorter clips. A simpler recipe costs less to run and has fewer ways to
have fitted these few videos by luck.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, List, Mapping, Sequence, Tuple

import numpy as np

from pipeline.recipes.head_fit import FoldResult
from pipeline.recipes.search import METRIC

Complexity = Tuple[float, ...]


@dataclass
class Row:
    """One candidate's cross-validated scores."""

    name: str
    folds: Dict[int, float]
    mean: float
    std: float

    @classmethod
    def of(cls, name: str, results: Mapping[int, FoldResult], metric: str = METRIC) -> Row:
        folds = {f: float(r.metrics.get(metric, math.nan)) for f, r in sorted(results.items())}
        values = np.asarray(list(folds.values()))
        std = float(values.std(ddof=1)) if len(values) > 1 else math.nan
        return cls(name, folds, float(values.mean()) if len(values) else math.nan, std)


@dataclass
class Choice:
    """The kept candidate, the best, the candidates within noise of the best (with their gaps), and how
    many folds they were compared on."""

    chosen: str
    best: str
    within: Dict[str, Tuple[float, float]]  # name -> (mean shortfall to the best, its standard error)
    why: str
    folds: int = 0


def paired_gap(best: Row, other: Row) -> Tuple[float, float]:
    """(mean of best - other over their common folds, the standard error of that mean)."""
    common = sorted(set(best.folds) & set(other.folds))
    gaps = np.asarray([best.folds[f] - other.folds[f] for f in common])
    if len(gaps) < 2:
        return float(gaps.mean()) if len(gaps) else math.nan, math.nan
    return float(gaps.mean()), float(gaps.std(ddof=1) / math.sqrt(len(gaps)))


def compared_folds(rows: Sequence[Row]) -> int:
    """How many folds the candidates are compared on: the most that at least two of them have (folds run
    in order, so these are the same folds for all), or the only scored candidate's."""
    counts = sorted((len(r.folds) for r in rows if r.folds), reverse=True)
    if not counts:
        return 0
    return counts[1] if len(counts) > 1 else counts[0]


def truncated(row: Row, folds: int) -> Row:
    """`row` on its first `folds` folds."""
    kept = dict(list(row.folds.items())[:folds])
    values = np.asarray(list(kept.values()))
    return Row(row.name, kept, float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else math.nan)


def choose(rows: Sequence[Row], complexity: Mapping[str, Complexity]) -> Choice:
    """The simplest candidate within noise of the best, among those scored on the folds that at least two
    candidates share (`compared_folds`), each on those folds."""
    most = compared_folds(rows)
    if not most:
        raise ValueError("no candidate was scored on any fold: raise --budget")
    full = [truncated(r, most) for r in rows if len(r.folds) >= most]
    best = max(full, key=lambda r: r.mean)  # ties: the earlier candidate (list order)
    within: Dict[str, Tuple[float, float]] = {best.name: (0.0, 0.0)}
    for row in full:
        if row is best:
            continue
        gap, error = paired_gap(best, row)
        if math.isfinite(error) and gap <= error:
            within[row.name] = (gap, error)
    order: List[str] = [r.name for r in rows]
    chosen = min(within, key=lambda n: (complexity.get(n, (math.inf,)), order.index(n)))
    if chosen == best.name:
        why = (f"{chosen} has the best mean accuracy over {most} folds ({best.mean:.3f})"
               + (", and no candidate within noise of it is simpler" if len(within) > 1 else
                  ", and no other candidate is within noise of it (one standard error of the paired fold differences)"))
    else:
        gap, error = within[chosen]
        why = (f"{best.name} has the best mean accuracy over {most} folds ({best.mean:.3f}); {chosen} scores "
               f"{gap:.3f} less on average, within one standard error of the paired fold differences ({error:.3f}), "
               f"and is the simplest of the {len(within)} candidates within noise of the best")
    if most < 2:
        why += "; only one fold was scored, so noise could not be measured: raise --budget"
    return Choice(chosen, best.name, within, why, most)
