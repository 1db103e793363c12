"""The prediction table: one row per input video, in CSV or JSONL, safe to kill and resume.

Rows are appended one complete line at a time with a single write and flushed, so a run killed at
any moment leaves a file whose complete lines are all valid rows; a torn last line is cut off when
the file is opened again. With several processes (DDP) each rank appends to its own part file,
and rank 0 merges the parts into the output at the end (or at the start of the next run, when a
killed run left parts behind), keeping one row per video.
"""
from __future__ import annotations

import csv
import io
import json
import logging
import os
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence

import numpy as np
import pytorch_lightning as pl
from pytorch_lightning.callbacks import BasePredictionWriter

from pipeline.atomic_io import atomic_path
from pipeline.core.decision import decide_label

log = logging.getLogger(__name__)

FORMATS = ("csv", "jsonl")
BASE_COLUMNS = (
    "path",
    "status",
    "error",
    "label",
    "probability",
    "topk_labels",
    "topk_probs",
)
META_COLUMNS = ("num_frames", "fps", "duration", "frame_indices", "clips", "decoder")

# Called with a batch's rows (before they are written, so it may amend them) and the model's prediction.
RowHook = Callable[[List[Dict[str, Any]], Dict[str, Any]], None]


def format_for(path: os.PathLike, requested: Optional[str] = None) -> str:
    if requested:
        if requested not in FORMATS:
            raise ValueError(f"unknown output format {requested!r}; choose one of {', '.join(FORMATS)}")
        return requested
    return "jsonl" if Path(path).suffix.lower() in (".jsonl", ".json") else "csv"


def table_columns(class_names: Sequence[str]) -> List[str]:
    """The columns of a prediction table, in order, for a model with these classes."""
    return [*BASE_COLUMNS, *(f"prob_{name}" for name in class_names), *META_COLUMNS]


class PredictionTable:
    """The output file of a prediction run: its columns, its rows, appending and merging."""

    def __init__(self, path: os.PathLike, class_names: Sequence[str], fmt: Optional[str] = None):
        self.path = Path(path)
        self.class_names = list(class_names)
        self.format = format_for(self.path, fmt)
        self.columns = table_columns(self.class_names)

    # ------------------------------------------------------------------ encoding

    def encode(self, row: Dict[str, Any]) -> str:
        """One row as one line (with its newline)."""
        if self.format == "jsonl":
            return json.dumps({c: row.get(c) for c in self.columns}, ensure_ascii=False) + "\n"
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerow([_csv_cell(row.get(c)) for c in self.columns])
        return buffer.getvalue()

    def header(self) -> str:
        if self.format == "jsonl":
            return ""
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerow(self.columns)
        return buffer.getvalue()

    # ------------------------------------------------------------------ reading

    def read_rows(self, path: Optional[os.PathLike] = None) -> List[Dict[str, Any]]:
        """Complete rows of the output (or of a part file); a torn last line is ignored."""
        path = Path(path or self.path)
        if not path.is_file():
            return []
        text = path.read_text(encoding="utf-8")
        if not text.endswith("\n"):
            text = text[: text.rfind("\n") + 1]
        if self.format == "jsonl":
            return [json.loads(line) for line in text.splitlines() if line.strip()]
        reader = csv.DictReader(io.StringIO(text))
        if reader.fieldnames and list(reader.fieldnames) != self.columns:
            raise ValueError(
                f"{path}: its columns are not this model's ({', '.join(reader.fieldnames[:8])}...); "
                "write to a new --output or pass --overwrite"
            )
        return list(reader)

    def part_files(self) -> List[Path]:
        return sorted(self.path.parent.glob(f".{self.path.name}.rank*.part"))

    def part_path(self, rank: int) -> Path:
        return self.path.parent / f".{self.path.name}.rank{rank}.part"

    def done_paths(self, include_failed: bool = True) -> set:
        """Videos that already have a row, in the output or in parts left by a killed run."""
        rows = self.read_rows()
        for part in self.part_files():
            rows += self.read_rows(part)
        return {r["path"] for r in rows if include_failed or r["status"] == "ok"}

    # ------------------------------------------------------------------ writing

    def repair(self) -> None:
        """Cut a torn last line off the output so appending continues a valid file."""
        if not self.path.is_file():
            return
        data = self.path.read_bytes()
        end = data.rfind(b"\n") + 1
        if end != len(data):
            with open(self.path, "r+b") as handle:
                handle.truncate(end)

    def rewrite(self, rows: Iterable[Dict[str, Any]]) -> None:
        """Replace the output with these rows, atomically."""
        with atomic_path(self.path) as tmp, open(tmp, "w", encoding="utf-8", newline="") as handle:
            handle.write(self.header())
            for row in rows:
                handle.write(self.encode(row))

    def merge_parts(self, drop_failed: bool = False) -> None:
        """Fold part files into the output: one row per video (the newest wins), parts removed."""
        parts = self.part_files()
        if not parts and not drop_failed:
            return
        rows: Dict[str, Dict[str, Any]] = {}
        for source in [self.path, *parts]:
            seen_here = set()
            for row in self.read_rows(source):
                if row["path"] in rows and source != self.path and row["path"] not in seen_here:
                    log.warning("%s was predicted twice (again in %s); keeping the newer row", row["path"], source)
                seen_here.add(row["path"])
                rows[row["path"]] = row
        if drop_failed:
            rows = {p: r for p, r in rows.items() if r["status"] == "ok"}
        self.rewrite(rows.values())
        for part in parts:
            part.unlink()


