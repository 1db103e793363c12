"""Filling the feature cache from phone-like clips, every frame against the default rate (pipeline.benchmark's rows).

A first training run on a folder of phone clips (720p-1080p, 10-30 s) spends nearly all its time
filling the feature cache. These rows generate such clips (H.264, 30 fps, alternating 1280x720 and
1920x1080, smooth moving content as a camera gives) and time `precompute_features` from an empty
cache with every frame embedded (the baseline, what the cache did before it had a rate) and with the
default rate, in loader workers as training runs it, with the peak memory of the process and of its
decoding children.
"""
from __future__ import annotations

import resource
import time
from pathlib import Path
from typing import Dict, List

import numpy as np
import torch

from models.backbones import Backbone
from pipeline.data.annotations import VideoRecord
from pipeline.data.feature_cache import FeatureCache, precompute_features
from pipeline.data.feature_rate import FEATURE_RATE_DEFAULTS, FeatureRate
from pipeline.demo import write_video

PHONE_SIZES = ((1280, 720), (1920, 1080))


def make_phone_clip(path: Path, seconds: float, width: int, height: int, fps: float = 30, seed: int = 0) -> Path:
    """A smooth, slowly panning H.264 clip with a moving disc: compresses like camera footage, not noise."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack([xs / width, ys / height, 0.5 + 0.5 * np.sin(xs / 97 + ys / 61)], axis=-1)
    base = (base * 200 + rng.uniform(0, 40, 3)).astype(np.uint8)
    radius = height // 8

    def frames():
        for i in range(int(seconds * fps)):
            frame = np.roll(base, 3 * i, axis=1)
            cx, cy = (width // 4 + 7 * i) % width, height // 2 + int(height / 4 * np.sin(i / 15))
            y0, y1, x0, x1 = max(cy - radius, 0), min(cy + radius, height), max(cx - radius, 0), min(cx + radius, width)
            frame[y0:y1, x0:x1] = (255, 80, 40)
            yield frame

    return write_video(path, frames(), fps=fps, crf=23)


def cache_fill_rows(backbone: Backbone, folder: Path, clips: int, seconds: float, workers: int,
                    row) -> List[Dict]:
    """Seconds and peak memory to fill the cache for `clips` phone-like clips: every frame vs the default rate."""
    videos = [make_phone_clip(folder / f"phone{i}.mp4", seconds, *PHONE_SIZES[i % 2], seed=i) for i in range(clips)]
    records = [VideoRecord(video, 0) for video in videos]
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
