"""Batch inference and CNN precision, measured as the median and spread of repeats (rows of runner.py's run).

- Batch inference: the library path (`pipeline.inference.predict()`, what scripts/predict.py runs, in this
  process) against a tutorial-style loop (the baseline): OpenCV reads every frame of a video, each is
  cropped, resized and normalised, the CNN embeds the clip's frames one at a time (fp32), the head
  classifies. Both label the same videos; each is timed on N/2 and on N videos, and the marginal time
  per extra video, (time(N) - time(N/2)) / (N/2), leaves out what a run pays once (loading, start-up).
- CNN precision: the backbone alone in fp32 and in bf16 (both channels_last) at each input size, and
  the largest difference in class probability that bf16 makes on the same videos.
"""
from __future__ import annotations

import copy
import shutil
import statistics
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import List, Optional, Sequence

import cv2
import pytorch_lightning as pl
import torch

from models.backbones import resolve_precision
from pipeline.benchmarks.rows import Row, make_test_video, row, spread, timings
from pipeline.core.checkpoints import load_classifier_module
from pipeline.core.module import VideoClassifierModule
from pipeline.data.datasets import clip_indices, read_clips
from pipeline.data.sampling import SAMPLING_DEFAULTS, sampler_from_config
from pipeline.inference.batch import clip_sampler_for, predict
from pipeline.inference.options import PredictOptions

VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov", ".webm")


def fresh_checkpoint(path: Path, input_size: int, precision: str = "fp32") -> Path:
    """An untrained two-class classifier saved as predict.py reads it (the default sampler, frozen default CNN)."""
    sampler = sampler_from_config({"name": SAMPLING_DEFAULTS.sampler, "clip_len": SAMPLING_DEFAULTS.clip_len})
    model = VideoClassifierModule(class_names=["a", "b"], sampling={"sampler": sampler.to_config(), "backend": "auto"},
                             input_size=input_size, backbone_precision=precision)
    state = {"state_dict": model.state_dict(), "hyper_parameters": dict(model.hparams),
             "pytorch-lightning_version": pl.__version__}
    model.on_save_checkpoint(state)
    torch.save(state, path)
    return path


def collect_videos(folder: Path, count: int, into: Path) -> List[Path]:
    """`count` distinct files: the folder's videos, copied under new names as often as needed."""
    sources = sorted(p for p in folder.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)
    if not sources:
        raise ValueError(f"{folder}: no video files ({', '.join(VIDEO_SUFFIXES)})")
    into.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(count):
        source = sources[i % len(sources)]
        target = into / f"{i:04d}-{source.name}"
        shutil.copyfile(source, target)
        out.append(target)
    return out


