"""Measure decoding, feature extraction and head training speed side by side; print a Markdown table.

    python scripts/benchmark.py                                   # a generated 640x360 H.264 clip
    python scripts/benchmark.py --video ../shared/data/real-videos/basketball.mp4 --device cuda
"""
from __future__ import annotations

import argparse
from pathlib import Path

from pipeline.benchmark import format_markdown, run_benchmark

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--video", type=Path, default=None, help="default: a generated 640x360, 300-frame clip")
    parser.add_argument("--repeats", type=int, default=3, help="each figure is the best of this many runs")
    parser.add_argument("--input-size", type=int, default=112, help="backbone crop size")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    args = parser.parse_args()
    print(format_markdown(run_benchmark(args.video, args.repeats, args.input_size, args.device)))
