"""What a training run prints: progress for each phase, one line about the model, and no third-party noise.

- `progress_bar()` picks the display: `TerminalProgress` (tqdm bars that redraw in place) when stdout
  is a terminal, else `LineProgress`: plain lines for a log file, one per epoch
  ("epoch 3 (4 of 20)  step 100  train loss 0.512 acc 0.781  val loss 0.498 acc 0.800  12.4 s"), one
  per validation or test run, and in a phase longer than `every_s` a line every `every_s` seconds with
  what is done and the time left. No carriage returns, no escape codes, no line per refresh.
- `RunReport` (a callback) prints what is trained in one line (and, with a frozen backbone, that its
  modules stay in eval mode: expected, so said once, in our words), keeps `log_every_n_steps` within
  an epoch's batches, warns about modules left in eval mode outside the frozen backbone, and spares
  the loaders of cached features Lightning's "does not have many workers" advice (they have none on purpose).
- `silence_third_party_noise()` (defined in pipeline.quiet, shared with every script) drops exactly the
  messages that say nothing about this run: Lightning's tips, torch's `LeafSpec` deprecation raised inside
  Lightning, and Lightning's generic "Found N module(s) in eval mode" warning (RunReport says what matters
  of it). Every other warning still shows.
"""
from __future__ import annotations

import math
import sys
import time
import warnings
from typing import Any, Dict, List, Optional, TextIO

import pytorch_lightning as pl
from pytorch_lightning.callbacks import Callback, ModelCheckpoint, ProgressBar, TQDMProgressBar

from pipeline.data.datasets import FeatureClipDataset
from pipeline.quiet import silence_third_party_noise  # noqa: F401  (the training CLI takes it from here)

PROGRESS_EVERY_S = 60.0  # LineProgress: a progress line at most this often within a long phase


def progress_bar(stream: Optional[TextIO] = None) -> ProgressBar:
    """Bars that redraw in place on a terminal; plain lines when stdout is a file or a pipe."""
    out = stream or sys.stdout
    return TerminalProgress() if out.isatty() else LineProgress(stream=stream)


def duration(seconds: float) -> str:
    """'4.2 s', '3.5 min' or '1.2 h'."""
    if seconds < 90:
        return f"{seconds:.1f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def epoch_name(trainer: pl.Trainer) -> str:
    """'epoch 3 (4 of 20)': Lightning's epoch number (as in best-epoch03.ckpt), then the count."""
    epoch = trainer.current_epoch
    total = trainer.max_epochs
    return f"epoch {epoch} ({epoch + 1} of {total})" if total and total > 0 else f"epoch {epoch}"


def metric_text(metrics: Dict[str, Any], stage: str) -> str:
    """'val loss 0.498 acc 0.800' from Lightning's callback metrics (what is there of loss and acc)."""
    keys = {"loss": (f"{stage}/loss_epoch", f"{stage}/loss"), "acc": (f"{stage}/acc",)}
    parts = []
    for name, candidates in keys.items():
        value = next((metrics[k] for k in candidates if k in metrics), None)
        if value is not None:
            parts.append(f"{name} {float(value):.3f}")
    return f"{stage} {' '.join(parts)}" if parts else ""


