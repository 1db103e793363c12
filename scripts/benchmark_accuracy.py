"""Cross-validated accuracy of each small-data technique, per head; prints a Markdown table (docs/accuracy.md).

    python scripts/make_motion_data.py                       # the motion benchmark set, data/motion
    python scripts/benchmark_accuracy.py --data data/motion  # every step x head, 5 folds each; resumable

Options other than the ones below go to every training run (e.g. `--model.input_size 160`).
"""
from __future__ import annotations

import argparse
from typing import List

from pipeline.benchmarks.accuracy import HEADS, format_markdown, run_accuracy_benchmark
from pipeline.errors import EXIT_OK, run_script


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                     allow_abbrev=False)
    parser.add_argument("--data", default="data/motion", help="class folders of videos (default data/motion)")
    parser.add_argument("--folds", type=int, default=5, help="cross-validation folds (default 5)")
    parser.add_argument("--output", "--out", dest="output", default="runs/accuracy",
                        help="where the runs and accuracy.json go (default %(default)s; --out: its old name, "
                             "accepted in this release)")
    parser.add_argument("--heads", nargs="*", choices=list(HEADS), default=None, help="only these heads")
    parser.add_argument("--steps", nargs="*", default=None, metavar="TEXT",
                        help="only the steps whose name contains one of these (e.g. \"centre crop\" motion)")
    known, extra = parser.parse_known_args(argv)
    cells = run_accuracy_benchmark(known.data, known.folds, known.output, extra, heads=known.heads, steps=known.steps)
    print(format_markdown(cells, known.folds), flush=True)
    return EXIT_OK


if __name__ == "__main__":
    run_script(main, lightning_run_info=True)  # a training run says where it trains and its seed
