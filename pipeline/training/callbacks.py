"""Training callbacks of our own.

`LastCheckpoint` writes `last.ckpt` after every training epoch. Lightning's ModelCheckpoint
refreshes its "last" file only in epochs that also saved a best checkpoint, so after a run
whose validation score stopped improving it would resume from an older epoch; an interrupted
run must lose at most the epoch in progress. The file is written beside its destination and
renamed into place, so a kill during the save leaves the previous one intact.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import pytorch_lightning as pl
from pytorch_lightning.callbacks import Callback


class LastCheckpoint(Callback):
    """Writes `last.ckpt` atomically after every training epoch, so a resumed run loses at most one."""

    def __init__(self, filename: str = "last.ckpt", dirpath: Optional[str] = None):
        self.filename = filename
        self.dirpath = dirpath

    def path(self, trainer: pl.Trainer) -> Path:
        """Where last.ckpt goes: `dirpath`, else beside the best checkpoints, else under the log dir."""
        if self.dirpath:
            return Path(self.dirpath) / self.filename
        best = trainer.checkpoint_callback
        if best is not None and getattr(best, "dirpath", None):
            return Path(best.dirpath) / self.filename
        return Path(trainer.log_dir or trainer.default_root_dir) / "checkpoints" / self.filename

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        final = self.path(trainer)
        tmp = final.with_name(f".{final.name}.tmp")
        if trainer.is_global_zero:
            final.parent.mkdir(parents=True, exist_ok=True)
        trainer.save_checkpoint(str(tmp))  # collective: every rank takes part, rank 0 writes
        if trainer.is_global_zero:
            os.replace(tmp, final)
        trainer.strategy.barrier("last-checkpoint")
