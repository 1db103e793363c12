"""SoccerNet action spotting: one ``Labels-v2.json`` per game folder, spots by half (read by `events.py`).

    {"annotations": [{"gameTime": "1 - 12:34", "label": "Goal", "position": "754000",
                      "team": "home", "visibility": "visible"}, ...]}

Each annotation is a spot at ``position`` milliseconds (a string or an integer) into the half that
gameTime's first number names; gameTime's ``mm:ss`` must agree with it within `GAME_TIME_TOLERANCE`.
A half's video lies in the game folder as ``1_<anything>.<ext>`` / ``2_...`` (``1_224p.mkv``,
``1_720p.mkv``, ``1_HQ.mkv``) or ``1.<ext>`` / ``2.<ext>``. When a half has several files the lowest
resolution is read: the smallest ``<N>p`` in the name, names without one (``1_HQ``, ``1``) last, ties in
name order; SoccerNet's positions are timed on its 224p / 720p files (the HQ ones start earlier, see
their ``video.ini``). Both halves are listed, with or without annotations; the game folder is their group.

Given a folder, every ``Labels-v2.json`` under it is a game, its videos in ``root/<game folder relative to
the folder>`` (root defaults to the folder); given one ``Labels-v2.json``, its videos are in root
(default: its folder). Labels outside a given class list are dropped (`events.py` notes them).
"""
from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Optional

from pipeline.data.annotations.activitynet import ListedEvent, ListedVideo, read_json
from pipeline.data.annotations.discovery import PathResolver, check_video, is_video_file

LABELS_FILE = "Labels-v2.json"
HALVES = (1, 2)
GAME_TIME_TOLERANCE = 1.0  # seconds: gameTime is position rounded down to the second

_GAME_TIME_RE = re.compile(r"\s*([12])\s*-\s*(\d+):([0-5]\d)\s*")
_POSITION_RE = re.compile(r"\s*\d+(?:\.\d*)?\s*")
_HALF_FILE_RE = re.compile(r"([12])(?:_(.+))?")
_RESOLUTION_RE = re.compile(r"(\d+)p", re.IGNORECASE)


def find_labels_files(folder: Path) -> list[Path]:
    """Every ``Labels-v2.json`` under `folder`, in path order."""
    return sorted(p for p in folder.rglob(LABELS_FILE) if p.is_file())


def _resolution_key(path: Path) -> tuple[float, str]:
    suffix = _HALF_FILE_RE.fullmatch(path.stem).group(2) or ""
    m = _RESOLUTION_RE.fullmatch(suffix)
    return (int(m.group(1)) if m else math.inf, path.name)


def half_videos(folder: Path) -> dict[int, list[Path]]:
    """The video files of each half in a game folder, the one to read first (see the module docstring)."""
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return {}
    found: dict[int, list[Path]] = {}
    for name in names:
        m = _HALF_FILE_RE.fullmatch(os.path.splitext(name)[0])
        if m and is_video_file(name) and (folder / name).is_file():
            found.setdefault(int(m.group(1)), []).append(folder / name)
    return {half: sorted(paths, key=_resolution_key) for half, paths in found.items()}


def _position(value: object) -> Optional[float]:
    """Seconds of a ``position`` in milliseconds (a string or a number), None if malformed."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)) and math.isfinite(value) and value >= 0:
        return value / 1000.0
    if isinstance(value, str) and _POSITION_RE.fullmatch(value):
        return float(value) / 1000.0
    return None


def _spots(labels: Path, data: object, problems: list[str]) -> dict[int, list[ListedEvent]]:
    """The spots of a parsed Labels-v2.json by half; malformed annotations are problems."""
    annotations = data.get("annotations") if isinstance(data, dict) else None
    if not isinstance(annotations, list):
        problems.append(f"{labels}: expected {{\"annotations\": [...]}} with gameTime, label and position")
        return {}
    spots: dict[int, list[ListedEvent]] = {half: [] for half in HALVES}
    for i, item in enumerate(annotations):
        at = f"{labels}: annotation {i}"
        if not isinstance(item, dict):
            problems.append(f"{at}: malformed annotation {item!r}, expected an object")
            continue
        game_time, label, position = item.get("gameTime"), item.get("label"), item.get("position")
        m = _GAME_TIME_RE.fullmatch(game_time) if isinstance(game_time, str) else None
        seconds = _position(position)
        if m is None:
            problems.append(f"{at}: malformed gameTime {game_time!r}, expected '<half 1 or 2> - mm:ss'")
        if seconds is None:
            problems.append(f"{at}: malformed position {position!r}, expected milliseconds")
        if not isinstance(label, str) or not label.strip():
            problems.append(f"{at}: missing or empty label")
        if m is None or seconds is None or not isinstance(label, str) or not label.strip():
            continue
        clock = int(m.group(2)) * 60 + int(m.group(3))
        if abs(seconds - clock) > GAME_TIME_TOLERANCE:
            problems.append(f"{at} ({label!r}): position {position} ms ({seconds:g} s) disagrees with gameTime "
                            f"{game_time!r} ({clock} s) by more than {GAME_TIME_TOLERANCE:g} s")
            continue
        spots[int(m.group(1))].append((label.strip(), seconds, seconds, at))
    return spots


def list_soccernet_videos(path: Path, root: Optional[Path], problems: list[str],
                          notes: list[str]) -> list[ListedVideo]:
    """The halves of the game(s) at `path` (a ``Labels-v2.json``, or a folder of game folders holding one)."""
    if path.is_dir():
        files = find_labels_files(path)
        base = root if root is not None else path
    else:
        files, base = [path], root if root is not None else path.parent
    resolver = PathResolver()
    several: list[str] = []
    listed = []
    for labels in files:
        game = labels.parent.relative_to(path).as_posix() if path.is_dir() else "."
        folder = base if game == "." else resolver.resolve(base, game)
        group = labels.parent.name if game == "." else game
        data = read_json(labels, problems, "SoccerNet labels file")
        if data is None:
            continue
        spots = _spots(labels, data, problems)
        found = folder is not None and folder.is_dir()
        if not found:
            problems.append(f"{labels}: game folder not found: {base / game}")
        videos = half_videos(folder) if found else {}
        for half in HALVES:
            where = f"{labels}: half {half}"
            video = None
            if found and not videos.get(half):
                problems.append(f"{where}: no video file {half}_*.<ext> or {half}.<ext> in {folder}")
            elif found and check_video(videos[half][0], where, problems):
                video = videos[half][0]
                if len(videos[half]) > 1:
                    several.append(f"{video.name} over {', '.join(p.name for p in videos[half][1:])}")
            listed.append(ListedVideo(video, where, group, None, spots.get(half, [])))
    if several:
        notes.append(f"{len(several)} half/halves have several video files; the lowest resolution is read "
                     f"(e.g. {several[0]})")
    return listed
