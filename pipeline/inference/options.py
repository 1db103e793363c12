"""What a prediction run is asked to do (PredictOptions), its checks, and the exit codes it ends with.

`PredictOptions.validate()` runs before anything is read or written, so a wrong option (a zero
stride, a negative batch size, an unknown decoder) ends the run in one line (UsageError, exit 2)
instead of an error row for every video; `validate_for_model` adds the checks that need the
checkpoint's class names.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, List, Optional, Sequence

from models.backbones import PRECISIONS
from pipeline.data.readers import DEFAULT_DECODE_TIMEOUT, fallback_order
from pipeline.data.sampling import SAMPLING_MODES
from pipeline.errors import EXIT_BAD_INPUT, EXIT_OK, EXIT_OUTPUT, EXIT_SOME_FAILED, EXIT_USAGE, UsageError
from pipeline.inference.output import FORMATS
from pipeline.inference.timeline import TimelineOptions

__all__ = ["EXIT_BAD_INPUT", "EXIT_OK", "EXIT_OUTPUT", "EXIT_SOME_FAILED", "EXIT_USAGE", "PredictOptions"]

DEVICES = ("auto", "cpu", "cuda", "gpu")


@dataclass
class PredictOptions:
    """The options of one prediction run; their defaults are the command line's (scripts/predict.py)."""

    checkpoint: str
    inputs: Sequence[str]
    output: str
    format: Optional[str] = None  # "csv" | "jsonl"; default from the output's suffix
    clips: Optional[int] = None  # K clips per video; None: the checkpoint's
    sampling_mode: Optional[str] = None  # "exact" | "efficient" (snapped to keyframes); None: the checkpoint's
    top_k: int = 5
    batch_size: int = 8
    num_workers: Optional[int] = None  # None: one per CPU core this process may use (pipeline.data.workers)
    device: str = "auto"  # "auto" | "cpu" | "cuda" | "gpu"
    devices: Any = 1  # processes / GPUs (Lightning's `devices`)
    num_nodes: int = 1
    strategy: str = "auto"
    precision: Optional[str] = None  # Lightning's; None: 16-mixed on a GPU, 32 on the CPU
    backbone_precision: Optional[str] = None  # the CNN's: auto | fp32 | bf16 | fp16; None: the checkpoint's
    backend: Optional[str] = None  # decoder, or a custom reader "module:Class"; None: the model's
    decode_timeout: float = DEFAULT_DECODE_TIMEOUT  # seconds a decoder may take on one file's call
    trust_checkpoint: bool = False  # allow a checkpoint that needs more than plain-data unpickling
    overwrite: bool = False
    retry_failed: bool = False
    progress: bool = True
    timeline: Optional[TimelineOptions] = None
    timeline_dir: Optional[str] = None  # default: <output stem>_timeline next to the output

    def validate(self) -> None:
        """Raise UsageError naming every option that cannot work; nothing has been read or written yet."""
        problems = _number_problems(self)
        if self.format is not None and self.format not in FORMATS:
            problems.append(f"--format {self.format!r}: choose one of {', '.join(FORMATS)}")
        if self.sampling_mode is not None and self.sampling_mode not in SAMPLING_MODES:
            problems.append(f"--sampling-mode {self.sampling_mode!r}: choose one of {', '.join(SAMPLING_MODES)}")
        if self.device not in DEVICES:
            problems.append(f"--device {self.device!r}: choose one of {', '.join(DEVICES)}")
        if self.timeline is not None:
            problems += _timeline_problems(self.timeline)
        if self.backbone_precision is not None and self.backbone_precision not in PRECISIONS:
            problems.append(f"--backbone-precision {self.backbone_precision!r}: choose one of {', '.join(PRECISIONS)}")
        if self.backend is not None:
            try:
                fallback_order(self.backend)
            except (ValueError, RuntimeError) as exc:
                problems.append(f"--backend: {exc}")
        if problems:
            raise UsageError("; ".join(problems))

    def validate_for_model(self, class_names: Sequence[str]) -> None:
        """The checks that need the checkpoint: event classes the model knows."""
        if self.timeline is None or not self.timeline.event_classes:
            return
        unknown = [c for c in self.timeline.event_classes if c not in class_names]
        if unknown:
            raise UsageError(f"--event-classes {' '.join(unknown)}: not classes of this model "
                             f"(it knows {', '.join(class_names)})")


def _number_problems(options: PredictOptions) -> List[str]:
    problems = []
    for flag, value, least in (("--batch-size", options.batch_size, 1), ("--top-k", options.top_k, 1),
                               ("--workers", options.num_workers, 0), ("--num-nodes", options.num_nodes, 1),
                               ("--clips", options.clips, 1)):
        if value is not None and value < least:
            problems.append(f"{flag} {value}: must be at least {least}")
    if options.devices != "auto" and not (isinstance(options.devices, int) and (options.devices >= 1
                                                                                 or options.devices == -1)):
        problems.append(f"--devices {options.devices}: a number of devices, -1 (all) or auto")
    if not options.decode_timeout > 0:
        problems.append(f"--decode-timeout {options.decode_timeout}: must be a positive number of seconds")
    return problems


def _timeline_problems(timeline: TimelineOptions) -> List[str]:
    problems = []
    for flag, value in (("--window", timeline.window), ("--stride", timeline.stride)):
        if value is not None and not value > 0:
            problems.append(f"{flag} {value}: must be a positive number of seconds")
    for flag, value in (("--min-duration", timeline.min_duration), ("--merge-gap", timeline.merge_gap)):
        if value is not None and not value >= 0:
            problems.append(f"{flag} {value}: must be zero or more seconds")
    if timeline.threshold is not None and not 0 <= timeline.threshold <= 1:
        problems.append(f"--threshold {timeline.threshold}: must be a probability in [0, 1]")
    return problems
