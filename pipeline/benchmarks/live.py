"""Live recognition on this machine: what scripts/live.py costs on 25 fps 720p H.264 streams.

Each stream is real: a generated 1280x720 25 fps H.264 clip (cache.make_phone_clip: a panning scene
with a moving disc) sent over UDP as MPEG-TS at its own pace by pipeline.demo.stream_sender, one
sender process per stream, looping; the live run reads it from udp://127.0.0.1 like any network
source. Rows:

- latency p50/p95 and the dropped share of one stream, at each input size (the checkpoint's model at
  its own size; the same architecture, untrained, at the others: speed does not depend on weights);
- how many such streams one process holds in real time (no frame dropped, latency p95 under a second),
  with cached features (each sampled frame embedded once) against the baseline every sliding-window
  demo runs: each window's clip embedded anew at every stride (`LiveOptions.reuse_features=False`);
- the process's resident memory after each of `memory_minutes` minutes of one stream, and its slope; and
  why the CNN's batches come in power-of-two sizes (`batch_shape_memory_rows`);
- what carrying a one-way recurrent head's state from window to window would change instead of
  re-reading each window's clip (`carried_state_rows`).
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch

from pipeline.benchmarks.rows import Row, row

LIVE_FPS = 25
LIVE_SIZE = (1280, 720)
HOLD_P95_MS = 1000.0  # a stream is held in real time when nothing is dropped and latency p95 stays under this


def make_live_clip(folder: Path, seconds: float = 60.0) -> Path:
    """The 720p 25 fps H.264 clip each stream loops (kept in `folder`)."""
    from pipeline.benchmarks.cache import make_phone_clip

    path = folder / f"live-{LIVE_SIZE[1]}p{LIVE_FPS}-{seconds:g}s.mp4"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        make_phone_clip(path, seconds, *LIVE_SIZE, fps=LIVE_FPS)
    return path


def _free_udp_ports(count: int) -> List[int]:
    ports, sockets = [], []
    for _ in range(count):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        ports.append(s.getsockname()[1])
        sockets.append(s)
    for s in sockets:
        s.close()
    return ports


def _bound(port: int) -> bool:
    with open("/proc/net/udp") as table:
        return any(line.split()[1].endswith(f":{port:04X}") for line in list(table)[1:])


@contextmanager
def _senders(video: Path, ports: Sequence[int]) -> Iterator[None]:
    """One looping sender process per port, started once something listens there (so that each stream
    is received from its first keyframe)."""
    deadline = time.monotonic() + 120
    while not all(_bound(p) for p in ports):
        if time.monotonic() > deadline:
            raise RuntimeError(f"the live run did not listen on UDP ports {list(ports)}")
        time.sleep(0.01)
    procs = [subprocess.Popen([sys.executable, "-m", "pipeline.demo.stream_sender", str(video),
                               f"udp://127.0.0.1:{p}", "--loops", "0"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL) for p in ports]
    try:
        yield
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=30)


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def live_trial(model: Any, video: Path, streams: int, seconds: float, reuse_features: bool = True,
               rss_at: Sequence[float] = ()) -> Dict[str, Any]:
    """`streams` looping UDP streams of `video` for `seconds` seconds after every stream's first window: the
    run's summary record (counted from that moment on) and, with `rss_at` (seconds), this process's resident
    memory (MB) at those moments."""
    from pipeline.live.runner import LiveOptions, LiveRun

    ports = _free_udp_ports(streams)
    run = LiveRun(model, LiveOptions(sources=tuple(f"udp://127.0.0.1:{p}" for p in ports),
                                     reuse_features=reuse_features, stall_timeout=30.0))
    started = threading.Event()
    seen: set = set()
    out: Dict[str, Any] = {}

    def consume() -> None:
        for record in run.records():
            if record["type"] == "window" and not started.is_set():
                seen.add(record.get("stream"))
                if len(seen) == streams:  # from here on: every stream is flowing, the first windows are behind
                    for s in run.stats:
                        s.latency.reset()
                    out["dropped_before"] = [run.queues.dropped(i) for i in range(streams)]
                    out["needed_before"] = [r.needed for r in run.readers]
                    started.set()
            if record["type"] == "summary":
                out["summary"] = record

    consumer = threading.Thread(target=consume, daemon=True)
    consumer.start()
    with _senders(video, ports):
        if not started.wait(120):
            run.stop()
            raise RuntimeError("no window came from the live run within 2 minutes")
        t0 = time.monotonic()
        rss = []
        for mark in sorted(rss_at):
            time.sleep(max(0.0, t0 + mark - time.monotonic()))
            rss.append(_rss_mb())
        time.sleep(max(0.0, t0 + seconds - time.monotonic()))
        run.stop()
        consumer.join(timeout=60)
    summary = out["summary"]
    dropped = summary["dropped"] - sum(out["dropped_before"])
    needed = summary["sampled"] - sum(out["needed_before"])
    return {"summary": summary, "dropped_share": dropped / needed if needed else 0.0, "rss_mb": rss,
            "p50": summary["latency_ms_p50"], "p95": summary["latency_ms_p95"]}


def _holds(trial: Dict[str, Any]) -> bool:
    return trial["dropped_share"] == 0 and trial["p95"] is not None and trial["p95"] < HOLD_P95_MS


def streams_held(model: Any, video: Path, seconds: float, max_streams: int, reuse_features: bool) -> Tuple[int, List]:
    """The most streams (1, 2, ... up to `max_streams`) held in real time, and every trial's figures."""
    held, trials = 0, []
    for n in range(1, max_streams + 1):
        trial = live_trial(model, video, n, seconds, reuse_features)
        trials.append((n, trial))
        if not _holds(trial):
            break
        held = n
    return held, trials


