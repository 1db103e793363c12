"""ActivityNet-style JSON: temporal segments of untrimmed videos, by video id (read by `events.py`).

    {"database": {"<id>": {"subset": "training", "duration": 123.4,
                           "annotations": [{"segment": [12.0, 31.5], "label": "Long jump"}]}}}

The video of id ``X`` is ``root/X.<ext>`` or ``root/v_X.<ext>`` (YouTube ids, matched exactly; any of
`VIDEO_EXTENSIONS`, in any case); when several files match, the first in name order is taken, ``X.*``
before ``v_X.*``. ``subset`` training / validation / testing (or train / val / test) becomes "train" /
"val" / "test"; a video without ``annotations`` (ActivityNet's test subset) is event-free; the id is the
group. ``duration`` is the annotators' figure: the one used is measured from the file, and a difference
of more than a second is a note.

Also the JSON formats' common ground: `read_json` and `ListedVideo`, what a format hands to `events.py`
(which imports this module and soccernet.py, so neither can import it).
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import NamedTuple, Optional

from pipeline.data.annotations.discovery import check_video, walk_videos
from pipeline.data.annotations.lines import read_text

SUBSETS = {"training": "train", "train": "train", "validation": "val", "val": "val", "testing": "test",
           "test": "test"}

ListedEvent = tuple[str, float, float, str]  # (label as written, start, end, where it is written)


class ListedVideo(NamedTuple):
    """A video as its annotation file lists it, before its duration is measured and labels are checked."""

    path: Optional[Path]  # None when the file was not found (that problem is already reported)
    where: str  # "file:line", or the file and the video's id: what a problem about the video names
    group: str
    subset: Optional[str]
    events: list[ListedEvent]
    declared_duration: Optional[float] = None  # what the annotation file says (ActivityNet), if anything


def read_json(path: Path, problems: list[str], what: str) -> Optional[object]:
    """The parsed JSON of `path`; None (and a problem, ``file:line:`` for a syntax error) if it cannot be read."""
    text = read_text(path, problems, what)
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        problems.append(f"{path}:{exc.lineno}: malformed JSON in the {what}: {exc.msg} (column {exc.colno})")
        return None


def is_activitynet(data: object) -> bool:
    """True for a parsed JSON object with a top-level ``database``."""
    return isinstance(data, dict) and "database" in data


def _number(value: object) -> Optional[float]:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _video_index(root: Path, problems: list[str]) -> dict[str, list[Path]]:
    """The video files directly in `root` by stem, each list in name order."""
    def unreadable(folder: Path, exc: OSError) -> None:
        problems.append(f"{folder}: video folder cannot be read ({exc.strerror or exc})")

    if not root.is_dir():
        problems.append(f"{root}: video folder not found")
        return {}
    index: dict[str, list[Path]] = {}
    for video in walk_videos(root, False, unreadable)[0]:
        index.setdefault(video.stem, []).append(video)
    return index


def _events(path: Path, vid: str, annotations: object, problems: list[str]) -> list[ListedEvent]:
    where = f"{path}: video {vid!r}"
    if annotations is None:
        return []
    if not isinstance(annotations, list):
        problems.append(f"{where}: 'annotations' must be a list of {{\"segment\": [start, end], \"label\": ...}}")
        return []
    events = []
    for i, item in enumerate(annotations):
        at = f"{where}, annotation {i}"
        segment = item.get("segment") if isinstance(item, dict) else None
        label = item.get("label") if isinstance(item, dict) else None
        times = [_number(t) for t in segment] if isinstance(segment, (list, tuple)) and len(segment) == 2 else []
        if len(times) != 2 or None in times:
            problems.append(f"{at}: malformed segment {segment!r}, expected [start, end] in seconds")
        elif not isinstance(label, str) or not label.strip():
            problems.append(f"{at}: missing or empty label")
        else:
            events.append((label.strip(), times[0], times[1], at))
    return events


def list_activitynet_videos(path: Path, data: object, root: Path, problems: list[str],
                            notes: list[str]) -> list[ListedVideo]:
    """The videos of a parsed ActivityNet JSON `data` (read from `path`), their files looked up in `root`."""
    database = data.get("database") if isinstance(data, dict) else None
    if not isinstance(database, dict):
        problems.append(f"{path}: 'database' must map video ids to {{\"subset\", \"duration\", \"annotations\"}}")
        return []
    if not database:
        problems.append(f"{path}: the annotation file has no videos ('database' is empty)")
        return []
    index = _video_index(root, problems)
    root_found = root.is_dir()  # else that one problem is enough
    several: list[str] = []
    listed = []
    for vid, entry in database.items():
        where = f"{path}: video {vid!r}"
        if not isinstance(entry, dict):
            problems.append(f"{where}: malformed entry, expected {{\"subset\", \"duration\", \"annotations\"}}")
            continue
        subset = entry.get("subset")
        if subset is not None and (not isinstance(subset, str) or subset not in SUBSETS):
            problems.append(f"{where}: unknown subset {subset!r}, expected training, validation or testing")
        declared = entry.get("duration")
        if declared is not None and (_number(declared) is None or declared < 0):
            problems.append(f"{where}: malformed duration {declared!r}, expected seconds")
            declared = None
        events = _events(path, vid, entry.get("annotations"), problems)
        found = index.get(vid, []) + index.get(f"v_{vid}", [])
        video = None
        if not found:
            if root_found:
                problems.append(f"{where}: no video file {vid}.<ext> or v_{vid}.<ext> in {root}")
        elif check_video(found[0], where, problems):
            video = found[0]
            if len(found) > 1:
                several.append(f"{found[0].name} over {', '.join(p.name for p in found[1:])}")
        named = SUBSETS.get(subset) if isinstance(subset, str) else None
        listed.append(ListedVideo(video, where, str(vid), named, events, _number(declared)))
    if several:
        notes.append(f"{path}: {len(several)} video id(s) match several files; the first in name order is read "
                     f"(e.g. {several[0]})")
    return listed
