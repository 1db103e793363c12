"""Batch inference: label every video of a folder, file or list with a trained checkpoint.

Runs Lightning's predict loop over a dataset of videos; each batch's rows are written as soon as
they are predicted (see pipeline.inference.output), so an interrupted run resumes where it
stopped. Everything about the model (classes, clip length, sampling, preprocessing) comes from
the checkpoint. With `timeline`, each video is also cut into overlapping windows and scored
over time (see pipeline.inference.timeline).
"""
from __future__ import annotations

import hashlib
import json
import logging
import platform
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset

from pipeline.atomic_io import write_csv_atomic, write_text_atomic
from pipeline.data.annotations import find_videos, is_video_file
from pipeline.data.datasets import read_clips
from pipeline.data.readers import VideoReadError, open_video
from pipeline.data.sampling import SAMPLING_DEFAULTS, ClipSampler, sampler_from_config
from pipeline.data.transforms import resize_crop
from pipeline.inference.output import PredictionTable, PredictionWriter, probability_fields
from pipeline.inference.timeline import TimelineOptions, find_events, window_frames, window_indices, write_timeline
from pipeline.training.module import ActionRecognizer, load_recognizer

log = logging.getLogger(__name__)

LIST_SUFFIXES = (".txt", ".lst", ".csv", ".list")
EXIT_OK = 0
EXIT_SOME_FAILED = 3  # every video has a row, but some could not be read


@dataclass
class PredictOptions:
    checkpoint: str
    inputs: Sequence[str]
    output: str
    format: Optional[str] = None  # "csv" | "jsonl"; default from the output's suffix
    clips: Optional[int] = None  # K clips per video; None: the checkpoint's
    top_k: int = 5
    batch_size: int = 8
    num_workers: int = 2
    device: str = "auto"  # "auto" | "cpu" | "cuda" | "gpu"
    devices: Any = 1  # processes / GPUs (Lightning's `devices`)
    num_nodes: int = 1
    strategy: str = "auto"
    precision: Optional[str] = None  # None: 16-mixed on a GPU, 32 on the CPU
    backend: Optional[str] = None  # decoder; None: the one the model was trained with
    overwrite: bool = False
    retry_failed: bool = False
    progress: bool = True
    timeline: Optional[TimelineOptions] = None
    timeline_dir: Optional[str] = None  # default: <output stem>_timeline next to the output


# ---------------------------------------------------------------------- inputs


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


# ---------------------------------------------------------------------- datasets


def _item(path: str) -> Dict[str, Any]:
    return {"path": path, "status": "ok", "error": ""}


def _failure(path: str, exc: Exception) -> Dict[str, Any]:
    if isinstance(exc, VideoReadError):
        return {"path": path, "status": exc.kind, "error": exc.reason}
    return {"path": path, "status": "error", "error": f"{type(exc).__name__}: {exc}"}


class PredictClipDataset(Dataset):
    """One video per item: its evaluation clips (uint8 [K,T,c,c,3]) and what was read."""

    def __init__(self, paths: Sequence[str], sampler: ClipSampler, model_prep, backend: str):
        self.paths, self.sampler, self.prep, self.backend = list(paths), sampler, model_prep, backend

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> Dict[str, Any]:
        path = self.paths[index]
        try:
            clips = read_clips(path, self.sampler, self.prep, training=False, backend=self.backend)
        except Exception as exc:  # any failure of one file becomes its row, never the end of the run
            return {"item": _failure(path, exc)}
        meta = clips["meta"]
        item = _item(path)
        item.update(
            num_frames=meta.num_frames,
            fps=round(meta.fps, 4),
            duration=round(meta.duration, 4),
            frame_indices=clips["frame_indices"].tolist(),
            clips=len(clips["frame_indices"]),
            decoder=meta.backend,
        )
        return {"item": item, "frames": clips["frames"]}


