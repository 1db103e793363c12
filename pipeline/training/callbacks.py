"""Training callbacks of our own.

`LastCheckpoint` writes `last.ckpt` after every training epoch. Lightning's ModelCheckpoint
refreshes its "last" file only in epochs that also saved a best checkpoint, so after a run
whose validation score stopped improving it would resume from an older epoch; an interrupted
run must lose at most the epoch in progress. The file is written beside its destination and
renamed into place, so a kill during the save leaves the previous one intact. It is written
after every other callback's end-of-epoch work, ModelCheckpoint's included: written before,
it would hold the best checkpoint of the epoch before, whose file ModelCheckpoint then deletes,
and a resumed run would go on to test a file that no longer exists.

`BestCheckpointLink` keeps `best.ckpt` beside `best-epochNN.ckpt`: a hard link to the best checkpoint
(a copy where the filesystem has no hard links), replaced atomically whenever the best changes, so
commands can name the best model without knowing its epoch. A link to a file, not to a name: when
ModelCheckpoint deletes the previous best, best.ckpt still holds it until it is pointed at the new one.

`RandomState` keeps the random generators' states in every checkpoint, so that a run resumed
from last.ckpt draws the same clips, order and dropout as the uninterrupted run would have.
"""
from __future__ import annotations

import logging
import os
import random
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback, Checkpoint, ModelCheckpoint

log = logging.getLogger(__name__)


class LastCheckpoint(Checkpoint):
    """Writes `last.ckpt` atomically after every training epoch, so a resumed run loses at most one.

    A `Checkpoint` so that Lightning calls its end-of-epoch hook with the checkpoint and early-stopping
    callbacks, after all others and the module's own; `setup` then moves it behind those too.
    """

    def __init__(self, filename: str = "last.ckpt", dirpath: Optional[str] = None):
        self.filename = filename
        self.dirpath = dirpath

    def path(self, trainer: pl.Trainer) -> Path:
        """Where last.ckpt goes: `dirpath`, else beside the best checkpoints, else under the log dir."""
        if self.dirpath:
            return Path(self.dirpath) / self.filename
        best = next((cb for cb in trainer.checkpoint_callbacks if isinstance(cb, ModelCheckpoint)), None)
        if best is not None and best.dirpath:
            return Path(best.dirpath) / self.filename
        return Path(trainer.log_dir or trainer.default_root_dir) / "checkpoints" / self.filename

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        # Last of all callbacks, so the state it saves is the epoch's final one. The list is rebound,
        # not changed in place: Lightning is iterating over it while it calls this hook.
        trainer.callbacks = [cb for cb in trainer.callbacks if cb is not self] + [self]

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        final = self.path(trainer)
        tmp = final.with_name(f".{final.name}.tmp")
        if trainer.is_global_zero:
            final.parent.mkdir(parents=True, exist_ok=True)
        trainer.save_checkpoint(str(tmp), weights_only=False)  # collective: every rank takes part, rank 0 writes
        if trainer.is_global_zero:
            os.replace(tmp, final)
        trainer.strategy.barrier("last-checkpoint")


class BestCheckpointLink(Checkpoint):
    """Keeps `best.ckpt` beside ModelCheckpoint's best checkpoint, the same file under a stable name.

    A `Checkpoint` that moves itself behind all callbacks (as `LastCheckpoint` does), so it sees the
    best checkpoint that ModelCheckpoint has just written; it looks after every validation, every
    training epoch and at the end of fit. Global rank 0 writes.
    """

    def __init__(self, filename: str = "best.ckpt"):
        self.filename = filename

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        trainer.callbacks = [cb for cb in trainer.callbacks if cb is not self] + [self]

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.sanity_checking:
            self.refresh(trainer)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.refresh(trainer)

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.refresh(trainer)

    def refresh(self, trainer: pl.Trainer) -> Optional[Path]:
        """Point best.ckpt at the current best checkpoint when it changed; returns best.ckpt's path."""
        best = next((cb.best_model_path for cb in trainer.checkpoint_callbacks
                     if isinstance(cb, ModelCheckpoint) and cb.best_model_path), "")
        if not best or not trainer.is_global_zero or not Path(best).is_file():
            return None
        source = Path(best)
        target = source.with_name(self.filename)
        if target != source and not _same_content(source, target):
            link_or_copy(source, target)
        return target


