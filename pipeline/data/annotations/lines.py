"""Reading list files line by line: the one parser of ``path label`` lines, and class lists.

A list file is UTF-8 text (a BOM is ignored) with one entry a line; blank lines and ``#``
comments are skipped. An entry is ``path label`` (split on the last whitespace run, so paths may
hold spaces) or ``path,label`` (split on the last comma); a first line naming its columns
(``path,label``, ``video label``) is a header. Training lists (`parse_list_file`), the UCF101
test lists, HMDB51's split files and batch inference's video lists (`read_video_list`) all go
through `split_list_line`.
"""
from __future__ import annotations

import csv
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from pipeline.data.annotations.discovery import is_video_file
from pipeline.data.annotations.records import PathLike, raise_problems

HEADER_PATHS = frozenset({"path", "video", "file", "filename", "video_path", "videopath", "filepath"})
HEADER_LABELS = frozenset({"label", "class", "category", "label_id", "class_id", "class_name"})

_INDEXED_CLASS_RE = re.compile(r"([+-]?\d+)\s*[,\s]\s*(\S.*)")


def read_text(path: Path, problems: list[str], what: str) -> Optional[str]:
    """The UTF-8 text of an annotation file (a BOM ignored); None (and a problem naming `what`) if unreadable."""
    try:
        with open(path, encoding="utf-8-sig") as f:
            return f.read()
    except FileNotFoundError:
        problems.append(f"{path}: {what} not found")
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(f"{path}: {what} cannot be read ({exc})")
    return None


def read_lines(
    path: Path, problems: list[str], what: str, *, comments: bool = True
) -> Optional[list[tuple[int, str]]]:
    """(line number, stripped text) of non-blank lines (and, with `comments`, not ``#`` lines);
    None (and a problem) if unreadable."""
    text = read_text(path, problems, what)
    if text is None:
        return None
    out = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if line and not (comments and line.startswith("#")):
            out.append((number, line))
    return out


def _csv_fields(line: str) -> list[str]:
    try:
        return next(csv.reader([line]))
    except (csv.Error, StopIteration):
        return line.split(",")


def header_columns(line: str) -> Optional[list[str]]:
    """Lower-cased column names when `line` is a header (its first column names the path), else None."""
    columns = [c.strip().lower() for c in (_csv_fields(line) if "," in line else line.split())]
    return columns if columns and columns[0] in HEADER_PATHS else None


def is_list_header(line: str) -> bool:
    """True for a labelled list's header: a path column and a label column (``path,label``)."""
    columns = header_columns(line)
    return columns is not None and len(columns) == 2 and columns[1] in HEADER_LABELS


def table_columns(line: str) -> Optional[list[str]]:
    """Column names when `line` is a CSV table's header: a path column first, a label column, and
    more columns beside them (``path,label,source``); else None."""
    if "," not in line:
        return None
    columns = header_columns(line)
    if columns is None or len(columns) < 3 or not any(c in HEADER_LABELS for c in columns[1:]):
        return None
    return columns


def split_list_line(line: str, multiword: Sequence[str] = ()) -> Optional[tuple[str, str]]:
    """(path, label token) of a stripped list line, or None when there is no label.

    `multiword` holds lower-cased class names that contain spaces, longest first, so that
    ``clip.mp4 playing guitar`` keeps its two-word label.
    """
    if "," in line:  # CSV-like "path,label"
        head, _, tail = line.rpartition(",")
        head, tail = head.strip(), tail.strip()
        if head and tail and (not any(c.isspace() for c in tail) or is_video_file(head)
                              or tail.lower() in multiword):
            return head, tail
    lower = line.lower()
    for name in multiword:  # class names with spaces, longest first
        if lower.endswith(name) and len(line) > len(name) and line[-len(name) - 1].isspace():
            return line[: -len(name)].strip(), line[-len(name):]
    parts = line.rsplit(None, 1)
    return (parts[0], parts[1]) if len(parts) == 2 else None


def video_path_of_line(line: str) -> str:
    """The video path of a list line whose label is optional.

    A line that is itself a video file name is a bare path (spaces and commas included); a
    ``path,more,columns`` line whose first column is a video is a headerless CSV row; anything
    else goes through `split_list_line`, and a line it cannot split is a bare path.
    """
    if is_video_file(line):
        return line
    if "," in line:
        first = _csv_fields(line)[0].strip()
        if is_video_file(first):
            return first
    parsed = split_list_line(line)
    return parsed[0] if parsed is not None else line


def read_video_list(path: PathLike) -> list[Path]:
    """The video paths of a list file, in order, labels ignored (batch inference's list input).

    Accepts bare paths one a line, ``path label``, ``path,label`` (each line through
    `video_path_of_line`) and CSV tables whose header names the path first (e.g. a previous
    predictions CSV: the path is the first column of every row); blank lines, ``#``
    comments and the header are skipped. Relative paths are taken from the list file's folder.
    Raises `AnnotationError` when the file cannot be read.
    """
    path = Path(path)
    problems: list[str] = []
    lines = read_lines(path, problems, "list file")
    raise_problems(problems)
    csv_rows = False
    videos: list[Path] = []
    for i, (_, line) in enumerate(lines or []):
        columns = header_columns(line) if i == 0 else None
        if columns is not None:
            csv_rows = len(columns) > 2  # a CSV table (e.g. predictions): the path is its first column
            continue
        entry = _csv_fields(line)[0].strip() if csv_rows else video_path_of_line(line)
        if entry:
            candidate = Path(entry)
            videos.append(candidate if candidate.is_absolute() else path.parent / candidate)
    return videos


