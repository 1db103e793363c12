"""Speed, measured side by side in one run, as ratios against a named baseline and the limit.

- Decoding: each reader backend decoding a whole video, against plain PyAV decoding (baseline) and
  the `ffmpeg` command line decoding to null (the limit; skipped when ffmpeg is not installed).
- Backbone: the pipeline's feature extraction (decode + resize + normalise + CNN, per frame) against
  the CNN alone on ready tensors (the limit).
- Temporal head: training steps on cached features (clips/s), the reason a frozen backbone trains fast.
- Isolation: reading clips with decoding in a child process (the default, so that a decoder crash
  costs one file) against decoding in the reading process (the baseline), in videos/s.
- Memory (`--memory-minutes`): peak memory of filling the feature cache for videos of a few minutes
  to an hour, in the embedding process and in its decoding child, measured in a fresh process each.
- Batch inference and CNN precision (`--inference-videos N`, inference.py): predict.py's
  library path against a tutorial-style loop, videos/s and marginal seconds per video; the CNN alone
  in fp32 and bf16 and the probability difference bf16 makes.

Every figure of the first groups is the best of `repeats` runs; the inference and precision rows give
the median and the spread (min-max) of `repeats` runs. Results come back as rows for a Markdown table.
"""
from __future__ import annotations

import json
import logging
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from models import create_backbone
from models.backbones import Backbone, resolve_precision
from models.temporal_heads import build_temporal_head
from pipeline.benchmarks.inference import run_inference_benchmark
from pipeline.benchmarks.rows import BENCHMARK_DEFAULTS, Row, best_time, make_test_video, row, sync
from pipeline.data.annotations import VideoRecord
from pipeline.data.datasets import read_clips
from pipeline.data.feature_cache import FeatureCache, precompute_features
from pipeline.data.feature_rate import FeatureRate
from pipeline.data.frame_stream import decoder_threads, stream_frames
from pipeline.data.readers import (
    VideoReader,
    VideoReadError,
    available_backends,
    open_video,
    read_meta,
    read_with_fallback,
)
from pipeline.data.readers.isolated import DECODER
from pipeline.data.sampling import SegmentSampler
from pipeline.data.transforms import ResizeCrop, normalize, resize_crop
from pipeline.data.workers import available_cores

log = logging.getLogger(__name__)

CLIP_FRAMES = 16  # frames per clip in the "open + read one clip" rows
CACHE_BATCH = 64  # frames per chunk and CNN batch in the backbone rows, as the feature cache uses
FINETUNE_ARGS = ("--model.freeze_backbone", "false", "--trainer.max_epochs", "2")  # the fine-tuning rows' run


def _clip_indices(num_frames: int) -> List[int]:
    return np.linspace(0, num_frames - 1, CLIP_FRAMES).astype(int).tolist()


def _pyav_plain_decode(video: Path, repeats: int) -> tuple[int, float]:
    """The decode baseline: (frame count, best seconds) for PyAV's own loop with RGB conversion."""
    import av

    def pyav_plain() -> int:
        with av.open(str(video)) as container:
            container.streams.video[0].thread_type = "AUTO"
            return sum(1 for f in container.decode(video=0) if f.to_ndarray(format="rgb24") is not None)

    return pyav_plain(), best_time(pyav_plain, repeats)


def _ffmpeg_decode_time(video: Path, repeats: int) -> Optional[float]:
    """The decode limit: best seconds for the ffmpeg CLI decoding to null; None without ffmpeg."""
    if not shutil.which("ffmpeg"):
        return None
    cmd = ["ffmpeg", "-v", "error", "-threads", "0", "-i", str(video), "-f", "null", "-"]
    return best_time(lambda: subprocess.run(cmd, check=True), repeats)


def _decord_clip_time(video: Path, repeats: int) -> Optional[float]:
    """The clip baseline: best seconds for decord's own open + get_batch; None without decord."""
    if "decord" not in available_backends():
        return None
    import decord

    def decord_clip() -> np.ndarray:
        reader = decord.VideoReader(str(video), num_threads=1)
        return reader.get_batch(_clip_indices(len(reader))).asnumpy()

    return best_time(decord_clip, repeats)


