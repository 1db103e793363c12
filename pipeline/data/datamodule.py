"""The LightningDataModule: annotations -> splits -> clip datasets and loaders.

Annotations are read and checked when the module is built (unknown labels, missing files
and empty classes are reported before any training starts), so class names are known at once
and the CLI can hand them to the model. The model hands back what the loaders need through
`attach_model(preprocessing, feature_extractor)`, called before fit, validate or test. With a
frozen backbone as feature extractor and `cache_features`, frames are decoded and embedded once
per video (see pipeline.data.feature_cache) and the loaders serve features; with the frozen stages
of a backbone whose top trains (`model.trainable_stages`), they serve those stages' flattened maps
the same way; otherwise they serve uint8 frames that the model normalises on its device.
"""
from __future__ import annotations

import logging
import os
from collections import Counter
from functools import partial
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import pytorch_lightning as pl
import torch
from pytorch_lightning.overrides.distributed import UnrepeatedDistributedSampler
from torch.utils.data import DataLoader, Dataset, Sampler

from models.backbones import FeatureExtractor, FrozenStages
from models.preprocessing import Preprocessing
from pipeline.data.annotations import BACKGROUND, SPLIT_DEFAULTS, DatasetSplits, VideoRecord, build_splits
from pipeline.data.datasets import FeatureClipDataset, VideoClipDataset, check_feature_noise, collate_clips
from pipeline.data.event_windows import EVENT_WINDOW_DEFAULTS, EventWindowDataset, EventWindows
from pipeline.data.feature_cache import FeatureCache, precompute_features
from pipeline.data.feature_rate import FEATURE_RATE_DEFAULTS, CachedFeatures, FeatureRate
from pipeline.data.readers import DEFAULT_DECODE_TIMEOUT
from pipeline.data.sampling import SAMPLING_DEFAULTS, ClipSampler, build_sampler
from pipeline.data.video_check import check_videos
from pipeline.data.views import DEFAULT_VIEWS, check_views
from pipeline.data.workers import note_processes_per_node, resolve_num_workers

log = logging.getLogger(__name__)

DEMO_CONFIG = Path(__file__).resolve().parents[2] / "configs" / "demo.yaml"  # read when no --config is given
CONFIG_FLAGS = ("--config", "-c")  # the flags that name a config file, wherever train.py's configs are read


def split_config_files(args: Sequence[str]) -> Tuple[List[str], List[str]]:
    """The config files that `args` name (``--config F``, ``--config=F``, ``-c F``), and the other arguments."""
    configs: List[str] = []
    rest: List[str] = []
    items = iter(args)
    for arg in items:
        flag, eq, value = arg.partition("=")
        if flag in CONFIG_FLAGS:
            configs.append(value if eq else next(items, ""))
        else:
            rest.append(arg)
    return configs, rest
MIN_VAL_VIDEOS_PER_CLASS = 3  # fewer, and validation accuracy moves in steps too coarse to pick a checkpoint by


