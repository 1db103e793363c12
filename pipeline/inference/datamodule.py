"""The data module of a prediction run: which videos still need a row, served to every rank."""
from __future__ import annotations

import logging
from typing import Callable, List, Optional, Sequence

import pytorch_lightning as pl
from torch.utils.data import DataLoader, Dataset

from pipeline.data.workers import note_processes_per_node, resolve_num_workers
from pipeline.inference.datasets import collate_predictions
from pipeline.inference.inputs import video_key
from pipeline.inference.output import PredictionTable

log = logging.getLogger(__name__)


class PredictDataModule(pl.LightningDataModule):
    """Decides, on every rank, which videos still need a row, and serves them.

    Rank 0 first folds part files left by a killed run into the output (and drops failed rows
    with `retry_failed`); after a barrier every rank reads the same output and so computes the
    same list, which Lightning's predict sampler then splits between ranks without repeats.
    A video is done when a row names the same file (`video_key`), however that row spelled it.
    """

    def __init__(
        self,
        videos: Sequence[str],
        table: PredictionTable,
        make_dataset: Callable[[List[str]], Dataset],
        batch_size: int,
        num_workers: Optional[int],
        retry_failed: bool,
        on_primary_setup: Optional[Callable[[], None]] = None,
    ):
        super().__init__()
        self.videos, self.table, self.make_dataset = list(videos), table, make_dataset
        self.batch_size, self.num_workers, self.retry_failed = batch_size, num_workers, retry_failed
        self.on_primary_setup = on_primary_setup
        self.todo: List[str] = []
        self.skipped = 0

    def setup(self, stage: str) -> None:
        if self.trainer.is_global_zero:
            self.table.merge_parts(drop_failed=self.retry_failed)
            if self.on_primary_setup is not None:
                self.on_primary_setup()
        self.trainer.strategy.barrier("predict-resume")
        done = {video_key(p) for p in self.table.done_paths()}
        self.todo = [v for v in self.videos if video_key(v) not in done]
        self.skipped = len(self.videos) - len(self.todo)
        if self.trainer.is_global_zero:
            log.info("%d videos, %d already in %s, %d to predict", len(self.videos), self.skipped, self.table.path,
                     len(self.todo))

    def predict_dataloader(self) -> DataLoader:
        workers = self.num_workers
        if workers is None:  # one per core of this process's share, never more than the videos to read
            note_processes_per_node(self.trainer)
            workers = min(resolve_num_workers(None), max(1, len(self.todo)))
        return DataLoader(
            self.make_dataset(self.todo),
            batch_size=self.batch_size,
            num_workers=workers,
            collate_fn=collate_predictions,
        )
