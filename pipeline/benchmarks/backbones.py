"""Which backbone for which budget: each CNN's frames/s on ready tensors, against EfficientNet-Lite0.

Throughput does not depend on the weights, so every backbone is built without pretrained weights
(`weights="none"`): the rows measure, offline, models whose weights are not on this machine. Each
runs at the precision `backbone_precision: auto` gives it on the device (bf16 on a CPU with native
bf16, fp16 on CUDA, else fp32), channels_last, a batch of `BATCH` frames, at each input size.
"""
from __future__ import annotations

import math
import time
from typing import List, Sequence

import torch

from models import create_backbone
from models.backbones import resolve_precision
from pipeline.benchmarks.rows import Row, best_time, row

BASELINE = "efficientnet_lite0"  # the offline default, the rows' named baseline
BATCH = 32
MIN_SECONDS = 1.0


def _frames_per_s(backbone: torch.nn.Module, size: int, device: torch.device, repeats: int) -> float:
    x = torch.randn(BATCH, 3, size, size, device=device)
    batches = 1

    def cnn() -> object:
        with torch.no_grad():
            for _ in range(batches):
                out = backbone(x)
        if device.type == "cuda":
            torch.cuda.synchronize()
        return out

    start = time.perf_counter()
    cnn()  # warm-up: first-call allocations and kernel choice are not throughput
    # Each timing runs for about MIN_SECONDS, so that a short hiccup of a shared machine weighs little.
    batches = max(1, math.ceil(MIN_SECONDS / max(time.perf_counter() - start, 1e-6)))
    return batches * BATCH / best_time(cnn, repeats)


def backbone_choice_rows(names: Sequence[str], sizes: Sequence[int], device: torch.device,
                         repeats: int) -> List[Row]:
    """One row per (backbone, input size): frames/s of the CNN alone (the best of `repeats` timings), and
    its ratio to `BASELINE` at that size (measured first, in the same run)."""
    names = [BASELINE, *[n for n in names if n != BASELINE]]
    rows = []
    for size in sizes:
        baseline_rate = None
        for name in names:
            backbone = create_backbone(name, weights="none", input_size=size).to(device).eval()
            rate = _frames_per_s(backbone, size, device, repeats)
            baseline_rate = baseline_rate or rate
            params = sum(p.numel() for p in backbone.parameters()) / 1e6
            precision = resolve_precision(backbone.precision, device)
            rows.append(row("backbones", f"{name} {size}px {precision}: {params:.1f} M parameters, "
                                         f"{backbone.feature_dim} features", rate, "frames/s",
                            rate / baseline_rate, None))
    return rows
