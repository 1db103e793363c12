"""How well the motion window (`--model.frame_fit motion`) holds the actor, on a generated motion set.

    python scripts/make_motion_data.py --output data/motion2
    python scripts/window_coverage.py --data data/motion2                       # every clip
    python scripts/window_coverage.py --data data/motion2 --clips-per-class 10  # a quicker look

Prints, over the clips: the mean share of the actor inside the window, the share of clips with at
least 90% and with less than half of it inside, the actor's median height over the window's side,
then the clips that miss most. docs/accuracy.md has the figures.
"""
from __future__ import annotations

import argparse
from typing import List

from pipeline.demo.window_coverage import summarise, window_coverage
from pipeline.errors import EXIT_OK, run_script


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                     allow_abbrev=False)
    parser.add_argument("--data", default="data/motion", help="a set made by make_motion_data.py (default data/motion)")
    parser.add_argument("--clips-per-class", type=int, default=None, help="only the first N clips of each class")
    parser.add_argument("--backend", default="auto", help="the decoder (default auto)")
    args = parser.parse_args(argv)
    rows = window_coverage(args.data, args.clips_per_class, args.backend)
    summary = summarise(rows)
    print(f"{len(rows)} clips: actor inside the window {summary['coverage_mean']:.1%} on average; "
          f">= 90% inside in {summary['share_at_least_90']:.0%} of clips, < 50% in {summary['share_below_50']:.0%}; "
          f"actor height / window side, median {summary['actor_height_median']:.2f}", flush=True)
    for row in sorted(rows, key=lambda row: row.coverage)[:5]:
        print(f"  {row.path}: {row.coverage:.0%} inside, height {row.actor_height:.2f} of the window")
    return EXIT_OK


if __name__ == "__main__":
    run_script(main)
