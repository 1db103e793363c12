"""Label videos with a trained checkpoint.

    python scripts/predict.py --ckpt model.ckpt --input videos/ --output preds.csv
    python scripts/predict.py --ckpt model.ckpt --input match.mp4 --output goals.csv \\
        --timeline --window 2 --stride 0.5 --event-classes goal

With --timeline, <output stem>_timeline/ gets each video's windows, events and plot, events.csv, and
review.html: each video in a player under its curves, its events a click away (docs/review.md).

Re-running with the same --output resumes: videos that already have a row are skipped (a video
is known by its resolved path, however it is spelled). Options, the checkpoint, the inputs and the
output are checked before any video is read; a problem ends the run in one line (--debug shows
the traceback) and nothing is written.

Exit status:
  0  every video was read
  3  some videos could not be read (each still has a row saying why)
  2  a wrong option, or the output was written with other settings (new --output or --overwrite)
  4  an input is wrong: a missing or unusable checkpoint, a missing input, no videos found
  5  the output cannot be written
  1  a bug (the traceback is printed)
"""
from __future__ import annotations

import argparse
from dataclasses import fields
from typing import List, Optional, Union

from models.backbones import PRECISIONS
from pipeline.data.sampling import SAMPLING_MODES
from pipeline.errors import run_script
from pipeline.inference import PredictOptions, format_summary, predict
from pipeline.inference.timeline import add_timeline_arguments, timeline_options_from

# Defaults live in the library's option classes; the parser only shows them.
DEFAULTS = {f.name: f.default for f in fields(PredictOptions)}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                     allow_abbrev=False)
    parser.add_argument("--ckpt", required=True, help="a checkpoint written by scripts/train.py")
    parser.add_argument("--input", required=True, nargs="+",
                        help="folders (searched recursively), video files, or list files (.txt/.csv: one path a line)")
    parser.add_argument("--output", required=True, help="the table to write (.csv, or .jsonl)")
    parser.add_argument("--format", choices=["csv", "jsonl"], default=None, help="default: from --output's suffix")
    parser.add_argument("--clips", type=int, default=None, help="clips per video, probabilities averaged")
    parser.add_argument("--sampling-mode", choices=SAMPLING_MODES, default=None,
                        help="efficient: each frame snapped to the nearest keyframe (less decoding); "
                             "default: the checkpoint's (docs/inference.md)")
    parser.add_argument("--top-k", type=int, default=DEFAULTS["top_k"])
    parser.add_argument("--batch-size", type=int, default=DEFAULTS["batch_size"])
    parser.add_argument("--workers", type=int, default=DEFAULTS["num_workers"],
                        help="DataLoader workers that decode (default: one per CPU core this process may use)")
    parser.add_argument("--device", default=DEFAULTS["device"], choices=["auto", "cpu", "cuda", "gpu"],
                        help="auto: the GPU when there is one, with mixed precision")
    parser.add_argument("--devices", type=_devices, default=DEFAULTS["devices"],
                        help="processes/GPUs per node (Lightning's devices): 2, -1 or auto")
    parser.add_argument("--num-nodes", type=int, default=DEFAULTS["num_nodes"])
    parser.add_argument("--strategy", default=DEFAULTS["strategy"],
                        help="e.g. ddp to run on several GPUs or CPU processes")
    parser.add_argument("--precision", default=None, help="default: 16-mixed on a GPU, 32-true on the CPU")
    parser.add_argument("--backbone-precision", default=None, choices=PRECISIONS,
                        help="the CNN's precision (auto: bf16 on CPUs with native bf16, fp16 on CUDA); "
                             "default: the checkpoint's")
    parser.add_argument("--backend", default=None,
                        help="video decoder: auto, decord, opencv, pyav, nvdec (GPU) or a custom reader 'module:Class' "
                             "(default: the one the model was trained with)")
    parser.add_argument("--decode-timeout", type=float, default=DEFAULTS["decode_timeout"],
                        help="seconds a decoder may take on one file before the file is given up "
                             "(status decoder_timeout)")
    parser.add_argument("--trust-checkpoint", action="store_true",
                        help="load a checkpoint that holds more than plain data (this can run code from it: "
                             "only for checkpoints you made or trust)")
    parser.add_argument("--overwrite", action="store_true", help="start the output again instead of resuming")
    parser.add_argument("--retry-failed", action="store_true", help="when resuming, try failed videos again")
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("--debug", action="store_true", help="show the traceback of any failure")
    timeline = parser.add_argument_group("timeline (long videos)")
    timeline.add_argument("--timeline", action="store_true", help="score sliding windows over each video")
    add_timeline_arguments(timeline)
    timeline.add_argument("--timeline-dir", default=None, help="default: <output stem>_timeline/")
    return parser


def _devices(text: str) -> Union[int, str]:
    if text == "auto":
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: a number of devices, -1 (all) or auto") from None


def parse_args(argv: Optional[List[str]] = None) -> PredictOptions:
    """The command line as PredictOptions (argparse exits 2 on a malformed one)."""
    args = build_parser().parse_args(argv)
    return PredictOptions(
        checkpoint=args.ckpt,
        inputs=args.input,
        output=args.output,
        format=args.format,
        clips=args.clips,
        sampling_mode=args.sampling_mode,
        top_k=args.top_k,
        batch_size=args.batch_size,
        num_workers=args.workers,
        device=args.device,
        devices=args.devices,
        num_nodes=args.num_nodes,
        strategy=args.strategy,
        precision=args.precision,
        backbone_precision=args.backbone_precision,
        backend=args.backend,
        decode_timeout=args.decode_timeout,
        trust_checkpoint=args.trust_checkpoint,
        overwrite=args.overwrite,
        retry_failed=args.retry_failed,
        progress=not args.no_progress,
        timeline=timeline_options_from(args) if args.timeline else None,
        timeline_dir=args.timeline_dir,
    )


def main(argv: Optional[List[str]] = None) -> int:
    """Predict; the exit status is the summary's (0, or 3 when some videos could not be read)."""
    summary = predict(parse_args(argv))
    if "output" in summary:  # rank 0
        print(format_summary(summary))
    return summary["exit_code"]


if __name__ == "__main__":
    run_script(main)
