"""What a run shows while it trains: dashboards at every validation, throughput, and HPARAMS.

`Dashboards` (a Lightning callback) reads the per-video probabilities, labels and record indices that
the module's validation steps return. At every validation (not the sanity check) every logger gets
per-class precision / recall / F1 (`val_per_class/<class>/...`) and, for two classes, `val/auc`;
TensorBoard, the logger that shows images, also gets the confusion matrix, a per-class table, the
precision-recall curve and ROC (two classes), and frame strips of the most confident mistakes: the
sampled frames of the first evaluation clip, in order, captioned with the true and predicted class and
the probability (with cached features those few clips are decoded again, once per fit). Training
throughput (`train/clips_per_s`, `train/frames_per_s`, loading included) goes to every logger. The
hyperparameters go to TensorBoard's HPARAMS tab with the final validation and test metrics (`hp/...`
scalars, which every logger gets), instead of TensorBoard's placeholder `hp_metric` of -1.
Global rank 0 draws and writes, after gathering the videos of every DDP process; the random
generators are left as they were, so a resumed run repeats the uninterrupted one.
"""
from __future__ import annotations

import logging
import time
from collections import OrderedDict
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback
from pytorch_lightning.loggers import TensorBoardLogger

from pipeline.core.figures import confusion_figure, frame_strip, per_class_table, resize_height, roc_figure
from pipeline.core.metrics import (
    binary_curves,
    confusion_matrix,
    default_positive,
    metric_name,
    per_class_scores,
    worst_mistakes,
)
from pipeline.data.clip_frames import eval_clip_frames
from pipeline.data.readers import DEFAULT_DECODE_TIMEOUT, as_read_error
from pipeline.training.callbacks import kept_random_state

log = logging.getLogger(__name__)