class LineProgress(ProgressBar):
    """Plain progress lines for a log file: one per epoch, validation or test, and one every `every_s`
    seconds within a longer phase (done / total and the time left)."""

    def __init__(self, every_s: float = PROGRESS_EVERY_S, stream: Optional[TextIO] = None):
        super().__init__()
        self.every_s = every_s
        self._stream = stream
        self._enabled = True
        self._started: Dict[str, float] = {}
        self._last_line = 0.0

    @property
    def is_enabled(self) -> bool:
        return self._enabled

    def disable(self) -> None:
        self._enabled = False

    def enable(self) -> None:
        self._enabled = True

    def print(self, *args: Any, **kwargs: Any) -> None:
        if self._enabled:
            print(*args, file=self._stream or sys.stdout, flush=True, **kwargs)

    def _start(self, phase: str) -> None:
        self._started[phase] = self._last_line = time.monotonic()

    def _elapsed(self, phase: str) -> float:
        return time.monotonic() - self._started.get(phase, time.monotonic())

    def _progress(self, phase: str, what: str, done: int, total: Any, unit: str) -> None:
        """A line every `every_s` seconds: done of total and the time left at the pace so far."""
        now = time.monotonic()
        if now - self._last_line < self.every_s:
            return
        self._last_line = now
        elapsed = self._elapsed(phase)
        line = f"  {what}: {done}"
        if isinstance(total, int) and total > 0:
            line += f"/{total} {unit}, {duration(elapsed)}, about {duration(elapsed / done * (total - done))} left"
        else:
            line += f" {unit}, {duration(elapsed)}"
        self.print(line)

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._start("epoch")

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        self._progress("epoch", epoch_name(trainer), batch_idx + 1, _as_int(self.total_train_batches), "steps")

    def on_validation_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._start("validation")

    def on_validation_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any,
                                batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
        if not trainer.sanity_checking:
            total = _as_int(trainer.num_val_batches[dataloader_idx])
            self._progress("validation", "validating", batch_idx + 1, total, "batches")

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.state.fn == "validate":  # on its own; during fit the epoch line has the results
            metrics = metric_text(trainer.callback_metrics, "val")
            self.print(f"validation: {metrics}  {duration(self._elapsed('validation'))}")

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        metrics = trainer.callback_metrics
        parts = [epoch_name(trainer), f"step {trainer.global_step}", metric_text(metrics, "train"),
                 metric_text(metrics, "val"), duration(self._elapsed("epoch"))]
        self.print("  ".join(p for p in [*parts, new_best(trainer)] if p))

    def on_test_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._start("test")

    def on_test_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
                          batch_idx: int, dataloader_idx: int = 0) -> None:
        self._progress("test", "testing", batch_idx + 1, _as_int(trainer.num_test_batches[dataloader_idx]), "batches")

    def on_test_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        batches = _as_int(sum(trainer.num_test_batches))
        self.print(f"test: {batches} batches in {duration(self._elapsed('test'))}")


def new_best(trainer: pl.Trainer) -> str:
    """'new best val/acc' when this epoch's monitored value beats the best checkpoint's so far (asked before
    ModelCheckpoint saves at the epoch's end: it compares as ModelCheckpoint does, strictly)."""
    best = next((cb for cb in trainer.checkpoint_callbacks if isinstance(cb, ModelCheckpoint)), None)
    if best is None or not best.monitor or best.monitor not in trainer.callback_metrics:
        return ""
    value, previous = float(trainer.callback_metrics[best.monitor]), best.best_model_score
    if math.isnan(value):
        return ""
    better = previous is None or (value > float(previous) if best.mode == "max" else value < float(previous))
    return f"new best {best.monitor}" if better else ""


