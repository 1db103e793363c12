"""The timelines of a prediction run: each video's files as its row comes in, then events.csv.

Per video (named by its stem, made unique): <stem>.windows.csv, <stem>.events.csv and <stem>.png
(see pipeline.inference.timeline); at the end, events.csv gathers the events of every video
predicted ok, rebuilt from the per-video files so a resumed run's earlier videos are included.
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


def unique_stems(videos: Sequence[str]) -> Dict[str, str]:
    """File names for per-video outputs: the video's stem, made unique with a short hash of the file's
    resolved path (the same name whichever spelling of the path a run was given)."""
    counts = Counter(Path(v).stem for v in videos)

    def tag(v: str) -> str:
        return hashlib.sha1(video_key(v).encode()).hexdigest()[:8]

    return {v: Path(v).stem if counts[Path(v).stem] == 1 else f"{Path(v).stem}-{tag(v)}" for v in videos}
