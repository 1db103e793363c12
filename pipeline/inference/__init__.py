"""Inference: label videos with a trained checkpoint, by the thousand, resumably.

    api.py              Recognizer: the Python API (a checkpoint loaded once; predict, predict_many, timeline)
    engine.py           the API's in-process predict loop over the same datasets and model steps as batch.py
    batch.py            predict(options): the run behind scripts/predict.py, step by step; summarize and
                        format_summary
    options.py          PredictOptions (what a run is asked to do) and the exit codes
    inputs.py           collect_inputs: folders, video files and list files -> video paths
    datasets.py         one video per item (its clips, or its timeline windows), or why it failed
    datamodule.py       PredictDataModule: which videos still need a row, served to every rank
    settings.py         <output>.settings.json: what predictions depend on; the resume check
    output.py           the output table (CSV or JSONL): rows appended safely, DDP parts merged
    progress.py         VideoProgressBar, counted in videos
    timeline.py         windows over a long video, event segments, per-video files and plot
    timeline_output.py  a run's timelines: per-video files as rows come in, then events.csv and review.html
    review_page.py      review.html: each video in a player under its curves, its events as marks and rows
    review_media.py     which videos a browser plays; proxies and frame strips of the others

The model, its checkpoint loading and the decision rule come from pipeline.core; no training module
is imported. The names below are imported on first use, so that `pipeline.inference.inputs` (which
scripts/check_videos.py needs) does not import Lightning and the model code with it.
"""
from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "EXIT_BAD_INPUT": "pipeline.inference.options",
    "EXIT_OK": "pipeline.inference.options",
    "EXIT_SOME_FAILED": "pipeline.inference.options",
    "PredictOptions": "pipeline.inference.options",
    "PredictionTable": "pipeline.inference.output",
    "TimelineOptions": "pipeline.inference.timeline",
    "collect_inputs": "pipeline.inference.inputs",
    "format_summary": "pipeline.inference.batch",
    "predict": "pipeline.inference.batch",
    "summarize": "pipeline.inference.batch",
    "Prediction": "pipeline.inference.api",
    "Recognizer": "pipeline.inference.api",
    "Timeline": "pipeline.inference.api",
    "UnreadableVideoError": "pipeline.inference.api",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list:
    return sorted(set(globals()) | set(_EXPORTS))
