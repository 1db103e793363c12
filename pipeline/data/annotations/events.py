"""Event annotations of long videos: labelled spots (one instant) and segments, in seconds, by video file.

`read_event_annotations(path)` picks the format from `path`, lists every video with its events, measures
each video's duration from the file (the project's one read path, `read_meta`) and checks every event
against it. Three formats:

- CSV (``.csv``, or a ``.txt`` / ``.tsv`` starting with the header): the header ``video,label,start,end``
  (any order, more columns allowed, tab-separated when the header is), one event a row, several rows per
  video; times in seconds (``12.5``) or ``h:mm:ss.ff`` / ``mm:ss.ff`` / ``mm:ss``; an empty (or equal)
  end makes a spot; a row with empty label and times lists a video with no events. Paths are relative
  to root and found as list files' are (case-insensitively if need be). An optional ``group`` column
  names the video's group (the same on every row of the video that gives one), else the path relative
  to root is the group.
- ActivityNet JSON (a ``.json`` with a top-level ``database``): activitynet.py.
- SoccerNet (a ``Labels-v2.json``, or a folder holding them, one per game folder): soccernet.py.

Every problem (malformed rows or JSON, malformed, negative or reversed times, an event past the end of
its video beyond `EVENT_END_TOLERANCE`, unknown labels, missing or unreadable videos, a file without
videos) is raised together in one `AnnotationError`, each naming ``file:line`` (CSV) or the file and the
video id / annotation index (JSON).
"""
from __future__ import annotations

import csv
import difflib
import math
import os
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from pipeline.data.annotations.activitynet import (
    ListedEvent,
    ListedVideo,
    is_activitynet,
    list_activitynet_videos,
    read_json,
)
from pipeline.data.annotations.discovery import PathResolver, check_video
from pipeline.data.annotations.lines import read_lines
from pipeline.data.annotations.records import AnnotationError, PathLike, emit_warnings, raise_problems
from pipeline.data.annotations.soccernet import LABELS_FILE, find_labels_files, list_soccernet_videos
from pipeline.data.readers import read_meta

# Seconds an event may reach past the measured end of its video: annotation times are often rounded
# (to 0.1 s, or to whole seconds), and `durations` gives seconds only, so a frame is not known here.
EVENT_END_TOLERANCE = 0.5
# A difference between an annotation file's own duration (ActivityNet) and the file's worth a note.
DECLARED_DURATION_TOLERANCE = 1.0
CSV_COLUMNS = ("video", "label", "start", "end")
ACCEPTED_FORMATS = ("a CSV table whose header names video,label,start,end (.csv, or .txt / .tsv), an ActivityNet "
                    "JSON (a .json with a top-level 'database'), a SoccerNet Labels-v2.json, or a folder holding "
                    "Labels-v2.json files (one per game folder)")

_SECONDS_RE = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")
_CLOCK_RE = re.compile(r"([+-]?)(?:(\d+):([0-5]\d)|(\d+)):([0-5]\d(?:\.\d*)?)")


@dataclass(frozen=True)
class AnnotatedEvent:
    """One labelled event: a segment, or a spot (``end == start``)."""

    label: str
    start: float  # seconds from the start of the video file
    end: float  # seconds; == start for a spotted event (one instant)

    @property
    def is_spot(self) -> bool:
        return self.end == self.start


@dataclass(frozen=True)
class AnnotatedVideo:
    """A video file, its events sorted by (start, end, label) (none: event-free footage), group and duration."""

    path: Path
    events: tuple[AnnotatedEvent, ...]
    group: str  # the match / camera / person: never on two sides of a split
    duration: float  # seconds, measured from the file
    subset: Optional[str] = None  # "train" / "val" / "test" when the annotation file says, else None


@dataclass
class EventAnnotations:
    """What `read_event_annotations` found: the videos, the event classes (no background class), the file or
    folder read, and non-fatal findings."""

    videos: list[AnnotatedVideo]
    class_names: list[str]
    source: str
    notes: list[str] = field(default_factory=list)


def parse_time(text: str) -> float:
    """Seconds of ``12.5``, ``h:mm:ss.ff``, ``mm:ss.ff`` or ``mm:ss`` (a sign is kept: a negative time is
    the caller's problem); ValueError when malformed."""
    text = text.strip()
    if _SECONDS_RE.fullmatch(text):
        return float(text)
    m = _CLOCK_RE.fullmatch(text)
    if m is None:
        raise ValueError(f"malformed time {text!r}, expected seconds (12.5) or h:mm:ss.ff, mm:ss.ff, mm:ss")
    sign, hours, minutes, bare_minutes, seconds = m.groups()
    value = int(hours or 0) * 3600 + int(minutes or bare_minutes) * 60 + float(seconds)
    return -value if sign == "-" else value


