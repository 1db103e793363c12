"""A callback that ends its own training process with SIGKILL, as `kill -9` would: nothing is
flushed or saved. Tests pass it to scripts/train.py by class path ("kill_switch.KillAt")."""
from __future__ import annotations

import os
import signal

import pytorch_lightning as pl
from pytorch_lightning.callbacks import Callback


class KillAt(Callback):
    """SIGKILLs the process after training batch `batch` of epoch `epoch` (0-based), mid-epoch."""

    def __init__(self, epoch: int, batch: int = 0):
        self.epoch = epoch
        self.batch = batch

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs, batch,
                           batch_idx: int) -> None:
        if trainer.current_epoch == self.epoch and batch_idx == self.batch:
            os.kill(os.getpid(), signal.SIGKILL)
