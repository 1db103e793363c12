"""Files people keep are written atomically: to a temporary file beside the destination, synced,
then renamed over it, so a run killed at any moment leaves the old file or the new one, never half.

The temporary file gets an unpredictable name and is created exclusively (``O_EXCL | O_NOFOLLOW``, by
`tempfile.mkstemp`) in the destination's folder, so in a shared folder nobody can plant a symlink
that redirects the write elsewhere. `check_writable` finds an output that cannot be written before
any work starts."""
from __future__ import annotations

import csv
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator, Sequence

from pipeline.errors import OutputError


def _file_mode() -> int:
    """The mode a plain `open(path, "w")` would give a new file (0o666 less the umask)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


_FILE_MODE = _file_mode()  # read once: os.umask can only be read by setting it, which is not thread-safe


def temp_file_beside(path: os.PathLike) -> tuple[int, Path]:
    """A new file (open descriptor, path) with an unpredictable name in `path`'s folder, ending in its
    suffix, with the permissions a plain open would give; `os.replace` it over `path` when complete."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}")
    os.fchmod(fd, _FILE_MODE)
    return fd, Path(name)


@contextmanager
def atomic_path(path: os.PathLike) -> Iterator[Path]:
    """Yields a fresh temporary path (same folder, ending in the same suffix) to write; it replaces
    `path` when the block ends without an exception and is removed otherwise."""
    path = Path(path)
    fd, tmp = temp_file_beside(path)
    try:
        os.close(fd)
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text_atomic(path: os.PathLike, text: str) -> None:
    """Write `text` (UTF-8) to `path` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_csv_atomic(path: os.PathLike, header: Sequence[str], rows: Iterable[Sequence]) -> None:
    """Write a CSV file (a header row, then `rows`) atomically."""
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def check_writable(output: Path) -> None:
    """Raise OutputError unless `output` can be created or replaced (its folder made and written)."""
    if output.is_dir():
        raise OutputError(f"{output}: is a folder; --output names the table file to write")
    folder = next((p for p in output.parents if p.exists()), None)
    if folder is not None and not folder.is_dir():
        raise OutputError(f"{output}: cannot be written ({folder} is a file, not a folder)")
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=output.parent, prefix=f".{output.name}.", suffix=".probe")
        os.close(fd)
        os.unlink(probe)
        if output.exists() and not os.access(output, os.W_OK):
            raise PermissionError(13, "permission denied", str(output))
    except OSError as exc:
        raise OutputError(f"{output}: cannot be written ({exc.strerror or exc})") from None
