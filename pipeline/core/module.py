"""The LightningModule: backbone + recurrent head, the loss, the optimiser and the metrics.

Batches carry either decoded frames (uint8 [B,K,T,h,w,3], normalised here on the device) or
cached backbone features ([B,K,T,D]; with `trainable_stages`, the frozen stages' flattened maps, which
the trained top stages turn into features here); K clips of a video are scored separately and their
class probabilities averaged. Everything inference needs (class names, clip sampling,
preprocessing, backbone choice) is saved in the checkpoint's hyperparameters.
"""
from __future__ import annotations

import logging
import math
from typing import Any, Dict, List, Optional, Union

import numpy as np
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
import torchmetrics
from pytorch_lightning.loggers import TensorBoardLogger
from torchmetrics.classification import MulticlassAccuracy, MulticlassConfusionMatrix

from models import Backbone, Preprocessing, VideoClassifier, build_temporal_head, create_backbone
from models.backbones import (
    PRECISION_DEFAULT,
    TRAINABLE_BN_DEFAULT,
    TRAINABLE_STAGES_DEFAULT,
    FeatureExtractor,
    check_trainable_stages,
)
from models.preprocessing import FRAME_FIT_DEFAULT
from models.temporal_heads import HEAD_DEFAULTS
from pipeline.core.decision import THRESHOLD_OBJECTIVE_DEFAULT, choose_threshold, decide_labels, parse_objective
from pipeline.core.figures import confusion_figure
from pipeline.core.metrics import default_positive, summary_scores
from pipeline.data.transforms import difference_image, normalize

log = logging.getLogger(__name__)


INFERENCE_FRAME_CHUNK = 64  # frames per backbone pass when no gradient is kept (prediction, evaluation, tests)


class EpochMetrics(torch.nn.Module):
    """acc, mean_class_acc and f1_macro of one stage's videos (and acc_top5 with more than five classes),
    all from one confusion matrix of the most probable class (pipeline.core.metrics.summary_scores).

    One matrix, not one torchmetrics metric per figure: a MetricCollection merges metrics whose states
    are equal after the first batch into one compute group, and when that batch's top-1 and top-5 hits
    coincided the macro figures were computed from the top-5 counts (1.0 on a set with mistakes).
    Under DDP the matrix is summed over the processes by torchmetrics."""

    def __init__(self, num_classes: int, prefix: str):
        super().__init__()
        self.prefix = prefix
        self.confusion = MulticlassConfusionMatrix(num_classes)
        # With five classes or fewer every label is in the top five: always 1.0.
        self.top5 = MulticlassAccuracy(num_classes, top_k=5, average="micro") if num_classes > 5 else None

    def keys(self) -> List[str]:
        """The names of the figures `compute` returns."""
        names = ["acc", "mean_class_acc", "f1_macro"] + (["acc_top5"] if self.top5 is not None else [])
        return [self.prefix + name for name in names]

    def update(self, probs: torch.Tensor, labels: torch.Tensor) -> None:
        """Count videos' class probabilities [B,C] against their labels [B]."""
        self.confusion.update(probs.argmax(-1), labels)
        if self.top5 is not None:
            self.top5.update(probs, labels)

    def compute(self) -> Dict[str, torch.Tensor]:
        matrix = self.confusion.compute()  # summed over DDP processes
        # On the matrix's device: Lightning syncs logged values where they are (NCCL cannot reduce CPU tensors).
        values = {self.prefix + k: torch.tensor(v, device=matrix.device)
                  for k, v in summary_scores(matrix.cpu().numpy()).items()}
        if self.top5 is not None:
            values[self.prefix + "acc_top5"] = self.top5.compute()
        return values

    def reset(self) -> None:
        self.confusion.reset()
        if self.top5 is not None:
            self.top5.reset()