def _backend_rows(video: Path, backend: str, repeats: int, frames: int, baseline: float,
                  limit: Optional[float], clip_baseline: Optional[float]) -> List[Row]:
    """One `VideoReader` backend: all frames (vs the decode baseline and limit), then one clip."""

    def read_all():
        return read_with_fallback(video, backend, lambda reader: reader.get_frames(range(reader.meta.num_frames)),
                                  isolated=False, fallback=False)

    t = best_time(read_all, repeats)
    rows = [row("decode", f"VideoReader `{backend}`: all frames (one decoder thread)", frames / t,
                 "frames/s", baseline / t, (limit / t) if limit else None)]

    def read_clip():
        return read_with_fallback(video, backend, lambda r: r.get_frames(_clip_indices(r.meta.num_frames)),
                                  isolated=False, fallback=False)

    t = best_time(read_clip, repeats)
    rows.append(row("clip", f"VideoReader `{backend}`: open + {CLIP_FRAMES}-frame clip", 1 / t, "clips/s",
                     clip_baseline / t if clip_baseline else None, None))
    return rows


def decode_rows(video: Path, repeats: int) -> List[Row]:
    """Decoding rows: the baselines and limit first, then every installed reader backend."""
    frames, baseline = _pyav_plain_decode(video, repeats)
    rows = [row("decode", "PyAV decode + RGB conversion, own loop (baseline)", frames / baseline, "frames/s",
                 1.0, None)]
    limit = _ffmpeg_decode_time(video, repeats)
    if limit is not None:
        rows.append(row("decode", "ffmpeg CLI decode to null (limit)", frames / limit, "frames/s",
                         baseline / limit, 1.0))
    clip_baseline = _decord_clip_time(video, repeats)
    if clip_baseline is not None:
        rows.append(row("clip", f"decord open + get_batch of {CLIP_FRAMES} frames, own code (baseline)",
                         1 / clip_baseline, "clips/s", 1.0, None))
    for backend in available_backends():
        rows += _backend_rows(video, backend, repeats, frames, baseline, limit, clip_baseline)
    return rows


def backbone_rows(video: Path, repeats: int, backbone: Backbone, device: torch.device) -> List[Row]:
    """Feature extraction of every frame of `video` as the feature cache runs it (`precompute_features`
    in one process: its decoding child decodes and resizes the next chunk while this process runs the CNN
    on the last), against both steps one after the other in this process (the baseline), the decoder
    alone (one thread, to crop size) and the CNN alone on ready tensors (the limit). On a CPU the two
    share the cores, so the page also gives the most the pipeline can reach there: each frame's decoding
    and CNN core-seconds (the CNN's measured as this process's CPU time) spread over all the cores, and
    never faster than the CNN alone. Both feature-extraction rows decode with `decoder_threads()`, as the
    feature cache does in one process."""
    preprocessing = backbone.preprocessing
    n, raw = read_with_fallback(video, "auto", lambda reader: (
        reader.meta.num_frames, reader.get_frames(range(min(CACHE_BATCH, reader.meta.num_frames)))), isolated=False)
    ready = normalize(torch.from_numpy(resize_crop(raw, preprocessing)).to(device), preprocessing)

    def cnn_only():
        with torch.no_grad():
            out = backbone(ready)
        sync(device)
        return out

    cnn = len(ready) / best_time(cnn_only, repeats)
    cnn_core_seconds = best_time(cnn_only, repeats, time.process_time) / len(ready)  # per frame, all of torch's threads

    def decode_only(backend: str = "auto", threads: int = 1) -> Callable[[], None]:
        def decode() -> None:
            for _ in stream_frames(str(video), preprocessing, backend, threads=threads, chunk_frames=CACHE_BATCH):
                pass
        return decode

    decoder = n / best_time(decode_only(), repeats)
    nvdec = None
    if device.type == "cuda" and "nvdec" in available_backends():
        try:  # stream_frames falls back to a CPU decoder with a warning: the row is only NVDEC's when none is logged
            nvdec = n / best_time(decode_only("nvdec", 0), repeats)
        except VideoReadError as exc:
            log.warning("no NVDEC row: %s", exc)

    threads = decoder_threads()

    def embed_in_turn(reader: VideoReader) -> None:
        for frames in reader.iter_frames(range(n), CACHE_BATCH, ResizeCrop(preprocessing)):
            with torch.no_grad():
                backbone(normalize(torch.from_numpy(frames).to(device), preprocessing))

    def one_after_the_other():  # decoding in this process, as a plain loop would
        read_with_fallback(video, "auto", embed_in_turn, isolated=False, threads=threads, fallback=False)
        sync(device)

    baseline = n / best_time(one_after_the_other, repeats)
    with tempfile.TemporaryDirectory() as tmp:
        fills = iter(range(repeats + 1))

        def pipeline_path():  # a fresh cache each time, the same decoding child (started by the warm-up)
            cache = FeatureCache(Path(tmp) / str(next(fills)), "bench", "auto", FeatureRate(None, None))
            _, errors = precompute_features([VideoRecord(Path(video), 0)], backbone, cache, device=device,
                                            batch_size=CACHE_BATCH, progress=False)
            if errors:
                raise RuntimeError(f"benchmark video unreadable: {errors}")
            sync(device)

        pipeline = n / best_time(pipeline_path, repeats)
    size = f"{preprocessing.crop_size}px {resolve_precision(backbone.precision, device)}"
    rows = [
        row("backbone", f"EfficientNet-Lite0 {size} on ready tensors, batches of {CACHE_BATCH} (limit)", cnn,
             "frames/s", None, 1.0),
        row("backbone", f"decoder alone: every frame decoded to {preprocessing.crop_size}px in the decoding child, "
             "one thread", decoder, "frames/s", None, None),
    ]
    if nvdec is not None:
        rows.append(row("backbone", f"decoder alone: NVDEC (--backend nvdec), every frame decoded and resized to "
                         f"{preprocessing.crop_size}px on the GPU, in the decoding child", nvdec, "frames/s",
                         nvdec / decoder, None))
    if device.type == "cpu":
        cores = available_cores()
        shared = 1 / max(1 / cnn, (cnn_core_seconds + 1 / decoder) / cores)
        rows.append(row("backbone", f"most that decoding and the CNN can reach sharing {cores} cores (CNN "
                         f"{cnn_core_seconds * 1000:.2f} + decoder {1000 / decoder:.2f} core-ms per frame, spread "
                         "over the cores)", shared, "frames/s", None, shared / cnn))
    decoding = f"{threads} decoder thread{'s' if threads > 1 else ''}"
    rows += [
        row("backbone", f"feature extraction, decode then CNN one after the other in one process ({decoding}), "
             f"{size} (baseline)", baseline, "frames/s", 1.0, baseline / cnn),
        row("backbone", f"feature extraction through the pipeline (the feature cache's fill: one process and its "
             f"decoding child, {decoding}, every frame), {size}", pipeline, "frames/s", pipeline / baseline,
             pipeline / cnn),
    ]
    return rows


