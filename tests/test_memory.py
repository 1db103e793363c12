"""Memory does not grow with a video's length: caching the features of a long video peaks at about
the memory of caching a short one (both the process that embeds and the decoding child)."""
from __future__ import annotations

import pytest

from pipeline.benchmark import make_test_video, measure_cache_memory


@pytest.mark.slow  # 25-30 s of decoding 1,600 frames; docs/benchmarks.md's memory rows measure the same
def test_caching_a_long_video_peaks_like_a_short_one(tmp_path):
    short = make_test_video(tmp_path / "short.mp4", frames=100, width=320, height=240, fps=25)
    long = make_test_video(tmp_path / "long.mp4", frames=1500, width=320, height=240, fps=25)  # 346 MB as RGB
    small = measure_cache_memory(short, tmp_path / "cache", input_size=64)
    large = measure_cache_memory(long, tmp_path / "cache", input_size=64)
    assert (small["frames"], large["frames"]) == (100, 1500) and not small["errors"] and not large["errors"]
    # Holding the long video's frames at full size would add 346 MB, at crop size 18 MB; its features 4 MB.
    assert large["grown_mb"] - small["grown_mb"] < 64, (small, large)
    assert large["child_peak_mb"] - small["child_peak_mb"] < 64, (small, large)