class VideoDataModule(pl.LightningDataModule):
    """Labelled videos -> train/val/test splits -> clip datasets (frames or cached features) and loaders."""

    # Long only by its signature and Args: LightningCLI makes the --data.* options and their help from them.
    def __init__(
        self,
        root: str = "data/demo/football",
        format: str = "folders",
        train_list: Optional[str] = None,
        val_list: Optional[str] = None,
        test_list: Optional[str] = None,
        class_list: Optional[str] = None,
        annotation_dir: Optional[str] = None,
        ucf_split: int = SPLIT_DEFAULTS.ucf_split,
        hmdb_split: int = SPLIT_DEFAULTS.hmdb_split,
        val_fraction: float = SPLIT_DEFAULTS.val_fraction,
        test_fraction: float = SPLIT_DEFAULTS.test_fraction,
        split_seed: int = SPLIT_DEFAULTS.seed,
        num_folds: Optional[int] = SPLIT_DEFAULTS.num_folds,
        fold: int = SPLIT_DEFAULTS.fold,
        group_by: Optional[str] = None,
        clip_len: int = SAMPLING_DEFAULTS.clip_len,
        sampler: str = SAMPLING_DEFAULTS.sampler,
        frame_stride: int = SAMPLING_DEFAULTS.frame_stride,
        test_clips: int = SAMPLING_DEFAULTS.num_clips,
        pad: str = SAMPLING_DEFAULTS.pad,
        temporal_jitter: float = SAMPLING_DEFAULTS.temporal_jitter,
        sampling_mode: str = SAMPLING_DEFAULTS.mode,
        cache_views: Sequence[str] = DEFAULT_VIEWS,
        feature_noise: float = 0.0,
        backend: str = "auto",
        decode_timeout: float = DEFAULT_DECODE_TIMEOUT,
        batch_size: int = 8,
        num_workers: Optional[int] = None,
        cache_features: bool = True,
        cache_dir: str = ".cache/features",
        cache_fps: Optional[float] = FEATURE_RATE_DEFAULTS.fps,
        cache_max_frames: Optional[int] = FEATURE_RATE_DEFAULTS.max_frames,
        check_videos: bool = False,
        window: float = EVENT_WINDOW_DEFAULTS.window,
        stride: float = EVENT_WINDOW_DEFAULTS.stride,
        background_ratio: float = EVENT_WINDOW_DEFAULTS.background_ratio,
    ):
        """
        Args:
            root: the videos; for "folders" root/<class>/<video> (or root/{train,val,test}/<class>/...).
            format: "folders", "list" (lines `relative/path label`), "ucf101" or "hmdb51" (official split
                files), or "events": long videos and the times of their events (train_list / val_list /
                test_list are events CSVs `video,label,start,end`, ActivityNet JSON or SoccerNet folders);
                training windows are cut from each video's cached features (pipeline.data.event_windows).
            train_list / val_list / test_list: list files for format "list"; a missing val or
                test split is carved from train by a seeded stratified split.
            class_list: class names, one per line or `index name` (optional for "list").
            num_folds / fold: k-fold cross-validation (scripts/crossval.py sets both): every video of
                the dataset is pooled, fold `fold` of `num_folds` stratified folds is the test split,
                and val is carved from the rest with `val_fraction`. null: the usual split.
            group_by: which videos belong together (one source video, person or session) and stay on
                one side of every split and fold: a column of a CSV list file (`path,label,source`: "source"),
                or a regular expression searched in each path relative to `root` whose first group names the
                group (`^(person[0-9]+)_`). null: each video alone (UCF101 and HMDB51 group their source videos).
            annotation_dir: folder with classInd.txt and train/testlist0N.txt for "ucf101"; with the
                <class>_test_split<N>.txt files (testTrainMulti_7030_splits) for "hmdb51".
            ucf_split / hmdb_split: the official split (1, 2 or 3) of "ucf101" / "hmdb51"; val is carved
                from its training videos keeping the clips of one source video together.
            clip_len: frames per clip (T).
            sampler: "segment" (TSN: T segments, random frame in training, centre in evaluation)
                or "window" (contiguous frames `frame_stride` apart, random start in training).
            test_clips: clips per video at validation and test time (K), probabilities averaged.
            pad: how videos shorter than a clip are filled: "loop" or "repeat_last".
            temporal_jitter: in training, each clip of the "segment" sampler covers a random part of
                the video, its length a fraction drawn from [1 - temporal_jitter, 1], at a random offset
                (speed and phase jitter); 0: the whole video. Evaluation is unchanged.
            sampling_mode: "exact" (the sampler's frames) or "efficient" (each moved to the nearest
                keyframe, where the decoder knows them: far less decoding on long-GOP files, fewer distinct
                frames per clip; docs/inference.md). Stored in the checkpoint, so predict.py samples the same
                way. Frames decoded for a clip follow it; the feature cache stores the frames its rate picks.
            cache_views: spatial views of each frame that training draws from, one per clip per epoch:
                "plain", "flip" (mirrored), "zoom" (centre 80%), "left" / "right" (the left / right 80% of
                the width), cut from the decoded frame (the motion window under the "motion" fit) before the
                preprocessing's crop, pad or stretch.
                Validation and test always see "plain". With the feature cache every listed view (and
                plain) is embedded and stored: the cache's CNN time and disk grow with the number of
                views (adding one embeds only that view); without it (fine-tuning, cache_features
                false) the view is applied to the decoded frames on the fly.
            feature_noise: cached features only: in training, Gaussian noise of this standard deviation,
                relative to each feature dimension's spread (its std over every cached frame of the
                training videos), is added to every frame's features; 0: none. No effect without the cache,
                nor on the cached maps of model.trainable_stages.
            backend: video decoder: "auto", "decord", "opencv", "pyav", "nvdec" (GPU), or a custom reader as
                "package.module:ClassName". Decoding runs in a child process per loader worker; a file
                this decoder cannot read (it fails, crashes or hangs) is tried with the other installed ones.
            decode_timeout: seconds the decoder may take to answer one request (open a file, read a
                clip or a chunk of frames) before the file counts as hung and is skipped.
            num_workers: loader workers, each decoding with one thread; null: one per CPU core
                this process may use (at most 16).
            check_videos: before anything else, decode every video once (the check of
                scripts/check_videos.py, verdicts cached in `cache_dir`/video_check.json) and leave the
                unusable ones out of their split, each named in a warning.
            cache_features: with a frozen backbone, embed each video's frames once and train the
                temporal head on cached features; with model.trainable_stages, cache the frozen stages'
                maps and train the top stages and the head on them (no effect when fine-tuning whole).
            cache_fps / cache_max_frames: the cache embeds at most this many frames per second of
                video / per video, evenly spread (null: no cap; both null: every frame); a clip's
                frames are then served by the nearest stored ones. The window sampler keeps its
                `frame_stride` spacing whatever the cap. Changing either makes new cache entries.
                Format "events" caches clip_len frames per window second, with no cap per video.
            window / stride: format "events": windows of `window` seconds every `stride` seconds cut from
                each long video (the timeline's windows at inference, stored in the checkpoint).
            background_ratio: format "events": background windows drawn per event window each training
                epoch (afresh every epoch; validation and test see every window).
        """
        super().__init__()
        self.save_hyperparameters()
        self.root = Path(root)
        self.backend = backend
        self.decode_timeout = decode_timeout
        self.batch_size = batch_size
        self._num_workers = resolve_num_workers(num_workers) if num_workers is not None else None
        self.cache_features = cache_features
        self.cache_dir = cache_dir
        self.cache_rate = FeatureRate(cache_fps, cache_max_frames,
                                      max_step=frame_stride if sampler == "window" else None)
        self.check_videos = check_videos
        self._checked = False
        self.splits: DatasetSplits = build_splits(
            format,
            root,
            train_list=train_list,
            val_list=val_list,
            test_list=test_list,
            class_list=class_list,
            ucf_split=ucf_split,
            hmdb_split=hmdb_split,
            annotation_dir=annotation_dir,
            val_fraction=val_fraction,
            test_fraction=test_fraction,
            seed=split_seed,
            num_folds=num_folds,
            fold=fold,
            group_by=group_by,
        )
        self.cache_views = check_views(cache_views)
        self.feature_noise = check_feature_noise(feature_noise)
        self.train_sampler: ClipSampler = build_sampler(sampler, clip_len, 1, frame_stride, pad, temporal_jitter,
                                                        sampling_mode)
        self.eval_sampler: ClipSampler = build_sampler(sampler, clip_len, test_clips, frame_stride, pad,
                                                       mode=sampling_mode)
        self.event_windows: Optional[EventWindows] = None
        if self.splits.events:
            self.event_windows = EventWindows(window, stride, background_ratio)
            self.cache_rate = self.event_windows.rate(clip_len)
            self.train_sampler = self.eval_sampler = build_sampler(sampler, clip_len, 1, frame_stride, pad,
                                                                   mode=sampling_mode)
        self.preprocessing: Optional[Preprocessing] = None  # set by attach_model
        self.feature_extractor: Optional[FeatureExtractor] = None  # set by attach_model
        self.datasets: Dict[str, Dataset] = {}
        self.window_counts: Dict[str, Dict[str, Any]] = {}  # format "events": windows per class, by split
        log.info("dataset %s:\n%s", root, self.splits.summary())
        self._warn_small_validation()

    def _warn_small_validation(self) -> None:
        """Name the classes with too few validation videos to choose a checkpoint by."""
        if self.splits.events:
            return
        counts = Counter(r.label for r in self.splits.val)
        few = [f"{name} ({counts.get(i, 0)})" for i, name in enumerate(self.class_names)
               if counts.get(i, 0) < MIN_VAL_VIDEOS_PER_CLASS]
        if few:
            log.warning("validation has fewer than %d videos of class %s: the best checkpoint is picked on very "
                        "few clips; give a larger val split (data.val_fraction, data.val_list)",
                        MIN_VAL_VIDEOS_PER_CLASS, ", ".join(few))

    @property
    def num_workers(self) -> int:
        """Loader workers: the option, or one per core of this process's share of the machine (read when
        needed, so that DDP processes started by Lightning know how many share it)."""
        return self._num_workers if self._num_workers is not None else resolve_num_workers(None)

    @property
    def class_names(self) -> List[str]:
        """Label names in index order (the CLI links them to the model)."""
        return list(self.splits.class_names)

    @property
    def sampling(self) -> Dict[str, Any]:
        """How clips are taken at evaluation, as a checkpoint stores it for inference; trained from event times,
        also the windows (`events`: window, stride, the background class), the timeline's defaults."""
        sampling = {"sampler": self.eval_sampler.to_config(), "backend": self.backend}
        if self.event_windows is not None:
            sampling["events"] = {"window": self.event_windows.window, "stride": self.event_windows.stride,
                                  "background": BACKGROUND}
        return sampling

    def _records(self, stage: str) -> List[VideoRecord]:
        return {"train": self.splits.train, "val": self.splits.val, "test": self.splits.test}[stage]

    def attach_model(self, preprocessing: Preprocessing, feature_extractor: Optional[FeatureExtractor] = None
                     ) -> None:
        """Hand the data module what it needs from the model; call it before fit, validate or test.

        Args:
            preprocessing: the backbone's resize and crop, applied to decoded frames in the loaders.
            feature_extractor: the frozen backbone when its features may be cached (with
                `cache_features`, each video is then embedded once in `setup`), the backbone's frozen
                stages when only its top trains (their maps are cached the same way), else None: the
                model's `frozen_backbone`.

        Datasets already built for another model are dropped and rebuilt at the next `setup`.
        """
        if feature_extractor is not None and not feature_extractor.frozen:
            raise ValueError("feature_extractor must be a frozen backbone (a trainable one's features change)")
        if preprocessing != self.preprocessing or feature_extractor is not self.feature_extractor:
            self.datasets = {}
        self.preprocessing = preprocessing
        self.feature_extractor = feature_extractor

    def setup(self, stage: str) -> None:
        """Build the datasets of `stage` ("fit", "validate" or "test") once; needs `attach_model` first."""
        if self.preprocessing is None:
            raise RuntimeError(
                "VideoDataModule.setup needs the model's preprocessing: call "
                "data.attach_model(model.preprocessing, model.frozen_backbone) before fit, validate or test"
            )
        note_processes_per_node(self.trainer)
        if self.check_videos and not self._checked:
            self._leave_out_unusable_videos()
        stages = {"fit": ["train", "val"], "validate": ["val"], "test": ["test"]}.get(stage, [])
        for name in stages:
            if name in self.datasets:
                continue
            records = self._records(name)
            training = name == "train"
            sampler = self.train_sampler if training else self.eval_sampler
            if self.event_windows is not None:
                self.datasets[name] = self._event_dataset(name, records, training)
            elif self.cache_features and self.feature_extractor is not None:
                with torch.random.fork_rng(devices=[]):  # the same random draws follow, cached or not
                    features, errors = self._cached_features(records, self.cache_views if training else DEFAULT_VIEWS)
                for error in errors.values():
                    log.warning("unreadable video left out of %s: %s", name, error)
                self.datasets[name] = FeatureClipDataset(records, features, sampler, training, errors,
                                                         self.cache_views, self._feature_noise(training))
            else:
                self.datasets[name] = VideoClipDataset(records, sampler, self.preprocessing, training, self.backend,
                                                       self.decode_timeout, self.cache_views)

    def _feature_noise(self, training: bool) -> float:
        """`feature_noise`, or 0 on the maps of frozen stages (model.trainable_stages), which it is not for."""
        if self.feature_noise and isinstance(self.feature_extractor, FrozenStages):
            if training:
                log.warning("data.feature_noise %g has no effect with model.trainable_stages: the cache holds the "
                            "frozen stages' maps, not features", self.feature_noise)
            return 0.0
        return self.feature_noise

    def _event_dataset(self, name: str, records: List[VideoRecord], training: bool) -> EventWindowDataset:
        """The labelled windows of the long videos of split `name`, from their cached features."""
        if not (self.cache_features and self.feature_extractor is not None):
            raise ValueError("format 'events' trains on cached features: keep data.cache_features true and the "
                             "backbone frozen (model.freeze_backbone true)")
        with torch.random.fork_rng(devices=[]):
            features, errors = self._cached_features(records)
        for error in errors.values():
            log.warning("unreadable video left out of %s: %s", name, error)
        dataset = EventWindowDataset([self.splits.events[r.path] for r in records], features, self.eval_sampler,
                                     self.event_windows, self.class_names, training)
        counts = dataset.counts(self.class_names)
        log.info("%s windows (%gs every %gs): %s; background %.0f%% of them%s", name, self.event_windows.window,
                 self.event_windows.stride, ", ".join(f"{k} {v}" for k, v in counts["windows"].items()),
                 100 * counts["background_share"],
                 f", {counts['background_per_epoch']} drawn afresh each epoch beside every event window"
                 if training else "")
        self.window_counts[name] = counts
        return dataset

    def event_videos(self, name: str) -> List[Tuple[Any, Optional[CachedFeatures]]]:
        """The long videos of split `name` with their cached features (None: unreadable), once setup ran."""
        dataset = self.datasets[name]
        return list(zip(dataset.videos, dataset.features))

    def _leave_out_unusable_videos(self) -> None:
        """Check every video once (rank 0 checks, the others read its cached verdicts) and drop the
        unusable ones from the splits, naming each."""
        splits = self.splits
        paths = [r.path for r in splits.train + splits.val + splits.test]
        cache = Path(self.cache_dir) / "video_check.json"
        trainer = self.trainer
        check = partial(check_videos, backend=self.backend, clip_len=self.eval_sampler.clip_len,
                        timeout=self.decode_timeout, cache_path=cache)
        if trainer is not None and trainer.world_size > 1:
            if trainer.is_global_zero:
                check(paths, workers=self.num_workers)
            trainer.strategy.barrier("video-check")
        unusable = {c.path: c for c in check(paths, workers=self.num_workers) if not c.usable}
        for check_result in unusable.values():
            log.warning("left out: %s: %s (%s)", check_result.path, check_result.status, check_result.reason)
        keep = lambda records: [r for r in records if os.fspath(r.path) not in unusable]  # noqa: E731
        splits.train, splits.val, splits.test = keep(splits.train), keep(splits.val), keep(splits.test)
        self._checked = True

    def feature_cache(self, device: Optional[torch.device] = None) -> FeatureCache:
        """The cache of the attached frozen backbone's features (or frozen stages' maps) computed on `device`
        (its precision can depend on it; default: where the trainer runs, else the CPU), under this data's
        decoder and rate."""
        if self.feature_extractor is None:
            raise RuntimeError("feature_cache needs a frozen backbone: attach_model(preprocessing, backbone) first")
        if device is None:
            device = self.trainer.strategy.root_device if self.trainer is not None else torch.device("cpu")
        return FeatureCache(self.cache_dir, self.feature_extractor.fingerprint(device), self.backend, self.cache_rate)

    def _cached_features(self, records: List[VideoRecord], views: Sequence[str] = DEFAULT_VIEWS
                         ) -> Tuple[List[Optional[CachedFeatures]], Dict[int, str]]:
        """Per-frame features of every record under plain and `views`; under DDP each rank embeds its
        shard, then all read all."""
        backbone, cache = self.feature_extractor, self.feature_cache()
        trainer = self.trainer
        if trainer is None:  # used on its own, outside a Trainer
            return precompute_features(records, backbone, cache, backend=self.backend, num_workers=self.num_workers,
                                       decode_timeout=self.decode_timeout, views=views)
        features, errors = precompute_features(
            records,
            backbone,
            cache,
            backend=self.backend,
            device=trainer.strategy.root_device,
            num_workers=self.num_workers,
            shard=(trainer.global_rank, trainer.world_size),
            progress=trainer.is_global_zero,
            decode_timeout=self.decode_timeout,
            views=views,
        )
        trainer.strategy.barrier("feature-cache")
        if trainer.world_size > 1:  # other ranks' entries are complete now
            features, errors = precompute_features(records, backbone, cache, progress=False, compute=False,
                                                   views=views)
        return features, errors

    def _loader(self, name: str) -> DataLoader:
        dataset = self.datasets[name]
        in_memory = isinstance(dataset, (FeatureClipDataset, EventWindowDataset))  # workers would only add overhead
        workers = 0 if in_memory else self.num_workers
        training = name == "train"
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            shuffle=training,
            sampler=None if training else self._eval_sampler(dataset),
            num_workers=workers,
            collate_fn=collate_clips,
            # Training workers start afresh each epoch, seeded from torch's generator, which a resumed run
            # restores (callbacks.RandomState); evaluation draws nothing from it (its own generator).
            persistent_workers=workers > 0 and not training,
            generator=None if training else torch.Generator(),
            pin_memory=torch.cuda.is_available(),  # page-locked batches copy to the GPU without blocking
        )

    def _eval_sampler(self, dataset: Dataset) -> Optional[Sampler]:
        """Under DDP, distinct videos for each process and none twice, so that metrics count each video
        once (Lightning's own DistributedSampler would pad the split with duplicates); else None."""
        trainer = self.trainer
        if trainer is None or trainer.world_size == 1:
            return None
        return UnrepeatedDistributedSampler(dataset, num_replicas=trainer.world_size, rank=trainer.global_rank,
                                            shuffle=False)

    def train_dataloader(self) -> DataLoader:
        return self._loader("train")

    def val_dataloader(self) -> DataLoader:
        return self._loader("val")

    def test_dataloader(self) -> DataLoader:
        return self._loader("test")