def probe_duration(path: Path) -> float:
    """A video's duration in seconds as the one read path measures it: decodable frames / frame rate."""
    return read_meta(path).duration


def _seconds(value: float) -> str:
    return f"{value:.3f}".rstrip("0").rstrip(".")


# ---------------------------------------------------------------------------------------------------- CSV

def _fields(line: str, delimiter: str) -> list[str]:
    try:
        return next(csv.reader([line], delimiter=delimiter))
    except (csv.Error, StopIteration):
        return line.split(delimiter)


def csv_header(line: str) -> Optional[tuple[list[str], str]]:
    """(lower-cased columns, delimiter) when `line` is an event list's header (tab-separated if it holds a
    tab), else None."""
    delimiter = "\t" if "\t" in line else ","
    columns = [c.strip().lower() for c in _fields(line, delimiter)]
    return (columns, delimiter) if set(CSV_COLUMNS) <= set(columns) else None


@dataclass
class _CsvVideo:
    path: Optional[Path]
    text: str
    where: str  # the first row naming it
    events: list[ListedEvent] = field(default_factory=list)
    group: Optional[str] = None
    group_where: str = ""


def _csv_event(where: str, label: str, start: str, end: str, problems: list[str]) -> Optional[ListedEvent]:
    """The event of a row, None for an event-free row or a bad one (its problems appended)."""
    if not label:
        if start or end:
            problems.append(f"{where}: times without a label (a row listing an event-free video leaves label, "
                            "start and end empty)")
        return None
    if not start:
        problems.append(f"{where}: event {label!r} has no start time")
        return None
    times: list[Optional[float]] = []
    for text in (start, end) if end else (start,):
        try:
            times.append(parse_time(text))
        except ValueError as exc:
            problems.append(f"{where}: {exc}")
            times.append(None)
    if None in times:
        return None
    return (label, times[0], times[-1], where)


def list_csv_videos(path: Path, root: Path, problems: list[str]) -> list[ListedVideo]:
    """The videos of an event list (CSV), in the order they are first named; see the module docstring."""
    lines = read_lines(path, problems, "event list")
    if lines is None:
        return []
    if not lines:
        problems.append(f"{path}: event list is empty, expected the header {','.join(CSV_COLUMNS)}")
        return []
    number, first = lines[0]
    header = csv_header(first)
    if header is None:
        problems.append(f"{path}:{number}: expected a header naming the columns {','.join(CSV_COLUMNS)} (more "
                        f"columns allowed), got {first!r}")
        return []
    columns, delimiter = header
    repeated = sorted(c for c, n in Counter(columns).items() if n > 1 and c)
    if repeated:
        problems.append(f"{path}:{number}: the header names {', '.join(repeated)} more than once")
        return []
    if len(lines) == 1:
        problems.append(f"{path}: event list has no videos (a header only)")
        return []
    at = {c: columns.index(c) for c in (*CSV_COLUMNS, "group") if c in columns}
    resolver = PathResolver()
    found: dict[str, Optional[Path]] = {}  # path as written -> the file (None: missing, said at its first row)
    videos: dict[str, _CsvVideo] = {}
    for number, line in lines[1:]:
        where = f"{path}:{number}"
        fields = [f.strip() for f in _fields(line, delimiter)]
        if delimiter == "\t" and len(fields) < len(columns):
            fields += [""] * (len(columns) - len(fields))  # read_lines strips a row's trailing tabs
        if len(fields) != len(columns):
            problems.append(f"{where}: malformed row {line!r}, expected the {len(columns)} columns "
                            f"{','.join(columns)}")
            continue
        text = fields[at["video"]]
        if not text:
            problems.append(f"{where}: no video path")
            continue
        if text not in found:
            video = resolver.resolve(root, text)
            if video is None:
                problems.append(f"{where}: video file not found: {root / text}")
            found[text] = video if video is not None and check_video(video, where, problems) else None
        video = found[text]
        key = os.path.normcase(os.path.abspath(video)) if video is not None else f"\0{text}"
        entry = videos.setdefault(key, _CsvVideo(video, text, where))
        event = _csv_event(where, fields[at["label"]], fields[at["start"]], fields[at["end"]], problems)
        if event is not None:
            entry.events.append(event)
        group = fields[at["group"]] if "group" in at else ""
        if group and entry.group is None:
            entry.group, entry.group_where = group, where
        elif group and group != entry.group:
            problems.append(f"{where}: group {group!r} differs from the group {entry.group!r} given for this video "
                            f"at {entry.group_where}")
    return [ListedVideo(v.path, v.where, v.group or _relative(v.path, root, v.text), None, v.events)
            for v in videos.values()]


