"""The video side of the toolkit: from files on disk to trained classifiers and labelled videos.

A video travels through the sub-packages in this order (docs/architecture.md describes it and maps the files):

    data/         readers/ (one file per decoder behind one interface; isolated.py runs any of them in a
                  child process) -> sampling.py (which frames) -> transforms.py (the backbone's
                  preprocessing); annotations/ (one file per dataset format), datasets.py (clips for the
                  loaders), datamodule.py (VideoDataModule: splits and loaders), frame_stream.py (long
                  videos in chunks), feature_cache.py (frozen-backbone features, once per video),
                  clip_frames.py (the frames a model saw, for pictures), video_check.py (check_videos.py)
    core/         what training, evaluation, inference and export share: module.py (VideoClassifierModule,
                  the LightningModule), checkpoints.py (loading a checkpoint never runs code),
                  decision.py (the operating threshold), metrics.py, figures.py
    training/     cli.py (scripts/train.py), callbacks.py, dashboards.py, progress.py, extract.py, crossval.py
    recipes/      scripts/choose_recipe.py: candidate recipes cross-validated on the user's videos (heads on
                  cached features, successive halving within a budget), the simplest within noise chosen
    inference/    api.py (the Python API), batch.py (scripts/predict.py), inputs, datasets, output table,
                  timelines over long videos
    live/         scripts/live.py and Recognizer.stream: cameras and network streams labelled as they play
                  (the timeline's windows, each sampled frame embedded once)
    evaluation/   evaluate.py (scripts/evaluate.py): a checkpoint on a split or videos, metrics and
                  report_html.py's page
    export/       exporter.py (scripts/export.py): the clip model as ONNX or TorchScript, checked against PyTorch
    benchmarks/   the measurements behind docs/benchmarks.md and docs/accuracy.md: rows.py (the row type and
                  timing), runner.py (scripts/benchmark.py), inference.py, cache.py, backbones.py,
                  motion_window.py, accuracy.py (scripts/benchmark_accuracy.py)
    demo/         the generated demo data sets and the H.264 writer; not needed to train on real data

    atomic_io.py  atomic writes for every output people keep
    errors.py     how scripts end: exit statuses, one-line errors, --debug
    quiet.py      the third-party messages no script prints (Lightning's tips, device and seed lines)
    console.py    progress over videos counted in frames, bar or plain lines

Inference, evaluation and export import no training module. The networks themselves (backbones,
recurrent heads, models.VideoClassifier) are plain PyTorch in the top-level `models` package, which
never imports `pipeline`.

The Python API is `from pipeline import Recognizer` (pipeline/inference/api.py); it is imported on
first use, so that `import pipeline` (and scripts that need only readers or annotations) stays
cheap: no torch, no Lightning.
"""
from __future__ import annotations

import importlib
from typing import Any

_API = {"Recognizer": "pipeline.inference.api", "Prediction": "pipeline.inference.api",
        "Timeline": "pipeline.inference.api", "UnreadableVideoError": "pipeline.inference.api"}

__all__ = sorted(_API)


def __getattr__(name: str) -> Any:
    if name not in _API:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_API[name]), name)
