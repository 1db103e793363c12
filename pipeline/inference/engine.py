"""The Recognizer's predict loop: scripts/predict.py's steps, in this process, on one device, timed.

It runs what Lightning's predict loop runs for scripts/predict.py, and nothing of its own: the same
datasets and collate (pipeline.inference.datasets: sampling, decoding, resize and crop), the model's
own `predict_step` (normalisation, the CNN, the recurrent head, the average over clips, timeline
windows) under the same precision (Lightning's autocast for "16-mixed" or "bf16-mixed", nothing for
"32-true"), and the same rows (pipeline.inference.output.prediction_rows). What it adds is time:
the seconds spent waiting for decoded frames and the seconds spent in the model.
"""
from __future__ import annotations

import contextlib
import time
from typing import Any, ContextManager, Dict, Iterator, Tuple

import pytorch_lightning as pl
import torch
from pytorch_lightning.plugins.precision import MixedPrecision
from torch.utils.data import DataLoader, Dataset

from pipeline.errors import UsageError
from pipeline.inference.datasets import collate_predictions

MIXED = ("16-mixed", "bf16-mixed")
TRUE = ("32-true", "32")


def torch_device(device: str) -> torch.device:
    """The torch device of a --device: auto (cuda when there is a GPU, else cpu), cpu, cuda or gpu."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device("cuda" if device in ("cuda", "gpu") else device)


def forward_context(precision: str, device: torch.device) -> ContextManager:
    """What Lightning's precision plugin wraps each predict_step in, for the precisions the API runs."""
    if precision in MIXED:
        return MixedPrecision(precision, device.type).forward_context()
    if precision in TRUE:
        return contextlib.nullcontext()
    raise UsageError(f"precision {precision!r}: the Recognizer runs {', '.join(MIXED + TRUE[:1])}")


def loader(dataset: Dataset, batch_size: int, num_workers: int) -> DataLoader:
    """Batches as scripts/predict.py's data module serves them (pipeline.inference.datamodule)."""
    return DataLoader(dataset, batch_size=batch_size, num_workers=num_workers, collate_fn=collate_predictions)


def run_predict_steps(
    model: pl.LightningModule, batches: DataLoader, device: torch.device, precision: str
) -> Iterator[Tuple[Dict[str, Any], float, float]]:
    """(the model's predict_step output, seconds waiting for the batch, seconds in the model) per batch."""
    forward_context(precision, device)  # an unsupported precision fails before any video is read
    batches_iter = iter(batches)
    index = 0
    while True:
        start = time.perf_counter()
        try:
            batch = next(batches_iter)
        except StopIteration:
            return
        ready = time.perf_counter()
        with torch.inference_mode(), forward_context(precision, device):
            prediction = model.predict_step(_to_device(batch, device), index)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        yield prediction, ready - start, time.perf_counter() - ready
        index += 1


def _to_device(batch: Dict[str, Any], device: torch.device) -> Dict[str, Any]:
    return {k: v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}

