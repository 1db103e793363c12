"""Inference: label videos with a trained checkpoint, by the thousand, resumably.

    predict.py          predict(options): the run, step by step; summarize and format_summary
    options.py          PredictOptions (what a run is asked to do) and the exit codes
    inputs.py           collect_inputs: folders, video files and list files -> video paths
    datasets.py         one video per item (its clips, or its timeline windows), or why it failed
    datamodule.py       PredictDataModule: which videos still need a row, served to every rank
    settings.py         <output>.settings.json: what predictions depend on; the resume check
    output.py           the output table (CSV or JSONL): rows appended safely, DDP parts merged
    progress.py         VideoProgressBar, counted in videos
    timeline.py         windows over a long video, event segments, per-video files and plot
    timeline_output.py  a run's timelines: per-video files as rows come in, then events.csv
"""
from pipeline.inference.inputs import collect_inputs
from pipeline.inference.options import EXIT_BAD_INPUT, EXIT_OK, EXIT_SOME_FAILED, PredictOptions
from pipeline.inference.output import PredictionTable
from pipeline.inference.predict import format_summary, predict, summarize
from pipeline.inference.timeline import TimelineOptions

__all__ = [
    "EXIT_BAD_INPUT",
    "EXIT_OK",
    "EXIT_SOME_FAILED",
    "PredictOptions",
    "PredictionTable",
    "TimelineOptions",
    "collect_inputs",
    "format_summary",
    "predict",
    "summarize",
]
