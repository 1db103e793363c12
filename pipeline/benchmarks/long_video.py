"""What an hour of 720p footage costs: training from its event times, and a timeline over it.

`make_hour_video` builds the footage from real pixels: the fight set's source timelines (the long videos
scripts/make_fight_timelines.py joins from the clips, with their fight events) played one after another
until `segment_seconds`, letterboxed to 1280x720 at 25 fps (segment.mp4), then that segment repeated
(remuxed, not re-encoded) to an hour (hour.mp4), with the events of each copy shifted into place.

`hour_cost_rows` runs, each in a fresh process with the memory of its whole process tree sampled:
scripts/extract_features.py (the cache fill: each frame decoded and embedded once, at the events
config's rate), then scripts/train.py on the warm cache (windows cut from the cached features: what
training from event times adds), then scripts/predict.py --timeline over the hour with the trained
checkpoint. The rows give seconds, training's cost as a multiple of the cache fill, and peak memory.
"""
from __future__ import annotations

import csv
import json
import math
import sys
from dataclasses import asdict
from fractions import Fraction
from pathlib import Path
from typing import Dict, Iterator, List, Sequence, Tuple

import av
import cv2
import numpy as np

from pipeline.atomic_io import atomic_path
from pipeline.benchmarks.cache import SampledRun, run_sampled
from pipeline.benchmarks.rows import Row, row

HOUR_SIZE = (1280, 720)
HOUR_FPS = 25


def _letterboxed(frame: np.ndarray, size: Tuple[int, int]) -> np.ndarray:
    """`frame` scaled to fit `size` (width, height) keeping its shape, centred on black."""
    width, height = size
    scale = min(width / frame.shape[1], height / frame.shape[0])
    w, h = int(round(frame.shape[1] * scale)) // 2 * 2, int(round(frame.shape[0] * scale)) // 2 * 2
    canvas = np.zeros((height, width, 3), np.uint8)
    y, x = (height - h) // 2, (width - w) // 2
    canvas[y:y + h, x:x + w] = cv2.resize(frame, (w, h), interpolation=cv2.INTER_LINEAR)
    return canvas


def _resampled(path: Path, fps: float, size: Tuple[int, int], limit: float) -> Iterator[np.ndarray]:
    """The frames of `path` at `fps` (the source frame showing at each output instant), letterboxed to `size`,
    for at most `limit` seconds."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        emitted, shown = 0, None
        for frame in container.decode(stream):
            if frame.time is None:
                continue
            while emitted / fps < frame.time:  # output instants before this frame show the previous one
                if shown is not None:
                    yield shown
                emitted += 1
                if emitted / fps >= limit:
                    return
            shown = _letterboxed(frame.to_ndarray(format="rgb24"), size)
        duration = float(container.duration or 0) / 1e6
        while shown is not None and emitted / fps < min(duration, limit):
            yield shown
            emitted += 1


def _encode(path: Path, frames: Iterator[np.ndarray], fps: float, size: Tuple[int, int]) -> None:
    """H.264 at x264's ultrafast preset on every core (a benchmark input: speed over size), atomically."""
    with atomic_path(path) as tmp, av.open(str(tmp), mode="w") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        stream.options = {"crf": "23", "preset": "ultrafast", "g": str(int(fps * 4))}
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())


def _repeat(segment: Path, out: Path, copies: int) -> None:
    """`copies` of `segment` one after another in `out`, remuxed (each copy starts on a keyframe)."""
    with atomic_path(out) as tmp, av.open(str(tmp), mode="w") as output:
        with av.open(str(segment)) as first:
            template = first.streams.video[0]
            stream = output.add_stream_from_template(template)
            span = None
            for copy in range(copies):
                with av.open(str(segment)) as source:
                    video = source.streams.video[0]
                    packets = [p for p in source.demux(video) if p.dts is not None]
                    if span is None:
                        step = max(1, int(round(1 / (float(video.time_base) * float(video.average_rate)))))
                        span = max(p.pts for p in packets) - min(p.pts for p in packets) + step
                    for packet in packets:
                        packet.pts += copy * span
                        packet.dts += copy * span
                        packet.stream = stream
                        output.mux(packet)