def _relative(path: Optional[Path], root: Path, text: str) -> str:
    if path is None:
        return text
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


# ---------------------------------------------------------------------------------- checks and measuring

class _Labels:
    """The class name a label means: itself, or the one class equal to it but for case; else None."""

    def __init__(self, class_names: Sequence[str]):
        self.names = list(class_names)
        self.exact = set(class_names)
        self.folded: dict[str, list[str]] = {}
        for name in class_names:
            self.folded.setdefault(name.lower(), []).append(name)

    def match(self, label: str) -> Optional[str]:
        if label in self.exact:
            return label
        names = self.folded.get(label.lower(), [])
        return names[0] if len(names) == 1 else None

    def unknown(self, label: str, where: str) -> str:
        lowered = {name.lower(): name for name in self.names}
        close = difflib.get_close_matches(label.lower(), list(lowered), n=1)
        return (f"{where}: unknown label {label!r}, not one of the {len(self.names)} class names"
                + (f"; did you mean {lowered[close[0]]!r}?" if close else ""))


def _checked_events(video: ListedVideo, labels: Optional[_Labels], drop_unknown: bool, dropped: Counter,
                    problems: list[str]) -> list[tuple[AnnotatedEvent, str]]:
    """The events of `video` whose label is known and whose times are in order, each with where it is written."""
    events = []
    for label, start, end, where in video.events:
        if labels is not None:
            name = labels.match(label)
            if name is None:
                if drop_unknown:
                    dropped[label] += 1
                else:
                    problems.append(labels.unknown(label, where))
                continue
            label = name
        if start < 0 or end < 0:
            problems.append(f"{where}: negative time in event {label!r} ({_seconds(start)}-{_seconds(end)} s)")
        elif end < start:
            problems.append(f"{where}: event {label!r} ends ({_seconds(end)} s) before it starts ({_seconds(start)} s)")
        else:
            events.append((AnnotatedEvent(label, start, end), where))
    return events


def _measure(video: ListedVideo, durations: Callable[[Path], float], problems: list[str]) -> Optional[float]:
    try:
        duration = float(durations(video.path))
    except (OSError, ValueError, RuntimeError) as exc:
        cause = getattr(exc, "reason", None) or " ".join(str(exc).split()) or type(exc).__name__
        problems.append(f"{video.where}: video cannot be read: {video.path} ({cause})")
        return None
    if not (math.isfinite(duration) and duration > 0):
        problems.append(f"{video.where}: video has no measurable duration ({duration} s): {video.path}")
        return None
    return duration


def _past_end(event: AnnotatedEvent, duration: float) -> bool:
    return event.end > duration + EVENT_END_TOLERANCE


def _finish(listed: list[ListedVideo], class_names: Optional[list[str]], source: str, problems: list[str],
            notes: list[str], durations: Callable[[Path], float], drop_unknown: bool) -> EventAnnotations:
    """Check labels and times, measure each video, check its events against it; raise every problem."""
    labels = _Labels(class_names) if class_names is not None else None
    dropped: Counter = Counter()
    videos: list[AnnotatedVideo] = []
    declared_off: list[str] = []
    duplicates = 0
    for video in listed:
        events = _checked_events(video, labels, drop_unknown, dropped, problems)
        if video.path is None:
            continue
        duration = _measure(video, durations, problems)
        if duration is None:
            continue
        for event, where in events:
            if _past_end(event, duration):
                span = _seconds(event.start) if event.is_spot else f"{_seconds(event.start)}-{_seconds(event.end)}"
                problems.append(f"{where}: event {event.label!r} at {span} s is past the end of the video "
                                f"({_seconds(duration)} s measured, {_seconds(EVENT_END_TOLERANCE)} s allowed): "
                                f"{video.path}")
        if video.declared_duration is not None and abs(video.declared_duration - duration) > \
                DECLARED_DURATION_TOLERANCE:
            declared_off.append(f"{video.group}: {_seconds(video.declared_duration)} s listed, "
                                f"{_seconds(duration)} s measured")
        unique = sorted({e for e, _ in events}, key=lambda e: (e.start, e.end, e.label))
        duplicates += len(events) - len(unique)
        videos.append(AnnotatedVideo(video.path, tuple(unique), video.group, duration, video.subset))
    if not listed and not problems:
        problems.append(f"{source}: no videos listed")
    raise_problems(problems)
    if dropped:
        counts = ", ".join(f"{label!r} ({n})" for label, n in sorted(dropped.items(), key=lambda kv: (-kv[1], kv[0])))
        notes.append(f"{source}: {sum(dropped.values())} annotation(s) dropped, their labels are not in the class "
                     f"list: {counts}")
    if duplicates:
        notes.append(f"{source}: {duplicates} duplicate event(s) (same video, label, start and end) kept once")
    if declared_off:
        notes.append(f"{source}: {len(declared_off)} video(s) are more than {_seconds(DECLARED_DURATION_TOLERANCE)} s "
                     f"longer or shorter than the annotation file says (e.g. {declared_off[0]}): a cut or another "
                     "version of the video?")
    names = list(class_names) if class_names is not None else sorted({e.label for v in videos for e in v.events})
    return EventAnnotations(videos, names, source, notes)


