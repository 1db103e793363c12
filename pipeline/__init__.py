"""The video side of the toolkit: from files on disk to trained recognizers and labelled videos.

A video travels through the sub-packages in this order (docs/architecture.md describes it and maps the files):

    data/        readers/ (one file per decoder behind one interface; isolated.py runs any of them in a
                 child process) -> sampling.py (which frames) -> transforms.py (the backbone's
                 preprocessing); annotations/ (one file per dataset format), datasets.py (clips for the
                 loaders), frame_stream.py (long videos in chunks), feature_cache.py (frozen-backbone
                 features, once per video), video_check.py (scripts/check_videos.py)
    training/    module.py (the LightningModule), datamodule.py, callbacks.py, cli.py (scripts/train.py),
                 checkpoints.py (loading a checkpoint never runs code), extract.py, crossval.py
    inference/   inputs, datasets, predict.py (scripts/predict.py), output table, timelines over long videos
    demo/        the generated demo data sets and the H.264 writer; not needed to train on real data

    atomic_io.py   atomic writes for every output people keep
    errors.py      how scripts end: exit statuses, one-line errors, --debug
    quiet.py       the third-party messages no script prints (Lightning's tips, device and seed lines)
    console.py     progress over videos counted in frames, bar or plain lines
    evaluation.py  scripts/evaluate.py: a checkpoint on a split or videos, metrics and report_html.py's page
    export.py      scripts/export.py: the clip model as ONNX or TorchScript, checked against PyTorch
    benchmark.py   the measurements behind docs/benchmarks.md (scripts/benchmark.py)

The networks themselves (backbones, recurrent heads) are plain PyTorch in the top-level `models`
package, which never imports `pipeline`.

The Python API is `from pipeline import Recognizer` (pipeline/inference/recognizer.py); it is
imported on first use, so that `import pipeline` (and scripts that need only readers or annotations)
stays cheap: no torch, no Lightning.
"""
from __future__ import annotations

import importlib
from typing import Any

_API = {"Recognizer": "pipeline.inference.recognizer", "Prediction": "pipeline.inference.recognizer",
        "Timeline": "pipeline.inference.recognizer", "UnreadableVideoError": "pipeline.inference.recognizer"}

__all__ = sorted(_API)


def __getattr__(name: str) -> Any:
    if name not in _API:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_API[name]), name)