def _same_content(source: Path, target: Path) -> bool:
    """Whether `target` is `source` (a hard link) or a copy of its current version (size and mtime)."""
    if not target.is_file():
        return False
    if os.path.samefile(source, target):
        return True
    a, b = source.stat(), target.stat()
    return (a.st_size, a.st_mtime_ns) == (b.st_size, b.st_mtime_ns)


def link_or_copy(source: Path, target: Path) -> None:
    """Replace `target` atomically with a hard link to `source`, or a copy where links are not possible."""
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.unlink(missing_ok=True)
    try:
        os.link(source, tmp)
    except OSError:  # no hard links here (some network and FUSE filesystems): a copy, mtime kept
        shutil.copy2(source, tmp)
    os.replace(tmp, target)


class RandomState(Callback):
    """Saves each process's random generators in every checkpoint and restores them when a run resumes.

    Without them a resumed run draws other clips, another shuffling order and other dropout masks
    than the uninterrupted run did. The states are those of Python's `random`, NumPy's global
    generator and torch (CPU, and the current CUDA device when CUDA is in use); the training
    loader's shuffling and worker seeds come from torch's, so they follow. They are taken when
    the checkpoint is written (after the epoch's validation) and put back when the resumed fit
    starts, after the model, data and feature cache are set up and before the first batch is drawn
    (Lightning runs its sanity check with the random states isolated).
    Under DDP every rank's states are kept (the gathering is collective, like saving). Stored as
    plain data (tensors, numbers, tuples), so checkpoints stay loadable with `weights_only=True`.
    """

    def __init__(self) -> None:
        self._restore: Optional[List[Dict[str, Any]]] = None

    def state_dict(self) -> Dict[str, Any]:
        states = rng_states()
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            ranks: List[Any] = [None] * torch.distributed.get_world_size()
            torch.distributed.all_gather_object(ranks, states)
            return {"ranks": ranks}
        return {"ranks": [states]}

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
        self._restore = list(state_dict.get("ranks") or []) or None

    # Lightning restores callbacks before on_fit_start, and a resumed run draws its first training
    # batches (loader seed, shuffling, the first clips) before on_train_start; strategies that restore
    # after setup (FSDP, DeepSpeed) get the states at on_train_start, which is as early as they allow.
    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._apply(trainer)

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._apply(trainer)

    def _apply(self, trainer: pl.Trainer) -> None:
        if self._restore is None:
            return
        ranks, self._restore = self._restore, None
        if len(ranks) != trainer.world_size:
            log.warning("the checkpoint holds the random states of %d processes, this run has %d: "
                        "the resumed run will not repeat the interrupted one exactly", len(ranks), trainer.world_size)
        set_rng_states(ranks[trainer.global_rank % len(ranks)])


def rng_states() -> Dict[str, Any]:
    """This process's random generator states, as plain data (tensors, numbers, tuples)."""
    name, key, pos, has_gauss, gauss = np.random.get_state()
    states: Dict[str, Any] = {
        "python": random.getstate(),
        "numpy": {"name": name, "key": torch.from_numpy(key.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "gauss": float(gauss)},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["cuda"] = torch.cuda.get_rng_state()  # the current device: one per DDP process
    return states


def set_rng_states(states: Dict[str, Any]) -> None:
    """Put back the states `rng_states` returned."""
    version, internal, gauss_next = states["python"]
    random.setstate((version, tuple(internal), gauss_next))
    numpy_state = states["numpy"]
    key = numpy_state["key"].numpy().astype(np.uint32)
    np.random.set_state((numpy_state["name"], key, numpy_state["pos"], numpy_state["has_gauss"], numpy_state["gauss"]))
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state(states["cuda"])


@contextmanager
def kept_random_state() -> Iterator[None]:
    """Python's, NumPy's and torch's random generators come out as they went in."""
    states = rng_states()
    try:
        yield
    finally:
        set_rng_states(states)
