"""Splitting records: the seeded, stratified split, carving missing val / test splits from train, and the
folds of k-fold cross-validation."""
from __future__ import annotations

import zlib
from collections.abc import Callable, Hashable, Sequence
from typing import Optional

import numpy as np

from pipeline.data.annotations.records import VideoRecord

GroupKey = Callable[[VideoRecord], Hashable]


def _allocate(n: int, fractions: Sequence[float]) -> list[int]:
    """Integer counts summing to n, close to n * fractions (largest remainder), and at least one in
    every non-zero split when n allows; with too few items, earlier splits are served first."""
    raw = [n * f for f in fractions]
    counts = [int(np.floor(r)) for r in raw]
    order = sorted(range(len(raw)), key=lambda i: (-(raw[i] - counts[i]), i))
    for i in order[: n - sum(counts)]:
        counts[i] += 1
    nonzero = [i for i, f in enumerate(fractions) if f > 0]
    for i in nonzero:
        if counts[i] == 0:
            donors = [j for j in nonzero if counts[j] > 1]
            if not donors:
                break
            donor = max(donors, key=lambda j: (counts[j], -j))
            counts[donor] -= 1
            counts[i] = 1
    return counts


def stratified_split(
    records: Sequence[VideoRecord],
    fractions: Sequence[float],
    seed: int,
    group_key: Optional[GroupKey] = None,
) -> list[list[VideoRecord]]:
    """Split records into ``len(fractions)`` disjoint lists, class by class, reproducibly.

    Each class is shuffled with its own generator derived from (seed, label), so the result does
    not depend on the input order nor on the other classes. Counts follow the fractions (largest
    remainder); a class with at least as many videos as there are non-zero fractions gets at least
    one in each such split, and a smaller class fills the earlier splits first (train comes first).
    With `group_key`, records sharing a key (e.g. clips of one source video, see `ucf101_group`)
    always land in the same split, and counts apply to groups. Each output list is sorted by
    (label, path).
    """
    fractions = [float(f) for f in fractions]
    if not fractions or any(f < 0 for f in fractions) or abs(sum(fractions) - 1.0) > 1e-6:
        raise ValueError(f"fractions must be non-negative and sum to 1, got {fractions}")
    by_class: dict[int, list[VideoRecord]] = {}
    for r in records:
        by_class.setdefault(r.label, []).append(r)
    out: list[list[VideoRecord]] = [[] for _ in fractions]
    for label in sorted(by_class):
        members = sorted(by_class[label], key=lambda r: str(r.path))
        groups: dict[Hashable, list[VideoRecord]] = {}
        for r in members:
            groups.setdefault(group_key(r) if group_key else str(r.path), []).append(r)
        units = [groups[k] for k in sorted(groups, key=str)]
        rng = np.random.default_rng([seed & 0xFFFFFFFF, zlib.crc32(str(label).encode())])
        units = [units[i] for i in rng.permutation(len(units))]
        start = 0
        for split, count in enumerate(_allocate(len(units), fractions)):
            for unit in units[start:start + count]:
                out[split].extend(unit)
            start += count
    return [sorted(split, key=lambda r: (r.label, str(r.path))) for split in out]


def carve_missing_splits(
    train: list[VideoRecord],
    val: Optional[list[VideoRecord]],
    test: Optional[list[VideoRecord]],
    val_fraction: float,
    test_fraction: float,
    seed: int,
    group_key: Optional[GroupKey] = None,
) -> tuple[list[VideoRecord], list[VideoRecord], list[VideoRecord]]:
    """(train, val, test) with a missing (None) val and/or test split carved from train."""
    if val is not None and test is not None:
        return train, val, test
    fv = val_fraction if val is None else 0.0
    ft = test_fraction if test is None else 0.0
    parts = stratified_split(train, [1.0 - fv - ft, fv, ft], seed, group_key)
    return parts[0], (parts[1] if val is None else val), (parts[2] if test is None else test)


def kfold_split(
    records: Sequence[VideoRecord],
    num_folds: int,
    fold: int,
    seed: int,
    group_key: Optional[GroupKey] = None,
) -> tuple[list[VideoRecord], list[VideoRecord]]:
    """(rest, held_out): fold `fold` of a stratified, seeded partition of `records` into `num_folds` folds.

    Each class is shuffled as `stratified_split` does (its own generator from seed and label) and
    dealt round-robin into the folds, each class starting where the previous one stopped, so fold
    sizes differ by at most one video per class and the folds' totals stay balanced. Every record is
    held out in exactly one fold. With `group_key`, a group's records stay together (counts apply to
    groups). Both lists are sorted by (label, path).
    """
    if num_folds < 2:
        raise ValueError(f"num_folds must be at least 2 for cross-validation, got {num_folds}")
    if not 0 <= fold < num_folds:
        raise ValueError(f"fold must be in 0..{num_folds - 1}, got {fold}")
    by_class: dict[int, list[VideoRecord]] = {}
    for r in records:
        by_class.setdefault(r.label, []).append(r)
    rest: list[VideoRecord] = []
    held_out: list[VideoRecord] = []
    position = 0
    for label in sorted(by_class):
        groups: dict[Hashable, list[VideoRecord]] = {}
        for r in sorted(by_class[label], key=lambda r: str(r.path)):
            groups.setdefault(group_key(r) if group_key else str(r.path), []).append(r)
        units = [groups[k] for k in sorted(groups, key=str)]
        rng = np.random.default_rng([seed & 0xFFFFFFFF, zlib.crc32(str(label).encode())])
        for i in rng.permutation(len(units)):
            (held_out if position % num_folds == fold else rest).extend(units[i])
            position += 1
    key = lambda r: (r.label, str(r.path))  # noqa: E731
    return sorted(rest, key=key), sorted(held_out, key=key)
