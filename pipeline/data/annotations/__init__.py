"""Annotations: turn the dataset layouts users have into labelled video records.

Three layouts are understood, all resolved before any video is decoded:

1. **Folder per class** (``root/<class>/<video>``), flat or pre-split (``root/train/<class>/...``,
   ``root/val/...`` or ``root/valid/...``, ``root/test/...``).
2. **List files** (MMAction2 / Kinetics style): ``relative/path label`` per line, or ``path,label``;
   the label is a class index or a class name; an optional class list names the classes.
3. **UCF101 official splits**: ``classInd.txt``, ``trainlist0N.txt``, ``testlist0N.txt``.

`build_splits` is the one entry point that the data module calls. It returns a `DatasetSplits`
(class names and train / val / test `VideoRecord` lists), carving missing val / test splits from
train with a seeded `stratified_split`. Nothing here opens a video: a file is checked for existence
and a non-zero size only. Every problem found (unknown labels, missing or empty files, empty
classes, malformed or duplicate lines) is collected and raised together in one `AnnotationError`,
each message naming the file (and the line for list files), so a long run never starts on a broken
dataset and the user fixes everything in one pass.
"""
from __future__ import annotations

import difflib
import os
import re
import stat
import warnings
import zlib
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Union

import numpy as np

PathLike = Union[str, "os.PathLike[str]"]

VIDEO_EXTENSIONS = frozenset(
    {".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv", ".3gp", ".ts"}
)

FORMATS = ("folders", "list", "ucf101")


@dataclass(frozen=True)
class SplitDefaults:
    """The one place the split options' defaults live (the data module's signature reads them)."""

    val_fraction: float = 0.15
    test_fraction: float = 0.15
    seed: int = 0
    ucf_split: int = 1


SPLIT_DEFAULTS = SplitDefaults()
VAL_DIR_NAMES = ("val", "valid", "validation")

_INT_RE = re.compile(r"[+-]?\d+")
_INDEXED_CLASS_RE = re.compile(r"([+-]?\d+)\s*[,\s]\s*(\S.*)")
_UCF_GROUP_RE = re.compile(r"_g(\d+)_c\d+", re.IGNORECASE)
_HEADER_PATHS = {"path", "video", "file", "filename", "video_path", "videopath", "filepath"}
_HEADER_LABELS = {"label", "class", "category", "label_id", "class_id", "class_name"}


# ----------------------------------------------------------------------------------------------
# Records, splits, errors


@dataclass(frozen=True)
class VideoRecord:
    """One video and its class index (-1 for unlabeled videos, e.g. at inference)."""

    path: Path
    label: int


@dataclass
class DatasetSplits:
    """Class names and the three splits; `warnings` holds non-fatal findings (also emitted)."""

    class_names: list[str]
    train: list[VideoRecord]
    val: list[VideoRecord]
    test: list[VideoRecord]
    warnings: list[str] = field(default_factory=list)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def summary(self) -> str:
        """A table of video counts per split per class, with totals."""
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
        return "\n".join(lines)


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


def _raise_if(problems: list[str]) -> None:
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


# ----------------------------------------------------------------------------------------------
# Finding videos on disk


def is_video_file(path: PathLike) -> bool:
    """True when the file name ends with one of `VIDEO_EXTENSIONS` (case-insensitive)."""
    return os.path.splitext(os.fspath(path))[1].lower() in VIDEO_EXTENSIONS