def _events(path: Path) -> List[Dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def make_hour_video(events_csv: Path, out: Path, minutes: float = 60, segment_seconds: float = 600,
                    size: Tuple[int, int] = HOUR_SIZE, fps: float = HOUR_FPS) -> Dict[str, Path]:
    """hour.mp4 (`minutes` long, `size`, `fps`) and its events CSV from the long videos of `events_csv`
    (their fights), as the module says; reused when already there. Returns the paths: hour, hour_events,
    segment, segment_events."""
    out.mkdir(parents=True, exist_ok=True)
    paths = {"hour": out / "hour.mp4", "hour_events": out / "hour_events.csv", "segment": out / "segment.mp4",
             "segment_events": out / "segment_events.csv"}
    if all(p.exists() for p in paths.values()):
        return paths
    rows = _events(events_csv)
    videos = list(dict.fromkeys(r["video"] for r in rows))
    placed: List[Tuple[float, float]] = []  # the fights in the segment, seconds
    offsets: List[Tuple[str, float, float]] = []

    def frames() -> Iterator[np.ndarray]:
        written = 0
        for video in videos:
            left = segment_seconds - written / fps
            if left <= 0:
                return
            start = written / fps
            for frame in _resampled(events_csv.parent / video, fps, size, left):
                written += 1
                yield frame
            offsets.append((video, start, written / fps))

    _encode(paths["segment"], frames(), fps, size)
    for video, start, end in offsets:
        for r in rows:
            if r["video"] == video and r["label"]:
                s, e = float(r["start"]) + start, float(r["end"] or r["start"]) + start
                if s < end:
                    placed.append((s, min(e, end)))
    with av.open(str(paths["segment"])) as container:
        segment = float(container.duration) / 1e6
    copies = max(1, math.ceil(minutes * 60 / segment - 1e-6))
    _repeat(paths["segment"], paths["hour"], copies)
    fields = ["video", "label", "start", "end", "group"]
    for key, name, count in (("segment_events", "segment.mp4", 1), ("hour_events", "hour.mp4", copies)):
        with atomic_path(paths[key]) as tmp, open(tmp, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(fields)
            for k in range(count):
                writer.writerows([name, "fight", f"{s + k * segment:.3f}", f"{e + k * segment:.3f}", name[:-4]]
                                 for s, e in placed)
    return paths


def _row_of(group: str, what: str, run: SampledRun) -> List[Row]:
    return [row(group, f"{what}, seconds", run.seconds, "s", None, None),
            row(group, f"{what}, CPU seconds (user + system, its children included)", run.cpu_seconds, "s"),
            row(group, f"{what}, peak memory of its process tree (resident)", run.peak_rss_mb, "MB", None, None),
            row(group, f"{what}, peak memory of its process tree (proportional set size)", run.peak_pss_mb,
                "MB", None, None)]


def _step(work: Path, name: str, command: Sequence[str], what: str) -> SampledRun:
    """`run_sampled(command)`, its measurement kept in work/<name>.json: a step already measured is read
    back, so a stopped benchmark goes on where it stopped."""
    record = work / f"{name}.json"
    if record.is_file():
        return SampledRun(**json.loads(record.read_text()))
    run = run_sampled(command, work / f"{name}.log", what)
    record.write_text(json.dumps(asdict(run)))
    return run


def timeline_step(hour: Path, checkpoint: str, work: Path) -> SampledRun:
    """predict.py --timeline over `hour` with `checkpoint` (its windows and operating points), measured."""
    work.mkdir(parents=True, exist_ok=True)
    return _step(work, "timeline", [sys.executable, "scripts/predict.py", "--ckpt", checkpoint, "--input", str(hour),
                                    "--output", str(work / "hour.csv"), "--timeline"], "the timeline")


def hour_cost_rows(footage: Dict[str, Path], work: Path, extra: Sequence[str] = (), max_epochs: int = 20,
                   group: str = "events, 1 h 720p", timeline: bool = True) -> List[Row]:
    """The cache fill, the training on it and (unless not `timeline`) the timeline over the hour, as the
    module says, into `work` (cache, runs, checkpoints, logs; each step's measurement kept, so a stopped run
    resumes). `extra`: more train.py options for both the fill and the training."""
    work.mkdir(parents=True, exist_ok=True)
    common = ["--config", "configs/events.yaml", f"--data.root={footage['hour'].parent}",
              f"--data.train_list={footage['hour_events']}", f"--data.val_list={footage['segment_events']}",
              "--data.test_list=null", "--data.test_fraction=0", f"--data.cache_dir={work / 'cache'}",
              f"--trainer.max_epochs={max_epochs}", "--trainer.enable_progress_bar=false",
              f"--trainer.logger.init_args.save_dir={work / 'runs'}", f"--checkpoint.dirpath={work / 'checkpoints'}",
              *extra]
    fill = _step(work, "extract", [sys.executable, "scripts/extract_features.py", *common], "the cache fill")
    train = _step(work, "train", [sys.executable, "scripts/train.py", *common], "the training run")
    rows = _row_of(group, "cache fill (scripts/extract_features.py, the hour and the 10-min validation video)", fill)
    rows += _row_of(group, f"training on the filled cache ({max_epochs} epochs, operating points chosen)", train)
    rows.append(row(group, "training from event times from an empty cache, as a multiple of the cache fill "
                    "(target at most 1.3x), wall time", (fill.seconds + train.seconds) / fill.seconds, "x"))
    rows.append(row(group, "the same in CPU time", (fill.cpu_seconds + train.cpu_seconds) / fill.cpu_seconds, "x"))
    if timeline:
        written = max((work / "runs").glob("**/test_metrics.json"), key=lambda p: p.stat().st_mtime)
        swept = timeline_step(footage["hour"], json.loads(written.read_text())["best_checkpoint"], work)
        rows += _row_of(group, "predict.py --timeline over the hour (the checkpoint's windows and operating points)",
                        swept)
    return rows