@dataclass
class ListEntry:
    """One entry of a labelled list file, as written, then resolved to a label and a path."""

    source: str  # "file:line"
    text: str  # the path as written
    token: str  # the label as written ('' when the label comes from elsewhere)
    label: int = -1
    path: Optional[Path] = None
    columns: dict[str, str] = field(default_factory=dict)  # a table's other columns, by name


def parse_list_file(
    path: Path,
    class_names: Optional[list[str]],
    problems: list[str],
    *,
    what: str = "list file",
    expected: str = "<relative/path> <label>",
    comments: bool = True,
) -> list[ListEntry]:
    """The entries of a labelled list file; malformed lines and an empty file are problems.

    `what` names the file and `expected` its line format in those problems; `comments=False`
    keeps lines that start with ``#`` (HMDB51's split files list videos named ``#20_Rhythm_...``).
    """
    lines = read_lines(path, problems, what, comments=comments)
    if lines is None:
        return []
    if not lines:
        problems.append(f"{path}: {what} has no entries")
        return []
    multiword = sorted((n.lower() for n in class_names or () if any(c.isspace() for c in n)), key=len,
                       reverse=True)
    entries = []
    table = table_columns(lines[0][1])
    if table is not None:
        return _table_entries(path, table, lines[1:], problems)
    for i, (number, line) in enumerate(lines):
        if i == 0 and is_list_header(line):
            continue
        parsed = split_list_line(line, multiword)
        if parsed is None:
            problems.append(f"{path}:{number}: malformed line {line!r}, expected '{expected}'")
            continue
        entries.append(ListEntry(f"{path}:{number}", parsed[0], parsed[1]))
    return entries


def _table_entries(path: Path, columns: list[str], rows: list[tuple[int, str]], problems: list[str]
                   ) -> list[ListEntry]:
    """The entries of a CSV table's rows: the first column is the path, the first label column the
    label, the others are kept by name; a row with another number of columns is a problem."""
    label = next(i for i, c in enumerate(columns) if i > 0 and c in HEADER_LABELS)
    entries = []
    for number, line in rows:
        fields = [f.strip() for f in _csv_fields(line)]
        if len(fields) != len(columns) or not fields[0] or not fields[label]:
            problems.append(f"{path}:{number}: malformed row {line!r}, expected the {len(columns)} columns "
                            f"{','.join(columns)}")
            continue
        extra = {c: fields[i] for i, c in enumerate(columns) if i not in (0, label)}
        entries.append(ListEntry(f"{path}:{number}", fields[0], fields[label], columns=extra))
    if not entries and not rows:
        problems.append(f"{path}: list file has no entries")
    return entries


def parse_class_list(path: Path, problems: list[str]) -> tuple[list[str], int]:
    """(names in index order, index base 0 or 1) from a class list file."""
    lines = read_lines(path, problems, "class list")
    if not lines:
        if lines is not None:
            problems.append(f"{path}: class list is empty")
        return [], 0
    base = 0
    if _INDEXED_CLASS_RE.fullmatch(lines[0][1]):  # "index name" lines, like UCF101's classInd.txt
        numbered, base = _parse_indexed_classes(path, lines, problems)
    else:
        numbered = lines
    first_line: dict[str, int] = {}
    for number, name in numbered:
        if name in first_line:
            problems.append(f"{path}:{number}: duplicate class name {name!r} (also line {first_line[name]})")
        first_line.setdefault(name, number)
    return [name for _, name in numbered], base


def _parse_indexed_classes(
    path: Path, lines: list[tuple[int, str]], problems: list[str]
) -> tuple[list[tuple[int, str]], int]:
    """(line number, name) in index order and the index base, from ``index name`` lines."""
    by_index: dict[int, tuple[int, str]] = {}
    for number, line in lines:
        m = _INDEXED_CLASS_RE.fullmatch(line)
        if not m:
            problems.append(f"{path}:{number}: malformed line {line!r}, expected '<index> <class name>'")
            continue
        index, name = int(m.group(1)), m.group(2).strip()
        if index in by_index:
            problems.append(f"{path}:{number}: duplicate class index {index} (also line {by_index[index][0]})")
            continue
        by_index[index] = (number, name)
    if not by_index:
        return [], 0
    base = min(by_index)
    if base not in (0, 1) or sorted(by_index) != list(range(base, base + len(by_index))):
        missing = sorted(set(range(base, max(by_index) + 1)) - set(by_index))
        problems.append(f"{path}: class indices must run 0..K-1 or 1..K without gaps; "
                        f"found {base}..{max(by_index)}" + (f", missing {missing[:10]}" if missing else ""))
    return [by_index[i] for i in sorted(by_index)], base


def read_class_list(path: PathLike) -> list[str]:
    """Class names in index order from one-name-per-line or ``index name`` lines (0- or 1-based).

    Raises `AnnotationError` for malformed lines, gaps or duplicates in the indices, duplicate names.
    """
    problems: list[str] = []
    names, _ = parse_class_list(Path(path), problems)
    raise_problems(problems)
    return names
