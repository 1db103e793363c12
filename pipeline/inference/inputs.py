"""Which videos a run labels: folders, single files and list files, in order, each file once.

A video is identified by its resolved path (`video_key`: symlinks followed, made absolute), so
the same file named relatively and absolutely, or through a symlink, is labelled once. The path a
run shows (the output's `path` column) is the absolute path of the first spelling met, symlinks
kept as written, so names stay the user's (a dataset of symlinks into a content store keeps its
readable names).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import List, Sequence

from pipeline.data.annotations import VIDEO_EXTENSIONS, find_videos, is_video_file, read_video_list
from pipeline.errors import InputError

LIST_SUFFIXES = (".txt", ".lst", ".csv", ".list")


def video_key(path: str) -> str:
    """What identifies a video across spellings: its resolved absolute path."""
    return os.path.realpath(path)


def _videos_of(item: str) -> List[str]:
    path = Path(item)
    if path.is_dir():
        videos = [str(p) for p in find_videos(path)]
        if not videos:
            raise InputError(f"{path}: no videos in this folder (searched recursively for "
                             f"{', '.join(sorted(VIDEO_EXTENSIONS))})")
        return videos
    if path.suffix.lower() in LIST_SUFFIXES and path.is_file():
        videos = [str(p) for p in read_video_list(path)]
        if not videos:
            raise InputError(f"{path}: this list file names no videos")
        return videos
    if is_video_file(path) or path.exists():
        return [str(path)]  # a broken file still gets its row
    raise InputError(f"{path}: no such file or directory")


def collect_inputs(inputs: Sequence[str]) -> List[str]:
    """Absolute video paths from folders (recursive, extensions case-insensitive, symlinks followed
    once), single video files and list files (one path per line, optionally followed by a label),
    in order, one per resolved file. Raises InputError for an input that does not exist or yields
    no videos, before any video is opened."""
    if not inputs:
        raise InputError("no inputs given")
    seen, unique = set(), []
    for item in inputs:
        for video in _videos_of(item):
            key = video_key(video)
            if key not in seen:
                seen.add(key)
                unique.append(os.path.abspath(video))
    return unique
