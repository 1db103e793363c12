"""Splitting records: the seeded, stratified split, carving missing val / test splits from train, and the
folds of k-fold cross-validation.

A group key (the clips of one source video, one person, one session: `data.group_by`, see
groups.py) keeps a group's records on one side of every split. Groups that each hold one class are
dealt class by class, as ungrouped records are (a seed names the same split as it always has);
when a group holds clips of several classes (a source video cut into "fight" and "no fight"
clips), whole groups are placed instead, largest first, each where it brings the splits' class
counts closest to their targets (`assign_groups`).
"""
from __future__ import annotations

import zlib
from collections.abc import Hashable, Sequence
from typing import Optional

import numpy as np

from pipeline.data.annotations.records import GroupKey, VideoRecord


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


def _groups_across_classes(records: Sequence[VideoRecord], group_key: Optional[GroupKey]
                           ) -> Optional[list[list[VideoRecord]]]:
    """The groups of `records` (in key order) when one of them holds several classes, else None."""
    if group_key is None:
        return None
    groups: dict[Hashable, list[VideoRecord]] = {}
    for r in sorted(records, key=lambda r: (str(r.path), r.label)):
        groups.setdefault(group_key(r), []).append(r)
    if all(len({r.label for r in members}) == 1 for members in groups.values()):
        return None
    return [groups[k] for k in sorted(groups, key=str)]


def assign_groups(groups: Sequence[Sequence[VideoRecord]], fractions: Sequence[float], seed: int) -> list[int]:
    """The split (index into `fractions`) of each group, whole groups only, seeded.

    Groups are placed largest first (equal sizes in a seeded random order), each in the non-zero
    split where the squared gap between the split's class counts and their targets (fraction x
    class size, in shares of each class, so a small class weighs as much as a large one) grows
    least. A non-zero split left without a group then takes the smallest group of the split that
    holds the most, while that one keeps at least one.
    """
    labels = sorted({r.label for g in groups for r in g})
    column = {label: i for i, label in enumerate(labels)}
    counts = np.zeros((len(groups), len(labels)))
    for i, members in enumerate(groups):
        for r in members:
            counts[i, column[r.label]] += 1
    totals = np.maximum(counts.sum(0), 1.0)
    target = np.outer(np.asarray(fractions, dtype=float), counts.sum(0))
    placed = np.zeros_like(target)
    nonzero = [s for s, f in enumerate(fractions) if f > 0]
    rng = np.random.default_rng([seed & 0xFFFFFFFF, zlib.crc32(b"groups")])
    order = sorted(rng.permutation(len(groups)).tolist(), key=lambda i: -counts[i].sum())
    where = [nonzero[0]] * len(groups)

    def growth(s: int, group: np.ndarray) -> tuple[float, float, int]:
        """How much the gap grows when `group` joins split s; ties: the split furthest below its target."""
        before, after = placed[s] - target[s], placed[s] + group - target[s]
        return float(np.sum((after ** 2 - before ** 2) / totals ** 2)), float(np.sum(before)), s

    for i in order:
        where[i] = min(nonzero, key=lambda s: growth(s, counts[i]))  # noqa: B023 (used at once)
        placed[where[i]] += counts[i]
    for s in nonzero:
        members = [i for i, w in enumerate(where) if w == s]
        if members:
            continue
        sizes = {d: [i for i, w in enumerate(where) if w == d] for d in nonzero}
        donor = max(nonzero, key=lambda d: (len(sizes[d]), -d))
        if len(sizes[donor]) < 2:
            break
        where[min(sizes[donor], key=lambda i: (counts[i].sum(), i))] = s
    return where


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
    always land in the same split, and counts apply to groups; when a group holds several classes,
    whole groups are placed by `assign_groups`. Each output list is sorted by (label, path).
    """
    fractions = [float(f) for f in fractions]
    if not fractions or any(f < 0 for f in fractions) or abs(sum(fractions) - 1.0) > 1e-6:
        raise ValueError(f"fractions must be non-negative and sum to 1, got {fractions}")
    mixed = _groups_across_classes(records, group_key)
    if mixed is not None:
        placed: list[list[VideoRecord]] = [[] for _ in fractions]
        for members, split in zip(mixed, assign_groups(mixed, fractions, seed)):
            placed[split].extend(members)
        return [sorted(split, key=lambda r: (r.label, str(r.path))) for split in placed]
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
    groups); when a group holds several classes, whole groups are dealt by `assign_groups` with equal
    fractions. Both lists are sorted by (label, path).
    """
    if num_folds < 2:
        raise ValueError(f"num_folds must be at least 2 for cross-validation, got {num_folds}")
    if not 0 <= fold < num_folds:
        raise ValueError(f"fold must be in 0..{num_folds - 1}, got {fold}")
    key = lambda r: (r.label, str(r.path))  # noqa: E731
    mixed = _groups_across_classes(records, group_key)
    if mixed is not None:
        where = assign_groups(mixed, [1.0 / num_folds] * num_folds, seed)
        held = [r for members, f in zip(mixed, where) if f == fold for r in members]
        others = [r for members, f in zip(mixed, where) if f != fold for r in members]
        return sorted(others, key=key), sorted(held, key=key)
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
    return sorted(rest, key=key), sorted(held_out, key=key)
