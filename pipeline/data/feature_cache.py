"""Per-frame features of a frozen backbone, computed once per video and kept on disk.

With a frozen CNN the features of a frame never change, so decoding and the backbone run
once per video; every epoch after that samples clips from the cached [M,D] arrays and only
the temporal head trains. Which frames are embedded is the cache's `FeatureRate` (by default a
cap per video, see pipeline.data.feature_rate), so the cost scales with what clips can use, not
with the file. Entries are keyed by the backbone's fingerprint (weights and preprocessing), the
decoder, the rate, and the video's path, size and modification time, and written atomically: the
features as `<key>.npy`, which frames they are as `<key>.frames.npz`.

Spatial views (`data.cache_views`, pipeline.data.views) are entries of their own beside the plain
one: `<key>.<view>.npy` and `<key>.<view>.frames.npz`. The plain entry is the same file whatever views
are asked for, and a video is decoded once for all the views it lacks, each view embedded by the CNN:
adding a view embeds only that view, and each view costs as much CNN time and disk as the plain one.

The motion stream (`Preprocessing.rgb_diff`) is one more entry beside the plain one,
`<key>.rgbdiff2.npy`: the features of each stored frame's difference from the frame before it (which
is decoded for it, and not stored). A model with the stream reads both, side by side ([M,2D]); one
without it reads the plain entry alone, so the two share the frames' own features.

A model whose CNN trains its last stages (`model.trainable_stages`) caches the output maps of its frozen
stages instead (`models.backbones.FrozenStages`): each stored frame's map [C,h,w], flattened to one row of
C*h*w values, float16 like features, in entries of their own (the extractor's fingerprint hashes the frozen
stages' weights and the cut point, never the trained top, and ends in `-top<N>`). Everything else (rates,
views, fill and skip, unreadable videos) is the same; each epoch then runs the trained stages on them.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from models.backbones import FeatureExtractor
from models.preprocessing import Preprocessing
from pipeline.atomic_io import atomic_path, temp_file_beside
from pipeline.console import FrameProgress
from pipeline.data.annotations import VideoRecord
from pipeline.data.feature_rate import FEATURE_RATE_DEFAULTS, CachedFeatures, FeatureRate
from pipeline.data.frame_stream import stream_frames
from pipeline.data.readers import (
    DEFAULT_DECODE_TIMEOUT,
    VideoReadError,
)
from pipeline.data.transforms import RGB_DIFF_GAIN, difference_image, normalize, with_previous
from pipeline.data.views import DEFAULT_VIEWS, PLAIN, ViewsResizeCrop, check_views

RGB_DIFF = f"rgbdiff{RGB_DIFF_GAIN}"  # the motion stream's entry (its name changes with what it holds)


class FeatureCache:
    """Per-frame features of videos on disk, one entry per video, keyed by backbone, decoder, rate and file."""

    def __init__(self, directory: os.PathLike, fingerprint: str, backend: str = "auto",
                 rate: FeatureRate = FEATURE_RATE_DEFAULTS):
        # Decoders can disagree by a frame, so features are kept per decoder too.
        suffix = "" if rate.every_frame else f"-{rate.key()}"
        self.directory = Path(directory) / f"{fingerprint}-{backend}{suffix}"
        self.directory.mkdir(parents=True, exist_ok=True)
        self.rate = rate

    def path_for(self, video: os.PathLike, view: str = PLAIN) -> Path:
        """The entry of `video` under `view`: a new one whenever the file's size or modification time changes."""
        stat = Path(video).stat()
        key = f"{Path(video).resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
        name = hashlib.sha1(key.encode()).hexdigest()[:24]
        return self.directory / (f"{name}.npy" if view == PLAIN else f"{name}.{view}.npy")

    def load(self, video: os.PathLike, views: Sequence[str] = DEFAULT_VIEWS,
             rgb_diff: bool = False) -> Optional[CachedFeatures]:
        """The cached entry of `video` (features memory-mapped) with the plain view and every one of
        `views`, or None when one of them is absent or unreadable. With `rgb_diff` the features are the
        plain view's and the motion stream's side by side (read into memory), [M,2D]."""
        plain = self._load_view(video, PLAIN)
        if plain is None:
            return None
        others = {}
        for view in check_stream_views(views, rgb_diff):
            if view != PLAIN:
                entry = self._load_view(video, view)
                if entry is None or not np.array_equal(entry.frames, plain.frames):
                    return None
                others[view] = entry.features
        features = plain.features
        if rgb_diff:
            motion = self._load_view(video, RGB_DIFF)
            if motion is None or not np.array_equal(motion.frames, plain.frames):
                return None
            features = np.concatenate([plain.features, motion.features], axis=1)
        return CachedFeatures(features, plain.frames, plain.num_frames, others)

    def missing_views(self, video: os.PathLike, views: Sequence[str] = DEFAULT_VIEWS,
                      rgb_diff: bool = False) -> Tuple[str, ...]:
        """Which of plain, `views` (and with `rgb_diff` the motion stream) `video` has no readable entry
        for, plain first."""
        wanted = dict.fromkeys((PLAIN, *check_stream_views(views, rgb_diff), *((RGB_DIFF,) if rgb_diff else ())))
        return tuple(view for view in wanted if self._load_view(video, view) is None)

    def _load_view(self, video: os.PathLike, view: str) -> Optional[CachedFeatures]:
        path = self.path_for(video, view)
        if not path.is_file():
            return None
        try:
            features = np.load(path, mmap_mode="r")
            with np.load(_frames_path(path)) as stored:
                frames, num_frames = stored["frames"].astype(np.int64), int(stored["num_frames"])
        except (ValueError, OSError, KeyError):  # a damaged entry is recomputed, not trusted
            return None
        if len(frames) != len(features) or not len(frames):
            return None
        return CachedFeatures(features, frames, num_frames)

    def save(self, video: os.PathLike, features: np.ndarray, frames: Optional[np.ndarray] = None,
             num_frames: Optional[int] = None, view: str = PLAIN) -> None:
        """Store the features of `video`'s `frames` (default: every frame) under `view`, atomically."""
        frames = np.arange(len(features)) if frames is None else np.asarray(frames)
        writer = self.writer(video, frames, len(frames) if num_frames is None else num_frames, features.shape[1], view)
        writer.write(features)
        writer.commit()

    def writer(self, video: os.PathLike, frames: np.ndarray, num_frames: int, dim: int,
               view: str = PLAIN) -> EntryWriter:
        """A writer that stores `video`'s float16 features [len(frames), dim] under `view` chunk by chunk."""
        return EntryWriter(self.path_for(video, view), frames, num_frames, dim)