def _as_int(value: Any) -> Optional[int]:
    """A batch count as an int; None when it is unknown or infinite."""
    return int(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


class TerminalProgress(TQDMProgressBar):
    """Lightning's tqdm bars with plain names ('epoch 3 (4 of 20)', 'validating', 'testing') and the
    few numbers that fit beside them (loss and accuracy; the rest are in TensorBoard and the epoch lines)."""

    SHOWN = {"train/loss_step": "train/loss", "train/acc": "train/acc", "val/loss": "val/loss", "val/acc": "val/acc"}

    sanity_check_description = "checking validation"  # type: ignore[assignment]
    train_description = "training"  # type: ignore[assignment]
    validation_description = "validating"  # type: ignore[assignment]
    test_description = "testing"  # type: ignore[assignment]

    def get_metrics(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> Dict[str, Any]:
        metrics = super().get_metrics(trainer, pl_module)
        return {short: metrics[key] for key, short in self.SHOWN.items() if key in metrics}

    def on_train_epoch_start(self, trainer: pl.Trainer, *args: Any) -> None:
        super().on_train_epoch_start(trainer, *args)
        self.train_progress_bar.set_description(epoch_name(trainer))

    def on_validation_batch_start(self, trainer: pl.Trainer, *args: Any, **kwargs: Any) -> None:
        super().on_validation_batch_start(trainer, *args, **kwargs)  # names the bar "<description> DataLoader 0"
        name = self.sanity_check_description if trainer.sanity_checking else self.validation_description
        self.val_progress_bar.set_description(name, refresh=False)

    def on_test_batch_start(self, trainer: pl.Trainer, *args: Any, **kwargs: Any) -> None:
        super().on_test_batch_start(trainer, *args, **kwargs)
        self.test_progress_bar.set_description(self.test_description, refresh=False)


class RunReport(Callback):
    """Says in one line what is trained, fits step logging to the epoch, and names stray eval-mode modules."""

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if stage == "fit":
            fit_log_interval(trainer)
        quiet_in_memory_loaders(trainer)

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.is_global_zero:
            print(describe_model(pl_module), flush=True)

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        stray = stray_eval_modules(pl_module)
        if stray and trainer.is_global_zero:
            names = ", ".join(stray[:5]) + (" ..." if len(stray) > 5 else "")
            warnings.warn(f"{len(stray)} module(s) outside the frozen backbone are in eval mode at the start of "
                          f"training (dropout off, BatchNorm statistics fixed): {names}", stacklevel=2)


def _frozen_modules(pl_module: pl.LightningModule) -> List[Any]:
    """The backbone's modules that stay in eval mode on purpose (all of a frozen one; the frozen stages and
    the BatchNorm kept frozen of one whose top trains)."""
    backbone = getattr(getattr(pl_module, "model", None), "backbone", None)
    if hasattr(backbone, "modules_kept_in_eval"):
        return backbone.modules_kept_in_eval()
    frozen = getattr(pl_module, "frozen_backbone", None)
    return list(frozen.modules()) if frozen is not None else []


def stray_eval_modules(pl_module: pl.LightningModule) -> List[str]:
    """Names of the modules in eval mode that are not part of the frozen backbone."""
    frozen = {id(m) for m in _frozen_modules(pl_module)}
    return [name for name, module in pl_module.named_modules() if not module.training and id(module) not in frozen]


def _count(n: int) -> str:
    return f"{n / 1e6:.1f} M" if n >= 1e6 else f"{n / 1e3:.0f} K" if n >= 1e3 else str(n)


def describe_model(pl_module: pl.LightningModule) -> str:
    """'model: efficientnet_lite0 (frozen) -> gru 128 x 1 -> 2 classes; 3.9 M parameters, 544 K trained; ...'."""
    hp = dict(getattr(pl_module, "hparams", {}) or {})
    frozen = _frozen_modules(pl_module)
    total = sum(p.numel() for p in pl_module.parameters())
    trained = sum(p.numel() for p in pl_module.parameters() if p.requires_grad)
    classes = len(getattr(pl_module, "class_names", []) or [])
    if "backbone" in hp:
        head = f"{hp.get('cell', 'rnn')} {hp.get('hidden_size', '?')} x {hp.get('num_layers', 1)}"
        stages = int(hp.get("trainable_stages") or 0)
        state = (f"last {stages} stage{'s' if stages > 1 else ''} trained, BatchNorm statistics "
                 f"{'of each batch' if hp.get('trainable_bn') == 'train' else 'kept'}" if stages
                 else "frozen" if frozen else "fine-tuned")
        what = f"{hp['backbone']} ({state}) -> {head} -> {classes} classes; "
    else:
        what = f"{type(pl_module).__name__}; "
    line = f"model: {what}{_count(total)} parameters, {_count(trained)} trained"
    if frozen:
        kept = sum(not m.training for m in frozen)
        whose = "the backbone's" if hp.get("trainable_stages") else "the frozen backbone's"
        line += f"; {whose} {kept} modules stay in eval mode (BatchNorm statistics kept)"
    return line


def quiet_in_memory_loaders(trainer: pl.Trainer) -> None:
    """Lightning suggests more loader workers for every loader with fewer than two; the loaders that serve
    cached features from memory have none on purpose (workers would only add overhead), so not for those."""
    datasets = getattr(getattr(trainer, "datamodule", None), "datasets", None) or {}
    for split, dataset in datasets.items():
        if isinstance(dataset, FeatureClipDataset):
            warnings.filterwarnings("ignore", message=f"The '{split}_dataloader' does not have many workers")


def fit_log_interval(trainer: pl.Trainer) -> None:
    """Lower `trainer.log_every_n_steps` to the epoch's batch count when an epoch is shorter, so step
    curves get a point every epoch (and Lightning has nothing to warn about)."""
    data = getattr(trainer, "datamodule", None)
    if data is None or not trainer.loggers:
        return
    loader = data.train_dataloader()
    try:
        samples = len(loader.dataset)
    except (AttributeError, TypeError):  # not a DataLoader, or an iterable dataset without a length
        return
    per_rank = math.ceil(samples / max(trainer.world_size, 1))
    size = loader.batch_size or 1
    batches = per_rank // size if loader.drop_last else math.ceil(per_rank / size)
    limit = trainer.limit_train_batches
    if limit is not None:
        batches = min(batches, limit) if isinstance(limit, int) else int(batches * limit)
    if 0 < batches < trainer.log_every_n_steps:
        trainer.log_every_n_steps = batches