def models_by_size(checkpoint: Optional[Path], sizes: Sequence[int]) -> Dict[int, Any]:
    """The checkpoint's model at its own input size, and the same architecture untrained at the other sizes
    (the demo's when no checkpoint is given: EfficientNet-Lite0, GRU 128, 12-frame segment clips)."""
    from pipeline.core.module import VideoClassifierModule
    from pipeline.live.runner import load_live_model

    base = load_live_model(str(checkpoint)) if checkpoint else None
    models = {}
    for size in sizes:
        if base is not None and base.preprocessing.crop_size == size:
            models[size] = base
            continue
        hp = dict(base.hparams) if base is not None else {
            "class_names": ["goal", "no_goal"], "hidden_size": 128,
            "sampling": {"sampler": {"name": "segment", "clip_len": 12, "num_clips": 1, "pad": "loop"}}}
        keep = ("class_names", "sampling", "backbone", "cell", "hidden_size", "num_layers", "readout",
                "backbone_precision", "freeze_backbone")
        models[size] = VideoClassifierModule(**{k: v for k, v in hp.items() if k in keep}, input_size=size).eval()
    return models


def live_rows(folder: Path, checkpoint: Optional[Path] = None, sizes: Sequence[int] = (112, 224),
              seconds: float = 60.0, max_streams: int = 8, memory_minutes: Sequence[float] = ()) -> List[Row]:
    """The live rows (see the module's docstring): latency at each of `sizes`, streams held (up to
    `max_streams`; 0 leaves them out) and memory (`memory_minutes`) at the smallest size; the clip is kept in
    `folder`."""
    video = make_live_clip(folder)
    size = min(sizes) if sizes else 112
    models = models_by_size(checkpoint, sorted(set(sizes) | {size}))
    rows: List[Row] = [row("live", "1-minute load average when the live rows started (2 cores: above 2 means "
                                   "other work shared them)", os.getloadavg()[0], "")]
    for s in sizes:
        trial = live_trial(models[s], video, 1, seconds)
        what = f"one 720p 25 fps H.264 stream over UDP, {s} px, {seconds:g} s"
        rows.append(row("live", f"{what}: latency p50", trial["p50"], "ms"))
        rows.append(row("live", f"{what}: latency p95", trial["p95"], "ms"))
        rows.append(row("live", f"{what}: dropped share", trial["dropped_share"], "of sampled frames"))
    if max_streams > 0:
        cached, _ = streams_held(models[size], video, seconds / 2, max_streams, reuse_features=True)
        baseline, _ = streams_held(models[size], video, seconds / 2, max_streams, reuse_features=False)
        limit = f" (the most tried: {max_streams})" if max_streams in (cached, baseline) else ""
        rows.append(row("live", f"720p 25 fps streams held in real time at {size} px, re-embedding each window's "
                                f"clip at every stride (baseline){limit}", baseline, "streams", 1.0))
        rows.append(row("live", f"720p 25 fps streams held in real time at {size} px, each sampled frame embedded "
                                f"once{limit}", cached, "streams", cached / baseline if baseline else None))
    if memory_minutes:
        marks = [60.0 * m for m in memory_minutes]
        trial = live_trial(models[size], video, 1, max(marks), rss_at=marks)
        for minutes, mb in zip(memory_minutes, trial["rss_mb"]):
            rows.append(row("live memory", f"resident memory after {minutes:g} min of one stream ({size} px)",
                            mb, "MB"))
        if len(marks) > 1:
            slope = (trial["rss_mb"][-1] - trial["rss_mb"][0]) / ((marks[-1] - marks[0]) / 3600)
            rows.append(row("live memory", f"growth from {memory_minutes[0]:g} to {memory_minutes[-1]:g} min",
                            slope, "MB/h"))
        rows.append(row("live memory", f"latency p95 over those {max(memory_minutes):g} min", trial["p95"], "ms"))
        rows.append(row("live memory", "dropped share over them", trial["dropped_share"], "of sampled frames"))
        rows += batch_shape_memory_rows(size)
    return rows


