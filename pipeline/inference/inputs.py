"""Which videos a run labels: folders, single files and list files, in order, each once."""
from __future__ import annotations

from pathlib import Path
from typing import List, Sequence

from pipeline.data.annotations import find_videos, is_video_file, read_video_list

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
            videos += [str(p) for p in read_video_list(path)]
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
