"""Files that a decoder other than the chosen one read: said once per run, counted, and listed in a file.

A collection of narrow raw-video AVIs can send every one of its files to another decoder; a warning
per file would bury the log. So the first file a run hands to another decoder is named in one warning,
the others are counted, and a run inside `recording_fallbacks(path)` gets every such file listed there
(one tab-separated line each: path, why the first decoder could not read it, the decoder that did,
the reason). Every process of the run appends to the same list: DataLoader workers and the DDP ranks
Lightning starts inherit its name through the environment (`ENV`). The process that creates the list
says the one warning. Without a list (the Python API, tests), each process says its first fallback
and counts the rest.

Each process also remembers which decoder read a file (`remembered_decoder`), so that the next read of
that file (the next clip, the next epoch) starts there instead of failing on the chosen decoder again.
"""
from __future__ import annotations

import contextlib
import logging
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterator, Optional, Tuple

from pipeline.data.readers.base import PathLike, VideoReadError

log = logging.getLogger("pipeline.data.readers")

ENV = "RNN_AR_DECODER_FALLBACKS"  # the run's list of files read by another decoder
COLUMNS = ("path", "kind", "read_with", "reason")
FALLBACK_LIST = "decoder_fallbacks.tsv"  # the list's name in a run's folder

FileKey = Tuple[str, int, int, str]  # (resolved path, size, mtime_ns, the decoder asked for)


@dataclass
class _ProcessState:
    said: bool = False
    noted: Dict[str, str] = field(default_factory=dict)  # path -> the decoder that read it, as noted
    read_with: Dict[FileKey, str] = field(default_factory=dict)


_STATE = _ProcessState()


def _file_key(path: PathLike, backend: str) -> Optional[FileKey]:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return (os.path.abspath(path), stat.st_size, stat.st_mtime_ns, backend)


def remembered_decoder(path: PathLike, backend: str) -> Optional[str]:
    """The decoder that read `path` in this process when `backend` could not (None: not seen, or changed)."""
    key = _file_key(path, backend)
    return _STATE.read_with.get(key) if key is not None else None


def remember_decoder(path: PathLike, backend: str, used: str) -> None:
    key = _file_key(path, backend)
    if key is not None:
        _STATE.read_with[key] = used


@contextlib.contextmanager
def recording_fallbacks(path: PathLike, fresh: bool = True) -> Iterator[Path]:
    """List the fallbacks of what runs inside in `path` (written on the first one), for this process and
    every process it starts meanwhile; `fresh` starts the list again (a resumed run keeps it: False).
    Afterwards the environment is as it was."""
    path = Path(path)
    if fresh:
        path.unlink(missing_ok=True)
    before = os.environ.get(ENV)
    os.environ[ENV] = str(path)
    forget_fallbacks()
    try:
        yield path
    finally:
        if before is None:
            os.environ.pop(ENV, None)
        else:
            os.environ[ENV] = before


def forget_fallbacks() -> None:
    """Start this process's count again: its next fallback is said (a new job in a long-lived process)."""
    global _STATE
    _STATE = _ProcessState()


def stop_recording_fallbacks() -> None:
    """No run list any more (processes started from now on inherit none), and a fresh count."""
    os.environ.pop(ENV, None)
    forget_fallbacks()


def fallback_list() -> Optional[Path]:
    """The run's list of fallbacks, when one is being recorded."""
    name = os.environ.get(ENV)
    return Path(name) if name else None


def _append(listing: Path, line: str) -> Optional[bool]:
    """Append `line` to the list, creating it (with its header) when it is not there: True when this call
    created it, False when it was there, None when it cannot be written."""
    try:
        try:
            fd = os.open(listing, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_APPEND, 0o644)
            created, text = True, "\t".join(COLUMNS) + "\n" + line
        except FileExistsError:
            fd = os.open(listing, os.O_WRONLY | os.O_APPEND)
            created, text = False, line
        with os.fdopen(fd, "a", encoding="utf-8") as out:  # one short append: whole lines from every process
            out.write(text)
        return created
    except OSError:
        return None


def note_fallback(error: VideoReadError, used: str) -> None:
    """`error.path` could not be read by the chosen decoder (`error`) and `used` read it: listed once per
    process, and said when it is the run's first."""
    if _STATE.noted.get(error.path) == used:
        return
    _STATE.noted[error.path] = used
    listing = fallback_list()
    first = not _STATE.said
    if listing is not None:
        fields = (error.path, error.kind, used, error.reason)
        created = _append(listing, "\t".join(" ".join(str(f).split()) for f in fields) + "\n")
        first = created if created is not None else first
        listing = listing if created is not None else None
    _STATE.said = True
    if first:
        where = f"; every such file is listed in {listing}" if listing is not None else ""
        log.warning("%s; read with %s instead (further files another decoder reads are counted, not "
                    "named here%s)", error, used, where)
    else:
        log.debug("%s; read with %s instead", error, used)


def fallback_summary() -> Dict[str, object]:
    """{"videos": how many distinct files another decoder read, "by_decoder": {decoder: files},
    "first": the first line's path and reason, "list": the list's path}; from the run's list when one is
    recorded (every process), else from this process's notes. {} when there were none."""
    listing = fallback_list()
    if listing is None:
        noted = _STATE.noted
        return {"videos": len(noted), "by_decoder": dict(Counter(noted.values()))} if noted else {}
    try:
        lines = listing.read_text(encoding="utf-8").splitlines()[1:]
    except OSError:
        return {}
    rows: Dict[str, list] = {}
    for line in lines:
        parts = line.split("\t")
        if len(parts) == len(COLUMNS):
            rows.setdefault(parts[0], parts)
    if not rows:
        return {}
    first = next(iter(rows.values()))
    return {"videos": len(rows), "by_decoder": dict(Counter(row[2] for row in rows.values())),
            "first": f"{first[0]}: {first[3]}", "list": str(listing)}


def format_fallbacks(summary: Dict[str, object]) -> str:
    """One line for a summary from `fallback_summary` ("" when empty)."""
    if not summary:
        return ""
    decoders = ", ".join(f"{name} {count}" for name, count in sorted(summary["by_decoder"].items()))
    text = f"videos read by another decoder than the chosen one: {summary['videos']} ({decoders})"
    if summary.get("list"):
        text += f"; first: {summary['first']}; list: {summary['list']}"
    return text
