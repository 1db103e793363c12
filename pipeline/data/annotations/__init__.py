"""Annotations: turn the dataset layouts users have into labelled video records and splits.

`build_splits(format, ...)` is the entry point the data module calls: it looks the format up in
`FORMAT_READERS`, lets that reader collect class names, records and problems, checks that every
class has training videos, and carves a missing val / test split from train with a seeded
`stratified_split`. Nothing here opens a video: a file is checked for existence and a non-zero
size only. Every problem found (unknown labels, missing or empty files, empty classes, malformed or
duplicate lines) is raised together in one `AnnotationError`, each naming its file (and line), so
a long run never starts on a broken dataset and the user fixes everything in one pass.

    records.py    VideoRecord, DatasetSplits, SPLIT_DEFAULTS, AnnotationError / AnnotationWarning,
                  the reader contract (DatasetSources in, FormatSplits out), collect-then-raise.
    discovery.py  VIDEO_EXTENSIONS, is_video_file, find_videos; file checks, the
                  case-insensitive resolver of listed paths, an official split's default folder.
    lines.py      the one parser of ``path label`` / ``path,label`` lines (headers, comments, BOM,
                  paths with spaces; HMDB51's ``video id`` lines too), class lists, and
                  `read_video_list` for batch inference.
    entries.py    parsed list entries -> records: labels, paths on disk, duplicate entries.
    folders.py    format "folders": ``root/<class>/<video>``, flat or pre-split (train/val/test).
    list_file.py  format "list": MMAction2 / Kinetics list files and an optional class list.
    ucf101.py     format "ucf101": the official splits, and `ucf101_group` (clips of one video).
    hmdb51.py     format "hmdb51": the official ``<class>_test_split<N>.txt`` files, and
                  `hmdb51_group` (clips of one source video).
    groups.py     `data.group_by`: a list column or a path pattern naming each video's group.
    splits.py     `stratified_split`, carving missing val / test splits from train, `kfold_split`;
                  a group stays on one side of every split.
    events.py     event annotations of long videos (spots and segments in seconds, durations measured
                  from the files): AnnotatedEvent / AnnotatedVideo / EventAnnotations,
                  `read_event_annotations` (picks the format from the path), and the CSV event list.
    event_lists.py  format "events": event annotation files as splits of long videos (background first).
    soccernet.py  SoccerNet Labels-v2.json game folders: spots by half, the game folder as the group.
    activitynet.py  ActivityNet-style JSON (``database`` of ids -> subset, segments); also `read_json`
                  and `ListedVideo`, which soccernet.py shares.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Optional

from pipeline.data.annotations.discovery import VIDEO_EXTENSIONS, find_videos, is_video_file
from pipeline.data.annotations.event_lists import BACKGROUND, read_events_splits
from pipeline.data.annotations.events import (
    AnnotatedEvent,
    AnnotatedVideo,
    EventAnnotations,
    parse_time,
    read_event_annotations,
)
from pipeline.data.annotations.folders import VAL_DIR_NAMES, read_folder_splits, scan_class_folders
from pipeline.data.annotations.groups import resolve_group_key, shared_groups
from pipeline.data.annotations.hmdb51 import (
    hmdb51_group,
    hmdb51_source,
    read_hmdb51_split,
    read_hmdb51_splits,
)
from pipeline.data.annotations.lines import read_class_list, read_video_list, split_list_line
from pipeline.data.annotations.list_file import read_list_file, read_list_splits
from pipeline.data.annotations.records import (
    SPLIT_DEFAULTS,
    AnnotationError,
    AnnotationWarning,
    DatasetSources,
    DatasetSplits,
    FormatSplits,
    GroupKey,
    PathLike,
    SplitDefaults,
    VideoRecord,
    emit_warnings,
    raise_problems,
)
from pipeline.data.annotations.splits import assign_groups, carve_missing_splits, kfold_split, stratified_split
from pipeline.data.annotations.ucf101 import read_ucf101_split, read_ucf101_splits, ucf101_group

__all__ = [
    "AnnotatedEvent", "AnnotatedVideo", "BACKGROUND", "EventAnnotations", "parse_time", "read_event_annotations",
    "FORMATS", "FORMAT_READERS", "SPLIT_DEFAULTS", "VAL_DIR_NAMES", "VIDEO_EXTENSIONS",
    "AnnotationError", "AnnotationWarning", "DatasetSources", "DatasetSplits", "FormatSplits", "GroupKey",
    "SplitDefaults", "VideoRecord",
    "assign_groups", "build_splits", "find_videos", "hmdb51_group", "hmdb51_source", "is_video_file", "read_class_list",
    "read_folder_splits", "read_hmdb51_split", "read_hmdb51_splits",
    "read_list_file", "read_list_splits", "read_ucf101_split", "read_ucf101_splits",
    "kfold_split", "read_video_list", "scan_class_folders", "split_list_line", "stratified_split", "ucf101_group",
]

FormatReader = Callable[[DatasetSources], FormatSplits]

FORMAT_READERS: dict[str, FormatReader] = {
    "folders": read_folder_splits,
    "list": read_list_splits,
    "ucf101": read_ucf101_splits,
    "hmdb51": read_hmdb51_splits,
    "events": read_events_splits,
}
FORMATS = tuple(FORMAT_READERS)


def _check_arguments(format: str, sources: DatasetSources, val_fraction: float, test_fraction: float) -> None:
    if format not in FORMAT_READERS:
        raise ValueError(f"unknown annotation format {format!r}; valid formats: {', '.join(FORMAT_READERS)}")
    if not (0.0 <= val_fraction < 1.0 and 0.0 <= test_fraction < 1.0 and val_fraction + test_fraction < 1.0):
        raise ValueError(f"val_fraction and test_fraction must be >= 0 and sum to < 1, "
                         f"got {val_fraction} and {test_fraction}")
    list_options = {"train_list": sources.train_list, "val_list": sources.val_list,
                    "test_list": sources.test_list, "class_list": sources.class_list}
    given = [name for name, value in list_options.items() if value is not None]
    if format not in ("list", "events") and given:
        raise ValueError(f"{', '.join(given)} only apply to formats 'list' and 'events', not {format!r}")


def _check_training_classes(found: FormatSplits) -> None:
    """A class without training videos is a problem (unless its empty folder was reported)."""
    present = {r.label for r in found.train}
    missing = [c for i, c in enumerate(found.class_names)
               if i not in present and c not in found.reported_classes]
    if not found.class_names and not found.problems:
        found.problems.append("no classes found: the dataset has no labelled videos")
    for c in missing:
        found.problems.append(f"class {c!r} has no videos in the training split")


def _note_eval_coverage(splits: DatasetSplits, wanted: dict[str, bool], notes: list[str]) -> None:
    """A class absent from val / test (or an empty val / test split) is a warning, not an error."""
    for name, records in (("val", splits.val), ("test", splits.test)):
        present = {r.label for r in records}
        absent = [c for i, c in enumerate(splits.class_names) if i not in present]
        if not records and wanted[name]:
            notes.append(f"the {name} split is empty")
        elif records and absent:
            notes.append(f"{len(absent)} class(es) have no videos in the {name} split: "
                         + ", ".join(repr(c) for c in absent[:10]) + (" ..." if len(absent) > 10 else ""))


def _note_shared_groups(group_key: Optional[GroupKey], train: list[VideoRecord],
                        given: dict[str, Optional[list[VideoRecord]]], notes: list[str]) -> None:
    """A group with videos in train and in a given (not carved) val or test list is a warning: its
    scores there are inflated."""
    if group_key is None:
        return
    for name, records in given.items():
        shared = shared_groups(group_key, train, records or [])
        if shared:
            notes.append(f"{len(shared)} group(s) have videos in both the train and the {name} split (e.g. "
                         f"{shared[0]!r}): {name} scores on them are inflated; keep each group in one list")


def build_splits(
    format: str,
    root: Optional[PathLike] = None,
    *,
    train_list: Optional[PathLike] = None,
    val_list: Optional[PathLike] = None,
    test_list: Optional[PathLike] = None,
    class_list: Optional[PathLike] = None,
    ucf_split: int = SPLIT_DEFAULTS.ucf_split,
    hmdb_split: int = SPLIT_DEFAULTS.hmdb_split,
    annotation_dir: Optional[PathLike] = None,
    val_fraction: float = SPLIT_DEFAULTS.val_fraction,
    test_fraction: float = SPLIT_DEFAULTS.test_fraction,
    seed: int = SPLIT_DEFAULTS.seed,
    num_folds: Optional[int] = SPLIT_DEFAULTS.num_folds,
    fold: int = SPLIT_DEFAULTS.fold,
    check_files: bool = True,
    group_by: Optional[str] = None,
) -> DatasetSplits:
    """Read a dataset in one of `FORMATS` into class names and train / val / test records.

    - ``"folders"``: ``root/<class>/...``, or pre-split ``root/train|val|valid|test/<class>/...``
      (class names: the sorted union of the split folders' classes).
    - ``"list"``: `train_list` (required), optional `val_list` / `test_list` / `class_list`, video
      paths relative to `root` (default: each list file's folder). With a 1-based ``index name``
      class list, integer labels are read as 1-based.
    - ``"ucf101"``: official split `ucf_split` from `annotation_dir`; test = the test list, val is
      carved from the train list keeping each source-video group (``_gNN_``) in one split.
    - ``"hmdb51"``: official split `hmdb_split` from the ``<class>_test_split<N>.txt`` files in
      `annotation_dir` (videos in ``root/<class>/``): test = lines with id 2, id 0 unused, val is
      carved from the lines with id 1 keeping each source video's clips in one split.

    Splits given explicitly are used as given; a missing val (test) split is carved from train by
    `stratified_split` with `val_fraction` (`test_fraction`) and `seed`. With `num_folds` (k-fold
    cross-validation) every video of the dataset, whatever split it was given in, is pooled; fold
    `fold` of `kfold_split` is the test split and val is carved from the rest with `val_fraction`
    (`test_fraction` is unused). With `group_by` (a column of a CSV list file, or a regular expression
    on the path whose first group names the group: groups.py), or the format's own groups, every
    carved split and fold keeps a group on one side; given splits that share a group are warned about.
    Every problem found is
    raised together as one `AnnotationError`; non-fatal findings (a class absent from val or test,
    videos outside class folders) are emitted as `AnnotationWarning` and kept in ``.warnings``.
    `check_files=False` skips all file-system checks on listed videos.
    """
    sources = DatasetSources(root=root, train_list=train_list, val_list=val_list, test_list=test_list,
                             class_list=class_list, annotation_dir=annotation_dir, ucf_split=ucf_split,
                             hmdb_split=hmdb_split, check_files=check_files)
    _check_arguments(format, sources, val_fraction, test_fraction)
    if num_folds is not None and not (num_folds >= 2 and 0 <= fold < num_folds):
        raise ValueError(f"cross-validation needs num_folds >= 2 and 0 <= fold < num_folds, got num_folds={num_folds}, "
                         f"fold={fold}")
    found = FORMAT_READERS[format](sources)
    _check_training_classes(found)
    pool = found.train + (found.val or []) + (found.test or [])
    group_key = resolve_group_key(group_by, found, Path(root) if root is not None else None, pool)
    raise_problems(found.problems)  # everything found so far, before carving from data known to be broken
    wanted = {"val": found.val is not None or val_fraction > 0, "test": found.test is not None or test_fraction > 0}
    if num_folds is not None:
        rest, test = kfold_split(pool, num_folds, fold, seed, group_key)
        train, val, _ = carve_missing_splits(rest, None, [], val_fraction, 0.0, seed, group_key)
        wanted["test"] = True
    else:
        train, val, test = carve_missing_splits(found.train, found.val, found.test, val_fraction, test_fraction,
                                                seed, group_key)
        _note_shared_groups(group_key, train, {"val": found.val, "test": found.test}, found.notes)
    splits = DatasetSplits(found.class_names, train, val, test, group_key=group_key, events=found.events)
    if not found.events:  # long videos: the records' labels only spread classes over splits
        _note_eval_coverage(splits, wanted, found.notes)
    splits.warnings = found.notes
    emit_warnings(found.notes)
    return splits
