"""The budgeted search: successive halving over the folds of grouped cross-validation.

Every candidate is scored on the first folds (a rung); the better half (and always the user's own
config, so that the choice is measured against it) goes on to the next rung's folds, until the last
rung has every fold. Trials run fold by fold, candidates in their list order, so a budget that ends
mid-rung leaves every candidate with the same folds where possible. Time left after the last rung
completes the candidates that were dropped, best first, so the table shows as many full rows as the
budget allows. Before each trial the search asks whether the trial (as long as that candidate's
earlier ones, else the mean of all so far) still fits in the budget: a candidate whose next trial does not
fit stops there, and cheaper ones go on while theirs fit (a costly fine-tuning candidate must not end the
search for the heads). Feature caching is not counted (each fit's features are computed once, whatever the
budget).

Each finished trial is stored at once (`TrialStore`), so a stopped search resumes where it stopped.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from pipeline.atomic_io import write_text_atomic
from pipeline.recipes.head_fit import FoldResult

BASELINE = "config"  # the candidate that is the user's config, kept to the last rung
METRIC = "test/acc"


def rungs(num_folds: int) -> List[int]:
    """How many folds each rung has scored by its end: 2 folds first, then all (3 folds or fewer: one rung)."""
    return [num_folds] if num_folds <= 3 else [2, num_folds]


class TrialStore:
    """Finished trials by (candidate, fold), kept in a JSON file written after each one."""

    def __init__(self, path: Path):
        self.path = path
        self.results: Dict[Tuple[str, int], FoldResult] = {}
        if path.is_file():
            for key, value in json.loads(path.read_text()).items():
                name, _, fold = key.rpartition("|")
                self.results[(name, int(fold))] = FoldResult.from_dict(value)

    def get(self, name: str, fold: int) -> Optional[FoldResult]:
        return self.results.get((name, fold))

    def put(self, name: str, fold: int, result: FoldResult) -> None:
        self.results[(name, fold)] = result
        data = {f"{n}|{f}": r.to_dict() for (n, f), r in sorted(self.results.items())}
        write_text_atomic(self.path, json.dumps(data))

    def folds_of(self, name: str) -> Dict[int, FoldResult]:
        return {f: r for (n, f), r in self.results.items() if n == name}


@dataclass
class Budget:
    """Seconds the trials may take in all; time spent outside trials (caching) is not counted."""

    seconds: float
    spent: float = 0.0
    durations: Dict[str, List[float]] = field(default_factory=dict)

    def expected(self, name: str) -> float:
        own = self.durations.get(name)
        every = [d for ds in self.durations.values() for d in ds]
        return float(np.mean(own)) if own else float(np.mean(every)) if every else 0.0

    def allows(self, name: str) -> bool:
        return self.spent + self.expected(name) <= self.seconds

    def charge(self, name: str, seconds: float) -> None:
        self.spent += seconds
        self.durations.setdefault(name, []).append(seconds)


@dataclass
class SearchLog:
    """What the search did, in words, for the report."""

    lines: List[str] = field(default_factory=list)
    stopped_by_budget: bool = False

    def say(self, text: str) -> None:
        self.lines.append(text)
        print(text, flush=True)


def mean_score(results: Dict[int, FoldResult]) -> float:
    values = [r.metrics.get(METRIC, math.nan) for r in results.values()]
    return float(np.mean(values)) if values else -math.inf


def trials_per_candidate(num_folds: int) -> float:
    """The trials one candidate costs on average under successive halving (half go on past the first rung)."""
    first = rungs(num_folds)[0]
    return first + (num_folds - first) / 2


def search(names: Sequence[str], num_folds: int, run: Callable[[str, int], FoldResult], store: TrialStore,
           budget: Budget, log: SearchLog) -> None:
    """Successive halving of `names` over `num_folds` folds; `run(name, fold)` trains and tests one trial
    and returns its result with `seconds` the time to charge (caching excluded).

    The first trial measures how long one takes; the search then starts with as many candidates (list
    order, at least two) as the budget can take through the rungs, and tries the others only with the
    time left at the end.
    """
    names = list(names)
    dropped: List[str] = []
    stopped: List[str] = []  # candidates whose next trial did not fit the budget

    def trial(name: str, fold: int) -> bool:
        """Run (or read back) one trial; False when the budget does not allow it (the candidate stops)."""
        if store.get(name, fold) is not None:
            return True
        if name in stopped:
            return False
        if not budget.allows(name):
            log.say(f"budget: {budget.spent / 60:.1f} of {budget.seconds / 60:.1f} min spent; the next trial "
                    f"({name}, fold {fold}, about {budget.expected(name):.0f} s) does not fit: {name} stops here")
            stopped.append(name)
            log.stopped_by_budget = True
            return False
        result = run(name, fold)
        budget.charge(name, result.seconds)
        store.put(name, fold, result)
        log.say(f"  {name:<26} fold {fold}: accuracy {result.metrics.get(METRIC, math.nan):.3f} "
                f"({result.seconds:.0f} s; {budget.spent / 60:.1f} of {budget.seconds / 60:.1f} min)")
        return True

    if not names or not trial(names[0], 0):
        _say_stopped(log, stopped)
        return
    seconds = [r.seconds for r in store.results.values()]
    per_trial = max(float(np.mean(seconds)), 1e-3)
    start = max(2, int(budget.seconds / (per_trial * trials_per_candidate(num_folds))))
    alive, waiting = names[:start], names[start:]
    if waiting:
        log.say(f"budget: about {per_trial:.0f} s a trial, so {len(alive)} of {len(names)} candidates go through the "
                f"rungs; {', '.join(waiting)} only with time left at the end")
    done_folds = 0
    for depth in rungs(num_folds):
        log.say(f"rung: {len(alive)} candidate(s) on folds {done_folds}-{depth - 1}")
        for fold in range(done_folds, depth):
            for name in alive:
                trial(name, fold)
        alive = [n for n in alive if n not in stopped]
        done_folds = depth
        if depth < num_folds:
            ranked = sorted(alive, key=lambda n: -mean_score(store.folds_of(n)))
            keep = ranked[: max(1, math.ceil(len(ranked) / 2))]
            if BASELINE in alive and BASELINE not in keep:
                keep.append(BASELINE)
            gone = [n for n in ranked if n not in keep]
            dropped += gone
            log.say(f"kept after {depth} folds: {', '.join(keep)}; dropped: {', '.join(gone) or 'none'}")
            alive = [n for n in alive if n in keep]
    for name in sorted(dropped, key=lambda n: -mean_score(store.folds_of(n))) + waiting:
        for fold in range(num_folds):
            if not trial(name, fold):
                break
    _say_stopped(log, stopped)


def _say_stopped(log: SearchLog, stopped: Sequence[str]) -> None:
    if stopped:
        log.say(f"search stopped by the budget before finishing {', '.join(stopped)}")
