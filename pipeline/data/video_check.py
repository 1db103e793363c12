"""Checking a dataset's videos before a long run: can each file be decoded, and is it long enough?

Every file is opened with the same isolated decoding as training and inference (a decoder that
aborts or hangs costs that file only), in the same order of decoders (`fallback_order`: the chosen
one, then the other installed ones), and three of its frames (first, middle, last) are decoded.
Each file gets one verdict, a `VideoCheck`:

    ok                decodes; at least a clip's worth of frames
    too_short         decodes, but has fewer frames than a clip (training and inference pad it)
    header_mismatch   decodes, but the container's frame count disagrees with the decoded count
                      by more than HEADER_TOLERANCE (the decoded count is the one used)
    not_found / empty_file / unreadable / no_video_stream / decode_error /
    decoder_crashed / decoder_timeout / bad_output / transform_failed / unsupported
                                            cannot be used (see pipeline.data.readers.ERROR_KINDS)

Verdicts are cached in a JSON file keyed by the file's resolved path, size, modification time and
decoder, so a second check (or training) reads only the files that changed. Files are checked in
parallel DataLoader worker processes.

    checks = check_videos(paths, backend="auto", clip_len=16, workers=2, cache_path=".cache/video_check.json")
    bad = [c for c in checks if not c.usable]
"""
from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

from torch.utils.data import DataLoader, Dataset

from pipeline.atomic_io import write_text_atomic
from pipeline.data.readers import (
    DEFAULT_DECODE_TIMEOUT,
    VideoMeta,
    VideoReader,
    VideoReadError,
    fallback_order,
    read_with_fallback,
)
from pipeline.data.readers.base import first_pixel

log = logging.getLogger(__name__)

USABLE = ("ok", "too_short", "header_mismatch")  # verdicts of files that training and inference can read
HEADER_TOLERANCE = (2, 0.02)  # header and decoded counts may differ by max(2 frames, 2% of the header)
CACHE_VERSION = 2  # 2: decoders' output checked, decord declines the frame widths it misreads
_NOT_CACHED = ("not_found", "decoder_timeout")  # nothing to key on; may pass with more time


@dataclass(frozen=True)
class VideoCheck:
    """The verdict on one file, with what its decoder found (None where nothing was read)."""

    path: str
    status: str
    reason: str = ""
    decoder: Optional[str] = None
    frames: Optional[int] = None  # frames the decoder can actually decode
    header_frames: Optional[int] = None  # frames the container claims
    fps: Optional[float] = None
    width: Optional[int] = None
    height: Optional[int] = None
    duration: Optional[float] = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def usable(self) -> bool:
        """Whether training and inference can read the file (perhaps padded, or with a lying header)."""
        return self.status in USABLE


