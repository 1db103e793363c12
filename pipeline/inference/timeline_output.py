"""The timelines of a prediction run: each video's files as its row comes in, then events.csv.

Per video (named by its stem, made unique): <stem>.windows.csv, <stem>.events.csv and <stem>.png
(see pipeline.inference.timeline); at the end, events.csv gathers the events of every video
predicted ok, and review.html shows them all (pipeline.inference.review_page), both rebuilt from the
per-video files so a resumed run's earlier videos are included.
"""
from __future__ import annotations

import csv
import hashlib
from collections import Counter
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from pipeline.atomic_io import write_csv_atomic
from pipeline.inference.inputs import video_key
from pipeline.inference.output import PredictionTable, RowHook, probability_fields
from pipeline.inference.review_page import PAGE_NAME, ReviewEvent, ReviewPage, ReviewVideo, write_review_page
from pipeline.inference.timeline import Event, TimelineOptions, find_events, write_timeline

EVENT_COLUMNS = ["path", "label", "start", "end", "peak_probability", "peak_time"]


def timeline_row_hook(
    out_dir: Path, class_names: Sequence[str], options: TimelineOptions, videos: Sequence[str], top_k: int,
    threshold: Optional[Dict[str, Any]] = None,
) -> RowHook:
    """A row hook that writes each video's windows, events and plot, and fills its row."""
    stems = unique_stems(videos)

    def on_rows(rows: List[Dict[str, Any]], prediction: Dict[str, Any]) -> None:
        for row, item in zip(rows, prediction["items"]):
            if row["status"] != "ok":
                continue
            times, probs, events = complete_timeline_row(row, item, prediction["window_probs"], class_names, options,
                                                         top_k, threshold)
            write_timeline(out_dir, stems[row["path"]], times, probs, class_names, events, options, title=row["path"])

    return on_rows


def complete_timeline_row(
    row: Dict[str, Any], item: Dict[str, Any], window_probs: torch.Tensor, class_names: Sequence[str],
    options: TimelineOptions, top_k: int, threshold: Optional[Dict[str, Any]] = None,
) -> Tuple[np.ndarray, np.ndarray, List[Event]]:
    """A readable video's timeline: window times [W,2] (seconds), probabilities [W,C] and events; its row
    gets the probabilities averaged over all windows (as multi-clip prediction averages clips; where
    the events are is in the timeline) and `clips`, the number of windows."""
    times = np.asarray(item["window_times"], dtype=np.float64)
    probs = window_probs.numpy()
    events = find_events(times, probs, class_names, options)
    row.update(probability_fields(probs.mean(axis=0), class_names, top_k, threshold))
    row["clips"] = len(times)
    return times, probs, events


def collect_events(out_dir: Path, table: PredictionTable, videos: Sequence[str]) -> Path:
    """events.csv: the events of every video predicted ok, rebuilt from the per-video files."""
    stems = unique_stems(videos)
    ok = {video_key(r["path"]) for r in table.read_rows() if r["status"] == "ok"}  # rows of any spelling
    rows = []
    for video in videos:
        per_video = out_dir / f"{stems[video]}.events.csv"
        if video_key(video) in ok and per_video.is_file():
            with open(per_video, newline="", encoding="utf-8") as handle:
                rows += [[video, *r] for r in list(csv.reader(handle))[1:]]
    path = out_dir / "events.csv"
    write_csv_atomic(path, EVENT_COLUMNS, rows)
    return path


def write_review(out_dir: Path, table: PredictionTable, videos: Sequence[str], class_names: Sequence[str],
                 options: TimelineOptions, title: str, meta: Sequence[str] = (), backend: str = "auto") -> ReviewPage:
    """review.html beside events.csv: each video of the run with its curves (the classes events are found
    in, default all) and events, rebuilt from its per-video files; a video that failed, or whose files
    cannot be read back, is listed with why."""
    stems = unique_stems(videos)
    latest = {video_key(r["path"]): r for r in table.read_rows()}
    shown = tuple(options.event_classes or class_names)
    thresholds = {name: options.threshold_for(name) for name in shown}
    entries = []
    for video in videos:
        row = latest.get(video_key(video))
        if row is None:
            continue
        path, stem = str(row["path"]), stems[video]
        if row["status"] != "ok":
            entries.append(ReviewVideo(path, stem, error=f"{row['status']}: {row.get('error') or 'no message'}"))
            continue
        try:
            times, probs = read_windows(out_dir / f"{stem}.windows.csv", class_names)
            events = read_events(out_dir / f"{stem}.events.csv")
        except (OSError, ValueError, KeyError) as exc:
            entries.append(ReviewVideo(path, stem, error=f"its timeline files cannot be read back: {exc}"))
            continue
        entries.append(ReviewVideo(path, stem, class_names, times, probs, shown, thresholds, events,
                                   duration=_seconds(row.get("duration"))))
    return write_review_page(out_dir / PAGE_NAME, entries, title, meta, backend)


def read_windows(path: Path, class_names: Sequence[str]) -> Tuple[np.ndarray, np.ndarray]:
    """Window times [W,2] and probabilities [W,C] from a <stem>.windows.csv; KeyError naming the file when a
    class has no column, ValueError when a number is not one."""
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    missing = [c for c in class_names if rows and f"prob_{c}" not in rows[0]]
    if missing:
        raise KeyError(f"{path}: no column prob_{missing[0]}")
    times = np.array([[float(r["start"]), float(r["end"])] for r in rows], dtype=np.float64).reshape(-1, 2)
    probs = np.array([[float(r[f"prob_{c}"]) for c in class_names] for r in rows], dtype=np.float64)
    return times, probs.reshape(len(rows), len(class_names))


def read_events(path: Path) -> List[ReviewEvent]:
    """The events of a <stem>.events.csv."""
    with open(path, newline="", encoding="utf-8") as handle:
        return [ReviewEvent(r["label"], float(r["start"]), float(r["end"]), float(r["peak_time"]),
                            float(r["peak_probability"])) for r in csv.DictReader(handle)]


def _seconds(value: Any) -> Optional[float]:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def unique_stems(videos: Sequence[str]) -> Dict[str, str]:
    """File names for per-video outputs: the video's stem, made unique with a short hash of the file's
    resolved path (the same name whichever spelling of the path a run was given)."""
    counts = Counter(Path(v).stem for v in videos)

    def tag(v: str) -> str:
        return hashlib.sha1(video_key(v).encode()).hexdigest()[:8]

    return {v: Path(v).stem if counts[Path(v).stem] == 1 else f"{Path(v).stem}-{tag(v)}" for v in videos}
