"""Files that a decoder other than the chosen one read: said once per run, counted, and listed in a file.

A collection of raw-video AVIs can send every one of its files to another decoder; a warning per file
would bury the log. So the first file a run hands to another decoder is named in one warning, the
others are counted, and a run that calls `record_fallbacks(path)` gets every file in that list (one
tab-separated line each: path, why the first decoder could not read it, the decoder that did, the
reason). Every process of the run appends to the same list: DataLoader workers, DDP ranks and
decoding children inherit its name through the environment (`ENV`), and the one warning is said by
whichever process gets there first. Without a list (the Python API, tests), each process says its
first fallback and counts the rest.
"""
from __future__ import annotations

import logging
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Optional

from pipeline.data.readers.base import PathLike, VideoReadError

log = logging.getLogger("pipeline.data.readers")

ENV = "RNN_AR_DECODER_FALLBACKS"  # the run's list of files read by another decoder
_SAID = ".said"  # beside the list: exists once the run's one warning has been said
COLUMNS = ("path", "kind", "read_with", "reason")
FALLBACK_LIST = "decoder_fallbacks.tsv"  # the list's name in a run's folder


@dataclass
class _ProcessState:
    said: bool = False
    by_decoder: Counter = field(default_factory=Counter)


_STATE = _ProcessState()


def record_fallbacks(path: PathLike, fresh: bool = True) -> Path:
    """List this run's fallbacks in `path` (and say the first one again): for this process and every
    process it starts. `fresh` empties the list (a resumed run keeps it: pass False)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fresh or not path.exists():
        path.write_text("\t".join(COLUMNS) + "\n")
    Path(f"{path}{_SAID}").unlink(missing_ok=True)
    os.environ[ENV] = str(path)
    forget_fallbacks()
    return path


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


def _first_to_say(listing: Optional[Path]) -> bool:
    if listing is None:
        return not _STATE.said
    try:
        os.close(os.open(f"{listing}{_SAID}", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        return True
    except FileExistsError:
        return False
    except OSError:
        return not _STATE.said


def note_fallback(error: VideoReadError, used: str) -> None:
    """`error.path` could not be read by the chosen decoder (`error`) and `used` read it: listed, and said
    when it is the run's first."""
    listing = fallback_list()
    if listing is not None:
        reason = " ".join(error.reason.split())
        line = "\t".join((error.path, error.kind, used, reason)) + "\n"
        try:
            with open(listing, "a", encoding="utf-8") as out:  # one short append: whole lines from every process
                out.write(line)
        except OSError:
            listing = None
    first = _first_to_say(listing)
    _STATE.said = True
    _STATE.by_decoder[used] += 1
    if first:
        where = f"; every such file is listed in {listing}" if listing is not None else ""
        log.warning("%s; read with %s instead (further files another decoder reads are counted, not "
                    "named here%s)", error, used, where)
    else:
        log.debug("%s; read with %s instead", error, used)


def fallback_summary() -> Dict[str, object]:
    """{"videos": how many distinct files another decoder read, "by_decoder": {decoder: files},
    "first": the first line's path and reason, "list": the list's path}; from the run's list when one is
    recorded (every process), else from this process's count. {} when there were none."""
    listing = fallback_list()
    if listing is None:
        count = sum(_STATE.by_decoder.values())
        return {"videos": count, "by_decoder": dict(_STATE.by_decoder)} if count else {}
    try:
        lines = listing.read_text(encoding="utf-8").splitlines()[1:]
    except OSError:
        return {}
    rows = {}
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
