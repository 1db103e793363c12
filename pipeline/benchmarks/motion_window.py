"""What finding the motion window costs: per video, against reading one clip of it.

The "motion" frame fit probes each video once (pipeline/data/motion_box.py: 16 pairs of small
frames, optical flow). The baseline is what the pipeline pays for every clip anyway: opening the
video and reading one 16-frame clip (CNN-sized, as training reads it), with the same decoder.
"""
from __future__ import annotations

from pathlib import Path
from typing import List, Tuple

import numpy as np

from models.preprocessing import Preprocessing
from pipeline.benchmarks.rows import Row, best_time, row
from pipeline.data.annotations.discovery import is_video_file
from pipeline.data.motion_box import probe_motion_box
from pipeline.data.readers import VideoReader, read_meta, read_with_fallback
from pipeline.data.transforms import ResizeCrop

CLIP_FRAMES = 16
_CLIP_PREPROCESSING = Preprocessing(resize_size=128, crop_size=112, mean=(0.5,) * 3, std=(0.5,) * 3)


def _times(video: Path, repeats: int, backend: str) -> Tuple[float, float]:
    """(seconds to find the window, seconds to open the video and read one clip)."""

    def find() -> object:  # the probe, not the memo
        return read_with_fallback(video, backend, probe_motion_box, isolated=False, fallback=False)

    def clip(reader: VideoReader) -> object:
        indices = np.linspace(0, reader.meta.num_frames - 1, CLIP_FRAMES).astype(int).tolist()
        return reader.get_frames(indices, ResizeCrop(_CLIP_PREPROCESSING))

    def read_clip() -> object:
        return read_with_fallback(video, backend, clip, isolated=False, fallback=False)

    return best_time(find, repeats), best_time(read_clip, repeats)


def motion_window_rows(folder: Path, repeats: int, backend: str = "auto") -> List[Row]:
    """One row per video file directly in `folder`: windows found per second (each from an empty
    memo), and that against opening the video and reading one 16-frame clip at 112 px; each time the
    best of `repeats`."""
    rows = []
    for video in sorted(p for p in Path(folder).iterdir() if is_video_file(p)):
        probe, clip = _times(video, repeats, backend)
        meta = read_meta(video, backend)
        rows.append(row("motion window", f"{Path(video).name} ({meta.width}x{meta.height}, {meta.num_frames} "
                                         f"frames, {meta.backend}): find the window ({probe:.2f} s)",
                        1 / probe, "videos/s", clip / probe, None))
    return rows