class VideoClassifierModule(pl.LightningModule):
    """The trainable video classifier: a VideoClassifier (backbone + head) with its loss, optimiser and metrics."""

    def __init__(
        self,
        class_names: Optional[List[str]] = None,
        sampling: Optional[Dict[str, Any]] = None,
        backbone: str = "efficientnet_lite0",
        weights: str = "default",
        input_size: Optional[int] = None,
        spatial_grid: int = 1,
        frame_fit: str = FRAME_FIT_DEFAULT,
        freeze_backbone: bool = True,
        trainable_stages: int = TRAINABLE_STAGES_DEFAULT,
        trainable_bn: str = TRAINABLE_BN_DEFAULT,
        backbone_precision: str = PRECISION_DEFAULT,
        cell: str = HEAD_DEFAULTS.cell,
        hidden_size: int = HEAD_DEFAULTS.hidden_size,
        num_layers: int = HEAD_DEFAULTS.num_layers,
        bidirectional: bool = HEAD_DEFAULTS.bidirectional,
        dropout: float = HEAD_DEFAULTS.dropout,
        readout: str = HEAD_DEFAULTS.readout,
        motion: str = HEAD_DEFAULTS.motion,
        rgb_diff: bool = False,
        lr: float = 1e-3,
        backbone_lr: float = 1e-4,
        weight_decay: float = 1e-4,
        label_smoothing: float = 0.0,
        scheduler: str = "cosine",
        allow_download: bool = False,
        threshold_objective: str = THRESHOLD_OBJECTIVE_DEFAULT,
    ):
        """
        Args:
            class_names: label names in index order (linked from the data module by the CLI).
            sampling: the data module's clip sampling (clip_len, sampler...), kept for inference.
            backbone: a name from models.available_backbones().
            weights: "default" (pretrained, offline where the registry allows), a weight name,
                "none", or a path to a state-dict file.
            input_size: crop size fed to the backbone; None keeps the weights' own size.
            spatial_grid: pool the backbone's last feature map to grid x grid cells (1 = global
                average pooling); > 1 keeps where things are in the frame, at grid**2 x the width.
            frame_fit: how a frame becomes the backbone's square input: "crop" (shorter side resized,
                centre square kept: the frame's sides are cut), "pad" (the whole frame, padded to the
                square), "stretch" (the whole frame, resized to the square) or "motion" (the square
                window of each video where it moves, camera motion taken out: small actors fill the
                input, wherever they are in the frame) or "spotlight" (that window, with what never
                moves in it faded to the mean colour: a cluttered still scene weighs less).
            freeze_backbone: no gradients and BatchNorm in eval mode; otherwise the backbone is
                fine-tuned with `backbone_lr`.
            trainable_stages: with freeze_backbone true, the CNN's last N stages train (with `backbone_lr`) and
                the rest stays frozen; its output maps are what the feature cache stores, so an epoch runs only
                the top stages and the head (0: the whole CNN frozen). Stages per backbone: models.backbones
                (efficientnet_lite0: blocks[0..6], then conv_head+bn2; ResNets: layer1..layer4).
            trainable_bn: the trained stages' BatchNorm: "frozen" (kept in eval mode with its ImageNet
                statistics, its scale and shift trained) or "train" (statistics of each batch, updated).
            backbone_precision: "auto" (bf16 on a CPU with native bf16, fp16 on CUDA, else fp32), "fp32",
                "bf16" or "fp16": the precision the CNN runs at (models.backbones.resolve_precision).
            cell: "rnn" (Elman), "lstm", "gru", or "none" (mean pooling, order-blind baseline).
            readout: "last", "mean" or "attention" over the recurrent states.
            motion: "diff" gives the recurrent head each step's feature change beside the features
                (what moved between frames); "none" the features alone.
            rgb_diff: the motion stream: the CNN also embeds each frame's difference from the video's
                previous frame (TSN's RGB difference, pipeline.data.transforms.difference_image) and the head
                reads those features beside the frame's (twice the width; twice the CNN's work per frame).
            scheduler: "cosine" (over the run's optimizer steps, from max_epochs or max_steps) or "none".
            threshold_objective: two classes only: the operating threshold on p(positive) chosen on the
                validation videos and stored in the checkpoint (pipeline.core.decision): "f1" (best F1),
                "precision=0.9" / "recall=0.8" (a target), or "none" (the most probable class decides).
        """
        super().__init__()
        if not class_names:
            raise ValueError("class_names is required (the CLI links it from the data module)")
        if scheduler not in ("cosine", "none"):
            raise ValueError(f"unknown scheduler {scheduler!r}; choose 'cosine' or 'none'")
        parse_objective(threshold_objective)
        check_trainable_stages(backbone, trainable_stages, freeze_backbone, trainable_bn)
        if trainable_stages and rgb_diff:
            raise ValueError(f"model.trainable_stages {trainable_stages} with model.rgb_diff true: the motion stream "
                             "is not cached as maps of the frozen stages; use one or the other")
        self.save_hyperparameters()
        self.class_names = list(class_names)
        num_classes = len(self.class_names)
        backbone_net = create_backbone(backbone, weights, freeze_backbone, input_size, allow_download, spatial_grid,
                                       backbone_precision, trainable_stages, trainable_bn)
        backbone_net.preprocessing = backbone_net.preprocessing.with_fit(frame_fit).with_rgb_diff(rgb_diff)
        head = build_temporal_head(
            backbone_net.feature_dim * (2 if rgb_diff else 1), num_classes, cell, hidden_size, num_layers,
            bidirectional, dropout, readout, motion,
        )
        self.model = VideoClassifier(backbone_net, head)
        self.val_metrics = EpochMetrics(num_classes, "val/")
        self.test_metrics = EpochMetrics(num_classes, "test/")
        # Per-video mean losses: torchmetrics states, so that under DDP they are summed over processes.
        self.val_loss = torchmetrics.MeanMetric()
        self.test_loss = torchmetrics.MeanMetric()
        self.test_confusion = MulticlassConfusionMatrix(num_classes)
        self.test_confusion_result: Optional[torch.Tensor] = None
        self.skipped_videos: List[str] = []
        self._total_steps: Optional[int] = None  # optimizer steps of the whole run (the cosine's length)
        self._timeline_features: Dict[str, List[torch.Tensor]] = {}  # frame features of timeline videos in flight
        self._timeline_last: Dict[str, torch.Tensor] = {}  # the last frame of each timeline video's latest chunk
        self.threshold: Optional[Dict[str, Any]] = None  # the operating threshold (two classes), see on_save_checkpoint
        # Trained from event times: per-class threshold, minimum duration and merge gap chosen on the validation
        # videos for event F1 (pipeline.training.event_points), and what they gave; the timeline's defaults.
        self.event_points: Optional[Dict[str, Any]] = None
        self._val_scores: List[torch.Tensor] = []  # [B,3]: p of both classes, label

    @property
    def preprocessing(self) -> Preprocessing:
        """How frames must be resized, cropped and normalised for this model's backbone."""
        return self.model.backbone.preprocessing

    @property
    def frozen_backbone(self) -> Optional[FeatureExtractor]:
        """What the feature cache may store the output of: the backbone when it is frozen; its frozen stages
        (`Backbone.frozen_stages`, flattened maps) when only its top trains (`trainable_stages`); else None."""
        backbone: Backbone = self.model.backbone
        if backbone.frozen:
            return backbone
        return backbone.frozen_stages() if backbone.trainable_stages else None

    # ------------------------------------------------------------------ forward

    def frame_features(self, frames: torch.Tensor, previous: Optional[torch.Tensor] = None) -> torch.Tensor:
        """The backbone's features of uint8 frames [...,h,w,3] (already resized and cropped): [...,D]; with
        the motion stream (`rgb_diff`) the features of each frame's difference from `previous` (the frames
        just before them, same shape) beside: [...,2D]."""
        lead = frames.shape[:-3]
        if self.preprocessing.rgb_diff and previous is None:
            raise ValueError("this model reads motion (model.rgb_diff): it needs the frame before each frame")
        flat = frames.flatten(0, len(lead) - 1)
        before = None if previous is None else previous.flatten(0, len(lead) - 1)
        if torch.is_grad_enabled() or len(flat) <= INFERENCE_FRAME_CHUNK:
            return self._embed_frames(flat, before).view(*lead, -1)
        # Without gradients nothing needs the activations of every frame at once: a predict batch of 16 videos x
        # 3 clips x 16 frames held about 6 GB of them at 224 px; in chunks the peak no longer grows with the batch.
        parts = [self._embed_frames(flat[i:i + INFERENCE_FRAME_CHUNK],
                                    None if before is None else before[i:i + INFERENCE_FRAME_CHUNK])
                 for i in range(0, len(flat), INFERENCE_FRAME_CHUNK)]
        return torch.cat(parts).view(*lead, -1)

    def _embed_frames(self, frames: torch.Tensor, previous: Optional[torch.Tensor]) -> torch.Tensor:
        feats = self.model.backbone(normalize(frames, self.preprocessing))
        if self.preprocessing.rgb_diff:
            change = normalize(difference_image(frames, previous), self.preprocessing)
            feats = torch.cat([feats, self.model.backbone(change)], dim=-1)
        return feats

    def clip_logits(self, batch: Dict[str, Any]) -> torch.Tensor:
        """Logits of every clip: [B,K,C] from batch["features"] [B,K,T,D] or batch["frames"] [B,K,T,h,w,3]
        (with the motion stream also batch["previous_frames"], the frame before each)."""
        if "features" in batch:
            feats = self.cached_frame_features(batch["features"])
        else:
            feats = self.frame_features(batch["frames"], batch.get("previous_frames"))
        b, k, t, d = feats.shape
        return self.model.classify_features(feats.reshape(b * k, t, d)).view(b, k, -1)

    def cached_frame_features(self, cached: Union[np.ndarray, torch.Tensor]) -> torch.Tensor:
        """Per-frame features [...,D] (float32) from what the feature cache serves [...,F] (a tensor stays on its
        device, an array goes to the module's): the features themselves for a frozen backbone; with
        `trainable_stages`, the frozen stages' flattened maps run through the trained top stages and pooling
        (with gradients when they are enabled, else in chunks of frames)."""
        backbone: Backbone = self.model.backbone
        as_tensor = (lambda rows: rows.float()) if isinstance(cached, torch.Tensor) else (  # noqa: E731
            lambda rows: torch.from_numpy(np.asarray(rows, dtype=np.float32)).to(self.device))
        if not backbone.trainable_stages:
            return as_tensor(cached)
        shape = backbone.stage_map_shape()
        size = shape[0] * shape[1] * shape[2]
        lead = tuple(cached.shape[:-1])
        if cached.shape[-1] != size:
            raise ValueError(f"cached rows of {cached.shape[-1]} values are not the frozen stages' maps "
                             f"{'x'.join(map(str, shape))} of this model (model.trainable_stages "
                             f"{backbone.trainable_stages}): a cache of another cut point or backbone")
        rows = cached.reshape(-1, size)
        if not len(rows):
            return torch.zeros(*lead, backbone.feature_dim, device=self.device)
        chunk = len(rows) if torch.is_grad_enabled() else INFERENCE_FRAME_CHUNK
        parts = [backbone.top_features(as_tensor(rows[i:i + chunk]).view(-1, *shape))
                 for i in range(0, len(rows), chunk)]
        return torch.cat(parts).view(*lead, -1)

    def video_probabilities(self, batch: Dict[str, Any]) -> torch.Tensor:
        """Class probabilities of each video [B,C], averaged over its K clips."""
        return self.clip_logits(batch).float().softmax(dim=-1).mean(dim=1)

    def window_probabilities(self, frame_features: torch.Tensor, window_index: torch.Tensor,
                             chunk: int = 256) -> torch.Tensor:
        """Probabilities of many windows of one video [W,C] from the backbone features of its distinct
        frames [U,D] and each window's clip as indices into them [W,T]."""
        clips = frame_features[window_index]  # [W,T,D]
        return torch.cat([
            self.model.classify_features(clips[i:i + chunk]).float().softmax(-1) for i in range(0, len(clips), chunk)
        ])

    def _timeline_step(self, batch: Dict[str, Any]) -> Dict[str, Any]:
        """Timeline videos arrive as chunks of their distinct frames, then their row: features accumulate
        per video (frames are never all held), and the row's item gets the probabilities of all windows."""
        video = batch["video"]
        if "frame_chunk" in batch:
            chunk, previous = batch["frame_chunk"], None
            if self.preprocessing.rgb_diff:  # the stream holds each clip frame's predecessor: the row before it
                previous = torch.cat([self._timeline_last.get(video, chunk[:1]), chunk[:-1]])
                self._timeline_last[video] = chunk[-1:]
            self._timeline_features.setdefault(video, []).append(self.frame_features(chunk, previous))
        out: Dict[str, Any] = {"items": batch["items"]}
        parts = self._timeline_features.pop(video, []) if batch["items"] else []
        if batch["items"]:
            self._timeline_last.pop(video, None)
        if "window_index" in batch:
            out["window_probs"] = self.window_probabilities(torch.cat(parts), batch["window_index"]).cpu()
        return out

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """uint8 frames [B,T,h,w,3] (already resized and cropped) -> logits [B,C]."""
        return self.clip_logits({"frames": frames.unsqueeze(1)})[:, 0]

    # ------------------------------------------------------------------ steps

    def _report_errors(self, batch: Dict[str, Any]) -> bool:
        """Log unreadable videos of the batch; True when nothing readable is left in it."""
        for error in batch.get("errors", []):
            if error not in self.skipped_videos:
                self.skipped_videos.append(error)
                log.warning("skipped unreadable video: %s", error)
        return "label" not in batch

    def training_step(self, batch: Dict[str, Any], batch_idx: int) -> Optional[torch.Tensor]:
        if self._report_errors(batch):
            return None
        logits = self.clip_logits(batch)[:, 0]
        loss = F.cross_entropy(logits, batch["label"], label_smoothing=self.hparams.label_smoothing)
        acc = (logits.argmax(-1) == batch["label"]).float().mean()
        size = len(batch["label"])
        # sync_dist: under DDP every process logs the mean over all of them.
        self.log("train/loss", loss, prog_bar=True, on_step=True, on_epoch=True, batch_size=size, sync_dist=True)
        self.log("train/acc", acc, prog_bar=True, on_step=False, on_epoch=True, batch_size=size, sync_dist=True)
        return loss

    def _eval_state(self, stage: str) -> tuple:
        """The metrics and the mean loss of "val" or "test"."""
        return (self.val_metrics, self.val_loss) if stage == "val" else (self.test_metrics, self.test_loss)

    def _eval_step(self, batch: Dict[str, Any], stage: str) -> Optional[Dict[str, torch.Tensor]]:
        """Update the stage's metrics; returns the batch's per-video probabilities [B,C], labels [B] and
        record indices [B] (what callbacks such as dashboards.Dashboards read), None when nothing was readable."""
        if self._report_errors(batch):
            return None
        probs = self.video_probabilities(batch)
        losses = F.nll_loss(probs.clamp_min(1e-8).log(), batch["label"], reduction="none")  # [B]
        metrics, mean_loss = self._eval_state(stage)
        metrics.update(probs, batch["label"])
        mean_loss.update(losses)
        if stage == "test":  # the confusion of the decision the checkpoint makes (its threshold when it has one)
            self.test_confusion.update(self.decide(probs), batch["label"])
        elif len(self.class_names) == 2:
            self._val_scores.append(torch.cat([probs.detach().float(), batch["label"][:, None].float()], 1).cpu())
        return {"probs": probs.detach(), "labels": batch["label"], "indices": batch["index"]}

    def _log_eval_epoch(self, stage: str) -> None:
        """Log the epoch's val or test loss and metrics over every video of the split, each counted once.

        Computed here on every process (torchmetrics sums the states of all of them; the data module
        gives each process distinct videos, no padding duplicates), so a process whose batches were
        all unreadable still takes part, and every process logs the same global values.
        """
        metrics, mean_loss = self._eval_state(stage)
        values = {f"{stage}/loss": mean_loss.compute(), **metrics.compute()}
        metrics.reset()
        mean_loss.reset()
        if torch.isnan(values[f"{stage}/loss"]):  # no readable video on any process
            return
        self.log_dict(values, prog_bar=stage == "val", sync_dist=True)  # equal on every process already

    def on_validation_epoch_end(self) -> None:
        self._log_eval_epoch("val")
        scores, self._val_scores = self._val_scores, []
        if not self.trainer.sanity_checking and scores:
            self._choose_threshold(torch.cat(scores))

    def _choose_threshold(self, scores: torch.Tensor) -> None:
        """The operating threshold of this validation's probabilities (every process's videos), kept for the
        checkpoints saved after it: the best checkpoint holds the threshold of its own weights."""
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            parts: List[Any] = [None] * dist.get_world_size()
            dist.all_gather_object(parts, scores)
            scores = torch.cat(parts)
        positive = default_positive(self.class_names)
        scores = scores.numpy()
        chosen = choose_threshold(scores[:, positive], scores[:, 2] == positive, self.hparams.threshold_objective)
        self.threshold = {"positive": self.class_names[positive], **chosen} if chosen else None

    def decide(self, probs: torch.Tensor) -> torch.Tensor:
        """The predicted class [B] of probabilities [B,C] (pipeline.core.decision: the operating threshold of two
        classes when there is one, else the most probable class), as predict.py labels."""
        decided = decide_labels(probs.detach().float().cpu().numpy(), self.class_names, self.threshold)
        return torch.from_numpy(decided).to(probs.device)

    def validation_step(self, batch: Dict[str, Any], batch_idx: int) -> Optional[Dict[str, torch.Tensor]]:
        return self._eval_step(batch, "val")

    def test_step(self, batch: Dict[str, Any], batch_idx: int) -> Optional[Dict[str, torch.Tensor]]:
        return self._eval_step(batch, "test")

    def predict_step(self, batch: Dict[str, Any], batch_idx: int) -> Dict[str, Any]:
        """Per-video probabilities of the readable videos of a batch (timeline batches: per window)."""
        if "video" in batch:
            return self._timeline_step(batch)
        out: Dict[str, Any] = {"items": batch["items"]}
        if "frames" in batch:
            out["probs"] = self.video_probabilities(batch).float().cpu()
        return out

    def on_test_epoch_end(self) -> None:
        self._log_eval_epoch("test")
        self.test_confusion_result = self.test_confusion.compute().cpu()
        self.test_confusion.reset()
        if not self.trainer.is_global_zero:
            return
        for logger in self.trainer.loggers:  # the loggers that show images
            if isinstance(logger, TensorBoardLogger):
                figure = confusion_figure(self.test_confusion_result.numpy(), self.class_names)
                logger.experiment.add_figure("test/confusion_matrix", figure, self.global_step)

    # ------------------------------------------------------------------ optimisation

    def configure_optimizers(self):
        hp = self.hparams
        groups = [{"params": [p for p in self.model.head.parameters() if p.requires_grad], "lr": hp.lr}]
        backbone_params = [p for p in self.model.backbone.parameters() if p.requires_grad]
        if backbone_params:
            groups.append({"params": backbone_params, "lr": hp.backbone_lr})
        optimizer = torch.optim.AdamW(groups, weight_decay=hp.weight_decay)
        if hp.scheduler == "none":
            return optimizer
        # Cosine over the optimizer steps of the whole run, however it is bounded (max_epochs or
        # max_steps): a tiny dataset's 2 steps per epoch still get a full decay.
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, self._cosine_factor)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def set_run_length(self, steps: int) -> None:
        """The optimizer steps of the whole run (the cosine's length), for a loop other than Lightning's
        (pipeline/recipes/head_fit.py); under a Trainer it is asked of the trainer."""
        self._total_steps = max(1, int(steps))

    def _cosine_factor(self, step: int) -> float:
        # The run's length is asked for at the first step, not when the optimizer is made: asking then
        # sets the training data up before a resumed run's state is restored, and the resumed run
        # would then draw other batches than the uninterrupted one.
        if step == 0:
            return 1.0
        if self._total_steps is None:
            steps = self.trainer.estimated_stepping_batches if self._trainer is not None else 1
            self._total_steps = int(steps) if math.isfinite(steps) and steps > 0 else 1
        return 0.5 * (1.0 + math.cos(math.pi * min(step, self._total_steps) / self._total_steps))

    def on_fit_start(self) -> None:
        # Recurrent gradients underflow into denormal floats, which x86 CPUs handle up to
        # 100x slower; flushing them to zero changes no result that matters.
        torch.set_flush_denormal(True)

    def on_load_checkpoint(self, checkpoint: Dict[str, Any]) -> None:
        # The backbone was rebuilt without its pretrained weights, which for some torchvision
        # weights means another recipe: the checkpoint's own preprocessing is the truth.
        if "preprocessing" in checkpoint:
            self.model.backbone.preprocessing = Preprocessing.from_dict(checkpoint["preprocessing"])
            stale = Preprocessing.stale_fit(checkpoint["preprocessing"])
            if stale:
                log.warning("checkpoint: %s", stale)
        self.threshold = checkpoint.get("threshold")
        self.event_points = checkpoint.get("event_points")

    def on_save_checkpoint(self, checkpoint: Dict[str, Any]) -> None:
        # Stored explicitly so that a checkpoint alone says how frames must be prepared.
        checkpoint["preprocessing"] = self.preprocessing.to_dict()
        checkpoint["class_names"] = self.class_names
        if self.threshold is not None:
            checkpoint["threshold"] = self.threshold
        if self.event_points is not None:
            checkpoint["event_points"] = self.event_points
