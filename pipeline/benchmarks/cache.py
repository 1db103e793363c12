"""Filling the feature cache from phone-like clips, every frame against the default rate (rows of runner.py's run).

A first training run on a folder of phone clips (720p-1080p, 10-30 s) spends nearly all its time
filling the feature cache. These rows generate such clips (H.264, 30 fps, alternating 1280x720 and
1920x1080, smooth moving content as a camera gives) and time `precompute_features` from an empty
cache with every frame embedded (the baseline, what the cache did before it had a rate) and with the
default rate, in loader workers as training runs it, with the peak memory of the process and of its
decoding children.

`first_training_rows` goes one step further, as a user would: `scripts/train.py` from an empty cache on
a generated phone set (`make_phone_set`: 64 clips of 10-26 s), end to end,
with the peak memory of its whole process tree.
"""
from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from models.backbones import Backbone
from pipeline.benchmarks.rows import Row, row
from pipeline.data.annotations import VideoRecord
from pipeline.data.feature_cache import FeatureCache, precompute_features
from pipeline.data.feature_rate import FEATURE_RATE_DEFAULTS, FeatureRate
from pipeline.data.readers import read_meta, read_with_fallback
from pipeline.demo import write_raw_avi, write_video

PHONE_SIZES = ((1280, 720), (1920, 1080))


def make_phone_clip(path: Path, seconds: float, width: int, height: int, fps: float = 30, seed: int = 0,
                    direction: int = 1) -> Path:
    """A smooth, slowly panning H.264 clip with a moving disc (rightwards for direction 1, leftwards for -1):
    compresses like camera footage, not noise."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack([xs / width, ys / height, 0.5 + 0.5 * np.sin(xs / 97 + ys / 61)], axis=-1)
    base = (base * 200 + rng.uniform(0, 40, 3)).astype(np.uint8)
    radius = height // 8

    def frames():
        for i in range(int(seconds * fps)):
            frame = np.roll(base, 3 * i, axis=1)
            cx, cy = (width // 4 + 7 * direction * i) % width, height // 2 + int(height / 4 * np.sin(i / 15))
            y0, y1, x0, x1 = max(cy - radius, 0), min(cy + radius, height), max(cx - radius, 0), min(cx + radius, width)
            frame[y0:y1, x0:x1] = (255, 80, 40)
            yield frame

    return write_video(path, frames(), fps=fps, crf=23)


def phone_set_seconds(clips: int) -> List[float]:
    """Durations of a phone set of `clips` clips: 10-26 s, most of them short (the golden-ratio sequence,
    squared), about 29,500 frames at 30 fps for 64 clips."""
    return [round(10 + 16 * ((i * 0.6180339887) % 1) ** 2, 2) for i in range(clips)]


def make_phone_set(folder: Path, clips: int, seconds: Optional[Sequence[float]] = None,
                   sizes: Sequence[Tuple[int, int]] = PHONE_SIZES) -> List[VideoRecord]:
    """`clips` phone-like clips (sizes in turn, `phone_set_seconds` long unless `seconds` says) in two
    classes (the disc moves right or left), reused when already there; their records, label = i % 2."""
    folder.mkdir(parents=True, exist_ok=True)
    records = []
    for i, length in enumerate(phone_set_seconds(clips) if seconds is None else seconds):
        path = folder / f"phone{i:03d}.mp4"
        if not path.exists():
            make_phone_clip(path, length, *sizes[i % len(sizes)], seed=i, direction=1 if i % 2 == 0 else -1)
        records.append(VideoRecord(path, i % 2))
    return records


def first_training_rows(folder: Path, records: Sequence[VideoRecord], config: str = "configs/list.yaml",
                        test_share: float = 0.25, extra: Sequence[str] = (), group: str = "first run") -> List[Row]:
    """A user's first training run: `scripts/train.py --config <config> <extra>` on `records` (listed in train
    and test annotation files, every 1/test_share-th clip of each class held out) from an empty feature cache,
    in a fresh process, on the device train.py picks (a GPU when there is one). Rows (in `group`): seconds end
    to end (start-up, cache fill, training, test), the peak memory of the whole process tree (the script, its
    loader workers and their decoding children) as resident memory and as proportional set size (shared
    pages counted once), and where `nvidia-smi` answers, the GPU's mean busy share; all sampled twice a second."""
    root, clips = folder.resolve(), Path(records[0].path).resolve().parent
    lists: Dict[str, List[str]] = {"train": [], "test": []}
    step, seen = max(2, round(1 / test_share)), Counter()
    for record in records:
        seen[record.label] += 1  # every step-th clip of each class is held out
        relative = Path(record.path).resolve().relative_to(clips)  # the records share one folder
        lists["test" if seen[record.label] % step == 0 else "train"].append(f"{relative} {record.label}")
    for split, lines in lists.items():
        (root / f"{split}.txt").write_text("\n".join(lines) + "\n")
    command = [sys.executable, "scripts/train.py", "--config", config, "--data.root", str(clips),
               "--data.train_list", str(root / "train.txt"), "--data.test_list", str(root / "test.txt"),
               "--data.cache_dir", str(root / "cache"), "--trainer.logger.init_args.save_dir", str(root / "runs"),
               "--checkpoint.dirpath", str(root / "checkpoints"), *extra]
    run = run_sampled(command, root / "train.log", "the training run")
    took, peak_rss, peak_pss, busy = run.seconds, run.peak_rss_mb, run.peak_pss_mb, run.gpu_busy
    frames, sizes = _describe(records)
    what = (f"scripts/train.py --config {config}{''.join(' ' + a for a in extra)} from an empty cache: "
            f"{len(records)} {sizes} clips ({len(lists['train'])} train, {len(lists['test'])} test; "
            f"{frames} frames)")
    rows = [
        row(group, what + ", seconds end to end", took, "s", None, None),
        row(group, "peak memory of its process tree, resident (shared pages counted in each process)",
            peak_rss, "MB", None, None),
        row(group, "peak memory of its process tree, proportional set size (shared pages counted once)",
            peak_pss, "MB", None, None),
    ]
    if busy:
        rows.append(row(group, f"GPU busy share over the run, mean of {len(busy)} nvidia-smi samples (0.5 s apart)",
                        sum(busy) / len(busy), "%", None, None))
    return rows