# --------------------------------------------------------------------------------------------- dispatcher

def _unknown_format(path: Path, why: str) -> AnnotationError:
    return AnnotationError(f"{path}: {why}; event annotations are {ACCEPTED_FORMATS}")


def _detect(path: Path) -> tuple[str, object]:
    """(format, the parsed JSON for "activitynet"); AnnotationError when `path` is none of the formats."""
    if path.is_dir():
        if find_labels_files(path):
            return "soccernet", None
        raise _unknown_format(path, f"a folder holding no {LABELS_FILE}")
    if not path.is_file():
        raise AnnotationError(f"{path}: event annotations not found")
    if path.name.lower() == LABELS_FILE.lower():
        return "soccernet", None
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv", None
    if suffix in (".txt", ".tsv"):
        problems: list[str] = []
        lines = read_lines(path, problems, "event list")
        raise_problems(problems)
        if lines and csv_header(lines[0][1]) is not None:
            return "csv", None
        raise _unknown_format(path, "its first line is not the header video,label,start,end")
    if suffix == ".json":
        problems = []
        data = read_json(path, problems, "annotation file")
        raise_problems(problems)
        if is_activitynet(data):
            return "activitynet", data
        if isinstance(data, dict) and "annotations" in data:
            raise _unknown_format(path, f"a JSON with 'annotations' (SoccerNet labels are read from files named "
                                        f"{LABELS_FILE})")
        raise _unknown_format(path, "a JSON without a top-level 'database'")
    raise _unknown_format(path, f"an unknown kind of file ({suffix or 'no extension'})")


def read_event_annotations(
    path: PathLike,
    root: Optional[PathLike] = None,
    class_names: Optional[Sequence[str]] = None,
    *,
    durations: Optional[Callable[[Path], float]] = None,
) -> EventAnnotations:
    """The videos and events of a CSV event list, an ActivityNet JSON or SoccerNet game folders (the module
    docstring), picked by `path`.

    `root` is where relative video paths are found (default: the annotation file's folder, or the folder
    given). `durations` measures a video in seconds (default: `probe_duration`). With `class_names`, a
    label outside it is a problem, except for SoccerNet, whose other labels are dropped with a note; without,
    the classes are the labels found, sorted. Raises `AnnotationError` with every problem found; notes are
    returned in ``.notes`` and emitted as `AnnotationWarning`.
    """
    path = Path(path)
    if class_names is not None:
        class_names = list(class_names)
        repeated = sorted(n for n, k in Counter(class_names).items() if k > 1)
        if not class_names or repeated:
            raise ValueError(f"class_names must be non-empty and without repeats, got {class_names!r}")
    if root is not None and not Path(root).is_dir():
        raise AnnotationError(f"{root}: video root folder not found")
    kind, data = _detect(path)
    base = Path(root) if root is not None else path if path.is_dir() else path.parent
    problems: list[str] = []
    notes: list[str] = []
    if kind == "csv":
        listed = list_csv_videos(path, base, problems)
    elif kind == "activitynet":
        listed = list_activitynet_videos(path, data, base, problems, notes)
    else:
        listed = list_soccernet_videos(path, Path(root) if root is not None else None, problems, notes)
    found = _finish(listed, class_names, str(path), problems, notes, durations or probe_duration,
                    drop_unknown=kind == "soccernet")
    emit_warnings(found.notes)
    return found
