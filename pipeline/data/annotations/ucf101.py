"""Format "ucf101": the official UCF101 splits, ``classInd.txt``, ``trainlist0N.txt``, ``testlist0N.txt``.

The test lists carry no label: the class is the folder name, matched case-insensitively because
the official lists write ``HandStandPushups`` for the folder ``HandstandPushups``. Clips cut from
one source video share a group (``_gNN_``) and must stay in one split (`ucf101_group`).
"""
from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Optional

from pipeline.data.annotations.discovery import official_split_folders
from pipeline.data.annotations.entries import assign_labels, check_duplicates, resolve_paths, to_records
from pipeline.data.annotations.lines import (
    ListEntry,
    parse_class_list,
    parse_list_file,
    read_lines,
    video_path_of_line,
)
from pipeline.data.annotations.records import (
    SPLIT_DEFAULTS,
    DatasetSources,
    FormatSplits,
    PathLike,
    VideoRecord,
    raise_problems,
)

_UCF_GROUP_RE = re.compile(r"_g(\d+)_c\d+", re.IGNORECASE)


def ucf101_group(record: VideoRecord) -> str:
    """The UCF101 group of a record: its class folder and ``gNN`` (clips cut from one source video; the
    same number in another class is another video); else its path."""
    m = _UCF_GROUP_RE.search(record.path.name)
    return f"{record.path.parent.name}/g{int(m.group(1))}" if m else str(record.path)


def _read_test_list(path: Path, class_names: list[str], problems: list[str]) -> list[ListEntry]:
    """Entries of a ``<ClassFolder>/<video>`` test list, labelled by their folder."""
    folded: dict[str, int] = {n.lower(): i for i, n in enumerate(class_names)}
    entries: list[ListEntry] = []
    for number, line in read_lines(path, problems, "list file") or []:
        source = f"{path}:{number}"
        text = video_path_of_line(line)  # also tolerates a "path label" test list
        folder = text.replace("\\", "/").split("/")[0] if "/" in text.replace("\\", "/") else ""
        entry = ListEntry(source, text, "")
        if not folder:
            problems.append(f"{source}: cannot tell the class of {text!r}: expected '<ClassFolder>/<video>'")
        elif folder.lower() not in folded:
            close = difflib.get_close_matches(folder, class_names, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            problems.append(f"{source}: unknown class folder {folder!r}, not in classInd.txt{hint}")
        else:
            entry.label = folded[folder.lower()]
        entries.append(entry)
    return entries


def read_ucf101_splits(sources: DatasetSources) -> FormatSplits:
    """The "ucf101" reader: official split `ucf_split` (train and test) from `annotation_dir`.

    Video paths are relative to `root`; a path missing as written is resolved case-insensitively.
    `annotation_dir` defaults to ``root/ucfTrainTestlist`` (or wherever classInd.txt is found).
    Val is left to be carved from train, by `ucf101_group`.
    """
    split = sources.ucf_split
    root, ann = official_split_folders("UCF101", sources.root, sources.annotation_dir, split, "ucfTrainTestlist",
                                       "classInd.txt")
    problems: list[str] = []
    class_names, base = parse_class_list(ann / "classInd.txt", problems)
    train = parse_list_file(ann / f"trainlist0{split}.txt", class_names, problems)
    assign_labels(train, class_names, base, problems)
    test = _read_test_list(ann / f"testlist0{split}.txt", class_names, problems)
    resolve_paths(train, root, problems, sources.check_files)
    resolve_paths(test, root, problems, sources.check_files)
    check_duplicates([train, test], problems)
    return FormatSplits(class_names, to_records(train), test=to_records(test), group_key=ucf101_group,
                        problems=problems)


def read_ucf101_split(
    root: PathLike,
    annotation_dir: Optional[PathLike] = None,
    split: int = SPLIT_DEFAULTS.ucf_split,
    *,
    check_files: bool = True,
) -> tuple[list[VideoRecord], list[VideoRecord], list[str]]:
    """(train, test, class names) of UCF101 official split 1, 2 or 3.

    Reads ``classInd.txt`` (``1 ApplyEyeMakeup``), ``trainlist0N.txt`` (``Class/v_..avi 1``) and
    ``testlist0N.txt`` (path only; the class is the folder name, matched case-insensitively because
    the official lists write ``HandStandPushups`` for the folder ``HandstandPushups``). Video paths
    are relative to `root`; a path missing as written is resolved case-insensitively.
    `annotation_dir` defaults to ``root/ucfTrainTestlist`` (or wherever classInd.txt is found).
    """
    found = read_ucf101_splits(DatasetSources(root, annotation_dir=annotation_dir, ucf_split=split,
                                              check_files=check_files))
    raise_problems(found.problems)
    return found.train, found.test or [], found.class_names