@dataclass
class SampledRun:
    """What `run_sampled` measured of one command."""

    seconds: float
    peak_rss_mb: float  # the process tree's peak resident memory (shared pages counted in each process)
    peak_pss_mb: float  # its peak proportional set size (shared pages counted once)
    gpu_busy: List[float]  # nvidia-smi's busy share, one sample per half second, where it answers
    cpu_seconds: float = float("nan")  # user + system CPU time of the command and every child it waited for


def run_sampled(command: Sequence[str], log: Path, what: str = "the command") -> SampledRun:
    """Run `command` in the repository's folder, its output to `log`, sampling the memory of its whole process
    tree (and the GPU's busy share) twice a second; raise RuntimeError with the log's end if it fails. Its CPU
    time (of the command and of the children it reaped: loader workers, decoding children) is the figure
    that holds on a shared machine, where wall time grows with the others' load."""
    began = time.perf_counter()
    with open(log, "w") as out:
        process = subprocess.Popen(list(command), cwd=Path(__file__).resolve().parents[2], stdout=out,
                                   stderr=subprocess.STDOUT)
        samples, busy, usage = [], [], None
        while usage is None:
            samples.append(tree_memory_mb(process.pid))
            share = gpu_busy_percent()
            if share is not None:
                busy.append(share)
            time.sleep(0.5)
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid == 0:
                usage = None
            else:
                process.returncode = os.waitstatus_to_exitcode(status)
    took = time.perf_counter() - began
    if process.returncode != 0:  # the log may go with the caller's temporary folder: show its end here
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:])
        raise RuntimeError(f"{what} failed (exit status {process.returncode}); its output ended:\n{tail}")
    peak_rss, peak_pss = (max((s[k] for s in samples if s[k] == s[k]), default=float("nan")) for k in (0, 1))
    return SampledRun(took, peak_rss, peak_pss, busy, usage.ru_utime + usage.ru_stime)


def gpu_busy_percent() -> Optional[float]:
    """GPU 0's utilisation in % as nvidia-smi reports it (the share of the last sample period in which a
    kernel ran), or None without nvidia-smi or a GPU."""
    if shutil.which("nvidia-smi") is None:
        return None
    try:
        done = subprocess.run(["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits", "-i", "0"],
                              capture_output=True, text=True, timeout=5)
        return float(done.stdout.split()[0]) if done.returncode == 0 else None
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return None


def _describe(records: Sequence[VideoRecord]) -> Tuple[int, str]:
    """The videos' frames in all and their sizes ("1280x720/1920x1080")."""
    metas = [read_meta(record.path) for record in records]
    sizes = dict.fromkeys(f"{meta.width}x{meta.height}" for meta in metas)
    return sum(meta.num_frames for meta in metas), "/".join(sizes)


