"""Which videos a run labels: folders, single files and list files, in order, each once."""
from __future__ import annotations

from pathlib import Path
from typing import List, Sequence

from pipeline.data.annotations import find_videos, is_video_file

LIST_SUFFIXES = (".txt", ".lst", ".csv", ".list")


def collect_inputs(inputs: Sequence[str]) -> List[str]:
    """Video paths from folders (recursive, extensions case-insensitive, symlinks followed once),
    single video files and list files (one path per line, optionally followed by a label)."""
    videos: List[str] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            videos += [str(p) for p in find_videos(path)]
        elif path.suffix.lower() in LIST_SUFFIXES and path.is_file():
            videos += _read_list(path)
        elif is_video_file(path) or path.exists():
            videos.append(str(path))  # a missing or broken file still gets its row
        else:
            raise FileNotFoundError(f"{path}: no such file or directory")
    seen, unique = set(), []
    for video in videos:
        if video not in seen:
            seen.add(video)
            unique.append(video)
    return unique


def _read_list(path: Path) -> List[str]:
    """Paths of a list file: `path`, `path label` or CSV lines (the first column); relative
    paths are taken from the list's folder; `#` comments and a CSV header are skipped."""
    out = []
    for number, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines()):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        entry = line.split(",")[0] if "," in line else line
        if number == 0 and entry.lower() in ("path", "video", "filename"):  # a CSV header, e.g. a previous preds.csv
            continue
        if not Path(entry).suffix and " " in entry:  # "path label"
            entry = entry.rsplit(None, 1)[0]
        elif " " in entry and not Path(entry).exists():
            head, _tail = entry.rsplit(None, 1)
            entry = head if is_video_file(head) else entry
        candidate = Path(entry)
        out.append(str(candidate if candidate.is_absolute() else path.parent / candidate))
    return out
