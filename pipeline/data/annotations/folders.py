"""Format "folders": one folder per class, ``root/<class>/<video>``, flat or pre-split.

A pre-split root holds ``train/`` and optionally one of ``val/``, ``valid/``, ``validation/``
and ``test/``, each with the class folders inside.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from pipeline.data.annotations.discovery import check_video, is_video_file, walk_videos
from pipeline.data.annotations.records import (
    AnnotationError,
    DatasetSources,
    FormatSplits,
    PathLike,
    VideoRecord,
    emit_warnings,
    raise_problems,
)

VAL_DIR_NAMES = ("val", "valid", "validation")


def _scan_class_dirs(
    root: Path, problems: list[str], notes: list[str], *, check_files: bool, required: bool
) -> dict[str, list[Path]]:
    """{class folder name: sorted videos} for ``root/<class>/...``.

    An empty class folder is a problem when `required` (training data), otherwise a note.
    """
    classes: dict[str, list[Path]] = {}
    try:
        entries = sorted(os.scandir(root), key=lambda e: e.name)
    except OSError as exc:
        problems.append(f"{root}: cannot list the dataset folder ({exc.strerror or exc})")
        return classes
    stray = [e.name for e in entries if not e.name.startswith(".") and e.is_file() and is_video_file(e.name)]
    if stray:
        notes.append(f"{root}: {len(stray)} video file(s) directly in this folder are ignored; "
                     f"videos must be inside a class folder (e.g. {stray[0]!r})")
    for entry in entries:
        if entry.name.startswith(".") or not entry.is_dir():
            continue
        class_dir = Path(entry.path)
        videos, others = walk_videos(
            class_dir, True,
            lambda p, exc: problems.append(f"{p}: folder cannot be read ({exc.strerror or exc})"))
        if not videos:
            hint = f"; it holds {len(others)} other file(s), e.g. {others[0].name!r}" if others else ""
            message = f"{class_dir}: class folder {entry.name!r} contains no video files{hint}"
            (problems if required else notes).append(message)
        if check_files:
            videos = [v for v in videos if check_video(v, str(class_dir), problems)]
        classes[entry.name] = videos
    if not classes:
        problems.append(f"{root}: no class folders found (expected {root}/<class name>/<video>)")
    return classes


def _records(classes: dict[str, list[Path]], class_names: list[str]) -> list[VideoRecord]:
    index = {name: i for i, name in enumerate(class_names)}
    return [VideoRecord(v, index[name]) for name in sorted(classes) for v in classes[name]]


def _split_dirs(root: Path) -> Optional[tuple[Path, list[Path], Optional[Path]]]:
    """(train, validation folders, test or None) for a pre-split layout; None for a flat one."""
    if not (root / "train").is_dir():
        return None
    vals = [root / n for n in VAL_DIR_NAMES if (root / n).is_dir()]
    return root / "train", vals, (root / "test" if (root / "test").is_dir() else None)


def _read_flat(root: Path, check_files: bool) -> FormatSplits:
    found = FormatSplits([], [])
    classes = _scan_class_dirs(root, found.problems, found.notes, check_files=check_files, required=True)
    found.reported_classes = {c for c, v in classes.items() if not v}
    found.class_names = sorted(classes)
    found.train = _records(classes, found.class_names)
    return found


def _read_pre_split(
    root: Path, dirs: tuple[Path, list[Path], Optional[Path]], check_files: bool
) -> FormatSplits:
    found = FormatSplits([], [])
    train_dir, val_dirs, test_dir = dirs
    if len(val_dirs) > 1:
        found.problems.append(f"{root}: more than one validation folder "
                              f"({', '.join(p.name for p in val_dirs)}); keep one")
    split_dirs = {"train": train_dir, "val": val_dirs[0] if val_dirs else None, "test": test_dir}
    scanned = {name: _scan_class_dirs(d, found.problems, found.notes, check_files=check_files,
                                      required=name == "train")
               for name, d in split_dirs.items() if d is not None}
    found.reported_classes = {c for c, v in scanned["train"].items() if not v}
    found.class_names = sorted(set(scanned["train"]).union(
        *({c for c, v in classes.items() if v} for classes in scanned.values())))
    found.train = _records(scanned["train"], found.class_names)
    found.val = _records(scanned["val"], found.class_names) if "val" in scanned else None
    found.test = _records(scanned["test"], found.class_names) if "test" in scanned else None
    return found


def read_folder_splits(sources: DatasetSources) -> FormatSplits:
    """The "folders" reader: ``root/<class>/...`` (train only) or ``root/train|val|test/<class>/...``.

    Class names are the sorted class folder names (of a pre-split layout: those of train plus
    any non-empty class folder of val or test). An empty training class folder is a problem, an
    empty val / test class folder and videos outside class folders are notes.
    """
    if sources.root is None:
        raise ValueError("format 'folders' needs root")
    root = Path(sources.root)
    if not root.is_dir():
        raise AnnotationError([f"{root}: dataset folder not found"])
    dirs = _split_dirs(root)
    if dirs is None:
        return _read_flat(root, sources.check_files)
    return _read_pre_split(root, dirs, sources.check_files)


def scan_class_folders(root: PathLike, *, check_files: bool = True) -> tuple[list[VideoRecord], list[str]]:
    """Records and class names for a flat ``root/<class>/<video>`` layout.

    Videos are found recursively under each class folder (hidden files ignored); classes are the
    folder names sorted alphabetically. An empty class folder, a zero-byte video or an unreadable
    folder is reported; a pre-split root (one with a ``train`` folder) is refused with a pointer to
    `build_splits`. Raises `AnnotationError` with every problem.
    """
    root = Path(root)
    if root.is_dir() and _split_dirs(root) is not None:
        raise AnnotationError([f"{root}: has a 'train' folder, i.e. a pre-split layout; "
                               "use build_splits('folders', root) to read its splits"])
    found = read_folder_splits(DatasetSources(root, check_files=check_files))
    raise_problems(found.problems)
    emit_warnings(found.notes)
    return found.train, found.class_names