class TimelineDataset(Dataset):
    """One video per item: the distinct frames of all its windows (uint8 [U,c,c,3]) and, per
    window, which of them form its clip (int64 [W,T]); the backbone sees each frame once."""

    def __init__(self, paths: Sequence[str], sampler: ClipSampler, model_prep, backend: str, options: TimelineOptions):
        self.paths, self.sampler, self.prep, self.backend = list(paths), sampler, model_prep, backend
        self.options = options

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> Dict[str, Any]:
        path = self.paths[index]
        try:
            with open_video(path, self.backend) as reader:
                meta = reader.meta
                ranges = window_frames(meta.num_frames, meta.fps, self.options.window, self.options.stride)
                indices = window_indices(ranges, self.sampler)
                unique, inverse = np.unique(indices, return_inverse=True)
                frames = resize_crop(reader.get_frames(unique.tolist()), self.prep)
        except Exception as exc:
            return {"item": _failure(path, exc)}
        item = _item(path)
        item.update(
            num_frames=meta.num_frames,
            fps=round(meta.fps, 4),
            duration=round(meta.duration, 4),
            frame_indices=[],
            clips=len(ranges),
            decoder=meta.backend,
            window_times=[(s / meta.fps, e / meta.fps) for s, e in ranges],
        )
        return {
            "item": item,
            "unique_frames": torch.from_numpy(frames),
            "window_index": torch.from_numpy(inverse.reshape(indices.shape)),
        }


def collate_predictions(batch: List[Dict[str, Any]]) -> Dict[str, Any]:
    """Keep every item's metadata in order; stack the frames of the readable ones."""
    out: Dict[str, Any] = {"items": [b["item"] for b in batch]}
    frames = [b["frames"] for b in batch if "frames" in b]
    if frames:
        out["frames"] = torch.stack(frames)
    timeline = [b for b in batch if "unique_frames" in b]
    if timeline:  # timeline batches hold one video
        out["unique_frames"] = timeline[0]["unique_frames"]
        out["window_index"] = timeline[0]["window_index"]
    return out


# ---------------------------------------------------------------------- the run


def checkpoint_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def run_settings(options: PredictOptions, model: ActionRecognizer, sampler: ClipSampler, backend: str) -> Dict:
    """What a prediction depends on; written beside the output and checked when resuming."""
    hp = model.hparams
    settings = {
        "checkpoint": str(Path(options.checkpoint).resolve()),
        "checkpoint_sha256": checkpoint_sha256(options.checkpoint),
        "class_names": model.class_names,
        "model": {k: hp[k] for k in ("backbone", "input_size", "spatial_grid", "cell", "hidden_size", "num_layers",
                                     "bidirectional", "readout") if k in hp},
        "preprocessing": model.preprocessing.to_dict(),
        "sampling": sampler.to_config(),
        "backend": backend,
        "top_k": options.top_k,
        "format": PredictionTable(options.output, model.class_names, options.format).format,
        "timeline": asdict(options.timeline) if options.timeline else None,
    }
    return settings


def _settings_path(output: Path) -> Path:
    return output.with_name(output.stem + ".settings.json")


def _check_resume(output: Path, settings: Dict, overwrite: bool) -> None:
    path = _settings_path(output)
    if overwrite or not path.exists() or not (output.exists() or PredictionTable(output, []).part_files()):
        return
    previous = json.loads(path.read_text())
    settings = json.loads(json.dumps(settings))  # compare as stored: tuples are lists there
    keys = ("checkpoint_sha256", "sampling", "preprocessing", "class_names", "timeline", "top_k", "backend", "format")
    changed = [k for k in keys if previous.get(k) != settings.get(k)]
    if changed:
        raise ValueError(
            f"{output} was written with other settings ({', '.join(changed)} differ); resuming would mix "
            "them. Write to a new --output, or pass --overwrite to start it again."
        )


def _write_settings(output: Path, settings: Dict) -> None:
    path = _settings_path(output)
    versions = {"torch": torch.__version__, "pytorch_lightning": pl.__version__, "python": platform.python_version()}
    full = {**settings, **versions}
    write_text_atomic(path, json.dumps(full, indent=2))


def _accelerator(device: str) -> str:
    if device == "auto":
        return "gpu" if torch.cuda.is_available() else "cpu"
    return {"cuda": "gpu"}.get(device, device)


class _VideoRate(pl.Callback):
    """A progress bar counted in videos (all ranks together), with videos/s."""

    def __init__(self, data: PredictDataModule):
        self.data = data
        self.total = 0
        self.bar = None

    def on_predict_start(self, trainer, pl_module):
        self.total = len(self.data.todo)
        if trainer.is_global_zero:
            from tqdm import tqdm

            self.bar = tqdm(total=self.total, unit="video", desc="predicting", dynamic_ncols=True)

    def on_predict_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0):
        if self.bar is not None:
            self.bar.update(min(len(batch["items"]) * trainer.world_size, self.total - self.bar.n))

    def on_predict_end(self, trainer, pl_module):
        if self.bar is not None:
            self.bar.close()


