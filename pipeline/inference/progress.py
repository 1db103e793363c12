"""The progress bar of a prediction run, counted in videos."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytorch_lightning as pl

if TYPE_CHECKING:
    from pipeline.inference.datamodule import PredictDataModule


class VideoProgressBar(pl.Callback):
    """A tqdm progress bar counted in videos (all ranks together), with videos/s, shown by rank 0."""

    def __init__(self, data: PredictDataModule):
        self.data = data
        self.total = 0
        self.bar = None

    def on_predict_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.total = len(self.data.todo)
        if trainer.is_global_zero:
            from tqdm import tqdm

            self.bar = tqdm(total=self.total, unit="video", desc="predicting", dynamic_ncols=True)

    def on_predict_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        if self.bar is not None:
            self.bar.update(min(len(batch["items"]) * trainer.world_size, self.total - self.bar.n))

    def on_predict_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.bar is not None:
            self.bar.close()
