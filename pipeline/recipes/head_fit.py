"""One fold of one candidate: train the temporal head on cached features in this process, pick its best
validation state, and test it on the held-out videos (with `model.trainable_stages`, the CNN's top
stages train with it, on the cached maps of its frozen stages).

This is `train.py`'s run without Lightning's machinery, for a frozen backbone whose features are
already cached: the same data module builds the same datasets (samplers, views, feature noise), the
same LightningModule builds the same head and optimiser (AdamW, the cosine over the run's steps) and
scores clips the same way (K clips a video, probabilities averaged); validation runs after every
epoch, the state with the best `checkpoint.monitor` is kept (ties keep the earlier one, as
Lightning's ModelCheckpoint does) and an EarlyStopping callback of the config stops the loop as it
would. Only the head (and the top stages a candidate trains) runs, never the decoder or the frozen
CNN, so a fold costs seconds instead of minutes (the top stages: more, as the search measures).
"""
from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

import numpy as np
import torch
import torch.nn.functional as F
from pytorch_lightning import seed_everything

from pipeline.core.metrics import video_scores
from pipeline.core.module import VideoClassifierModule
from pipeline.data.datamodule import VideoDataModule

MONITORED = ("val/acc", "val/loss", "val/mean_class_acc", "val/f1_macro")


@dataclass(frozen=True)
class Schedule:
    """How long a head trains and which of its states is kept: the trainer's and checkpoint's options."""

    max_epochs: int = 20
    max_steps: int = -1
    monitor: str = "val/acc"
    mode: str = "max"
    early_stopping: Optional[Dict[str, Any]] = None  # {"monitor", "mode", "patience", "min_delta"}
    seed: int = 0

    def __post_init__(self) -> None:
        for name in [self.monitor] + ([self.early_stopping["monitor"]] if self.early_stopping else []):
            if name not in MONITORED:
                raise ValueError(f"monitor {name!r}: the recipe search tracks {', '.join(MONITORED)}")
        if (self.max_epochs is None or self.max_epochs < 0) and self.max_steps < 0:
            raise ValueError("a recipe needs trainer.max_epochs or trainer.max_steps")

    def total_steps(self, batches_per_epoch: int) -> int:
        """Optimizer steps of the whole run (Lightning's estimated_stepping_batches)."""
        by_epochs = self.max_epochs * batches_per_epoch if self.max_epochs is not None and self.max_epochs >= 0 \
            else math.inf
        by_steps = self.max_steps if self.max_steps >= 0 else math.inf
        return int(max(1, min(by_epochs, by_steps)))


@dataclass
class FoldResult:
    """What one fold of one candidate gave: test metrics, the run's length, and each test video's scores."""

    metrics: Dict[str, float]
    epochs: int
    steps: int
    best_epoch: int
    seconds: float
    paths: List[str] = field(default_factory=list)
    labels: List[int] = field(default_factory=list)
    probs: List[List[float]] = field(default_factory=list)

    def to_dict(self) -> Dict[str, Any]:
        return {"metrics": self.metrics, "epochs": self.epochs, "steps": self.steps, "best_epoch": self.best_epoch,
                "seconds": self.seconds, "paths": self.paths, "labels": self.labels, "probs": self.probs}

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> FoldResult:
        return cls(**data)


def scores(probs: np.ndarray, labels: np.ndarray, num_classes: int) -> Dict[str, float]:
    """acc, mean_class_acc, f1_macro (most probable class) and loss, as training's test metrics compute them
    (pipeline.core.metrics.video_scores); `num_classes` is the width of `probs`."""
    return video_scores(probs.reshape(len(labels), num_classes), labels)


@torch.no_grad()
def evaluate(module: VideoClassifierModule, loader: Any) -> tuple:
    """(probabilities [N,C], labels [N], record indices [N]) of every readable video of `loader`."""
    module.eval()
    probs, labels, indices = [], [], []
    for batch in loader:
        if "label" not in batch:
            continue
        probs.append(module.video_probabilities(batch).float())
        labels.append(batch["label"])
        indices.append(batch["index"])
    if not probs:
        return np.zeros((0, len(module.class_names))), np.zeros(0, np.int64), np.zeros(0, np.int64)
    return torch.cat(probs).numpy(), torch.cat(labels).numpy(), torch.cat(indices).numpy()


