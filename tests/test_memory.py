"""Memory does not grow with a video's length: caching the features of a long video peaks at about
the memory of caching a short one (both the process that embeds and the decoding child)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from pipeline.demo import write_video

MEASURE = """
import json, resource, sys
from pathlib import Path
from pipeline.data.annotations import VideoRecord
from pipeline.data.feature_cache import FeatureCache, precompute_features
from pipeline.data.readers.isolated import DECODER
from pipeline.training.module import RecognizerModule

video, cache_dir = Path(sys.argv[1]), Path(sys.argv[2])
backbone = RecognizerModule(class_names=["a", "b"], backbone="efficientnet_lite0", input_size=64).frozen_backbone
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
features, errors = precompute_features([VideoRecord(video, 0)], backbone,
                                       FeatureCache(cache_dir, backbone.fingerprint(), "pyav"),
                                       backend="pyav", progress=False)
DECODER.stop()  # reap the decoding child, so that RUSAGE_CHILDREN holds its peak
print(json.dumps({"frames": len(features[0]), "errors": list(errors.values()), "start_kb": before,
                  "self_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  "child_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))
"""


def _frames(count: int, height: int = 240, width: int = 320):
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
    for i in range(count):
        yield np.roll(base, 3 * i, axis=1)


def _peak(video: Path, tmp: Path) -> dict:
    done = subprocess.run([sys.executable, "-c", MEASURE, str(video), str(tmp / f"cache-{video.stem}")],
                          capture_output=True, text=True, check=True, cwd=Path(__file__).resolve().parents[1])
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_caching_a_long_video_peaks_like_a_short_one(tmp_path):
    short = write_video(tmp_path / "short.mp4", _frames(100), fps=25)
    long = write_video(tmp_path / "long.mp4", _frames(1500), fps=25)  # 60 s of 320x240: 346 MB as RGB frames
    small, large = _peak(short, tmp_path), _peak(long, tmp_path)
    assert (small["frames"], large["frames"]) == (100, 1500) and not small["errors"] and not large["errors"]
    grown_self = (large["self_kb"] - large["start_kb"]) - (small["self_kb"] - small["start_kb"])
    grown_child = large["child_kb"] - small["child_kb"]
    # Holding the long video's frames at full size would add 346 MB, at crop size 18 MB; its features 4 MB.
    assert grown_self < 64 * 1024, (small, large)
    assert grown_child < 64 * 1024, (small, large)
