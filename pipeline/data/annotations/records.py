"""What the annotations package hands out and takes in: records, splits, errors and warnings.

Also the contract of a format reader (`DatasetSources` in, `FormatSplits` out), the split
defaults, and the collect-then-raise helper every reader ends with.
"""
from __future__ import annotations

import os
import re
import warnings
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np

PathLike = Union[str, "os.PathLike[str]"]


@dataclass(frozen=True)
class SplitDefaults:
    """The one place the split options' defaults live (the data module's signature reads them)."""

    val_fraction: float = 0.15
    test_fraction: float = 0.15
    seed: int = 0
    ucf_split: int = 1
    hmdb_split: int = 1
    num_folds: Optional[int] = None  # k-fold cross-validation: None = the fixed split above
    fold: int = 0


SPLIT_DEFAULTS = SplitDefaults()


@dataclass(frozen=True)
class VideoRecord:
    """One video and its class index (-1 for unlabeled videos, e.g. at inference)."""

    path: Path
    label: int


GroupKey = Callable[["VideoRecord"], Hashable]


@dataclass
class DatasetSplits:
    """Class names and the three splits; `warnings` holds non-fatal findings (also emitted);
    `group_key` names the group of a record (None: every video is its own group)."""

    class_names: list[str]
    train: list[VideoRecord]
    val: list[VideoRecord]
    test: list[VideoRecord]
    warnings: list[str] = field(default_factory=list)
    group_key: Optional[GroupKey] = None
    events: dict[Path, Any] = field(default_factory=dict)  # format "events": each long video's AnnotatedVideo

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def summary(self) -> str:
        """A table of video counts per split per class, with totals (and groups per split when grouped);
        for long videos with events, videos, hours and events per class per split."""
        if self.events:
            return self._events_summary()
        splits = {"train": self.train, "val": self.val, "test": self.test}
        counts = {name: np.bincount([r.label for r in recs if r.label >= 0], minlength=self.num_classes)
                  for name, recs in splits.items()}
        width = max([len("class"), len("total")] + [len(c) for c in self.class_names])
        total = sum(len(r) for r in splits.values())
        lines = [
            f"{self.num_classes} classes, {total} videos "
            f"(train {len(self.train)}, val {len(self.val)}, test {len(self.test)})",
            f"{'class':<{width}}  {'train':>6}  {'val':>6}  {'test':>6}",
        ]
        for i, name in enumerate(self.class_names):
            lines.append(f"{name:<{width}}  " + "  ".join(f"{int(counts[s][i]):>6}" for s in splits))
        lines.append(f"{'total':<{width}}  " + "  ".join(f"{len(splits[s]):>6}" for s in splits))
        if self.group_key is not None:
            groups = {s: len({self.group_key(r) for r in recs}) for s, recs in splits.items()}
            lines.append(f"{'groups':<{width}}  " + "  ".join(f"{groups[s]:>6}" for s in splits))
        return "\n".join(lines)


    def _events_summary(self) -> str:
        splits = {"train": self.train, "val": self.val, "test": self.test}
        videos = {s: [self.events[r.path] for r in recs if r.path in self.events] for s, recs in splits.items()}
        names = self.class_names[1:]
        width = max([len("events of"), len("groups")] + [len(c) for c in names]) + (len("events of ") - 0)
        lines = [f"{len(names)} event classes, {sum(len(v) for v in videos.values())} long videos "
                 f"(train {len(self.train)}, val {len(self.val)}, test {len(self.test)})",
                 f"{'':<{width}}  {'train':>8}  {'val':>8}  {'test':>8}",
                 f"{'videos':<{width}}  " + "  ".join(f"{len(videos[s]):>8}" for s in splits),
                 f"{'hours':<{width}}  " + "  ".join(f"{sum(v.duration for v in videos[s]) / 3600:>8.2f}"
                                                      for s in splits)]
        for name in names:
            counts = [sum(1 for v in videos[s] for e in v.events if e.label == name) for s in splits]
            lines.append(f"{'events of ' + name:<{width}}  " + "  ".join(f"{c:>8}" for c in counts))
        if self.group_key is not None:
            groups = {s: len({self.group_key(r) for r in recs}) for s, recs in splits.items()}
            lines.append(f"{'groups':<{width}}  " + "  ".join(f"{groups[s]:>8}" for s in splits))
        return "\n".join(lines)


@dataclass(frozen=True)
class DatasetSources:
    """Where a dataset's videos and annotation files are: what every format reader is given."""

    root: Optional[PathLike] = None
    train_list: Optional[PathLike] = None
    val_list: Optional[PathLike] = None
    test_list: Optional[PathLike] = None
    class_list: Optional[PathLike] = None
    annotation_dir: Optional[PathLike] = None
    ucf_split: int = SPLIT_DEFAULTS.ucf_split
    hmdb_split: int = SPLIT_DEFAULTS.hmdb_split
    check_files: bool = True


@dataclass
class FormatSplits:
    """What a format reader found: classes, the splits the dataset defines, problems and notes.

    `val` / `test` are None when the dataset does not define them (they are carved from train);
    `group_key` keeps related videos in one split when carving; `columns` holds the other columns
    of a CSV list file, by video (what `data.group_by` may name); `reported_classes` are classes
    whose empty folder is already a problem, so "no training videos" is not said twice.
    """

    class_names: list[str]
    train: list[VideoRecord]
    val: Optional[list[VideoRecord]] = None
    test: Optional[list[VideoRecord]] = None
    group_key: Optional[GroupKey] = None
    columns: dict[Path, dict[str, str]] = field(default_factory=dict)
    reported_classes: set[str] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    events: dict[Path, Any] = field(default_factory=dict)  # format "events": path -> AnnotatedVideo


class AnnotationError(ValueError):
    """Every problem found in a dataset's annotations, raised together before training starts.

    `problems` lists one message per problem, each naming the file (``file:line:`` for list files)
    and the cause.
    """

    max_shown = 20

    def __init__(self, problems: Union[Sequence[str], str]):
        self.problems: list[str] = [problems] if isinstance(problems, str) else list(problems)
        super().__init__(self._message())

    def _message(self) -> str:
        n = len(self.problems)
        lines = [f"{n} problem{'s' if n != 1 else ''} found in the dataset annotations:"]
        lines += [f"  - {p}" for p in self.problems[: self.max_shown]]
        if n > self.max_shown:
            lines.append(f"  ... and {n - self.max_shown} more")
        return "\n".join(lines)

    def __reduce__(self):  # keep `problems` when pickled (e.g. out of a DataLoader worker)
        return (type(self), (self.problems,))


class AnnotationWarning(UserWarning):
    """A finding that does not stop training (e.g. a class absent from the val split)."""


_SOURCE_RE = re.compile(r"(.+?):(\d+): ")


def raise_problems(problems: list[str]) -> None:
    """Raise every problem at once: list-file problems by file and line, then the others in order."""
    if not problems:
        return
    files: dict[str, int] = {}
    keys = []
    for i, message in enumerate(problems):
        m = _SOURCE_RE.match(message)
        if m:
            keys.append((files.setdefault(m.group(1), len(files)), int(m.group(2)), i))
        else:
            keys.append((len(problems), 0, i))
    raise AnnotationError([message for _, message in sorted(zip(keys, problems))])


def emit_warnings(notes: list[str]) -> None:
    """Emit each note as an `AnnotationWarning` pointing at the caller of the public function."""
    for note in notes:
        warnings.warn(note, AnnotationWarning, stacklevel=3)