class PredictDataModule(pl.LightningDataModule):
    """Decides, on every rank, which videos still need a row, and serves them.

    Rank 0 first folds part files left by a killed run into the output (and drops failed rows
    with `retry_failed`); after a barrier every rank reads the same output and so computes the
    same list, which Lightning's predict sampler then splits between ranks without repeats.
    """

    def __init__(self, videos, table: PredictionTable, make_dataset, batch_size: int, num_workers: int,
                 retry_failed: bool, on_primary_setup=None):
        super().__init__()
        self.videos, self.table, self.make_dataset = list(videos), table, make_dataset
        self.batch_size, self.num_workers, self.retry_failed = batch_size, num_workers, retry_failed
        self.on_primary_setup = on_primary_setup
        self.todo: List[str] = []
        self.skipped = 0

    def setup(self, stage: str) -> None:
        if self.trainer.is_global_zero:
            self.table.merge_parts(drop_failed=self.retry_failed)
            if self.on_primary_setup is not None:
                self.on_primary_setup()
        self.trainer.strategy.barrier("predict-resume")
        done = self.table.done_paths()
        self.todo = [v for v in self.videos if v not in done]
        self.skipped = len(self.videos) - len(self.todo)
        if self.trainer.is_global_zero:
            log.info("%d videos, %d already in %s, %d to predict", len(self.videos), len(self.videos) - len(self.todo),
                     self.table.path, len(self.todo))

    def predict_dataloader(self) -> DataLoader:
        return DataLoader(
            self.make_dataset(self.todo),
            batch_size=self.batch_size,
            num_workers=self.num_workers,
            collate_fn=collate_predictions,
        )


def predict(options: PredictOptions) -> Dict[str, Any]:
    """Run batch inference; returns a summary (counts, output paths, exit status) on rank 0."""
    output = Path(options.output)
    model = load_recognizer(options.checkpoint)
    class_names = model.class_names
    sampling = dict(model.hparams.get("sampling") or {})
    defaults = {"name": SAMPLING_DEFAULTS.sampler, "clip_len": SAMPLING_DEFAULTS.clip_len}
    sampler_cfg = dict(sampling.get("sampler") or defaults)
    if options.clips is not None:
        sampler_cfg["num_clips"] = options.clips
    if options.timeline is not None:
        sampler_cfg["num_clips"] = 1
    sampler = sampler_from_config(sampler_cfg)
    backend = options.backend or sampling.get("backend") or "auto"
    table = PredictionTable(output, class_names, options.format)
    settings = run_settings(options, model, sampler, backend)
    videos = collect_inputs(options.inputs)
    _check_resume(output, settings, options.overwrite)

    def prepare_output() -> None:  # rank 0, before anything is predicted
        if options.overwrite:
            for stale in [output, *table.part_files()]:
                stale.unlink(missing_ok=True)
        _write_settings(output, settings)

    top_k = min(options.top_k, len(class_names))
    timeline_dir = None
    on_rows = None
    if options.timeline is not None:
        timeline_dir = Path(options.timeline_dir or output.with_name(output.stem + "_timeline"))

        def make_dataset(paths):
            return TimelineDataset(paths, sampler, model.preprocessing, backend, options.timeline)

        batch_size = 1
        on_rows = _timeline_writer(timeline_dir, class_names, options.timeline, videos, top_k)
    else:

        def make_dataset(paths):
            return PredictClipDataset(paths, sampler, model.preprocessing, backend)

        batch_size = options.batch_size

    data = PredictDataModule(videos, table, make_dataset, batch_size, options.num_workers, options.retry_failed,
                             prepare_output)
    writer = PredictionWriter(table, top_k=top_k, on_rows=on_rows)
    accelerator = _accelerator(options.device)
    precision = options.precision or ("16-mixed" if accelerator == "gpu" else "32-true")
    trainer = pl.Trainer(
        accelerator=accelerator,
        devices=options.devices,
        num_nodes=options.num_nodes,
        strategy=options.strategy,
        precision=precision,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[writer, *([_VideoRate(data)] if options.progress else [])],
    )
    trainer.predict(model, datamodule=data, return_predictions=False)
    if not trainer.is_global_zero:
        return {"rank": trainer.global_rank, "exit_code": EXIT_OK}
    if timeline_dir is not None:
        _collect_events(timeline_dir, table, videos)
    summary = summarize(table, videos, timeline_dir)
    summary["already_done"] = data.skipped
    return summary


