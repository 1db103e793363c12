"""What every benchmark shares: the one row type, the timing helpers, the generated test video, the defaults,
and the Markdown table the rows are printed as."""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np
import torch

from pipeline.demo.video_writer import write_video

Row = Dict[str, object]  # group, what, rate, unit, [spread], vs_baseline, vs_limit: see `row`


@dataclass(frozen=True)
class BenchmarkDefaults:
    """The one place the benchmark's defaults live (scripts/benchmark.py's flags read them)."""

    repeats: int = 3
    input_size: int = 112
    device: str = "cpu"
    video_frames: int = 300
    video_width: int = 640
    video_height: int = 360
    inference_videos: int = 0  # videos for the batch-inference rows; 0 leaves them out
    inference_workers: int = 2  # predict.py's loader workers in those rows
    precision_sizes: tuple = (112, 224)  # input sizes of the fp32 / bf16 CNN rows
    backbone_sizes: tuple = (112, 224)  # input sizes of the backbone-choice rows
    phone_seconds: float = 12.0  # length of each generated phone-like clip of the cache-fill rows
    live_seconds: float = 60.0  # seconds each live latency trial streams (live.py)
    live_max_streams: int = 8  # the most streams the live trials try


BENCHMARK_DEFAULTS = BenchmarkDefaults()


def row(group: str, what: str, rate: float, unit: str, vs_baseline: Optional[float] = None,
        vs_limit: Optional[float] = None, spread: Optional[str] = None) -> Row:
    """One measurement: its group, what was measured, the figure and its unit, the spread of the repeats
    ("min-max", for rows that give a median), and its ratios to the named baseline and to the limit."""
    out: Row = {"group": group, "what": what, "rate": rate, "unit": unit}
    if spread is not None:
        out["spread"] = spread
    out.update(vs_baseline=vs_baseline, vs_limit=vs_limit)
    return out


def best_time(fn: Callable[[], object], repeats: int, clock: Callable[[], float] = time.perf_counter) -> float:
    """The fastest of `repeats` timed calls of `fn`, after one untimed warm-up call; `clock`
    time.process_time gives this process's CPU time (every thread's) instead of wall time."""
    fn()  # warm-up: imports, caches, allocator
    times = []
    for _ in range(repeats):
        start = clock()
        fn()
        times.append(clock() - start)
    return min(times)


def timings(fns: Sequence[Callable[[], object]], repeats: int) -> List[List[float]]:
    """Seconds of `repeats` calls of each of `fns`, interleaved (so that a change in the machine's load
    falls on all of them alike), after one untimed warm-up call each."""
    for fn in fns:
        fn()
    out: List[List[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for fn, seconds in zip(fns, out):
            start = time.perf_counter()
            fn()
            seconds.append(time.perf_counter() - start)
    return out


def spread(values: Sequence[float]) -> str:
    """'min-max' of the repeats, the spread column of a row."""
    return f"{min(values):.3g}-{max(values):.3g}"


def sync(device: torch.device) -> None:
    """Wait for the device's queued work, so that a timing covers it."""
    if device.type == "cuda":
        torch.cuda.synchronize()


def make_test_video(path: Path, frames: int = BENCHMARK_DEFAULTS.video_frames,
                    width: int = BENCHMARK_DEFAULTS.video_width, height: int = BENCHMARK_DEFAULTS.video_height,
                    fps: float = 30) -> Path:
    """A moving-pattern H.264 video of the size of common web clips."""
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
    return write_video(path, (np.roll(base, 4 * i, axis=1) for i in range(frames)), fps=fps)


def format_markdown(result: Dict) -> str:
    """The machine line and one Markdown table row per measurement."""
    m = result["machine"]
    lines = [
        f"Machine: {m['cpu']}, {m['cores']} threads, device {m['device']}, torch {m['torch']}. Video: {m['video']}.",
        "",
        "| group | what | rate | spread (min-max) | vs baseline | vs limit |",
        "|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        base = f"{r['vs_baseline']:.2f}x" if r["vs_baseline"] is not None else ""
        limit = f"{r['vs_limit']:.2f}x" if r["vs_limit"] is not None else ""
        rate = f"{r['rate']:.3g}" if r["rate"] < 10 else f"{r['rate']:.1f}"
        lines.append(f"| {r['group']} | {r['what']} | {rate} {r['unit']} | {r.get('spread', '')} | {base} | {limit} |")
    return "\n".join(lines)
