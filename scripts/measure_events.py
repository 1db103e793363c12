"""Measure training from event times against training on cut clips, on the same long videos, in grouped folds.

    python scripts/measure_events.py --events data/fight_events/events.csv --clips data/fight_src/clips.csv \
        --folds 5 --output runs/fight_event_folds

`--events` is an events CSV of long videos (`video,label,start,end,group`), `--clips` a CSV of the cut
clips they were made from (`path,label,group`, the same groups). Each fold holds out whole groups; both
trainings and their scores on the held-out long videos go to `--output/fold<k>/` (a finished fold is read
back: a stopped measurement resumes). What is compared: pipeline/benchmarks/event_folds.py.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import List

from pipeline.benchmarks.event_folds import run_fold, summarize
from pipeline.errors import EXIT_OK, run_script


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                     allow_abbrev=False)
    parser.add_argument("--events", required=True, help="the events CSV of the long videos")
    parser.add_argument("--clips", required=True, help="the clips CSV (path,label,group)")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--only-fold", type=int, default=None, help="run this fold alone")
    parser.add_argument("--output", required=True)
    parser.add_argument("--cache-dir", default=".cache/features")
    parser.add_argument("--max-epochs", type=int, default=20)
    args, common = parser.parse_known_args(argv)  # the rest: train.py options for both trainings
    out = Path(args.output)
    folds = [args.only_fold] if args.only_fold is not None else range(args.folds)
    results = [run_fold(Path(args.events).resolve(), Path(args.clips).resolve(), args.folds, k, out / f"fold{k}",
                        Path(args.cache_dir), common, args.max_epochs) for k in folds]
    print("\n".join(summarize(results)))
    (out / "summary.json").write_text(json.dumps(results, indent=2, default=str))
    return EXIT_OK


if __name__ == "__main__":
    run_script(main)