class Dashboards(Callback):
    """Per-validation confusion matrix, per-class scores, PR/ROC curves and mistake strips; throughput; HPARAMS."""

    def __init__(self, mistakes: int = 4, positive_class: Optional[str] = None, frame_height: int = 96,
                 max_class_scalars: int = 20):
        """
        Args:
            mistakes: misclassified validation videos shown as frame strips (the most confident mistakes).
            positive_class: for two-class tasks, the class the PR curve, ROC and AUC are about
                (default: `default_positive`, e.g. goal of goal / no_goal).
            frame_height: height in pixels of each frame in a strip.
            max_class_scalars: per-class scalars are logged up to this many classes (the table always).
        """
        self.mistakes = mistakes
        self.positive_class = positive_class
        self.frame_height = frame_height
        self.max_class_scalars = max_class_scalars
        self._outputs: List[Dict[str, torch.Tensor]] = []
        self._thumbs: OrderedDict[tuple, Tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._clips = self._frames = 0
        self._times: List[Optional[float]] = [None, None]  # train epoch start, last train batch end
        self._session_written = False

    # ------------------------------------------------------------------ HPARAMS

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        names = list(getattr(pl_module, "class_names", []))
        if self.positive_class is not None and self.positive_class not in names:
            raise ValueError(f"Dashboards: positive_class {self.positive_class!r} is not a class of this task "
                             f"(classes: {', '.join(names)})")
        for logger in trainer.loggers:  # Lightning would log hp_metric = -1 at every fit and test start
            if isinstance(logger, TensorBoardLogger):
                logger._default_hp_metric = False

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._write_hparams_session(trainer, pl_module)

    def on_test_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._write_hparams_session(trainer, pl_module)

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._log_final_metrics(trainer, "val")

    def on_test_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._log_final_metrics(trainer, "test")

    def _write_hparams_session(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """TensorBoard's HPARAMS entry of this run: its hyperparameters and the names of the `hp/` metrics.

        Written once, before any value: TensorBoard keeps the first such entry of a run, so it must
        already name the test metrics that come later. The values are the `hp/` scalars.
        """
        if self._session_written or not trainer.is_global_zero:
            return
        from torch.utils.tensorboard.summary import hparams

        self._session_written = True
        names = ["loss", *(key.split("/", 1)[1] for key in pl_module.val_metrics.keys())]
        tags = [f"hp/val/{n}" for n in names] + [f"hp/test/{n}" for n in names]
        if len(getattr(pl_module, "class_names", [])) == 2:
            tags.append("hp/val/auc")
        for logger in trainer.loggers:
            if isinstance(logger, TensorBoardLogger):
                summaries = hparams(run_hyperparameters(trainer, pl_module), {tag: 0.0 for tag in tags})
                writer = logger.experiment._get_file_writer()
                for summary in summaries:
                    writer.add_summary(summary)

    def _log_final_metrics(self, trainer: pl.Trainer, stage: str) -> None:
        values = {f"hp/{k}": float(v) for k, v in trainer.callback_metrics.items() if k.startswith(f"{stage}/")}
        if not values or not trainer.is_global_zero:
            return
        for logger in trainer.loggers:
            logger.log_metrics(values, step=trainer.global_step)
            logger.save()

    # ------------------------------------------------------------------ throughput

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._clips = self._frames = 0
        self._times = [time.perf_counter(), None]

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        clips = batch.get("features", batch.get("frames")) if isinstance(batch, dict) else None
        if clips is not None:  # [B,K,T,...]
            self._clips += clips.shape[0] * clips.shape[1]
            self._frames += clips.shape[0] * clips.shape[1] * clips.shape[2]
        self._times[1] = time.perf_counter()

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        start, end = self._times
        seconds = (end - start) if start is not None and end is not None else 0.0
        rates = {"train/clips_per_s": self._clips / seconds if seconds > 0 else 0.0,
                 "train/frames_per_s": self._frames / seconds if seconds > 0 else 0.0}
        # Summed over processes: the whole run's throughput.
        pl_module.log_dict(rates, on_step=False, on_epoch=True, sync_dist=True, reduce_fx="sum")

    # ------------------------------------------------------------------ validation

    def on_validation_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._outputs = []

    def on_validation_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
                                batch_idx: int, dataloader_idx: int = 0) -> None:
        if isinstance(outputs, dict) and "probs" in outputs:
            self._outputs.append({k: outputs[k].detach().float().cpu() if k == "probs" else outputs[k].cpu()
                                  for k in ("probs", "labels", "indices")})

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        with kept_random_state():
            self._validation_dashboards(trainer, pl_module)

    def _validation_dashboards(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        probs, labels, indices = _gathered(self._outputs)
        self._outputs = []
        names = list(pl_module.class_names)
        if not len(labels):
            return
        matrix = confusion_matrix(labels, probs.argmax(1), len(names))
        scores = per_class_scores(matrix)
        scalars: Dict[str, float] = {}
        if len(names) <= self.max_class_scalars:
            for i, name in enumerate(names):
                for key in ("precision", "recall", "f1"):
                    scalars[f"val_per_class/{metric_name(name)}/{key}"] = float(scores[key][i])
        positive = names.index(self.positive_class) if self.positive_class else default_positive(names)
        curve = binary_curves(probs[:, positive], labels == positive) if len(names) == 2 else None
        if curve is not None:
            scalars["val/auc"] = curve["auc"]
        if scalars:
            pl_module.log_dict(scalars, on_step=False, on_epoch=True)  # equal on every process already
        writers = [lg.experiment for lg in trainer.loggers if isinstance(lg, TensorBoardLogger)]
        if not writers or not trainer.is_global_zero:
            return
        step = trainer.global_step
        table = per_class_table(names, scores)
        for writer in writers:
            writer.add_figure("val/confusion_matrix", confusion_figure(matrix, names), step)
            writer.add_text("val/per_class", table, step)
            if len(names) == 2:
                writer.add_pr_curve("val/pr_curve", labels == positive, probs[:, positive], step)
            if curve is not None:
                writer.add_figure("val/roc", roc_figure(curve, names[positive]), step)
        self._log_mistakes(trainer, pl_module, writers, probs, labels, indices)

    def _log_mistakes(self, trainer: pl.Trainer, pl_module: pl.LightningModule, writers: list, probs: np.ndarray,
                      labels: np.ndarray, indices: np.ndarray) -> None:
        """Frame strips of the most confident mistakes, and a table listing them."""
        dataset = _eval_dataset(trainer)
        if self.mistakes <= 0 or dataset is None or not hasattr(dataset, "records"):
            return
        names = list(pl_module.class_names)
        predicted = probs.argmax(1)
        rows = ["| | video | true | predicted | probability | frames |", "|---|---|---|---|---|---|"]
        for slot, i in enumerate(worst_mistakes(probs, labels, self.mistakes)):
            record = dataset.records[int(indices[i])]
            clip = self._thumbnails(trainer, pl_module, dataset, int(indices[i]))
            if clip is None:
                continue
            frames, used = clip
            video = f"{record.path.parent.name}/{record.path.name}"
            truth, guess, p = names[labels[i]], names[predicted[i]], float(probs[i, predicted[i]])
            image = frame_strip(frames, used, [video, f"true {truth}, predicted {guess} (p={p:.2f})"])
            for writer in writers:
                writer.add_image(f"val_mistakes/{slot}", image, trainer.global_step, dataformats="HWC")
            rows.append(f"| {slot} | {video} | {truth} | {guess} | {p:.3f} | {' '.join(map(str, used))} |")
        text = "\n".join(rows) if len(rows) > 2 else "no misclassified validation videos"
        for writer in writers:
            writer.add_text("val_mistakes/list", text, trainer.global_step)

    def _thumbnails(self, trainer: pl.Trainer, pl_module: pl.LightningModule, dataset: Any,
                    index: int) -> Optional[Tuple[np.ndarray, np.ndarray]]:
        """The first evaluation clip of record `index` as small frames [T,h,w,3] and its frame indices,
        decoded once per dataset (evaluation sampling is deterministic)."""
        key = (id(dataset), index, str(dataset.records[index].path))
        if key not in self._thumbs:
            data = trainer.datamodule
            try:
                frames, used = eval_clip_frames(
                    dataset, index, pl_module.preprocessing,
                    getattr(dataset, "backend", getattr(data, "backend", "auto")),
                    getattr(dataset, "decode_timeout", getattr(data, "decode_timeout", DEFAULT_DECODE_TIMEOUT)))
                thumbs = np.stack([resize_height(f, self.frame_height) for f in frames])
            except Exception as exc:  # a picture that cannot be drawn costs that picture only
                log.warning("no frame strip for a misclassified video: %s", as_read_error(
                    dataset.records[index].path, "the strip", exc))
                return None
            self._thumbs[key] = (thumbs, used)
            while len(self._thumbs) > 8 * max(self.mistakes, 1):
                self._thumbs.popitem(last=False)
        self._thumbs.move_to_end(key)
        return self._thumbs[key]


# ---------------------------------------------------------------------- helpers


def run_hyperparameters(trainer: pl.Trainer, pl_module: pl.LightningModule) -> Dict[str, Any]:
    """The model's and data's hyperparameters, flattened to `a/b` keys with TensorBoard-friendly values."""
    params: Dict[str, Any] = {"trainer/max_epochs": trainer.max_epochs}
    sources = [getattr(pl_module, "hparams_initial", {}), getattr(trainer.datamodule, "hparams_initial", {})]

    def add(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                add(f"{prefix}/{key}" if prefix else str(key), item)
        elif prefix == "class_names":
            params["num_classes"] = len(value or [])
        elif prefix != "_class_path":
            params[prefix] = value if isinstance(value, (bool, int, float, str)) else str(value)

    for source in sources:
        add("", dict(source))
    return params


def _gathered(outputs: List[Dict[str, torch.Tensor]]) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """probs [N,C], labels [N], record indices [N] of this process's videos, and under DDP every process's."""
    local = {k: torch.cat([o[k] for o in outputs]).numpy() if outputs else np.zeros((0,)) for k in
             ("probs", "labels", "indices")}
    parts = [local]
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        parts = [None] * torch.distributed.get_world_size()
        torch.distributed.all_gather_object(parts, local)
    parts = [p for p in parts if len(p["labels"])]
    if not parts:
        return np.zeros((0, 0)), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return tuple(np.concatenate([p[k] for p in parts]) for k in ("probs", "labels", "indices"))  # type: ignore


def _eval_dataset(trainer: pl.Trainer) -> Any:
    loaders = trainer.val_dataloaders
    loader = loaders[0] if isinstance(loaders, (list, tuple)) and loaders else loaders
    return getattr(loader, "dataset", None)