def _shape_memory(sizes: List[int], rounds: int, input_size: int) -> List[float]:
    """In a fresh process: resident memory (MB) after each round of EfficientNet-Lite0 batches of `sizes`."""
    from models import create_backbone

    backbone = create_backbone("efficientnet_lite0", input_size=input_size).eval()
    out = []
    with torch.inference_mode():
        for _ in range(rounds):
            for n in sizes:
                backbone(torch.randn(n, 3, input_size, input_size))
            out.append(_rss_mb())
    return out


def batch_shape_memory_rows(input_size: int = 112, rounds: int = 3, largest: int = 32) -> List[Row]:
    """Why live.py embeds in power-of-two chunks: the CNN's resident memory after `rounds` rounds of batches of
    every size from 1 to `largest` (what a live loop meets) against rounds of power-of-two batches only
    (1, 2, 4, ... `largest`, three times a round), each in a fresh process."""
    import multiprocessing

    powers = [1 << k for k in range(largest.bit_length()) if 1 << k <= largest]
    rows = []
    with multiprocessing.get_context("spawn").Pool(1, maxtasksperchild=1) as pool:
        every = pool.apply(_shape_memory, (list(range(1, largest + 1)), rounds, input_size))
    with multiprocessing.get_context("spawn").Pool(1, maxtasksperchild=1) as pool:
        chunks = pool.apply(_shape_memory, (powers * 3, rounds, input_size))
    for k in range(rounds):
        rows.append(row("live memory", f"CNN alone ({input_size} px), after round {k + 1} of batches of every size "
                                       f"1-{largest} (baseline)", every[k], "MB"))
    for k in range(rounds):
        rows.append(row("live memory", f"CNN alone ({input_size} px), after round {k + 1} of power-of-two batches "
                                       f"(live.py's chunks)", chunks[k], "MB", chunks[k] / every[k]))
    return rows


def carried_state_rows(model: Any, video: Path, window: float = 2.0, stride: float = 1.0) -> List[Row]:
    """What carrying a one-way recurrent head's state through the stream would change: the window
    probabilities of re-reading each window's clip (what live and the timeline do) against one pass of
    the head over every sampled frame in order, read out at each window's last clip frame. Only for a
    unidirectional head read out by its last state."""
    from pipeline.inference.timeline import TimelineOptions, find_events
    from pipeline.live.runner import live_sampler
    from pipeline.live.sources import FILE, FrameConverter, Source, open_source
    from pipeline.live.windows import SegmentWindows

    head = model.model.head
    if getattr(head, "readout", None) != "last" or getattr(head, "bidirectional", True):
        return []
    options = TimelineOptions(window=window, stride=stride).for_model(model)
    opened = open_source(Source(str(video), FILE), timeout=30)
    windows = SegmentWindows(opened.fps, options, live_sampler(model, options))
    convert = FrameConverter(model.preprocessing)
    frames, indices = [], []
    for i, frame in enumerate(opened.frames()):
        if windows.needed(i):
            frames.append(convert(frame))
            indices.append(i)
    opened.close()
    regular = windows.completed(indices[-1] + 1 if indices else 0)
    position = {index: k for k, index in enumerate(indices)}
    with torch.inference_mode():
        from pipeline.data.transforms import normalize

        feats = torch.cat([model.model.backbone(normalize(torch.from_numpy(np.stack(frames[i:i + 64])),
                                                          model.preprocessing)) for i in range(0, len(frames), 64)])
        index = torch.tensor([[position[int(i)] for i in w.indices] for w in regular])
        start = time.perf_counter()
        reread = model.window_probabilities(feats, index).float().numpy()
        reread_s = time.perf_counter() - start
        start = time.perf_counter()
        states = head.states(feats[None])[0]  # one pass, state carried from frame to frame
        carried = head.classifier(states[index[:, -1]]).float().softmax(-1).numpy()
        carried_s = time.perf_counter() - start
    times = np.array([windows.times(w) for w in regular])
    diff = np.abs(reread - carried).max(axis=1)
    labels_differ = float(np.mean(reread.argmax(1) != carried.argmax(1)))
    events = (len(find_events(times, reread, model.class_names, options)),
              len(find_events(times, carried, model.class_names, options)))
    what = f"{Path(video).name}, {len(regular)} windows of {window:g} s every {stride:g} s"
    return [
        row("live: carried state", f"{what}: largest probability change, carried state vs re-read clip",
            float(diff.max()), ""),
        row("live: carried state", f"{what}: mean probability change", float(diff.mean()), ""),
        row("live: carried state", f"{what}: windows whose most probable class changes", labels_differ, "share"),
        row("live: carried state", f"{what}: events, re-read clips (baseline)", float(events[0]), "events", 1.0),
        row("live: carried state", f"{what}: events, carried state", float(events[1]), "events",
            events[1] / events[0] if events[0] else None),
        row("live: carried state", f"{what}: head time per window, re-read (baseline)", 1000 * reread_s / len(regular),
            "ms", 1.0),
        row("live: carried state", f"{what}: head time per window, carried", 1000 * carried_s / len(regular), "ms",
            reread_s / carried_s if carried_s else None),
    ]