def check_stream_views(views: Sequence[str], rgb_diff: bool) -> Tuple[str, ...]:
    """`views` checked (views.check_views); the motion stream has the plain view only."""
    views = check_views(views)
    if rgb_diff and views != (PLAIN,):
        raise ValueError(f"cache_views {', '.join(views)}: the motion stream (model.rgb_diff) is cached for the "
                         "plain view only; use cache_views [plain] with it")
    return views


def _frames_path(entry: Path) -> Path:
    return entry.with_name(f"{entry.stem}.frames.npz")  # <key>.frames.npz, <key>.<view>.frames.npz


class EntryWriter:
    """One cache entry written as its chunks of features arrive, so that memory holds one chunk
    however long the video; it appears under its name (atomically) only once complete."""

    def __init__(self, target: Path, frames: np.ndarray, num_frames: int, dim: int):
        self.target, self.frames, self.num_frames, self.rows = target, np.asarray(frames, np.int64), num_frames, 0
        fd, self.tmp = temp_file_beside(target)
        self.handle = os.fdopen(fd, "wb")
        header = {"descr": np.lib.format.dtype_to_descr(np.dtype(np.float16)), "fortran_order": False,
                  "shape": (len(self.frames), dim)}
        np.lib.format.write_array_header_1_0(self.handle, header)

    def write(self, features: np.ndarray) -> None:
        """Append float16 features [n, dim], in frame order."""
        self.handle.write(np.ascontiguousarray(features, dtype=np.float16).tobytes())
        self.rows += len(features)

    def commit(self) -> None:
        """Put the complete entry in place: which frames first, then the features, whose presence
        marks the entry complete."""
        if self.rows != len(self.frames):
            self.discard()
            raise RuntimeError(f"{self.target}: {self.rows} rows of features written, {len(self.frames)} expected")
        self.handle.flush()
        os.fsync(self.handle.fileno())
        self.handle.close()
        with atomic_path(_frames_path(self.target)) as tmp, open(tmp, "wb") as handle:
            np.savez(handle, frames=self.frames, num_frames=np.int64(self.num_frames))
        os.replace(self.tmp, self.target)

    def discard(self) -> None:
        """Drop a partial entry (its video failed midway)."""
        self.handle.close()
        self.tmp.unlink(missing_ok=True)


