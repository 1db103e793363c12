"""The run's settings file, <output stem>.settings.json: what its predictions depend on.

It is written before anything is predicted and checked when a run resumes into an existing
output, so rows made with another checkpoint, sampling or preprocessing are never mixed: such a
run is refused (UsageError, exit 2) before anything is read or written. (`atomic_io.check_writable`
finds an output that cannot be written, OutputError exit 5, before the first video is read.)
"""
from __future__ import annotations

import csv
import hashlib
import json
import platform
from pathlib import Path
from typing import Any, Dict, List

import pytorch_lightning as pl
import torch

from pipeline.atomic_io import write_text_atomic
from pipeline.data.sampling import ClipSampler
from pipeline.errors import UsageError
from pipeline.inference.options import PredictOptions
from pipeline.inference.output import PredictionTable

# Settings that change what a row says; a resumed run must agree with the stored ones on each.
RESUME_KEYS = ("checkpoint_sha256", "sampling", "preprocessing", "class_names", "timeline", "top_k", "backend",
               "format", "backbone_precision")
RECORDED_SINCE = ("backbone_precision",)  # outputs written before these were recorded are not refused for them
MODEL_KEYS = ("backbone", "input_size", "spatial_grid", "cell", "hidden_size", "num_layers", "bidirectional",
              "readout", "motion")


def checkpoint_sha256(path: str) -> str:
    """The checkpoint file's SHA-256, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def run_settings(
    options: PredictOptions, model: pl.LightningModule, sampler: ClipSampler, backend: str
) -> Dict[str, Any]:
    """What a prediction depends on; written beside the output and checked when resuming."""
    hp = model.hparams
    return {
        "checkpoint": str(Path(options.checkpoint).resolve()),
        "checkpoint_sha256": checkpoint_sha256(options.checkpoint),
        "class_names": model.class_names,
        "model": {k: hp[k] for k in MODEL_KEYS if k in hp},
        "preprocessing": model.preprocessing.to_dict(),
        "backbone_precision": model.model.backbone.precision,
        "sampling": sampler.to_config(),
        "backend": backend,
        "top_k": options.top_k,
        "format": PredictionTable(options.output, model.class_names, options.format).format,
        "timeline": options.timeline.effective(model.class_names) if options.timeline else None,
    }


def settings_path(output: Path) -> Path:
    """<output stem>.settings.json beside the output."""
    return output.with_name(output.stem + ".settings.json")


def check_resume(output: Path, settings: Dict[str, Any], overwrite: bool) -> None:
    """Refuse (UsageError) to append to an output whose stored settings or columns differ from this
    run's, unless overwriting."""
    path = settings_path(output)
    table = PredictionTable(output, settings["class_names"], settings["format"])
    if overwrite or not (output.exists() or table.part_files()):
        return
    advice = "write to a new --output, or pass --overwrite to start it again"
    _check_columns(table, advice)
    if not path.exists():
        return
    try:
        previous = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(f"{path}: the settings of {output} cannot be read ({exc}); {advice}") from None
    settings = json.loads(json.dumps(settings))  # compare as stored: tuples are lists there
    if isinstance(previous.get("timeline"), dict) and "classes" not in previous["timeline"]:
        previous["timeline"] = _effective_stored(previous["timeline"], settings["class_names"])
    changed = [k for k in RESUME_KEYS if previous.get(k) != settings.get(k)
               and (k in previous or k not in RECORDED_SINCE)]
    if changed:
        raise UsageError(
            f"{output} was written with other settings ({', '.join(changed)} differ); resuming would mix "
            f"them: {advice}"
        )


def _effective_stored(stored: Dict[str, Any], class_names: List[str]) -> Dict[str, Any]:
    """The effective timeline of settings written before they were stored resolved (TimelineOptions fields)."""
    from pipeline.inference.timeline import TimelineOptions

    fields = {k: tuple(map(tuple, v)) if k.startswith("class_") and v else v for k, v in stored.items()}
    fields["event_classes"] = tuple(stored["event_classes"]) if stored.get("event_classes") else None
    options = TimelineOptions(**{k: v for k, v in fields.items() if k in TimelineOptions.__dataclass_fields__})
    return json.loads(json.dumps(options.effective(class_names)))


def _check_columns(table: PredictionTable, advice: str) -> None:
    """A CSV output's header must be this model's columns."""
    if table.format != "csv" or not table.path.is_file():
        return
    with open(table.path, newline="", encoding="utf-8", errors="replace") as handle:
        header = next(csv.reader([handle.readline()]), [])
    if header and header != table.columns:
        raise UsageError(f"{table.path}: its columns are not this model's ({', '.join(header[:8])}...); {advice}")


def write_settings(output: Path, settings: Dict[str, Any]) -> None:
    """The settings file, atomically, with the library versions that made the predictions."""
    versions = {"torch": torch.__version__, "pytorch_lightning": pl.__version__, "python": platform.python_version()}
    write_text_atomic(settings_path(output), json.dumps({**settings, **versions}, indent=2))


def start_output(table: PredictionTable, settings: Dict[str, Any], overwrite: bool) -> None:
    """Before anything is predicted (rank 0): drop an output being overwritten, write the settings."""
    if overwrite:
        for stale in [table.path, *table.part_files()]:
            stale.unlink(missing_ok=True)
    write_settings(table.path, settings)
