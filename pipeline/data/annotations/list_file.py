"""Format "list": list files (MMAction2 / Kinetics style), ``relative/path label`` per line.

The label is a class index or a class name; an optional class list (one name a line, or
``index name`` lines, 0- or 1-based) names the classes and fixes their order.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from pipeline.data.annotations.entries import (
    assign_labels,
    check_duplicates,
    infer_class_names,
    resolve_paths,
    to_records,
)
from pipeline.data.annotations.lines import ListEntry, parse_class_list, parse_list_file
from pipeline.data.annotations.records import (
    DatasetSources,
    FormatSplits,
    PathLike,
    VideoRecord,
    raise_problems,
)


def _read_lists(
    lists: dict[str, Path],
    root: Optional[Path],
    class_names: Optional[list[str]],
    index_base: int,
    problems: list[str],
    check_files: bool,
) -> tuple[list[str], dict[str, list[ListEntry]]]:
    """(class names, {split: entries}) of list files read together.

    Without `class_names` they are inferred from the labels of all the lists; a video listed in
    two lists is a duplicate. Paths are relative to `root`, or to each list file's folder.
    """
    parsed = {name: parse_list_file(path, class_names, problems) for name, path in lists.items()}
    if class_names is None:
        class_names = infer_class_names([e for es in parsed.values() for e in es], problems,
                                        ", ".join(str(p) for p in lists.values()))
    for name, entries in parsed.items():
        assign_labels(entries, class_names, index_base, problems)
        resolve_paths(entries, root if root is not None else lists[name].parent, problems, check_files)
    check_duplicates(list(parsed.values()), problems)
    return class_names, parsed


def read_list_splits(sources: DatasetSources) -> FormatSplits:
    """The "list" reader: `train_list` (required), optional `val_list`, `test_list`, `class_list`.

    A CSV list with more columns than path and label (``path,label,source``) hands its other
    columns on by video (`FormatSplits.columns`).

    With a 1-based ``index name`` class list, integer labels are read as 1-based. Video paths are
    relative to `root` (default: each list file's folder).
    """
    if sources.train_list is None:
        raise ValueError("format 'list' needs train_list")
    problems: list[str] = []
    class_names, base = None, 0
    if sources.class_list is not None:
        class_names, base = parse_class_list(Path(sources.class_list), problems)
    lists = {name: Path(path) for name, path in (("train", sources.train_list), ("val", sources.val_list),
                                                 ("test", sources.test_list)) if path is not None}
    root = Path(sources.root) if sources.root is not None else None
    class_names, parsed = _read_lists(lists, root, class_names, base, problems, sources.check_files)
    columns = {e.path: e.columns for entries in parsed.values() for e in entries if e.path is not None and e.columns}
    return FormatSplits(
        class_names,
        to_records(parsed["train"]),
        val=to_records(parsed["val"]) if "val" in parsed else None,
        test=to_records(parsed["test"]) if "test" in parsed else None,
        columns=columns,
        problems=problems,
    )


def read_list_file(
    list_file: PathLike,
    root: Optional[PathLike],
    class_names: Optional[list[str]] = None,
    *,
    index_base: int = 0,
    check_files: bool = True,
) -> list[VideoRecord]:
    """Records from a ``relative/path label`` list (MMAction2 / Kinetics style).

    Each non-blank, non-``#`` line is split on its last whitespace run (so paths may contain
    spaces), or on its last comma for ``path,label`` lines; a ``path,label`` header is skipped.
    The label is a class index (``index_base`` 0 or 1) or a class name (matched exactly, then
    case-insensitively). Without `class_names`, all-integer labels mean classes ``"0".."K-1"``
    (K = max + 1) and name labels mean the sorted unique names in this file. Paths are relative to
    `root` (default: the list file's folder); a missing path is retried case-insensitively.
    Raises `AnnotationError` with every malformed line, unknown label, missing or empty video and
    duplicate entry.
    """
    problems: list[str] = []
    _, parsed = _read_lists({"list": Path(list_file)}, Path(root) if root is not None else None,
                            class_names, index_base, problems, check_files)
    raise_problems(problems)
    return to_records(parsed["list"])
