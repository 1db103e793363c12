"""Finding video files on disk and checking that a listed one is there (never decoding it)."""
from __future__ import annotations

import os
import stat
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Optional

from pipeline.data.annotations.records import AnnotationWarning, PathLike

VIDEO_EXTENSIONS = frozenset(
    {".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv", ".3gp", ".ts"}
)


def is_video_file(path: PathLike) -> bool:
    """True when the file name ends with one of `VIDEO_EXTENSIONS` (case-insensitive)."""
    return os.path.splitext(os.fspath(path))[1].lower() in VIDEO_EXTENSIONS


def walk_videos(
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

    return walk_videos(root, recursive, warn)[0]


def find_annotation_dir(root: Path, folder: str, marker: str) -> Path:
    """Where an official split's files are when not given: the first of ``root/<folder>``, `root`
    and ``root/../<folder>`` that holds a file matching the glob `marker`, else ``root/<folder>``."""
    for candidate in (root / folder, root, root.parent / folder):
        if any(p.is_file() for p in candidate.glob(marker)):
            return candidate
    return root / folder


def official_split_folders(name: str, root: Optional[PathLike], annotation_dir: Optional[PathLike], split: object,
                           folder: str, marker: str) -> tuple[Path, Path]:
    """(root, annotation folder) of an official three-split data set (`name`: "UCF101", "HMDB51"); raises
    ValueError without a root or for a split other than 1, 2 or 3. The folder defaults as in
    `find_annotation_dir`."""
    if root is None:
        raise ValueError(f"format {name.lower()!r} needs root")
    if split not in (1, 2, 3):
        raise ValueError(f"{name} has official splits 1, 2 and 3, not {split!r}")
    root = Path(root)
    ann = Path(annotation_dir) if annotation_dir is not None else find_annotation_dir(root, folder, marker)
    return root, ann


def check_video(path: Path, where: str, problems: list[str]) -> bool:
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


class PathResolver:
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
        """`root / relative` if it exists, else the one case-insensitive match, else None."""
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