class _FrameChunks(IterableDataset):
    """The frames the rate stores of each video under the entries it lacks (spatial views, the motion
    stream), in chunks of uint8 [n,V,c,c,3], each loader worker streaming its own videos.

    Items: {"video": position in `paths`, "frames": chunk or None, "last": whether the video is complete,
    "error": why it could not be read, "stored": with a video's first chunk, which frames it will stream}.
    Where the motion stream is lacking, each stored frame's predecessor is decoded too and the chunk's
    column of RGB_DIFF holds their difference pictures (`transforms.difference_image`) in place of a view;
    the predecessors themselves are not handed over. Memory holds a few chunks, whatever the videos' lengths.
    """

    def __init__(self, paths: Sequence[str], views: Sequence[Tuple[str, ...]], preprocessing: Preprocessing,
                 backend: str, chunk_frames: int, decode_timeout: float, rate: FeatureRate = FEATURE_RATE_DEFAULTS):
        self.paths, self.views, self.preprocessing, self.backend = list(paths), list(views), preprocessing, backend
        self.chunk_frames, self.decode_timeout, self.rate = chunk_frames, decode_timeout, rate

    def __iter__(self) -> Iterator[Dict[str, Any]]:
        info = get_worker_info()
        mine = range(len(self.paths)) if info is None else range(info.id, len(self.paths), info.num_workers)
        for video in mine:
            stored = None
            lacking = self.views[video]
            motion = RGB_DIFF in lacking
            # The views to cut (plain too when the motion stream needs it), and where each lacking entry's
            # frames come from among them.
            cut = tuple(dict.fromkeys([v for v in lacking if v != RGB_DIFF] + ([PLAIN] if motion else [])))
            columns = [cut.index(PLAIN if v == RGB_DIFF else v) for v in lacking]
            choose = (lambda meta: with_previous(self.rate.frames_of(meta))) if motion else self.rate.frames_of
            before = None  # the last decoded plain frame of the previous chunk
            try:
                transform = ViewsResizeCrop(self.preprocessing, cut)
                chunks = stream_frames(self.paths[video], self.preprocessing, self.backend, choose,
                                       self.chunk_frames, self.decode_timeout, transform=transform)
                for meta, indices, decoded in chunks:
                    first = stored is None
                    if first:
                        stored = self.rate.frames_of(meta)
                    keep = np.isin(indices, stored)
                    frames = decoded[keep][:, columns]
                    if motion:  # each frame's predecessor is the row before it (frame 0: itself)
                        plain = decoded[:, cut.index(PLAIN)]
                        previous = np.concatenate([plain[:1] if before is None else before, plain[:-1]])
                        before = plain[-1:]
                        frames[:, lacking.index(RGB_DIFF)] = difference_image(plain[keep], previous[keep])
                    yield {"video": video, "frames": torch.from_numpy(np.ascontiguousarray(frames)), "error": "",
                           "last": int(indices[-1]) == int(stored[-1]), "stored": stored if first else None,
                           "num_frames": meta.num_frames}
            except VideoReadError as exc:
                yield {"video": video, "frames": None, "last": True, "error": str(exc)}