class RowAppender:
    """Appends rows to one file, each row a single write of a complete line, flushed to disk."""

    def __init__(self, table: PredictionTable, path: Path):
        self.table = table
        path.parent.mkdir(parents=True, exist_ok=True)
        new = not path.is_file() or path.stat().st_size == 0
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        if new and table.header():
            os.write(self.fd, table.header().encode())

    def write(self, rows: Iterable[Dict[str, Any]]) -> None:
        data = "".join(self.table.encode(row) for row in rows).encode("utf-8")
        if data:
            os.write(self.fd, data)
            os.fsync(self.fd)

    def close(self) -> None:
        os.close(self.fd)


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        if value and isinstance(value[0], (list, tuple)):  # frame indices of K clips: "0 4 8|2 6 10"
            return "|".join(" ".join(str(v) for v in clip) for clip in value)
        return " ".join(str(v) for v in value)
    if isinstance(value, float):
        return f"{value:.6g}"
    return value


def video_row(item: Dict[str, Any], probs: Optional[np.ndarray], class_names: Sequence[str], top_k: int,
              threshold: Optional[Dict[str, Any]] = None) -> Dict:
    """The output row of one video from its reading metadata and class probabilities [C]."""
    row: Dict[str, Any] = {
        "path": item["path"],
        "status": item.get("status", "ok"),
        "error": item.get("error", ""),
        "num_frames": item.get("num_frames"),
        "fps": item.get("fps"),
        "duration": item.get("duration"),
        "frame_indices": item.get("frame_indices"),
        "clips": item.get("clips"),
        "decoder": item.get("decoder"),
    }
    if probs is not None:
        row.update(probability_fields(probs, class_names, top_k, threshold))
    return row


def prediction_rows(prediction: Dict[str, Any], class_names: Sequence[str], top_k: int,
                    threshold: Optional[Dict[str, Any]] = None) -> List[Dict[str, Any]]:
    """The output rows of one predicted batch (the model's predict_step output: its videos' "items" and
    the probabilities [N,C] of the readable ones, in order), one per video."""
    probs = prediction.get("probs")
    rows, k = [], 0
    for item in prediction["items"]:
        p = None
        if item.get("status", "ok") == "ok" and probs is not None:
            p = probs[k].numpy()
            k += 1
        rows.append(video_row(item, p, class_names, top_k, threshold))
    return rows


def probability_fields(probs: np.ndarray, class_names: Sequence[str], top_k: int,
                       threshold: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """label, probability, top-k labels and probabilities, and prob_<class> of probabilities [C]. The label
    is the most probable class, or with a checkpoint's operating `threshold` (two classes) its decision."""
    order = np.argsort(-probs, kind="stable")[:top_k]
    label = decide_label(probs, class_names, threshold)
    fields: Dict[str, Any] = {
        "label": class_names[label],
        "probability": float(probs[label]),
        "topk_labels": [class_names[i] for i in order],
        "topk_probs": [round(float(probs[i]), 6) for i in order],
    }
    fields.update({f"prob_{name}": float(p) for name, p in zip(class_names, probs)})
    return fields


class PredictionWriter(BasePredictionWriter):
    """Writes each batch's rows as soon as it is predicted (one part file per rank under DDP)."""

    def __init__(self, table: PredictionTable, top_k: int, on_rows: Optional[RowHook] = None,
                 threshold: Optional[Dict[str, Any]] = None):
        super().__init__(write_interval="batch")
        self.table = table
        self.top_k = top_k
        self.on_rows = on_rows  # extra outputs, e.g. timelines
        self.threshold = threshold  # the checkpoint's operating threshold (two classes), else None
        self.appender: Optional[RowAppender] = None

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        target = self.table.path if trainer.world_size == 1 else self.table.part_path(trainer.global_rank)
        if trainer.world_size == 1:
            self.table.repair()
        self.appender = RowAppender(self.table, target)

    def write_on_batch_end(self, trainer, pl_module, prediction, batch_indices, batch, batch_idx, dataloader_idx=0):
        rows = prediction_rows(prediction, self.table.class_names, self.top_k, self.threshold)
        if self.on_rows is not None:
            self.on_rows(rows, prediction)
        self.appender.write(rows)

    def on_predict_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.appender is not None:
            self.appender.close()
            self.appender = None
        if trainer.world_size > 1:
            trainer.strategy.barrier("prediction-parts")
            if trainer.is_global_zero:
                self.table.merge_parts()