def tutorial_loop(videos: Sequence[Path], model: VideoClassifierModule) -> torch.Tensor:
    """The baseline: per video, OpenCV reads every frame (BGR -> RGB, centre square, resize, normalise),
    the CNN embeds the sampled frames one at a time in fp32, the head classifies. Probabilities [N,C]."""
    prep, device = model.preprocessing, model.device
    trunk = copy.deepcopy(model.model.backbone.trunk).to(memory_format=torch.contiguous_format)  # a plain model
    sampler = clip_sampler_for(PredictOptions("", [], "x.csv"), dict(model.hparams.get("sampling") or {}))
    mean = torch.tensor(prep.mean).view(3, 1, 1)
    std = torch.tensor(prep.std).view(3, 1, 1)
    out = []
    for video in videos:
        capture, frames = cv2.VideoCapture(str(video)), []
        while True:
            ok, bgr = capture.read()
            if not ok:
                break
            h, w = bgr.shape[:2]
            side = min(h, w)
            square = bgr[(h - side) // 2:(h - side) // 2 + side, (w - side) // 2:(w - side) // 2 + side]
            rgb = cv2.cvtColor(cv2.resize(square, (prep.crop_size,) * 2, interpolation=cv2.INTER_AREA),
                               cv2.COLOR_BGR2RGB)
            frames.append((torch.from_numpy(rgb).permute(2, 0, 1).float() / 255 - mean) / std)
        capture.release()
        with torch.no_grad():
            clips = [torch.stack([trunk(frames[i][None].to(device))[0] for i in clip])
                     for clip in clip_indices(sampler, len(frames), training=False)]
            out.append(model.model.classify_features(torch.stack(clips)).softmax(-1).mean(0))
    return torch.stack(out)


def library_predict(videos: Sequence[Path], checkpoint: Path, output: Path, workers: int, device: str,
                    sampling_mode: Optional[str] = None) -> None:
    """The library path: predict() over `videos`, as scripts/predict.py runs it, into a fresh output."""
    summary = predict(PredictOptions(str(checkpoint), [str(v) for v in videos], str(output), num_workers=workers,
                                     device=device, progress=False, overwrite=True, sampling_mode=sampling_mode))
    if summary.get("failed"):
        raise RuntimeError(f"predict failed on {summary['failed']} of {len(videos)} videos: {summary['failures']}")


def inference_rows(videos: Sequence[Path], checkpoint: Path, repeats: int, workers: int, device: str,
                   tmp: Path) -> List[Row]:
    """Videos/s and marginal seconds per video of the tutorial loop (baseline) and the library path."""
    half = len(videos) // 2
    if half < 1:
        raise ValueError("batch inference needs at least 2 videos")
    model = load_classifier_module(str(checkpoint)).to(device)
    library_precision = resolve_precision(model.model.backbone.precision, device)
    model.model.backbone.precision = "fp32"
    library = f"predict.py's library path ({workers} loader workers, CNN {library_precision}"
    runs = {
        "tutorial loop: OpenCV reads every frame, CNN one frame at a time, fp32 (baseline)":
            partial(tutorial_loop, model=model),
        f"{library}, exact sampling)":
            partial(library_predict, checkpoint=checkpoint, output=tmp / "predictions.csv", workers=workers,
                    device=device, sampling_mode="exact"),
        f"{library}, efficient sampling: frames snapped to keyframes)":
            partial(library_predict, checkpoint=checkpoint, output=tmp / "predictions.csv", workers=workers,
                    device=device, sampling_mode="efficient"),
    }
    rows, baseline = [], None
    for what, run in runs.items():
        part, full = timings([partial(run, videos[:half]), partial(run, videos)], repeats)
        marginal = [(f - p) / (len(videos) - half) for f, p in zip(full, part)]
        rate = len(videos) / statistics.median(full)
        per_video = statistics.median(marginal)
        baseline = baseline or per_video
        rows.append(row("inference", f"{what}: {len(videos)} videos", rate, "videos/s",
                        spread=spread([len(videos) / t for t in full])))
        rows.append(row("inference", f"{what}: marginal time per extra video ({half} -> {len(videos)})",
                        per_video, "s/video", baseline / per_video, spread=spread(marginal)))
    return rows + bound_rows(videos, model, library_precision, baseline)


def bound_rows(videos: Sequence[Path], model: VideoClassifierModule, precision: str, baseline: float) -> List[Row]:
    """What bounds the library path: CPU seconds per video of reading each clip's frames (decoding and
    resizing, in this process, one decoder thread, as a loader worker's child does) in each sampling mode,
    and of the CNN on them; their sum spread over this process's cores is the least marginal time per
    video any overlap of the two could reach."""
    cores = max(torch.get_num_threads(), 1)
    model.model.backbone.precision = precision
    rows, cnn = [], None
    for mode in ("exact", "efficient"):
        sampler = clip_sampler_for(PredictOptions("", [], "x.csv", sampling_mode=mode),
                                   dict(model.hparams.get("sampling") or {}))
        start = time.process_time()
        clips = [read_clips(str(v), sampler, model.preprocessing, training=False, isolated=False)["frames"]
                 for v in videos]
        decode = (time.process_time() - start) / len(videos)
        if cnn is None:
            start = time.process_time()
            with torch.no_grad():
                for clip in clips:
                    model.video_probabilities({"frames": clip[None].to(model.device)})
            cnn = (time.process_time() - start) / len(videos)
            rows.append(row("inference", f"bound: the model alone on each video's clip, CNN {precision} (CPU time)",
                            cnn, "s/video"))
        rows.append(row("inference", f"bound: reading each video's clip frames alone, {mode} sampling (the read "
                        "plan, one decoder thread, CPU time)", decode, "s/video"))
        least = (decode + cnn) / cores
        rows.append(row("inference", f"bound: the least marginal time per video, {mode} sampling (reading + CNN "
                        f"CPU time over {cores} cores)", least, "s/video", baseline / least))
    return rows


def precision_rows(videos: Sequence[Path], checkpoint: Optional[Path], sizes: Sequence[int], repeats: int,
                   device: str, tmp: Path, batch: int = 64) -> List[Row]:
    """The CNN alone in fp32 and bf16 at each size (frames/s), and the largest probability difference bf16
    makes on `videos` (the checkpoint's head at its own input size; an untrained one at other sizes)."""
    torch_device, rows = torch.device(device), []
    for size in sizes:
        model = load_classifier_module(str(checkpoint)) if checkpoint is not None else None
        trained = model is not None and model.preprocessing.crop_size == size
        if not trained:  # the checkpoint's head fits its own input size only
            model = load_classifier_module(str(fresh_checkpoint(tmp / f"fresh-{size}.ckpt", size)))
        model = model.to(torch_device)
        backbone, crop = model.model.backbone, model.preprocessing.crop_size
        x = torch.randn(batch, 3, crop, crop, device=torch_device)
        seconds = timings([partial(_synced, backbone, x, "fp32"), partial(_synced, backbone, x, "bf16")], repeats)
        rates = {precision: [batch / s for s in times] for precision, times in zip(("fp32", "bf16"), seconds)}
        probs = {}
        sampler = clip_sampler_for(PredictOptions("", [], "x.csv"), dict(model.hparams.get("sampling") or {}))
        clips = [read_clips(str(v), sampler, model.preprocessing, training=False)["frames"] for v in videos]
        for precision in ("fp32", "bf16"):
            backbone.precision = precision
            with torch.no_grad():
                probs[precision] = torch.cat([model.video_probabilities({"frames": c[None].to(torch_device)})
                                              for c in clips])
        diff = float((probs["fp32"] - probs["bf16"]).abs().max())
        head = "the checkpoint's trained head" if trained else "an untrained head"
        fp32 = statistics.median(rates["fp32"])
        rows.append(row("precision", f"EfficientNet-Lite0 {crop}px fp32, channels_last, batch {batch} (baseline)",
                        fp32, "frames/s", 1.0, spread=spread(rates["fp32"])))
        rows.append(row("precision", f"EfficientNet-Lite0 {crop}px bf16 autocast, channels_last, batch {batch}; "
                        f"max probability difference {diff:.4f} ({len(videos)} videos, {head})",
                        statistics.median(rates["bf16"]), "frames/s", statistics.median(rates["bf16"]) / fp32,
                        spread=spread(rates["bf16"])))
    return rows


def _synced(backbone: torch.nn.Module, x: torch.Tensor, precision: str) -> torch.Tensor:
    backbone.precision = precision
    out = backbone(x)
    if x.device.type == "cuda":
        torch.cuda.synchronize()
    return out


def run_inference_benchmark(videos_dir: Optional[Path], count: int, repeats: int, workers: int, device: str,
                            sizes: Sequence[int], checkpoint: Optional[Path] = None,
                            input_size: int = 112) -> List[Row]:
    """Batch-inference rows on `count` videos of `videos_dir` (copies as needed), then precision rows."""
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        if videos_dir is None:
            videos_dir = tmp / "generated"
            videos_dir.mkdir()
            for i, (w, h) in enumerate(((640, 360), (320, 240), (480, 480))):
                make_test_video(videos_dir / f"clip{i}.mp4", frames=90, width=w, height=h)
        videos = collect_videos(videos_dir, count, tmp / "videos")
        ckpt = checkpoint or fresh_checkpoint(tmp / "fresh.ckpt", input_size, precision="auto")
        rows = inference_rows(videos, ckpt, repeats, workers, device, tmp)
        return rows + precision_rows(videos[:max(2, count // 2)], checkpoint, sizes, repeats, device, tmp)
