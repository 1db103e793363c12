"""`data.group_by`: which videos belong together (one source video, person or session) and so must stay
on one side of every split.

The option is either the name of a column of a CSV list file (``path,label,source``: the column
``source``) or a regular expression searched in each video's path relative to the dataset root
(``/``-separated), whose first group names the group (``^(person\\d+)_``, ``_g(\\d+)_``). A path the
expression does not match is a group of its own, and said so in one warning; an expression that
matches no path at all is an error. Without the option, a format's own grouping applies (UCF101's
``_gNN_`` names, HMDB51's source videos).
"""
from __future__ import annotations

import re
from collections.abc import Hashable, Sequence
from pathlib import Path
from typing import Optional

from pipeline.data.annotations.records import FormatSplits, GroupKey, VideoRecord


class ColumnGroups:
    """The group of a record from a column of its CSV list (a video without a value is its own group)."""

    def __init__(self, column: str, values: dict[Path, dict[str, str]]):
        self.column = column
        self.groups = {path: row[column] for path, row in values.items() if row.get(column)}

    def __call__(self, record: VideoRecord) -> Hashable:
        return self.groups.get(record.path, str(record.path))


class PatternGroups:
    """The group of a record from the first group of `pattern` searched in its path relative to `root`
    (the whole path when it is not under `root`); a path it does not match is its own group."""

    def __init__(self, pattern: re.Pattern, root: Optional[Path]):
        self.pattern, self.root = pattern, root

    def relative(self, path: Path) -> str:
        if self.root is not None:
            try:
                return path.relative_to(self.root).as_posix()
            except ValueError:
                pass
        return path.as_posix()

    def match(self, record: VideoRecord) -> Optional[str]:
        found = self.pattern.search(self.relative(record.path))
        return found.group(1) if found else None

    def __call__(self, record: VideoRecord) -> Hashable:
        group = self.match(record)
        return group if group is not None else str(record.path)


def compile_group_pattern(group_by: str) -> re.Pattern:
    """`group_by` as a regular expression with at least one group; a ValueError says what is wrong."""
    try:
        pattern = re.compile(group_by)
    except re.error as exc:
        raise ValueError(f"data.group_by {group_by!r}: not a column of the list file, nor a regular expression "
                         f"({exc})") from None
    if pattern.groups < 1:
        raise ValueError(f"data.group_by {group_by!r}: a regular expression needs a group naming the group, "
                         f"e.g. '^(person\\d+)_'")
    return pattern


def resolve_group_key(group_by: Optional[str], found: FormatSplits, root: Optional[Path],
                      records: Sequence[VideoRecord]) -> Optional[GroupKey]:
    """The group key `group_by` names for the records a format reader `found` (None: the format's own).

    Problems (an expression that matches none of `records`) go to ``found.problems``; paths it does
    not match, to ``found.notes``.
    """
    columns = {name for row in found.columns.values() for name in row}
    if group_by is None or group_by == "":
        if found.group_key is None and columns:
            names = ", ".join(sorted(columns))
            found.notes.append(f"the list file has the column(s) {names} beside path and label, and no data.group_by "
                               "names one: every video is its own group, so clips of one source video, person or "
                               f"session can sit on both sides of a split (--data.group_by {sorted(columns)[0]} "
                               "keeps each value's clips together)")
        return found.group_key
    if group_by in columns:
        return ColumnGroups(group_by, found.columns)
    try:
        pattern = compile_group_pattern(group_by)
    except ValueError as exc:
        hint = f" (the list's other columns: {', '.join(sorted(columns))})" if columns else ""
        found.problems.append(f"{exc}{hint}")
        return None
    key = PatternGroups(pattern, root)
    unmatched = [r for r in records if key.match(r) is None]
    if records and len(unmatched) == len(records):
        hint = f"; the list's other columns: {', '.join(sorted(columns))}" if columns else ""
        found.problems.append(f"data.group_by {group_by!r} matches none of the {len(records)} video paths (e.g. "
                              f"{key.relative(records[0].path)!r}){hint}")
    elif unmatched:
        found.notes.append(f"data.group_by {group_by!r} does not match {len(unmatched)} of {len(records)} video "
                           f"paths (e.g. {key.relative(unmatched[0].path)!r}): each is a group of its own")
    return key


def shared_groups(group_key: GroupKey, train: Sequence[VideoRecord], other: Sequence[VideoRecord]) -> list[Hashable]:
    """The groups that have videos in both `train` and `other` (given splits that leak), in order."""
    seen = {group_key(r) for r in train}
    return list(dict.fromkeys(g for g in (group_key(r) for r in other) if g in seen))
