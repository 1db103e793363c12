"""Measure decoding, feature extraction and head training speed side by side; print a Markdown table.

    python scripts/benchmark.py                                   # a generated 640x360 H.264 clip
    python scripts/benchmark.py --video ../shared/data/real-videos/basketball.mp4 --device cuda
    python scripts/benchmark.py --memory-minutes 1 10 60          # + peak memory of caching long videos
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import List

from pipeline.benchmark import BENCHMARK_DEFAULTS, format_markdown, run_benchmark
from pipeline.errors import EXIT_OK, run_script


def main(argv: List[str]) -> int:
    d = BENCHMARK_DEFAULTS
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                     allow_abbrev=False)
    parser.add_argument("--video", type=Path, default=None,
                        help=f"default: a generated {d.video_width}x{d.video_height}, {d.video_frames}-frame clip")
    parser.add_argument("--repeats", type=int, default=d.repeats, help="each figure is the best of this many runs")
    parser.add_argument("--input-size", type=int, default=d.input_size, help="backbone crop size")
    parser.add_argument("--device", default=d.device, help="cpu or cuda")
    parser.add_argument("--memory-minutes", type=float, nargs="*", default=None,
                        help="also measure peak memory of caching generated videos this long, e.g. 1 10 60")
    args = parser.parse_args(argv)
    print(format_markdown(run_benchmark(args.video, args.repeats, args.input_size, args.device, args.memory_minutes)))
    return EXIT_OK


if __name__ == "__main__":
    run_script(main)
