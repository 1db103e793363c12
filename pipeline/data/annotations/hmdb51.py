"""Format "hmdb51": HMDB51's official splits, one ``<class>_test_split<N>.txt`` per class per split.

The split files sit in one folder (``testTrainMulti_7030_splits/`` in the release); each line is
``<video file name> <id>``, id 1 = train, 2 = test, 0 = not used in this split. The id is the
line's last field, so a name may hold spaces; ``#`` starts a name here
(``#20_Rhythm_clap_u_nm_np1_fr_goo_0.avi``), not a comment. Videos are ``<root>/<class>/<video>``;
the class names are the classes of the split files (and, when files are checked, the class
folders), sorted.

A clip is named ``<source>_<class>_<body>_<camera>_<people>_<view>_<quality>_<n>.avi`` (HMDB's
readme): clips cut from one source video share a group (`hmdb51_source`), kept in one split when
validation is carved from train.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Optional

from pipeline.data.annotations.discovery import official_split_folders
from pipeline.data.annotations.entries import check_duplicates, resolve_paths, to_records
from pipeline.data.annotations.lines import ListEntry, parse_list_file
from pipeline.data.annotations.records import (
    SPLIT_DEFAULTS,
    DatasetSources,
    FormatSplits,
    PathLike,
    VideoRecord,
    raise_problems,
)

SPLIT_FILES_DIR = "testTrainMulti_7030_splits"
SPLIT_IDS = {"0": "unused", "1": "train", "2": "test"}

_SPLIT_FILE_RE = re.compile(r"(.+)_test_split(\d+)\.txt")
_CLIP_NUMBER_RE = re.compile(r"(.+)_\d+")


def hmdb51_source(video: str, class_name: str) -> str:
    """The source video of HMDB51 clip `video` of class `class_name`: the name before ``_<class>_``.

    The suffix ``_<class>_<five tags>_<n>`` is matched at the end of the name, so a class name
    that also appears in the source's title (``Run_Lola_Run_run_f_cm_np1_ba_med_1``) is cut at the
    right place. A name without HMDB's five tags falls back to the part before the last
    ``_<class>_``, then to the name without its trailing ``_<n>``, then to the name itself.
    """
    stem = os.path.splitext(video)[0]
    cls = re.escape(class_name)
    for pattern in (rf"(.*)_{cls}(?:_[^_]+){{5}}_\d+", rf"(.*)_{cls}_.*"):
        m = re.fullmatch(pattern, stem, re.IGNORECASE | re.DOTALL)
        if m:
            return m.group(1)
    m = _CLIP_NUMBER_RE.fullmatch(stem)
    return m.group(1) if m else stem


def hmdb51_group(record: VideoRecord) -> str:
    """The HMDB51 group of a record in ``<root>/<class>/<video>``: its class and source video
    (`hmdb51_source`), so that val is carved class by class as the official splits are."""
    return f"{record.path.parent.name}/{hmdb51_source(record.path.name, record.path.parent.name)}"


def _split_files(ann: Path, problems: list[str]) -> Optional[dict[int, dict[str, Path]]]:
    """{split number: {class: split file}} of the ``<class>_test_split<N>.txt`` files in `ann`;
    None (and a problem) when `ann` cannot be listed."""
    try:
        names = sorted(os.listdir(ann))
    except FileNotFoundError:
        problems.append(f"{ann}: split folder not found (HMDB51's {SPLIT_FILES_DIR}/ with "
                        "<class>_test_split<N>.txt files; set data.annotation_dir)")
        return None
    except OSError as exc:
        problems.append(f"{ann}: split folder cannot be read ({exc.strerror or exc})")
        return None
    files: dict[int, dict[str, Path]] = {}
    for name in names:
        m = _SPLIT_FILE_RE.fullmatch(name)
        if m and (ann / name).is_file():
            files.setdefault(int(m.group(2)), {})[m.group(1)] = ann / name
    return files


def _class_folders(root: Path, problems: list[str]) -> Optional[set[str]]:
    """The class folder names in `root`; None (and a problem) when it cannot be listed."""
    try:
        with os.scandir(root) as it:
            return {e.name for e in it if not e.name.startswith(".") and e.is_dir()}
    except FileNotFoundError:
        problems.append(f"{root}: dataset folder not found")
    except OSError as exc:
        problems.append(f"{root}: cannot list the dataset folder ({exc.strerror or exc})")
    return None


def _read_split_file(path: Path, class_name: str, label: int, problems: list[str]) -> dict[str, list[ListEntry]]:
    """{"train": entries, "test": entries} of one class's split file, labelled, paths ``<class>/<video>``."""
    parts: dict[str, list[ListEntry]] = {"train": [], "test": []}
    for e in parse_list_file(path, None, problems, what="split file", expected="<video file name> <0|1|2>",
                             comments=False):
        part = SPLIT_IDS.get(e.token)
        if part is None:
            problems.append(f"{e.source}: unknown split id {e.token!r} for {e.text!r}, "
                            "expected 1 (train), 2 (test) or 0 (unused)")
        elif part != "unused":
            e.text, e.label = f"{class_name}/{e.text}", label
            parts[part].append(e)
    return parts


