"""Evaluate a trained checkpoint: metrics, per-class report, confusion matrix, mistakes and an HTML report.

    python scripts/evaluate.py --ckpt runs/demo/version_0/checkpoints/best.ckpt --output eval/
    python scripts/evaluate.py --ckpt best.ckpt --config configs/motion.yaml --split val --output eval_val/
    python scripts/evaluate.py --ckpt best.ckpt --videos more_clips/ --output eval_more/    # root/<class>/<video>
    python scripts/evaluate.py --ckpt best.ckpt --videos labels.txt --output eval_list/     # `path label` lines
    python scripts/evaluate.py --ckpt best.ckpt --events events.csv --output eval_events/  # long videos

Videos come from train.py's data options (--config and any --data.* override; the split is exactly
the one training used, and on the test split the metrics equal what training's test reported) or
from --videos. Written into --output: metrics.json, per_class.csv, confusion_matrix.png, mistakes.csv
and report.html (one self-contained page: open it in a browser, no server needed).

With --events (an events CSV `video,label,start,end`, an ActivityNet JSON or SoccerNet Labels-v2.json
files) the checkpoint scores whole long videos instead (pipeline/evaluation/event_evaluation.py): each
video's timeline, with the checkpoint's window, stride and operating points unless --window, --stride,
--threshold, --min-duration or --merge-gap say otherwise, against the annotated events: segments by
AP at tIoU 0.1-0.7 (THUMOS14) and P/R/F1 at tIoU 0.5, spots by SoccerNet's average-mAP and P/R/F1
within --tolerance. Written into --output: metrics.json, events_detected.csv, events_candidates.csv,
events_missed.csv, events_false.csv, timelines/, report.html, and review.html (each video in a player
under its curves, the true and the found events side by side; docs/review.md).

Exit status: 0 done; 2 a wrong option; 3 done, but some videos could not be read (--events: each is
listed in the report); 4 a wrong input (checkpoint, videos, annotations); 5 --output cannot be written;
1 a bug.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import fields
from typing import List, Optional

from pipeline.errors import EXIT_SOME_FAILED, UsageError, run_script

DATA_FLAGS = ("--config", "-c")
CLIP_FLAGS = ("--split", "--videos", "--batch-size")  # the clip evaluation's alone
EVENT_FLAGS = ("--events-root", "--tolerance", "--window", "--stride", "--threshold", "--min-duration", "--merge-gap")


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
                        help="frame strips of the most confident mistakes in report.html (with --events: of "
                             "the first missed and false events, each list; default there 20)")
    parser.add_argument("--batch-size", type=int, default=defaults["batch_size"], help="with --videos")
    parser.add_argument("--workers", type=int, default=None,
                        help="loader workers with --videos and --events (default: one a core)")
    parser.add_argument("--device", default=defaults["device"], choices=["auto", "cpu", "cuda", "gpu"])
    parser.add_argument("--trust-checkpoint", action="store_true",
                        help="load a checkpoint that holds more than plain data (loading it can run code): "
                             "only for checkpoints you made or trust")
    events = parser.add_argument_group("long videos (--events)")
    events.add_argument("--events", default=None,
                        help="score whole long videos against their events instead: an events CSV "
                             "(video,label,start,end[,group]), an ActivityNet JSON, a SoccerNet Labels-v2.json "
                             "or a folder of them")
    events.add_argument("--events-root", default=None,
                        help="where the videos of --events are (default: the annotation file's folder)")
    events.add_argument("--tolerance", type=float, default=None,
                        help="seconds within which a found spot matches a true one, the whole window (a spot "
                             "counts within tolerance / 2; default 5)")
    for flag, what in (("--window", "window length, seconds"), ("--stride", "seconds between window starts"),
                       ("--threshold", "probability that makes a window an event, every class"),
                       ("--min-duration", "seconds: shorter events are not reported"),
                       ("--merge-gap", "seconds: event segments closer than this are joined")):
        events.add_argument(flag, type=float, default=None, help=f"{what} (default: the checkpoint's)")
    return parser


def parse_args(argv: Optional[List[str]] = None):
    """The evaluation options; unknown options must be train.py's data options (--config, --data.*)."""
    from pipeline.evaluation.evaluate import EvaluationOptions

    args, data_args = build_parser().parse_known_args(argv)
    given = {a.split("=", 1)[0] for a in (sys.argv[1:] if argv is None else argv) if a.startswith("--")}
    if args.events is not None:
        return _event_options(args, data_args, given)
    alone = [f for f in EVENT_FLAGS if f in given]
    if alone:
        raise UsageError(f"{alone[0]} applies to --events only")
    flags = [a.split("=", 1)[0] for a in data_args if a.startswith("-")]
    wrong = [f for f in flags if f not in DATA_FLAGS and not f.startswith("--data.")]
    if wrong:
        raise UsageError(f"unknown option {wrong[0]} (see --help; data options are --config and --data.*)")
    return EvaluationOptions(ckpt=args.ckpt, out=args.output, data_args=data_args, split=args.split,
                             videos=args.videos, mistakes=args.mistakes, batch_size=args.batch_size,
                             num_workers=args.workers, device=args.device, trust_checkpoint=args.trust_checkpoint)


def _event_options(args: argparse.Namespace, data_args: List[str], given: set):
    """The options of --events; the clip evaluation's videos (--videos, --split, data options) conflict."""
    from pipeline.evaluation.event_evaluation import DEFAULT_STRIPS, DEFAULT_TOLERANCE, EventEvaluationOptions

    conflicting = [f for f in CLIP_FLAGS if f in given] + [a.split("=", 1)[0] for a in data_args if a.startswith("-")]
    if conflicting:
        raise UsageError(f"--events and {conflicting[0]}: give either --events or the videos of a clip evaluation "
                         "(--videos, --split, train.py's --config / --data.*), not both")
    return EventEvaluationOptions(
        ckpt=args.ckpt, events=args.events, out=args.output, events_root=args.events_root, device=args.device,
        window=args.window, stride=args.stride, threshold=args.threshold, min_duration=args.min_duration,
        merge_gap=args.merge_gap, tolerance=DEFAULT_TOLERANCE if args.tolerance is None else args.tolerance,
        strips=args.mistakes if "--mistakes" in given else DEFAULT_STRIPS, num_workers=args.workers,
        trust_checkpoint=args.trust_checkpoint)


def main(argv: Optional[List[str]] = None) -> int:
    """Evaluate and print the metrics and where the report is."""
    from pipeline.evaluation.event_evaluation import EventEvaluationOptions, evaluate_events, format_event_summary

    options = parse_args(argv)
    if isinstance(options, EventEvaluationOptions):
        report = evaluate_events(options)
        print(format_event_summary(report))
        return EXIT_SOME_FAILED if report["unreadable_videos"] else 0
    from pipeline.evaluation.evaluate import evaluate, format_summary

    print(format_summary(evaluate(options)))
    return 0


if __name__ == "__main__":
    run_script(main)
