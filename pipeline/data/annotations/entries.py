"""From parsed list entries to `VideoRecord`s: labels, paths on disk, duplicates.

Shared by the list-file and UCF101 readers; each step appends its problems instead of raising.
"""
from __future__ import annotations

import difflib
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from pipeline.data.annotations.discovery import PathResolver, check_video
from pipeline.data.annotations.lines import ListEntry
from pipeline.data.annotations.records import VideoRecord

_INT_RE = re.compile(r"[+-]?\d+")


def infer_class_names(entries: Iterable[ListEntry], problems: list[str], where: str) -> list[str]:
    """Class names from the labels alone: ``"0".."K-1"`` for indices, else the sorted names."""
    tokens = {e.token for e in entries}
    ints = {t for t in tokens if _INT_RE.fullmatch(t)}
    if not tokens:
        return []
    if ints == tokens:
        return [str(i) for i in range(max(0, max(int(t) for t in ints) + 1))]
    if ints:
        problems.append(f"{where}: labels mix class indices ({sorted(ints, key=int)[:3]}) and class names "
                        f"({sorted(tokens - ints)[:3]}); pass a class list to say which is which")
        return []
    return sorted(tokens)


def assign_labels(entries: list[ListEntry], class_names: list[str], base: int, problems: list[str]) -> None:
    """Set each entry's class index from its label token: an index (`base` 0 or 1) or a name."""
    exact = {n: i for i, n in enumerate(class_names)}
    folded: dict[str, list[int]] = {}
    for i, n in enumerate(class_names):
        folded.setdefault(n.lower(), []).append(i)
    k = len(class_names)
    for e in entries:
        if _INT_RE.fullmatch(e.token):
            index = int(e.token) - base
            if 0 <= index < k:
                e.label = index
            elif e.token in exact:
                e.label = exact[e.token]
            else:
                hint = ""
                if base == 0 and index == k:
                    hint = "; the labels may be 1-based (use an 'index name' class list starting at 1)"
                problems.append(f"{e.source}: label index {e.token} is out of range: {k} classes, "
                                f"valid indices {base}..{base + k - 1}{hint}")
        elif e.token in exact:
            e.label = exact[e.token]
        elif len(folded.get(e.token.lower(), [])) == 1:
            e.label = folded[e.token.lower()][0]
        else:
            close = difflib.get_close_matches(e.token, class_names, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            problems.append(f"{e.source}: unknown label {e.token!r}, not one of the {k} class names{hint}")


def resolve_paths(entries: list[ListEntry], root: Path, problems: list[str], check_files: bool) -> None:
    """Set each entry's path under `root` (case-insensitively if need be) when the file is usable."""
    resolver = PathResolver()
    for e in entries:
        if not check_files:
            e.path = root / e.text
            continue
        found = resolver.resolve(root, e.text)
        if found is None:
            problems.append(f"{e.source}: video file not found: {root / e.text}")
        elif check_video(found, e.source, problems):
            e.path = found


def check_duplicates(groups: Sequence[Sequence[ListEntry]], problems: list[str]) -> None:
    """A video listed twice, in one list or in two (a train/test leak), is a problem."""
    first: dict[str, ListEntry] = {}
    for entries in groups:
        for e in entries:
            if e.path is None:
                continue
            key = os.path.normcase(os.path.normpath(os.path.abspath(e.path)))
            if key in first:
                other = first[key]
                what = "with a different label" if other.label != e.label else "again"
                problems.append(f"{e.source}: duplicate entry, {e.text!r} is listed {what} (first at {other.source})")
            else:
                first[key] = e


def to_records(entries: Iterable[ListEntry]) -> list[VideoRecord]:
    """Records of the entries that have both a usable path and a label."""
    return [VideoRecord(e.path, e.label) for e in entries if e.path is not None and e.label >= 0]
