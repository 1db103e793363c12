"""Batch inference: label every video of a folder, file or list with a trained checkpoint.

Runs Lightning's predict loop over a dataset of videos; each batch's rows are written as soon as
they are predicted (see pipeline.inference.output), so an interrupted run resumes where it
stopped. Everything about the model (classes, clip length, sampling, preprocessing) comes from
the checkpoint. With `timeline`, each video is also cut into overlapping windows and scored
over time (see pipeline.inference.timeline).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import pytorch_lightning as pl
import torch
from torch.utils.data import Dataset

from models.preprocessing import Preprocessing
from pipeline.atomic_io import check_writable
from pipeline.core.checkpoints import load_classifier_module
from pipeline.core.decision import format_threshold
from pipeline.data.readers import FALLBACK_LIST, fallback_summary, format_fallbacks, recording_fallbacks
from pipeline.data.sampling import SAMPLING_DEFAULTS, ClipSampler, sampler_from_config
from pipeline.inference.datamodule import PredictDataModule
from pipeline.inference.datasets import PredictClipDataset, TimelineDataset
from pipeline.inference.inputs import collect_inputs, video_key
from pipeline.inference.options import EXIT_OK, EXIT_SOME_FAILED, PredictOptions
from pipeline.inference.output import PredictionTable, PredictionWriter
from pipeline.inference.progress import VideoProgressBar
from pipeline.inference.settings import check_resume, run_settings, settings_path, start_output
from pipeline.inference.timeline import format_event_points
from pipeline.inference.timeline_output import collect_events, timeline_row_hook, write_review


def predict(options: PredictOptions) -> Dict[str, Any]:
    """Run batch inference; returns a summary (counts, output paths, exit status) on rank 0.

    Everything that can be checked without a video is checked first (options, the checkpoint and
    its classes, the inputs, resuming, the output's folder): a wrong one raises a `pipeline.errors`
    error and nothing is written.
    """
    options.validate()
    output = Path(options.output)
    model = load_model(options)
    options.validate_for_model(model.class_names)
    if options.timeline is not None:  # the checkpoint's windows and operating points where none are given
        options = replace(options, timeline=options.timeline.for_model(model))
    sampler, backend = reading_for(options, model)
    table = PredictionTable(output, model.class_names, options.format)
    videos = collect_inputs(options.inputs)
    settings = run_settings(options, model, sampler, backend)
    check_resume(output, settings, options.overwrite)
    timeline_dir = timeline_dir_for(options)
    check_writable(output)
    if timeline_dir is not None:
        check_writable(timeline_dir / "events.csv")
    # Said once for the whole run (workers, DDP ranks); a resumed run adds to the list.
    with recording_fallbacks(output.with_name(f"{output.stem}.{FALLBACK_LIST}"), fresh=options.overwrite):
        return _predict(options, model, sampler, backend, table, videos, settings, timeline_dir)


def _predict(options: PredictOptions, model: pl.LightningModule, sampler: ClipSampler, backend: str,
             table: PredictionTable, videos: List[str], settings: Dict[str, Any],
             timeline_dir: Optional[Path]) -> Dict[str, Any]:

    top_k = min(options.top_k, len(model.class_names))
    data = PredictDataModule(
        videos,
        table,
        dataset_factory(options, sampler, model.preprocessing, backend),
        batch_size=1 if options.timeline is not None else options.batch_size,
        num_workers=options.num_workers,
        retry_failed=options.retry_failed,
        on_primary_setup=partial(start_output, table, settings, options.overwrite),
    )
    on_rows = None
    if timeline_dir is not None:
        events = options.timeline
        on_rows = timeline_row_hook(timeline_dir, model.class_names, events, videos, top_k, model.threshold)
    callbacks = [PredictionWriter(table, top_k=top_k, on_rows=on_rows, threshold=model.threshold)]
    if options.progress:
        callbacks.append(VideoProgressBar(data))
    trainer = _trainer(options, callbacks)
    trainer.predict(model, datamodule=data, return_predictions=False)
    if not trainer.is_global_zero:
        return {"rank": trainer.global_rank, "exit_code": EXIT_OK}
    review = None
    if timeline_dir is not None:
        collect_events(timeline_dir, table, videos)
        review = write_review(timeline_dir, table, videos, model.class_names, options.timeline,
                              f"Review: the timelines of {Path(options.output).name}",
                              review_meta(options, model.class_names), backend)
    summary = summarize(table, videos, timeline_dir)
    if review is not None:
        summary["review"] = review.describe()
    summary["already_done"] = data.skipped
    summary["threshold"] = model.threshold
    if timeline_dir is not None:
        summary["timeline"] = {"window": options.timeline.window, "stride": options.timeline.stride}
        given = (options.timeline.threshold, options.timeline.min_duration, options.timeline.merge_gap)
        if model.event_points and all(value is None for value in given):  # printed with what they gave
            summary["event_points"] = model.event_points
    summary["decoder_fallbacks"] = fallback_summary()
    return summary


def review_meta(options: PredictOptions, class_names: Sequence[str]) -> List[str]:
    """The review page's header lines of a prediction run: the checkpoint, the windows, each class's rule."""
    timeline = options.timeline
    names = timeline.event_classes or class_names
    return [f"checkpoint {options.checkpoint}", f"windows of {timeline.window:g} s every {timeline.stride:g} s",
            *(f"events of {name}: p ≥ {timeline.threshold_for(name):g}, at least {timeline.min_duration_for(name):g} "
              f"s, gaps up to {timeline.merge_gap_for(name):g} s merged" for name in names)]


def load_model(options: PredictOptions) -> pl.LightningModule:
    """The checkpoint's classifier module, its CNN at `backbone_precision` when given; a missing or unusable
    checkpoint raises InputError."""
    model = load_classifier_module(options.checkpoint, trust_checkpoint=options.trust_checkpoint)
    if options.backbone_precision is not None:
        model.model.backbone.precision = options.backbone_precision
    return model


def reading_for(options: PredictOptions, model: pl.LightningModule) -> Tuple[ClipSampler, str]:
    """How this run reads the model's videos: the checkpoint's sampler (see clip_sampler_for) and the
    decoder (the option's, else the one the model was trained with)."""
    sampling = dict(model.hparams.get("sampling") or {})
    return clip_sampler_for(options, sampling), options.backend or sampling.get("backend") or "auto"


def clip_sampler_for(options: PredictOptions, sampling: Dict[str, Any]) -> ClipSampler:
    """The checkpoint's evaluation sampler, with `clips` and `sampling_mode` applied; a timeline takes one
    clip per window."""
    defaults = {"name": SAMPLING_DEFAULTS.sampler, "clip_len": SAMPLING_DEFAULTS.clip_len}
    config = dict(sampling.get("sampler") or defaults)
    if options.clips is not None:
        config["num_clips"] = options.clips
    if options.sampling_mode is not None:
        config["mode"] = options.sampling_mode
    if options.timeline is not None:
        config["num_clips"] = 1
    return sampler_from_config(config)


def timeline_dir_for(options: PredictOptions) -> Optional[Path]:
    """Where the timelines go (None without a timeline): by default <output stem>_timeline/."""
    if options.timeline is None:
        return None
    output = Path(options.output)
    return Path(options.timeline_dir or output.with_name(output.stem + "_timeline"))


def dataset_factory(
    options: PredictOptions, sampler: ClipSampler, preprocessing: Preprocessing, backend: str
) -> Callable[[List[str]], Dataset]:
    """What reads a run's videos: their clips (PredictClipDataset), or with a timeline their windows."""
    if options.timeline is not None:
        return partial(TimelineDataset, sampler=sampler, preprocessing=preprocessing, backend=backend,
                       options=options.timeline, decode_timeout=options.decode_timeout)
    return partial(PredictClipDataset, sampler=sampler, preprocessing=preprocessing, backend=backend,
                   decode_timeout=options.decode_timeout)


def accelerator_for(device: str) -> str:
    """Lightning's accelerator ("gpu" or "cpu") for a --device (auto: the GPU when there is one)."""
    if device == "auto":
        return "gpu" if torch.cuda.is_available() else "cpu"
    return {"cuda": "gpu"}.get(device, device)


def precision_for(options: PredictOptions) -> str:
    """Lightning's precision of the run: the option's, else 16-mixed on a GPU and 32-true on the CPU."""
    return options.precision or ("16-mixed" if accelerator_for(options.device) == "gpu" else "32-true")


def _trainer(options: PredictOptions, callbacks: List[pl.Callback]) -> pl.Trainer:
    return pl.Trainer(
        accelerator=accelerator_for(options.device),
        devices=options.devices,
        num_nodes=options.num_nodes,
        strategy=options.strategy,
        precision=precision_for(options),
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,  # VideoProgressBar counts videos instead of batches
        enable_model_summary=False,
        callbacks=callbacks,
    )


def summarize(table: PredictionTable, videos: Sequence[str], timeline_dir: Optional[Path] = None) -> Dict[str, Any]:
    """Counts of the output's rows for these videos (matched by resolved path, one row per video,
    the newest): ok, failed by status, per class, and the exit code."""
    wanted = {video_key(v) for v in videos}
    latest = {video_key(r["path"]): r for r in table.read_rows()}
    rows = [r for key, r in latest.items() if key in wanted]
    failed = [r for r in rows if r["status"] != "ok"]
    summary = {
        "output": str(table.path),
        "settings": str(settings_path(table.path)),
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
    """The summary as the lines scripts/predict.py prints."""
    lines = [f"{summary['ok']} ok, {summary['failed']} failed, of {summary['videos']} videos -> {summary['output']}"]
    if summary.get("already_done"):
        lines.append(f"  ({summary['already_done']} of them were already in the output and were not predicted again)")
    for label, count in sorted(summary["per_class"].items()):
        lines.append(f"  {label:<24} {count}")
    for kind, count in sorted(summary["failures"].items()):
        lines.append(f"  failed ({kind}): {count}")
    if summary.get("threshold"):
        lines.append(f"  {format_threshold(summary['threshold'])}")
    if summary.get("decoder_fallbacks"):
        lines.append(f"  {format_fallbacks(summary['decoder_fallbacks'])}")
    lines.append(f"settings: {summary['settings']}")
    if summary.get("timeline_dir"):
        lines.append(f"timelines: {summary['timeline_dir']} (.windows.csv, .events.csv, .png per video; events.csv): "
                     f"windows of {summary['timeline']['window']:g} s every {summary['timeline']['stride']:g} s")
        lines += [f"  {line}" for line in format_event_points(summary.get("event_points"))]
    if summary.get("review"):
        lines.append(f"review: {summary['review']}")
    return "\n".join(lines)
