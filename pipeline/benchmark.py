"""Speed, measured side by side in one run, as ratios against a named baseline and the limit.

- Decoding: each reader backend decoding a whole video, against plain PyAV decoding (baseline) and
  the `ffmpeg` command line decoding to null (the limit; skipped when ffmpeg is not installed).
- Backbone: the pipeline's feature extraction (decode + resize + normalise + CNN, per frame) against
  the CNN alone on ready tensors (the limit).
- Temporal head: training steps on cached features (clips/s), the reason a frozen backbone trains fast.

Every figure is the best of `repeats` runs; results come back as rows for a Markdown table.
"""
from __future__ import annotations

import platform
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional

import numpy as np
import torch

from models import create_backbone
from models.temporal_heads import build_temporal_head
from pipeline.data.readers import available_backends, open_video
from pipeline.data.transforms import normalize, resize_crop
from pipeline.demo.video_writer import write_video


def best_time(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up: imports, caches, allocator
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def make_test_video(path: Path, frames: int = 300, width: int = 640, height: int = 360) -> Path:
    """A moving-pattern H.264 video of the size of common web clips."""
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
    return write_video(path, (np.roll(base, 4 * i, axis=1) for i in range(frames)), fps=30)


def decode_rows(video: Path, repeats: int) -> List[Dict]:
    import av

    def pyav_plain() -> int:
        with av.open(str(video)) as container:
            container.streams.video[0].thread_type = "AUTO"
            return sum(1 for f in container.decode(video=0) if f.to_ndarray(format="rgb24") is not None)

    frames = pyav_plain()
    rows = []
    baseline = best_time(pyav_plain, repeats)
    rows.append(_row("decode", "PyAV decode + RGB conversion, own loop (baseline)", frames / baseline, "frames/s",
                     1.0, None))
    limit = None
    if shutil.which("ffmpeg"):
        cmd = ["ffmpeg", "-v", "error", "-threads", "0", "-i", str(video), "-f", "null", "-"]
        limit = best_time(lambda: subprocess.run(cmd, check=True), repeats)
        rows.append(_row("decode", "ffmpeg CLI decode to null (limit)", frames / limit, "frames/s",
                         baseline / limit, 1.0))
    clip_baseline = None
    if "decord" in available_backends():
        import decord

        def decord_clip() -> np.ndarray:
            reader = decord.VideoReader(str(video), num_threads=1)
            return reader.get_batch(np.linspace(0, len(reader) - 1, 16).astype(int).tolist()).asnumpy()

        clip_baseline = best_time(decord_clip, repeats)
        rows.append(_row("clip", "decord open + get_batch of 16 frames, own code (baseline)", 1 / clip_baseline,
                         "clips/s", 1.0, None))
    for backend in available_backends():
        def read_all(b=backend):
            with open_video(video, b) as reader:
                return reader.get_frames(range(reader.meta.num_frames))

        t = best_time(read_all, repeats)
        rows.append(_row("decode", f"VideoReader `{backend}`: all frames (one decoder thread)", frames / t,
                         "frames/s", baseline / t, (limit / t) if limit else None))

        def read_clip(b=backend):
            with open_video(video, b) as reader:
                n = reader.meta.num_frames
                return reader.get_frames(np.linspace(0, n - 1, 16).astype(int).tolist())

        t = best_time(read_clip, repeats)
        rows.append(_row("clip", f"VideoReader `{backend}`: open + 16-frame clip", 1 / t, "clips/s",
                         clip_baseline / t if clip_baseline else None, None))
    return rows


def model_rows(video: Path, repeats: int, input_size: int, device: torch.device) -> List[Dict]:
    backbone = create_backbone("efficientnet_lite0", input_size=input_size).to(device).eval()
    prep = backbone.preprocessing
    with open_video(video) as reader:
        raw = reader.get_frames(range(min(64, reader.meta.num_frames)))
    n = len(raw)
    ready = normalize(torch.from_numpy(resize_crop(raw, prep)).to(device), prep)

    def cnn_only():
        with torch.no_grad():
            out = backbone(ready)
        _sync(device)
        return out

    limit = best_time(cnn_only, repeats)

    def pipeline_path():
        with open_video(video) as reader:
            frames = reader.get_frames(range(n))
        x = normalize(torch.from_numpy(resize_crop(frames, prep)).to(device), prep)
        with torch.no_grad():
            out = backbone(x)
        _sync(device)
        return out

    t = best_time(pipeline_path, repeats)
    size = f"{prep.crop_size}px"
    rows = [
        _row("backbone", f"EfficientNet-Lite0 {size} on ready tensors (limit)", n / limit, "frames/s", None, 1.0),
        _row("backbone", f"feature extraction: decode + resize + normalise + CNN, {size}", n / t, "frames/s",
             None, limit / t),
    ]

    head = build_temporal_head(backbone.feature_dim, 2, "gru", 128).to(device)
    optimizer = torch.optim.AdamW(head.parameters(), 1e-3)
    feats = torch.randn(16, 12, backbone.feature_dim, device=device)
    labels = torch.randint(0, 2, (16,), device=device)

    def head_steps():
        for _ in range(10):
            loss = torch.nn.functional.cross_entropy(head(feats), labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        _sync(device)

    t = best_time(head_steps, repeats)
    rows.append(_row("training", "GRU head training steps on cached features (batch 16 x 12 frames)", 160 / t,
                     "clips/s", None, None))
    return rows


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _row(group: str, what: str, rate: float, unit: str, vs_baseline: Optional[float], vs_limit: Optional[float]):
    return {"group": group, "what": what, "rate": rate, "unit": unit, "vs_baseline": vs_baseline,
            "vs_limit": vs_limit}


def run_benchmark(video: Optional[Path] = None, repeats: int = 3, input_size: int = 112,
                  device: str = "cpu") -> Dict:
    torch_device = torch.device(device)
    with tempfile.TemporaryDirectory() as tmp:
        source = video or make_test_video(Path(tmp) / "bench.mp4")
        with open_video(source) as reader:
            meta = reader.meta
        rows = decode_rows(source, repeats) + model_rows(source, repeats, input_size, torch_device)
    machine = {
        "cpu": platform.processor() or platform.machine(),
        "cores": torch.get_num_threads(),
        "device": torch.cuda.get_device_name(0) if torch_device.type == "cuda" else "cpu",
        "torch": torch.__version__,
        "video": f"{Path(source).name}: {meta.width}x{meta.height}, {meta.num_frames} frames, {meta.fps:.2f} fps",
    }
    return {"machine": machine, "rows": rows}


def format_markdown(result: Dict) -> str:
    m = result["machine"]
    lines = [
        f"Machine: {m['cpu']}, {m['cores']} threads, device {m['device']}, torch {m['torch']}. Video: {m['video']}.",
        "",
        "| group | what | rate | vs baseline | vs limit |",
        "|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        base = f"{r['vs_baseline']:.2f}x" if r["vs_baseline"] is not None else ""
        limit = f"{r['vs_limit']:.2f}x" if r["vs_limit"] is not None else ""
        lines.append(f"| {r['group']} | {r['what']} | {r['rate']:.1f} {r['unit']} | {base} | {limit} |")
    return "\n".join(lines)