def read_hmdb51_splits(sources: DatasetSources) -> FormatSplits:
    """The "hmdb51" reader: official split `hmdb_split` (train: id 1, test: id 2) from `annotation_dir`.

    `annotation_dir` defaults to ``root/testTrainMulti_7030_splits`` (or wherever split files are
    found). A class folder or a class of another split without this split's file, a split file
    whose class folder is missing, and a class with no training line are problems, as are
    malformed lines, unknown ids, missing videos and duplicates (each with its file and line).
    Val is left to be carved from train, by `hmdb51_group`.
    """
    split = sources.hmdb_split
    root, ann = official_split_folders("HMDB51", sources.root, sources.annotation_dir, split, SPLIT_FILES_DIR,
                                       "*_test_split[123].txt")
    problems: list[str] = []
    listed = _split_files(ann, problems)
    files = listed or {}
    folders = _class_folders(root, problems) if sources.check_files else set()
    chosen = files.get(split, {})
    class_names = sorted((folders or set()).union(*files.values()))
    found = FormatSplits(class_names, [], test=[], group_key=hmdb51_group, problems=problems)
    if listed is not None and not chosen:
        problems.append(f"{ann}: no split files for split {split} (expected <class>_test_split{split}.txt, "
                        "one per class)")
    if not chosen or folders is None:
        found.reported_classes.update(class_names)  # said once above, not once per class
    for c in class_names:
        if chosen and c not in chosen:
            where = f"for the class folder {root / c}" if c in (folders or ()) else f"for class {c!r}"
            problems.append(f"{ann / f'{c}_test_split{split}.txt'}: split file not found {where}")
            found.reported_classes.add(c)
    entries: dict[str, list[ListEntry]] = {"train": [], "test": []}
    for label, c in enumerate(class_names):
        if c not in chosen:
            continue
        parts = _read_split_file(chosen[c], c, label, problems)
        if folders is None:
            continue  # the dataset folder cannot be listed: its videos are not looked for
        if sources.check_files and c not in folders:
            problems.append(f"{chosen[c]}: class folder not found: {root / c}")
            found.reported_classes.add(c)
            continue  # one problem for the class, not one per listed video
        if not parts["train"]:
            problems.append(f"{chosen[c]}: class {c!r} has no training videos (no line with id 1)")
            found.reported_classes.add(c)
        for name, part in parts.items():
            entries[name] += part
    for part in entries.values():
        resolve_paths(part, root, problems, sources.check_files)
    check_duplicates([entries["train"], entries["test"]], problems)
    found.train, found.test = to_records(entries["train"]), to_records(entries["test"])
    return found


def read_hmdb51_split(
    root: PathLike,
    annotation_dir: Optional[PathLike] = None,
    split: int = SPLIT_DEFAULTS.hmdb_split,
    *,
    check_files: bool = True,
) -> tuple[list[VideoRecord], list[VideoRecord], list[str]]:
    """(train, test, class names) of HMDB51 official split 1, 2 or 3.

    Reads every ``<class>_test_split<N>.txt`` in `annotation_dir` (default
    ``root/testTrainMulti_7030_splits``): lines ``<video> 1`` are train, ``<video> 2`` test,
    ``<video> 0`` unused; videos are ``root/<class>/<video>``. Raises `AnnotationError` with every
    problem found.
    """
    found = read_hmdb51_splits(DatasetSources(root, annotation_dir=annotation_dir, hmdb_split=split,
                                              check_files=check_files))
    raise_problems(found.problems)
    return found.train, found.test or [], found.class_names