def probe_video(path: str, backend: str = "auto", timeout: float = DEFAULT_DECODE_TIMEOUT,
                fallback: bool = True) -> VideoCheck:
    """Open `path` in an isolated decoder and decode its first, middle and last frames; with
    `fallback`, a file the chosen decoder cannot read is tried with the other installed ones (as
    training and inference do). The status is "ok" or the first decoder's error kind."""
    fallbacks: List[Tuple[VideoReadError, str]] = []

    def probe(reader: VideoReader) -> VideoMeta:
        meta = reader.meta
        reader.get_frames(sorted({0, meta.num_frames // 2, meta.num_frames - 1}), transform=first_pixel)
        return meta

    try:
        meta = read_with_fallback(path, backend, probe, timeout=timeout, fallback=fallback,
                                  on_fallback=lambda error, used: fallbacks.append((error, used)))
    except VideoReadError as exc:
        return VideoCheck(path, exc.kind, exc.reason)
    reason = ""
    if fallbacks:
        first, used = fallbacks[0]
        reason = f"{first.kind} with {fallback_order(backend)[0]} ({first.reason}); read with {used}"
    return VideoCheck(path, "ok", reason, meta.backend, meta.num_frames, meta.header_frames, round(meta.fps, 4),
                      meta.width, meta.height, round(meta.duration, 4))


def classify(check: VideoCheck, clip_len: int) -> VideoCheck:
    """A readable file's verdict for clips of `clip_len` frames: ok, too_short or header_mismatch."""
    if check.status not in USABLE or check.frames is None:
        return check
    notes = [check.reason] if check.reason and check.status == "ok" else []
    if check.frames < clip_len:
        return replace(check, status="too_short",
                       reason="; ".join([f"{check.frames} frames, fewer than a clip ({clip_len})", *notes]))
    if check.header_frames:
        frames_off = abs(check.header_frames - check.frames)
        if frames_off > max(HEADER_TOLERANCE[0], HEADER_TOLERANCE[1] * check.header_frames):
            return replace(check, status="header_mismatch", reason="; ".join(
                [f"the header claims {check.header_frames} frames, {check.frames} decode", *notes]))
    return replace(check, status="ok", reason="; ".join(notes))


class _ProbeDataset(Dataset):
    """One path per item, probed in a DataLoader worker (each worker has its own decoder process)."""

    def __init__(self, paths: Sequence[str], backend: str, timeout: float, fallback: bool):
        self.paths, self.backend, self.timeout, self.fallback = list(paths), backend, timeout, fallback

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> VideoCheck:
        return probe_video(self.paths[index], self.backend, self.timeout, self.fallback)


def check_videos(
    paths: Sequence[os.PathLike],
    backend: str = "auto",
    clip_len: int = 1,
    timeout: float = DEFAULT_DECODE_TIMEOUT,
    workers: int = 0,
    cache_path: Optional[os.PathLike] = None,
    fallback: bool = True,
    on_result: Optional[Callable[[VideoCheck], None]] = None,
) -> List[VideoCheck]:
    """The verdict on each file of `paths`, in order: files are probed in `workers` DataLoader
    worker processes (0: in this process), each in an isolated decoder; verdicts found in the JSON
    cache at `cache_path` (same resolved path, size, mtime and decoder) are reused, and the cache is
    updated, even when the check is interrupted. `on_result` is called as each file is done
    (e.g. a progress bar)."""
    paths = [os.fspath(p) for p in paths]
    cache = VerdictCache(cache_path, backend, fallback)
    found: Dict[int, VideoCheck] = {i: c for i, c in enumerate(map(cache.get, paths)) if c is not None}
    todo = [i for i in range(len(paths)) if i not in found]
    for check in found.values():
        if on_result is not None:
            on_result(classify(check, clip_len))
    try:
        loader = DataLoader(_ProbeDataset([paths[i] for i in todo], backend, timeout, fallback), batch_size=None,
                            num_workers=workers)
        for i, check in zip(todo, loader):
            found[i] = check
            cache.put(check)
            if on_result is not None:
                on_result(classify(check, clip_len))
    finally:
        cache.save()
    return [classify(found[i], clip_len) for i in range(len(paths))]


class VerdictCache:
    """Probe results in a JSON file, keyed by resolved path and decoder, valid while size and mtime hold."""

    def __init__(self, path: Optional[os.PathLike], backend: str, fallback: bool):
        self.path = Path(path) if path is not None else None
        self.decoders = "+".join(fallback_order(backend)) if fallback else backend
        self.entries: Dict[str, Dict[str, Any]] = self._load()
        self.changed = False

    def _load(self) -> Dict[str, Dict[str, Any]]:
        if self.path is None or not self.path.is_file():
            return {}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            log.warning("%s: unreadable video check cache, checking again (%s)", self.path, exc)
            return {}
        return data.get("entries", {}) if data.get("version") == CACHE_VERSION else {}

    def _key(self, path: str) -> tuple[str, Optional[List[int]]]:
        resolved = os.path.realpath(path)
        try:
            st = os.stat(resolved)
        except OSError:
            return f"{resolved}\t{self.decoders}", None
        return f"{resolved}\t{self.decoders}", [st.st_size, st.st_mtime_ns]

    def get(self, path: str) -> Optional[VideoCheck]:
        key, stamp = self._key(path)
        entry = self.entries.get(key)
        if stamp is None or entry is None or entry.get("stamp") != stamp:
            return None
        return VideoCheck(**{**entry["check"], "path": path})

    def put(self, check: VideoCheck) -> None:
        key, stamp = self._key(check.path)
        if self.path is None or stamp is None or check.status in _NOT_CACHED:
            return
        self.entries[key] = {"stamp": stamp, "check": asdict(check)}
        self.changed = True

    def save(self) -> None:
        if self.path is None or not self.changed:
            return
        write_text_atomic(self.path, json.dumps({"version": CACHE_VERSION, "entries": self.entries}, indent=1))
        self.changed = False


def summary_counts(checks: Iterable[VideoCheck]) -> Dict[str, int]:
    """How many files got each verdict."""
    counts: Dict[str, int] = {}
    for check in checks:
        counts[check.status] = counts.get(check.status, 0) + 1
    return counts