def summarize(table: PredictionTable, videos: Sequence[str], timeline_dir: Optional[Path] = None) -> Dict[str, Any]:
    wanted = set(videos)
    rows = [r for r in table.read_rows() if r["path"] in wanted]
    failed = [r for r in rows if r["status"] != "ok"]
    summary = {
        "output": str(table.path),
        "settings": str(_settings_path(table.path)),
        "videos": len(videos),
        "rows": len(rows),
        "ok": len(rows) - len(failed),
        "failed": len(failed),
        "failures": Counter(r["status"] for r in failed),
        "per_class": Counter(r["label"] for r in rows if r["status"] == "ok"),
        "exit_code": EXIT_SOME_FAILED if failed else EXIT_OK,
    }
    if timeline_dir is not None:
        summary["timeline_dir"] = str(timeline_dir)
    return summary


def format_summary(summary: Dict[str, Any]) -> str:
    lines = [f"{summary['ok']} ok, {summary['failed']} failed, of {summary['videos']} videos -> {summary['output']}"]
    if summary.get("already_done"):
        lines.append(f"  ({summary['already_done']} of them were already in the output and were not predicted again)")
    for label, count in sorted(summary["per_class"].items()):
        lines.append(f"  {label:<24} {count}")
    for kind, count in sorted(summary["failures"].items()):
        lines.append(f"  failed ({kind}): {count}")
    lines.append(f"settings: {summary['settings']}")
    if summary.get("timeline_dir"):
        lines.append(f"timelines: {summary['timeline_dir']} (.windows.csv, .events.csv, .png per video; events.csv)")
    return "\n".join(lines)


# ---------------------------------------------------------------------- timeline outputs


def _timeline_writer(
    out_dir: Path, class_names: Sequence[str], options: TimelineOptions, videos: Sequence[str], top_k: int
):
    """A row hook that writes each video's windows, events and plot, and appends to events.csv."""
    stems = _unique_stems(videos)

    def on_rows(rows: List[Dict[str, Any]], prediction: Dict[str, Any]) -> None:
        for row, item in zip(rows, prediction["items"]):
            if row["status"] != "ok":
                continue
            times = np.asarray(item["window_times"], dtype=np.float64)
            probs = prediction["window_probs"].numpy()
            events = find_events(times, probs, class_names, options)
            write_timeline(out_dir, stems[row["path"]], times, probs, class_names, events, options,
                                   title=row["path"])
            # The video's own row averages all its windows, as multi-clip prediction averages clips;
            # where the events are is in the timeline files.
            row.update(probability_fields(probs.mean(axis=0), class_names, top_k))
            row["clips"] = len(times)

    return on_rows


def _collect_events(out_dir: Path, table: PredictionTable, videos: Sequence[str]) -> Path:
    """events.csv: the events of every video predicted ok, rebuilt from the per-video files."""
    import csv

    stems = _unique_stems(videos)
    ok = {r["path"] for r in table.read_rows() if r["status"] == "ok"}
    rows = []
    for video in videos:
        per_video = out_dir / f"{stems[video]}.events.csv"
        if video in ok and per_video.is_file():
            with open(per_video, newline="", encoding="utf-8") as handle:
                rows += [[video, *r] for r in list(csv.reader(handle))[1:]]
    path = out_dir / "events.csv"
    write_csv_atomic(path, ["path", "label", "start", "end", "peak_probability", "peak_time"], rows)
    return path


def _unique_stems(videos: Sequence[str]) -> Dict[str, str]:
    """File names for per-video outputs: the video's stem, made unique with a short hash."""
    counts = Counter(Path(v).stem for v in videos)
    return {
        v: Path(v).stem if counts[Path(v).stem] == 1 else f"{Path(v).stem}-{hashlib.sha1(v.encode()).hexdigest()[:8]}"
        for v in videos
    }