def _better(value: float, best: Optional[float], mode: str, min_delta: float = 0.0) -> bool:
    if best is None:
        return True
    return value > best + min_delta if mode == "max" else value < best - min_delta


def _trained(module: VideoClassifierModule) -> List[torch.nn.Module]:
    """What a fold trains: the head, and the backbone's trained stages (model.trainable_stages)."""
    return [module.model.head, *module.model.backbone.trained_stage_modules()]


def _state_of(parts: List[torch.nn.Module]) -> List[Dict[str, Any]]:
    return [copy.deepcopy(part.state_dict()) for part in parts]


def fit_head(module: VideoClassifierModule, data: VideoDataModule, schedule: Schedule) -> FoldResult:
    """Train `module`'s head (and its trained stages) on `data`'s train split (cached features or maps), keep
    the best validation state, test it on the test split. The module must have a frozen backbone (or frozen
    stages under a trained top), attached to `data` already."""
    if module.frozen_backbone is None or not data.cache_features:
        raise ValueError("the recipe search trains heads on cached features: it needs a frozen backbone (or "
                         "model.trainable_stages) and data.cache_features true")
    started = time.perf_counter()
    data.setup("fit")
    data.setup("test")
    train_loader, val_loader = data.train_dataloader(), data.val_dataloader()
    batches = len(train_loader)
    total = schedule.total_steps(batches)
    module.set_run_length(total)
    optimizers = module.configure_optimizers()
    optimizer = optimizers["optimizer"] if isinstance(optimizers, dict) else optimizers
    scheduler = optimizers["lr_scheduler"]["scheduler"] if isinstance(optimizers, dict) else None
    num_classes = len(module.class_names)
    best_value: Optional[float] = None
    trained = _trained(module)
    best_state, best_epoch = _state_of(trained), 0
    stop = schedule.early_stopping
    stop_best: Optional[float] = None
    waited, steps, epoch = 0, 0, 0
    torch.set_flush_denormal(True)  # as on_fit_start: recurrent gradients underflow into slow denormals
    while steps < total:
        module.train()
        for batch in train_loader:
            if "label" not in batch:
                continue
            logits = module.clip_logits(batch)[:, 0]
            loss = F.cross_entropy(logits, batch["label"], label_smoothing=module.hparams.label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            steps += 1
            if steps >= total:
                break
        epoch += 1
        probs, labels, _ = evaluate(module, val_loader)
        if not len(labels):
            raise ValueError("the validation split is empty: the recipe search needs data.val_fraction > 0")
        values = {f"val/{k}": v for k, v in scores(probs, labels, num_classes).items()}
        if _better(values[schedule.monitor], best_value, schedule.mode):
            best_value, best_epoch = values[schedule.monitor], epoch
            best_state = _state_of(trained)
        if stop:
            if _better(values[stop["monitor"]], stop_best, stop["mode"], stop.get("min_delta", 0.0)):
                stop_best, waited = values[stop["monitor"]], 0
            else:
                waited += 1
                if waited >= stop["patience"]:
                    break
    for part, state in zip(trained, best_state):
        part.load_state_dict(state)
    probs, labels, indices = evaluate(module, data.test_dataloader())
    records = data.splits.test
    result = scores(probs, labels, num_classes) if len(labels) else {}
    return FoldResult({f"test/{k}": v for k, v in result.items()}, epoch, steps, best_epoch,
                      time.perf_counter() - started, [str(records[i].path) for i in indices], labels.tolist(),
                      np.round(probs, 5).tolist())


def seeded_module(seed: int, **kwargs: Any) -> VideoClassifierModule:
    """A VideoClassifierModule built after seeding every generator (as train.py seeds before building),
    so that a fold's head starts from the same weights as the run train.py would make."""
    seed_everything(seed, workers=True, verbose=False)
    return VideoClassifierModule(**kwargs)