def tree_memory_mb(root: int) -> Tuple[float, float]:
    """(resident, proportional set size) in MB summed over process `root` and its descendants (Linux /proc;
    the proportional size is nan where the kernel has no smaps_rollup, both are nan off Linux); a process
    that ends while it is read is left out."""
    parents: Dict[int, int] = {}
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
    tree, frontier = set(), {root}
    while frontier:
        tree |= frontier
        frontier = {pid for pid, parent in parents.items() if parent in frontier and pid not in tree}
    return (_sum_read([proc_mb(pid, "status", "VmRSS:") for pid in tree]),
            _sum_read([proc_mb(pid, "smaps_rollup", "Pss:") for pid in tree]))


def _sum_read(values: Sequence[float]) -> float:
    """The sum of the values that could be read (not nan), or nan when none could."""
    read = [v for v in values if v == v]
    return sum(read) if read else float("nan")


def proc_mb(pid: Optional[int], file: str, field: str) -> float:
    """A memory field of /proc/<pid>/<file> ("status" "VmHWM:", "smaps_rollup" "Pss:", ...) in MB; nan
    when the process, the file or the field is not there (ended, another kernel, not Linux)."""
    try:
        text = Path(f"/proc/{pid}/{file}").read_text()
        return next(int(line.split()[1]) / 1024 for line in text.splitlines() if line.startswith(field))
    except (OSError, ValueError, StopIteration):
        return float("nan")


def cache_fill_rows(backbone: Backbone, folder: Path, clips: int, seconds: float, workers: int) -> List[Row]:
    """Seconds and peak memory to fill the cache for `clips` phone-like clips: every frame vs the default rate."""
    records = make_phone_set(folder, clips, seconds=[seconds] * clips)
    frames = int(seconds * 30) * clips
    rows, baseline = [], None
    for name, rate in (("every frame", FeatureRate(None, None)), ("default rate", FEATURE_RATE_DEFAULTS)):
        cache = FeatureCache(folder / "cache", backbone.fingerprint(torch.device("cpu")), "auto", rate)
        began = time.perf_counter()
        entries, errors = precompute_features(records, backbone, cache, num_workers=workers, progress=False)
        took = time.perf_counter() - began
        if errors:
            raise RuntimeError(f"benchmark clips unreadable: {errors}")
        embedded = sum(len(entry) for entry in entries)
        baseline = baseline or took
        what = (f"fill the feature cache, {name}: {clips} phone-like clips (720p/1080p, {seconds:g} s, 30 fps, "
                f"{frames} frames), {embedded} frames embedded, {workers} loader workers")
        rows.append(row("cache", what + (" (baseline)" if name == "every frame" else ""), took, "s",
                        baseline / took, None))
    rows.append(row("cache", "peak memory of the process during the fills (MB)",
                    resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "MB", None, None))
    return rows


def raw_avi_rows(backbone: Backbone, folder: Path, clips: int, workers: int, repeats: int = 2) -> List[Row]:
    """Filling the cache for `clips` generated raw-video AVIs (`rawvideo`, `bgr24`, 48x64, 100 frames at 25 fps:
    a width decord misreads) with the default decoder choice, against naming the decoder that reads them (the
    baseline): what routing such files past a decoder that declines them costs."""
    records = []
    for i in range(clips):
        still = np.full((64, 48, 3), 40 + 5 * (i % 20), np.uint8) + np.arange(48, dtype=np.uint8)[None, :, None]
        frames = (np.roll(still, 3 * t, axis=1) for t in range(100))
        records.append(VideoRecord(write_raw_avi(folder / f"raw_{i:03d}.avi", frames), i % 2))
    reader = read_with_fallback(records[0].path, "auto", lambda r: r.meta.backend, on_fallback=lambda *_: None)
    took: Dict[str, float] = {}
    for attempt in range(repeats):  # alternating, best of `repeats` each: the order does not favour one
        for backend in (reader, "auto") if attempt % 2 == 0 else ("auto", reader):
            cache = FeatureCache(folder / f"cache-{backend}-{attempt}", backbone.fingerprint(torch.device("cpu")),
                                 backend)
            began = time.perf_counter()
            _, errors = precompute_features(records, backbone, cache, backend=backend, num_workers=workers,
                                            progress=False)
            took[backend] = min(took.get(backend, float("inf")), time.perf_counter() - began)
            if errors:
                raise RuntimeError(f"benchmark clips unreadable: {errors}")
    what = f"fill the feature cache: {clips} raw-video AVIs (rawvideo bgr24 48x64, 100 frames), decoder "
    return [row("cache", what + f"`{reader}` named (baseline)", took[reader], "s", 1.0, None),
            row("cache", what + "`auto` (the default)", took["auto"], "s", took[reader] / took["auto"], None)]
