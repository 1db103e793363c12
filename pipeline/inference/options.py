"""What a prediction run is asked to do (PredictOptions), and the exit codes it ends with."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence

from pipeline.inference.timeline import TimelineOptions

EXIT_OK = 0
EXIT_BAD_INPUT = 2  # a missing input or checkpoint, a bad option, an output with other settings
EXIT_SOME_FAILED = 3  # every video has a row, but some could not be read


@dataclass
class PredictOptions:
    """The options of one prediction run; their defaults are the command line's (scripts/predict.py)."""

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
