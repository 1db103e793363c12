"""Format "events": long videos and the times of their events, as training's splits.

`data.train_list` (required) and the optional `data.val_list` / `data.test_list` are event annotation
files (events.py: an events CSV, an ActivityNet JSON or SoccerNet game folders) read with
`read_event_annotations`. Each long video is one record; the classes are ``background`` followed by
the event classes (the class list's, else the labels found, sorted). A record's label is the class of
most of its events (``background`` for event-free footage) so that carved splits and folds spread the
classes, and its group (a match, a camera, a person) keeps all its videos on one side of every split.
An ActivityNet file's own subsets are used as the splits it names. What each video's windows are is
pipeline.data.event_windows's business; the annotated videos travel in `FormatSplits.events`.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Optional

from pipeline.data.annotations.events import AnnotatedVideo, read_event_annotations
from pipeline.data.annotations.lines import read_class_list
from pipeline.data.annotations.records import AnnotationError, DatasetSources, FormatSplits, VideoRecord

BACKGROUND = "background"  # the class of every window that no event covers


def read_events_splits(sources: DatasetSources) -> FormatSplits:
    """The "events" format reader (the contract of records.py)."""
    problems: list[str] = []
    notes: list[str] = []
    if sources.train_list is None:
        raise ValueError("format 'events' needs data.train_list: an events CSV (video,label,start,end), an "
                         "ActivityNet JSON or a folder of SoccerNet Labels-v2.json")
    given: Optional[list[str]] = None
    if sources.class_list is not None:
        given = [c for c in read_class_list(Path(sources.class_list), problems) if c != BACKGROUND] or None
    root = sources.root if sources.root is not None and Path(sources.root).is_dir() else None
    lists = {"train": sources.train_list, "val": sources.val_list, "test": sources.test_list}
    found: dict[str, list[AnnotatedVideo]] = {}
    names: set[str] = set(given or [])
    for split, path in lists.items():
        if path is None:
            continue
        try:
            read = read_event_annotations(path, root, given)
        except AnnotationError as exc:
            problems += exc.problems
            continue
        notes += read.notes
        if BACKGROUND in read.class_names:
            problems.append(f"{path}: label {BACKGROUND!r} is reserved for the footage outside every event; list "
                            "event-free footage as a row with an empty label")
        found[split] = read.videos
        names.update(read.class_names)
    if problems:
        return FormatSplits([], [], problems=problems, notes=notes)
    event_classes = list(given) if given else sorted(names)
    class_names = [BACKGROUND, *event_classes]
    by_subset = _subsets(found.get("train", []))
    splits: dict[str, Optional[list[AnnotatedVideo]]] = {
        "train": by_subset.get("train", found.get("train", [])),
        "val": found.get("val", by_subset.get("val")),
        "test": found.get("test", by_subset.get("test")),
    }
    events: dict[Path, AnnotatedVideo] = {}
    groups: dict[Path, str] = {}
    records: dict[str, Optional[list[VideoRecord]]] = {}
    for split, videos in splits.items():
        if videos is None:
            records[split] = None
            continue
        records[split] = []
        for video in videos:
            if video.path in events:
                problems.append(f"{video.path}: listed in two splits (or twice); a video belongs to one split")
                continue
            events[video.path] = video
            groups[video.path] = video.group
            records[split].append(VideoRecord(video.path, _dominant(video, class_names)))
    trained = Counter(e.label for v in splits["train"] or [] for e in v.events)
    for name in event_classes:
        if not trained[name]:
            problems.append(f"class {name!r} has no events in the training videos ({sources.train_list})")
    return FormatSplits(class_names, records["train"] or [], records["val"], records["test"],
                        group_key=lambda r: groups.get(r.path, str(r.path)), problems=problems, notes=notes,
                        reported_classes=set(class_names), events=events)


def _subsets(videos: list[AnnotatedVideo]) -> dict[str, list[AnnotatedVideo]]:
    """Videos by the split their annotation file names (ActivityNet's subsets), when it names any."""
    if not any(v.subset for v in videos):
        return {}
    out: dict[str, list[AnnotatedVideo]] = {}
    for video in videos:
        out.setdefault(video.subset or "train", []).append(video)
    return out


def _dominant(video: AnnotatedVideo, class_names: list[str]) -> int:
    """The class of most of a video's events (the first class on a tie), 0 (background) for none."""
    counts = Counter(e.label for e in video.events if e.label in class_names)
    if not counts:
        return 0
    best = max(counts.values())
    return min(class_names.index(label) for label, n in counts.items() if n == best)