@torch.no_grad()
def embed_frames(frames: torch.Tensor, backbone: FeatureExtractor, device: torch.device,
                 batch_size: int = 64) -> np.ndarray:
    """uint8 [N,c,c,3] -> float16 [N,D] (the backbone's features, or a `FrozenStages`' flattened maps), in chunks
    of batch_size frames on `device`."""
    out = []
    for start in range(0, len(frames), batch_size):
        chunk = normalize(frames[start:start + batch_size].to(device), backbone.preprocessing)
        out.append(backbone(chunk).float().cpu().numpy().astype(np.float16))
    return np.concatenate(out) if out else np.zeros((0, backbone.feature_dim), np.float16)


def precompute_features(
    records: Sequence[VideoRecord],
    backbone: FeatureExtractor,
    cache: FeatureCache,
    backend: str = "auto",
    device: Optional[torch.device] = None,
    batch_size: int = 64,
    num_workers: int = 0,
    shard: Tuple[int, int] = (0, 1),
    progress: bool = True,
    compute: bool = True,
    decode_timeout: float = DEFAULT_DECODE_TIMEOUT,
    views: Sequence[str] = DEFAULT_VIEWS,
) -> Tuple[List[Optional[CachedFeatures]], Dict[int, str]]:
    """Fill the cache for every record of this shard (rank, world size), then load all.
    With compute=False nothing is decoded: entries are only read (other ranks have written them).

    The frames the cache's rate picks are decoded in isolated child processes (in `num_workers` loader
    workers), once for all the spatial views a video lacks (the plain view and `views`), and each view
    is embedded `batch_size` frames at a time as they arrive, so memory does not grow with a video's
    length; a video that cannot be read (its decoders fail, crash or hang) is left out and named.
    Returns the entry of each record with all its views (None for a video that could not be read) and
    the error message of each unreadable video by record index.
    """
    device = device or torch.device("cpu")
    rgb_diff = backbone.preprocessing.rgb_diff
    views = check_stream_views(views, rgb_diff)
    rank, world = shard
    missing = {i: cache.missing_views(r.path, views, rgb_diff) for i, r in enumerate(records)
               if compute and i % world == rank}
    todo = [i for i, lacking in missing.items() if lacking]
    errors: Dict[int, str] = {}
    if todo:
        backbone.eval().to(device)
        chunks = _FrameChunks([str(records[i].path) for i in todo], [missing[i] for i in todo],
                              backbone.preprocessing, backend, batch_size, decode_timeout, cache.rate)
        loader = DataLoader(chunks, batch_size=None, num_workers=min(num_workers, len(todo)))
        bar = FrameProgress(len(todo), "extracting frame features") if progress else None
        writers: Dict[Tuple[int, str], EntryWriter] = {}  # entries being streamed, by (position in todo, view)
        for item in loader:
            index = todo[item["video"]]
            lacking = missing[index]
            if item["error"]:
                for view in lacking:
                    if (item["video"], view) in writers:
                        writers.pop((item["video"], view)).discard()
                errors[index] = item["error"]
            else:
                for v, view in enumerate(lacking):  # each view its own batches, as a plain-only cache embeds
                    features = embed_frames(item["frames"][:, v].contiguous(), backbone, device, batch_size)
                    key = (item["video"], view)
                    if key not in writers:
                        writers[key] = cache.writer(records[index].path, item["stored"], item["num_frames"],
                                                    features.shape[1], view)
                    writers[key].write(features)
                    if item["last"]:
                        writers.pop(key).commit()
            if bar is not None:
                if item.get("stored") is not None:
                    bar.start_video(len(item["stored"]))
                bar.advance(0 if item["error"] else len(item["frames"]), video_done=bool(item["last"]))
        if bar is not None:
            bar.close()
    features: List[Optional[CachedFeatures]] = []
    for i, record in enumerate(records):
        feats = cache.load(record.path, views, rgb_diff)
        if feats is None and i not in errors:
            errors[i] = f"{record.path}: no cached features (unreadable on another process)"
        features.append(feats)
    return features, errors
