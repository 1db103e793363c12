"""Evaluate a trained checkpoint: metrics, per-class report, confusion matrix, mistakes and an HTML report.

    python scripts/evaluate.py --ckpt runs/demo/version_0/checkpoints/best.ckpt --output eval/
    python scripts/evaluate.py --ckpt best.ckpt --config configs/motion.yaml --split val --output eval_val/
    python scripts/evaluate.py --ckpt best.ckpt --videos more_clips/ --output eval_more/    # root/<class>/<video>
    python scripts/evaluate.py --ckpt best.ckpt --videos labels.txt --output eval_list/     # `path label` lines

Videos come from train.py's data options (--config and any --data.* override; the split is exactly
the one training used, and on the test split the metrics equal what training's test reported) or
from --videos. Written into --output: metrics.json, per_class.csv, confusion_matrix.png, mistakes.csv
and report.html (one self-contained page: open it in a browser, no server needed).

Exit status: 0 done; 2 a wrong option; 4 a wrong input (checkpoint, videos, annotations);
5 --output cannot be written; 1 a bug.
"""
from __future__ import annotations

import argparse
from dataclasses import fields
from typing import List, Optional

from pipeline.errors import UsageError, run_script

DATA_FLAGS = ("--config", "-c")


def build_parser() -> argparse.ArgumentParser:
    from pipeline.evaluation.evaluate import SPLITS, EvaluationOptions

    defaults = {f.name: f.default for f in fields(EvaluationOptions)}
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                     allow_abbrev=False, epilog="Any other option: train.py's --config / --data.*")
    parser.add_argument("--ckpt", required=True, help="a checkpoint written by scripts/train.py")
    parser.add_argument("--output", "--out", dest="output", required=True,
                        help="the folder the report files are written into (--out: its old name, accepted in "
                             "this release)")
    parser.add_argument("--split", choices=SPLITS, default=defaults["split"],
                        help="which split of the data options to evaluate")
    parser.add_argument("--videos", default=None,
                        help="instead of a split: a folder of class folders, or a list file of `path label` lines")
    parser.add_argument("--mistakes", type=int, default=defaults["mistakes"],
                        help="frame strips of the most confident mistakes in report.html")
    parser.add_argument("--batch-size", type=int, default=defaults["batch_size"], help="with --videos")
    parser.add_argument("--workers", type=int, default=None, help="loader workers with --videos (default: one a core)")
    parser.add_argument("--device", default=defaults["device"], choices=["auto", "cpu", "cuda", "gpu"])
    parser.add_argument("--trust-checkpoint", action="store_true",
                        help="load a checkpoint that holds more than plain data (loading it can run code): "
                             "only for checkpoints you made or trust")
    return parser


def parse_args(argv: Optional[List[str]] = None):
    """The evaluation options; unknown options must be train.py's data options (--config, --data.*)."""
    from pipeline.evaluation.evaluate import EvaluationOptions

    args, data_args = build_parser().parse_known_args(argv)
    flags = [a.split("=", 1)[0] for a in data_args if a.startswith("-")]
    wrong = [f for f in flags if f not in DATA_FLAGS and not f.startswith("--data.")]
    if wrong:
        raise UsageError(f"unknown option {wrong[0]} (see --help; data options are --config and --data.*)")
    return EvaluationOptions(ckpt=args.ckpt, out=args.output, data_args=data_args, split=args.split,
                             videos=args.videos, mistakes=args.mistakes, batch_size=args.batch_size,
                             num_workers=args.workers, device=args.device, trust_checkpoint=args.trust_checkpoint)


def main(argv: Optional[List[str]] = None) -> int:
    """Evaluate and print the metrics and where the report is."""
    from pipeline.evaluation.evaluate import evaluate, format_summary

    print(format_summary(evaluate(parse_args(argv))))
    return 0


if __name__ == "__main__":
    run_script(main)