def head_rows(repeats: int, feature_dim: int, device: torch.device) -> List[Row]:
    """GRU head training steps on random features shaped like cached ones (batch 16 x 12 frames)."""
    head = build_temporal_head(feature_dim, 2, "gru", 128).to(device)
    optimizer = torch.optim.AdamW(head.parameters(), 1e-3)
    feats = torch.randn(16, 12, feature_dim, device=device)
    labels = torch.randint(0, 2, (16,), device=device)

    def head_steps():
        for _ in range(10):
            loss = torch.nn.functional.cross_entropy(head(feats), labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        sync(device)

    t = best_time(head_steps, repeats)
    return [row("training", "GRU head training steps on cached features (batch 16 x 12 frames)", 160 / t,
                 "clips/s", None, None)]


def model_rows(video: Path, repeats: int, input_size: int, device: torch.device) -> List[Row]:
    """Backbone rows, then head rows, for EfficientNet-Lite0 at `input_size`."""
    backbone = create_backbone("efficientnet_lite0", input_size=input_size).to(device).eval()
    return backbone_rows(video, repeats, backbone, device) + head_rows(repeats, backbone.feature_dim, device)


def isolation_rows(video: Path, repeats: int, clips: int = 12) -> List[Row]:
    """Reading one 16-frame clip from each of `clips` videos (resized to 112 px): decoding in this process
    (baseline) against the default isolated decoding in a child process."""
    preprocessing = create_backbone("efficientnet_lite0", input_size=112).preprocessing
    sampler = SegmentSampler(CLIP_FRAMES)

    def read(isolated: bool) -> Callable[[], object]:
        return lambda: [read_clips(str(video), sampler, preprocessing, False, isolated=isolated) for _ in range(clips)]

    baseline = best_time(read(False), repeats)
    isolated = best_time(read(True), repeats)

    def fresh_child() -> None:  # what each loader worker and each job pays once
        DECODER.stop()
        with open_video(video, isolated=True):
            pass

    start = best_time(fresh_child, repeats)
    return [
        row("isolation", f"read a {CLIP_FRAMES}-frame clip per video, decoding in-process (baseline)",
             clips / baseline, "videos/s", 1.0, None),
        row("isolation", f"read a {CLIP_FRAMES}-frame clip per video, decoding in a child process (default)",
             clips / isolated, "videos/s", baseline / isolated, None),
        row("isolation", "start a fresh decoding child and open the video in it (once per loader worker and job)",
             start, "s", None, None),
    ]


def measure_cache_memory(video: Path, cache_dir: Path, input_size: int = 112, backend: str = "pyav",
                         every_frame: bool = True) -> Dict:
    """Fill the feature cache for one video in a fresh process, embedding every frame (the worst case
    for memory) or the frames the default rate keeps; its peak memory (MB) over its start, the
    decoding child's peak, the frames embedded and the seconds it took."""
    done = subprocess.run(
        [sys.executable, "-c",
         "import sys; from pipeline.benchmarks.runner import _cache_one; _cache_one(*sys.argv[1:])",
         str(video), str(cache_dir), str(input_size), backend, "all" if every_frame else "default"],
        capture_output=True, text=True, check=True, cwd=Path(__file__).resolve().parents[2],
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def _cache_one(video: str, cache_dir: str, input_size: str, backend: str, rate: str) -> None:
    """The child side of `measure_cache_memory`: prints one JSON line."""
    from pipeline.benchmarks.cache import proc_mb
    from pipeline.data.feature_rate import FEATURE_RATE_DEFAULTS

    backbone = create_backbone("efficientnet_lite0", input_size=int(input_size))
    cache = FeatureCache(cache_dir, backbone.fingerprint(), backend,
                         FeatureRate(None, None) if rate == "all" else FEATURE_RATE_DEFAULTS)
    start_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    began = time.perf_counter()
    features, errors = precompute_features([VideoRecord(Path(video), 0)], backbone, cache, backend=backend,
                                           progress=False)
    seconds = time.perf_counter() - began
    # The child's own peak, not RUSAGE_CHILDREN's: that charges a child started by fork and exec with the
    # parent's pages it held between the two.
    child_peak_mb = proc_mb(DECODER.pid, "status", "VmHWM:")
    DECODER.stop()
    print(json.dumps({
        "frames": 0 if features[0] is None else len(features[0]),
        "errors": list(errors.values()),
        "grown_mb": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - start_kb) / 1024,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "child_peak_mb": child_peak_mb,
        "seconds": seconds,
    }))


def memory_rows(minutes: List[float], tmp: Path, input_size: int) -> List[Row]:
    """Peak memory of caching generated 640x360 25 fps videos of each length, in a fresh process each."""
    rows = []
    for length in minutes:
        frames = int(length * 60 * 25)
        video = make_test_video(tmp / f"long-{length:g}min.mp4", frames=frames, fps=25)
        m = measure_cache_memory(video, tmp / "cache", input_size)
        what = (f"cache features of every frame of a {length:g}-minute 640x360 video ({frames} frames): peak MB of "
                f"the process (+{m['grown_mb']:.0f} MB while caching), of the decoding child "
                f"{m['child_peak_mb']:.0f} MB")
        rows.append(row("memory", what, m["peak_mb"], "MB", None, None))
        every = m["seconds"] / length
        rows.append(row("memory", f"cache fill time per minute of video, every frame ({length:g}-minute video, "
                         f"{input_size}px) (baseline)", every, "s/min", 1.0, None))
        capped = measure_cache_memory(video, tmp / "cache", input_size, every_frame=False)
        rows.append(row("memory", f"cache fill time per minute of video, default rate: {capped['frames']} frames "
                         f"({length:g}-minute video, {input_size}px)", capped["seconds"] / length, "s/min",
                         every / (capped["seconds"] / length), None))
    return rows


def run_benchmark(video: Optional[Path] = None, repeats: int = BENCHMARK_DEFAULTS.repeats,
                  input_size: int = BENCHMARK_DEFAULTS.input_size, device: str = BENCHMARK_DEFAULTS.device,
                  memory_minutes: Optional[List[float]] = None, inference: Optional[Dict] = None,
                  core: bool = True, phone_clips: int = 0, backbones: Sequence[str] = (),
                  backbone_sizes: Sequence[int] = BENCHMARK_DEFAULTS.backbone_sizes,
                  motion_window_dir: Optional[Path] = None, first_run: int = 0,
                  first_run_dir: Optional[Path] = None, finetune_run: int = 0, raw_avis: int = 0,
                  live: Optional[Dict] = None, events_hour: Optional[Tuple[Path, Path]] = None,
                  events_hour_timeline: bool = True) -> Dict:
    """Every row, on `video` (default: a generated 640x360 clip), plus a description of the machine;
    memory rows for generated videos of `memory_minutes` minutes when given; batch-inference and
    precision rows when `inference` holds run_inference_benchmark's arguments (device and repeats
    are these); cache-fill rows on `phone_clips` generated phone-like clips when > 0; backbone-choice
    rows for `backbones` (backbones.py) at `backbone_sizes` when given; motion-window rows
    (motion_window.py) for the videos in `motion_window_dir`; first-run rows (train.py from an empty
    cache, cache.py) on `first_run` generated phone clips, kept in `first_run_dir` when given, and
    fine-tuning rows (the same with the backbone trained, 2 epochs) on `finetune_run` generated 640x360 clips;
    raw-video rows (the cache filled for `raw_avis` generated raw AVIs, default decoder vs the one that reads them);
    live rows (live.py: streams over UDP) when `live` holds live_rows' arguments and `carried_video`;
    rows of an hour of 720p footage (long_video.py) when `events_hour` is (events CSV of long videos, folder),
    the timeline over it unless not `events_hour_timeline`.
    core=False leaves out the decoding, isolation, backbone and head rows."""
    torch_device = torch.device(device)
    with tempfile.TemporaryDirectory() as tmp:
        source = video or make_test_video(Path(tmp) / "bench.mp4")
        meta = read_meta(source)
        rows = []
        if core:
            rows = decode_rows(source, repeats) + isolation_rows(source, repeats)
            rows += model_rows(source, repeats, input_size, torch_device)
        if memory_minutes:
            rows += memory_rows(memory_minutes, Path(tmp), input_size)
        if phone_clips:
            from pipeline.benchmarks.cache import cache_fill_rows

            backbone = create_backbone("efficientnet_lite0", input_size=input_size)
            rows += cache_fill_rows(backbone, Path(tmp), phone_clips, BENCHMARK_DEFAULTS.phone_seconds,
                                    BENCHMARK_DEFAULTS.inference_workers)
        if raw_avis:
            from pipeline.benchmarks.cache import raw_avi_rows

            backbone = create_backbone("efficientnet_lite0", input_size=input_size)
            rows += raw_avi_rows(backbone, Path(tmp) / "raw", raw_avis, BENCHMARK_DEFAULTS.inference_workers)
        if first_run or finetune_run:
            from pipeline.benchmarks.cache import first_training_rows, make_phone_set

            folder = first_run_dir or Path(tmp) / "first-run"
        if first_run:
            runs = Path(tmp) / "first-run-output"  # lists, cache, logs, checkpoints: always from empty
            runs.mkdir()
            rows += first_training_rows(runs, make_phone_set(folder, first_run))
        if finetune_run:
            runs = Path(tmp) / "finetune-output"
            runs.mkdir()
            clips = make_phone_set(folder / "360p", finetune_run, sizes=[(640, 360)])
            rows += first_training_rows(runs, clips, extra=FINETUNE_ARGS, group="fine-tuning")
        if live is not None:
            from pipeline.benchmarks.live import carried_state_rows, live_rows
            from pipeline.live.runner import load_live_model

            live = dict(live)
            carried = live.pop("carried_video", None)
            rows += live_rows(Path(tmp) / "live", **live)
            if carried is not None:
                rows += carried_state_rows(load_live_model(str(live["checkpoint"])), Path(carried))
    if backbones:
        from pipeline.benchmarks.backbones import backbone_choice_rows

        rows += backbone_choice_rows(backbones, backbone_sizes, torch_device, repeats)
    if motion_window_dir is not None:
        from pipeline.benchmarks.motion_window import motion_window_rows

        rows += motion_window_rows(motion_window_dir, repeats)
    if events_hour is not None:
        from pipeline.benchmarks.long_video import hour_cost_rows, make_hour_video

        events, folder = events_hour
        rows += hour_cost_rows(make_hour_video(Path(events).resolve(), Path(folder).resolve()),
                               Path(folder).resolve() / "run", timeline=events_hour_timeline)
    if inference is not None:
        rows += run_inference_benchmark(**inference, repeats=repeats, device=device, input_size=input_size)
    machine = {
        "cpu": platform.processor() or platform.machine(),
        "cores": torch.get_num_threads(),
        "device": torch.cuda.get_device_name(0) if torch_device.type == "cuda" else "cpu",
        "torch": torch.__version__,
        "video": f"{Path(source).name}: {meta.width}x{meta.height}, {meta.num_frames} frames, {meta.fps:.2f} fps",
    }
    return {"machine": machine, "rows": rows}