def _walk_videos(
    root: Path, recursive: bool, on_error: Callable[[Path, OSError], None]
) -> tuple[list[Path], list[Path]]:
    """(videos, other files) under `root`, hidden entries skipped, each real directory visited once.

    Directory symlinks are followed; a directory reached twice (a symlink cycle, or a link to a
    folder also inside the tree) is visited only the first time in sorted depth-first order.
    """
    videos: list[Path] = []
    others: list[Path] = []
    seen: set[tuple[int, int]] = set()
    stack = [root]
    while stack:
        directory = stack.pop()
        try:
            st = directory.stat()
            if (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
            with os.scandir(directory) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            on_error(directory, exc)
            continue
        subdirs = []
        for entry in entries:
            if entry.name.startswith("."):
                continue  # hidden files, and macOS "._x.mp4" resource forks
            try:
                if entry.is_dir():
                    if recursive:
                        subdirs.append(Path(entry.path))
                elif entry.is_file():
                    (videos if is_video_file(entry.name) else others).append(Path(entry.path))
            except OSError:
                continue  # vanished or unreadable entry
        stack.extend(reversed(subdirs))
    return sorted(videos), sorted(others)


def find_videos(root: PathLike, recursive: bool = True) -> list[Path]:
    """Sorted video files under `root` (a single file argument returns ``[file]``).

    Extensions match case-insensitively, hidden files and folders are skipped, directory symlinks
    are followed but every real directory is visited once, so symlink cycles terminate.
    Unreadable sub-folders are skipped with an `AnnotationWarning`.
    """
    root = Path(root)
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise FileNotFoundError(f"no such file or directory: {root}")

    def warn(path: Path, exc: OSError) -> None:
        if path == root:
            raise exc
        warnings.warn(f"{path}: skipped, cannot be read ({exc.strerror or exc})", AnnotationWarning,
                      stacklevel=3)

    return _walk_videos(root, recursive, warn)[0]


def _check_video(path: Path, where: str, problems: list[str]) -> bool:
    """Append a problem unless `path` is an existing, non-empty regular file."""
    try:
        st = path.stat()
    except FileNotFoundError:
        problems.append(f"{where}: video file not found: {path}")
        return False
    except OSError as exc:
        problems.append(f"{where}: video file cannot be read: {path} ({exc.strerror or exc})")
        return False
    if not stat.S_ISREG(st.st_mode):
        problems.append(f"{where}: not a regular file: {path}")
        return False
    if st.st_size == 0:
        problems.append(f"{where}: video file is empty (0 bytes): {path}")
        return False
    return True


class _PathResolver:
    """Finds a listed file, falling back to a case-insensitive, '\\'-tolerant match per component."""

    def __init__(self) -> None:
        self._listings: dict[Path, dict[str, list[str]]] = {}

    def _listing(self, directory: Path) -> dict[str, list[str]]:
        if directory not in self._listings:
            names: dict[str, list[str]] = {}
            try:
                for name in os.listdir(directory):
                    names.setdefault(name.lower(), []).append(name)
            except OSError:
                pass
            self._listings[directory] = names
        return self._listings[directory]

    def resolve(self, root: Path, relative: str) -> Optional[Path]:
        exact = root / relative
        if os.path.lexists(exact):
            return exact
        rel = Path(relative.replace("\\", "/")) if os.sep == "/" else Path(relative)
        current = Path(rel.anchor) if rel.is_absolute() else root
        for part in rel.parts[1:] if rel.is_absolute() else rel.parts:
            candidate = current / part
            if part in (".", "..") or os.path.lexists(candidate):
                current = candidate
                continue
            matches = self._listing(current).get(part.lower(), [])
            if len(matches) != 1:
                return None
            current = current / matches[0]
        return current


# ----------------------------------------------------------------------------------------------
# Format 1: one folder per class


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
        videos, others = _walk_videos(
            class_dir, True,
            lambda p, exc: problems.append(f"{p}: folder cannot be read ({exc.strerror or exc})"))
        if not videos:
            hint = f"; it holds {len(others)} other file(s), e.g. {others[0].name!r}" if others else ""
            message = f"{class_dir}: class folder {entry.name!r} contains no video files{hint}"
            (problems if required else notes).append(message)
        if check_files:
            videos = [v for v in videos if _check_video(v, str(class_dir), problems)]
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


def scan_class_folders(root: PathLike, *, check_files: bool = True) -> tuple[list[VideoRecord], list[str]]:
    """Records and class names for a flat ``root/<class>/<video>`` layout.

    Videos are found recursively under each class folder (hidden files ignored); classes are the
    folder names sorted alphabetically. An empty class folder, a zero-byte video or an unreadable
    folder is reported; a pre-split root (one with a ``train`` folder) is refused with a pointer to
    `build_splits`. Raises `AnnotationError` with every problem.
    """
    root = Path(root)
    problems: list[str] = []
    notes: list[str] = []
    if not root.is_dir():
        raise AnnotationError([f"{root}: dataset folder not found"])
    if _split_dirs(root) is not None:
        raise AnnotationError([f"{root}: has a 'train' folder, i.e. a pre-split layout; "
                               "use build_splits('folders', root) to read its splits"])
    classes = _scan_class_dirs(root, problems, notes, check_files=check_files, required=True)
    _raise_if(problems)
    _emit(notes)
    class_names = sorted(classes)
    return _records(classes, class_names), class_names


# ----------------------------------------------------------------------------------------------
# Format 2: list files and class lists


def _read_lines(path: Path, problems: list[str], what: str) -> Optional[list[tuple[int, str]]]:
    """(line number, stripped text) of non-blank, non-# lines; None (and a problem) if unreadable."""
    try:
        with open(path, encoding="utf-8-sig") as f:
            text = f.read()
    except FileNotFoundError:
        problems.append(f"{path}: {what} not found")
        return None
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(f"{path}: {what} cannot be read ({exc})")
        return None
    out = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if line and not line.startswith("#"):
            out.append((number, line))
    return out


def _parse_class_list(path: Path, problems: list[str]) -> tuple[list[str], int]:
    """(names in index order, index base 0 or 1) from a class list file."""
    lines = _read_lines(path, problems, "class list")
    if not lines:
        if lines is not None:
            problems.append(f"{path}: class list is empty")
        return [], 0
    names: list[str] = []
    base = 0
    if _INDEXED_CLASS_RE.fullmatch(lines[0][1]):  # "index name" lines, like UCF101's classInd.txt
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
        if by_index:
            base = min(by_index)
            expected = list(range(base, base + len(by_index)))
            if base not in (0, 1) or sorted(by_index) != expected:
                missing = sorted(set(range(base, max(by_index) + 1)) - set(by_index))
                problems.append(f"{path}: class indices must run 0..K-1 or 1..K without gaps; "
                                f"found {base}..{max(by_index)}" + (f", missing {missing[:10]}" if missing else ""))
            names = [by_index[i][1] for i in sorted(by_index)]
            numbers = [by_index[i][0] for i in sorted(by_index)]
    else:
        names = [line for _, line in lines]
        numbers = [number for number, _ in lines]
    first_line: dict[str, int] = {}
    for number, name in zip(numbers, names):
        if name in first_line:
            problems.append(f"{path}:{number}: duplicate class name {name!r} (also line {first_line[name]})")
        first_line.setdefault(name, number)
    return names, base


def read_class_list(path: PathLike) -> list[str]:
    """Class names in index order from one-name-per-line or ``index name`` lines (0- or 1-based).

    Raises `AnnotationError` for malformed lines, gaps or duplicates in the indices, duplicate names.
    """
    problems: list[str] = []
    names, _ = _parse_class_list(Path(path), problems)
    _raise_if(problems)
    return names


def _split_line(line: str, multiword: Sequence[str]) -> Optional[tuple[str, str]]:
    """(path, label token) of a list line, or None when there is no label."""
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


@dataclass
class _Entry:
    source: str  # "file:line"
    text: str  # the path as written
    token: str  # the label as written ('' when the label comes from elsewhere)
    label: int = -1
    path: Optional[Path] = None


def _parse_list_file(path: Path, class_names: Optional[list[str]], problems: list[str]) -> list[_Entry]:
    lines = _read_lines(path, problems, "list file")
    if lines is None:
        return []
    if not lines:
        problems.append(f"{path}: list file has no entries")
        return []
    multiword = sorted((n.lower() for n in class_names or () if any(c.isspace() for c in n)), key=len,
                       reverse=True)
    entries = []
    for i, (number, line) in enumerate(lines):
        parsed = _split_line(line, multiword)
        if parsed is None:
            problems.append(f"{path}:{number}: malformed line {line!r}, expected '<relative/path> <label>'")
            continue
        if i == 0 and parsed[0].lower() in _HEADER_PATHS and parsed[1].lower() in _HEADER_LABELS:
            continue  # a CSV header such as "path,label"
        entries.append(_Entry(f"{path}:{number}", parsed[0], parsed[1]))
    return entries


def _infer_class_names(entries: Iterable[_Entry], problems: list[str], where: str) -> list[str]:
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


def _assign_labels(entries: list[_Entry], class_names: list[str], base: int, problems: list[str]) -> None:
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


def _resolve_paths(entries: list[_Entry], root: Path, problems: list[str], check_files: bool) -> None:
    resolver = _PathResolver()
    for e in entries:
        if not check_files:
            e.path = root / e.text
            continue
        found = resolver.resolve(root, e.text)
        if found is None:
            problems.append(f"{e.source}: video file not found: {root / e.text}")
        elif _check_video(found, e.source, problems):
            e.path = found


def _check_duplicates(groups: Sequence[Sequence[_Entry]], problems: list[str]) -> None:
    """A video listed twice, in one list or in two (a train/test leak), is a problem."""
    first: dict[str, _Entry] = {}
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


def _to_records(entries: Iterable[_Entry]) -> list[VideoRecord]:
    return [VideoRecord(e.path, e.label) for e in entries if e.path is not None and e.label >= 0]


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
    list_file = Path(list_file)
    root = Path(root) if root is not None else list_file.parent
    problems: list[str] = []
    entries = _parse_list_file(list_file, class_names, problems)
    if class_names is None:
        class_names = _infer_class_names(entries, problems, str(list_file))
    _assign_labels(entries, class_names, index_base, problems)
    _resolve_paths(entries, root, problems, check_files)
    _check_duplicates([entries], problems)
    _raise_if(problems)
    return _to_records(entries)


# ----------------------------------------------------------------------------------------------
# Format 3: UCF101 official splits


def _ucf_annotation_dir(root: Path) -> Path:
    for candidate in (root / "ucfTrainTestlist", root, root.parent / "ucfTrainTestlist"):
        if (candidate / "classInd.txt").is_file():
            return candidate
    return root / "ucfTrainTestlist"


def _read_ucf101(
    root: Path, annotation_dir: Optional[Path], split: int, problems: list[str], check_files: bool
) -> tuple[list[_Entry], list[_Entry], list[str]]:
    if split not in (1, 2, 3):
        raise ValueError(f"UCF101 has official splits 1, 2 and 3, not {split!r}")
    ann = Path(annotation_dir) if annotation_dir is not None else _ucf_annotation_dir(root)
    class_names, base = _parse_class_list(ann / "classInd.txt", problems)
    train = _parse_list_file(ann / f"trainlist0{split}.txt", class_names, problems)
    _assign_labels(train, class_names, base, problems)

    test: list[_Entry] = []
    folded: dict[str, int] = {n.lower(): i for i, n in enumerate(class_names)}
    for number, line in _read_lines(ann / f"testlist0{split}.txt", problems, "list file") or []:
        source = f"{ann / f'testlist0{split}.txt'}:{number}"
        parts = line.rsplit(None, 1)
        if not is_video_file(line) and len(parts) == 2 and is_video_file(parts[0]):
            line = parts[0]  # tolerate a "path label" test list
        folder = line.replace("\\", "/").split("/")[0] if "/" in line.replace("\\", "/") else ""
        entry = _Entry(source, line, "")
        if not folder:
            problems.append(f"{source}: cannot tell the class of {line!r}: expected '<ClassFolder>/<video>'")
        elif folder.lower() not in folded:
            close = difflib.get_close_matches(folder, class_names, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            problems.append(f"{source}: unknown class folder {folder!r}, not in classInd.txt{hint}")
        else:
            entry.label = folded[folder.lower()]
        test.append(entry)
    _resolve_paths(train, root, problems, check_files)
    _resolve_paths(test, root, problems, check_files)
    _check_duplicates([train, test], problems)
    return train, test, class_names


def read_ucf101_split(
    root: PathLike, annotation_dir: Optional[PathLike] = None, split: int = 1, *, check_files: bool = True
) -> tuple[list[VideoRecord], list[VideoRecord], list[str]]:
    """(train, test, class names) of UCF101 official split 1, 2 or 3.

    Reads ``classInd.txt`` (``1 ApplyEyeMakeup``), ``trainlist0N.txt`` (``Class/v_..avi 1``) and
    ``testlist0N.txt`` (path only; the class is the folder name, matched case-insensitively because
    the official lists write ``HandStandPushups`` for the folder ``HandstandPushups``). Video paths
    are relative to `root`; a path missing as written is resolved case-insensitively.
    `annotation_dir` defaults to ``root/ucfTrainTestlist`` (or wherever classInd.txt is found).
    """
    problems: list[str] = []
    ann = Path(annotation_dir) if annotation_dir is not None else None
    train, test, class_names = _read_ucf101(Path(root), ann, split, problems, check_files)
    _raise_if(problems)
    return _to_records(train), _to_records(test), class_names


def ucf101_group(record: VideoRecord) -> str:
    """The UCF101 group (``gNN``, clips cut from one source video) of a record; else its path."""
    m = _UCF_GROUP_RE.search(record.path.name)
    return f"g{int(m.group(1))}" if m else str(record.path)


# ----------------------------------------------------------------------------------------------
# Splitting


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


def stratified_split(
    records: Sequence[VideoRecord],
    fractions: Sequence[float],
    seed: int,
    group_key: Optional[Callable[[VideoRecord], Hashable]] = None,
) -> list[list[VideoRecord]]:
    """Split records into ``len(fractions)`` disjoint lists, class by class, reproducibly.

    Each class is shuffled with its own generator derived from (seed, label), so the result does
    not depend on the input order nor on the other classes. Counts follow the fractions (largest
    remainder); a class with at least as many videos as there are non-zero fractions gets at least
    one in each such split, and a smaller class fills the earlier splits first (train comes first).
    With `group_key`, records sharing a key (e.g. clips of one source video, see `ucf101_group`)
    always land in the same split, and counts apply to groups. Each output list is sorted by
    (label, path).
    """
    fractions = [float(f) for f in fractions]
    if not fractions or any(f < 0 for f in fractions) or abs(sum(fractions) - 1.0) > 1e-6:
        raise ValueError(f"fractions must be non-negative and sum to 1, got {fractions}")
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


# ----------------------------------------------------------------------------------------------
# The entry point


def _emit(notes: list[str]) -> None:
    for note in notes:
        warnings.warn(note, AnnotationWarning, stacklevel=3)


def _carve(
    train: list[VideoRecord],
    val: Optional[list[VideoRecord]],
    test: Optional[list[VideoRecord]],
    val_fraction: float,
    test_fraction: float,
    seed: int,
    group_key: Optional[Callable[[VideoRecord], Hashable]] = None,
) -> tuple[list[VideoRecord], list[VideoRecord], list[VideoRecord]]:
    """Fill a missing val and/or test split from train."""
    want_val, want_test = val is None, test is None
    if not (want_val or want_test):
        return train, val, test  # type: ignore[return-value]
    fv = val_fraction if want_val else 0.0
    ft = test_fraction if want_test else 0.0
    parts = stratified_split(train, [1.0 - fv - ft, fv, ft], seed, group_key)
    return parts[0], (parts[1] if want_val else val), (parts[2] if want_test else test)  # type: ignore


def _check_training_classes(
    class_names: list[str], train: list[VideoRecord], problems: list[str], already_reported: set[str]
) -> None:
    """A class without training videos is a problem (unless its empty folder was reported)."""
    present = {r.label for r in train}
    missing = [c for i, c in enumerate(class_names) if i not in present and c not in already_reported]
    if not class_names and not problems:
        problems.append("no classes found: the dataset has no labelled videos")
    for c in missing:
        problems.append(f"class {c!r} has no videos in the training split")


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


def build_splits(
    format: str,
    root: Optional[PathLike] = None,
    *,
    train_list: Optional[PathLike] = None,
    val_list: Optional[PathLike] = None,
    test_list: Optional[PathLike] = None,
    class_list: Optional[PathLike] = None,
    ucf_split: int = SPLIT_DEFAULTS.ucf_split,
    annotation_dir: Optional[PathLike] = None,
    val_fraction: float = SPLIT_DEFAULTS.val_fraction,
    test_fraction: float = SPLIT_DEFAULTS.test_fraction,
    seed: int = SPLIT_DEFAULTS.seed,
    check_files: bool = True,
) -> DatasetSplits:
    """Read a dataset in one of `FORMATS` into class names and train / val / test records.

    - ``"folders"``: ``root/<class>/...``, or pre-split ``root/train|val|valid|test/<class>/...``
      (class names: the sorted union of the split folders' classes).
    - ``"list"``: `train_list` (required), optional `val_list` / `test_list` / `class_list`, video
      paths relative to `root` (default: each list file's folder). With a 1-based ``index name``
      class list, integer labels are read as 1-based.
    - ``"ucf101"``: official split `ucf_split` from `annotation_dir`; test = the test list, val is
      carved from the train list keeping each source-video group (``_gNN_``) in one split.

    Splits given explicitly are used as given; a missing val (test) split is carved from train by
    `stratified_split` with `val_fraction` (`test_fraction`) and `seed`. Every problem found is
    raised together as one `AnnotationError`; non-fatal findings (a class absent from val or test,
    videos outside class folders) are emitted as `AnnotationWarning` and kept in ``.warnings``.
    `check_files=False` skips all file-system checks on listed videos.
    """
    if format not in FORMATS:
        raise ValueError(f"unknown annotation format {format!r}; valid formats: {', '.join(FORMATS)}")
    if not (0.0 <= val_fraction < 1.0 and 0.0 <= test_fraction < 1.0 and val_fraction + test_fraction < 1.0):
        raise ValueError(f"val_fraction and test_fraction must be >= 0 and sum to < 1, "
                         f"got {val_fraction} and {test_fraction}")
    given_lists = {"train_list": train_list, "val_list": val_list, "test_list": test_list, "class_list": class_list}
    if format != "list" and any(v is not None for v in given_lists.values()):
        names = [k for k, v in given_lists.items() if v is not None]
        raise ValueError(f"{', '.join(names)} only apply to format 'list', not {format!r}")
    if format == "list" and train_list is None:
        raise ValueError("format 'list' needs train_list")
    if format != "list" and root is None:
        raise ValueError(f"format {format!r} needs root")

    problems: list[str] = []
    notes: list[str] = []
    reported: set[str] = set()
    group_key = None
    val: Optional[list[VideoRecord]] = None
    test: Optional[list[VideoRecord]] = None

    if format == "folders":
        root = Path(root)  # type: ignore[arg-type]
        if not root.is_dir():
            raise AnnotationError([f"{root}: dataset folder not found"])
        dirs = _split_dirs(root)
        if dirs is None:
            classes = _scan_class_dirs(root, problems, notes, check_files=check_files, required=True)
            reported = {c for c, v in classes.items() if not v}
            class_names = sorted(classes)
            train = _records(classes, class_names)
        else:
            train_dir, val_dirs, test_dir = dirs
            if len(val_dirs) > 1:
                problems.append(f"{root}: more than one validation folder "
                                f"({', '.join(p.name for p in val_dirs)}); keep one")
            split_dirs = {"train": train_dir, "val": val_dirs[0] if val_dirs else None, "test": test_dir}
            scanned = {name: _scan_class_dirs(d, problems, notes, check_files=check_files,
                                              required=name == "train")
                       for name, d in split_dirs.items() if d is not None}
            reported = {c for c, v in scanned["train"].items() if not v}
            class_names = sorted(set(scanned["train"]).union(
                *({c for c, v in classes.items() if v} for classes in scanned.values())))
            train = _records(scanned["train"], class_names)
            val = _records(scanned["val"], class_names) if "val" in scanned else None
            test = _records(scanned["test"], class_names) if "test" in scanned else None

    elif format == "list":
        base = 0
        if class_list is not None:
            class_names, base = _parse_class_list(Path(class_list), problems)
        lists = {n: Path(p) for n, p in (("train", train_list), ("val", val_list), ("test", test_list))
                 if p is not None}
        parsed = {n: _parse_list_file(p, class_names if class_list is not None else None, problems)
                  for n, p in lists.items()}
        if class_list is None:
            class_names = _infer_class_names([e for es in parsed.values() for e in es], problems,
                                             ", ".join(str(p) for p in lists.values()))
        for name, entries in parsed.items():
            _assign_labels(entries, class_names, base, problems)
            _resolve_paths(entries, Path(root) if root is not None else lists[name].parent, problems, check_files)
        _check_duplicates(list(parsed.values()), problems)
        train = _to_records(parsed["train"])
        val = _to_records(parsed["val"]) if "val" in parsed else None
        test = _to_records(parsed["test"]) if "test" in parsed else None

    else:
        ann = Path(annotation_dir) if annotation_dir is not None else None
        train_entries, test_entries, class_names = _read_ucf101(Path(root), ann, ucf_split,  # type: ignore
                                                                problems, check_files)
        train, test = _to_records(train_entries), _to_records(test_entries)
        group_key = ucf101_group

    _check_training_classes(class_names, train, problems, reported)
    _raise_if(problems)  # everything found so far, before carving from data known to be broken
    wanted = {"val": val is not None or val_fraction > 0, "test": test is not None or test_fraction > 0}
    train, val, test = _carve(train, val, test, val_fraction, test_fraction, seed, group_key)
    splits = DatasetSplits(class_names, train, val, test)
    _note_eval_coverage(splits, wanted, notes)
    splits.warnings = notes
    _emit(notes)
    return splits
