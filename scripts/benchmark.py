"""Measure decoding, feature extraction and head training speed side by side; print a Markdown table.

    python scripts/benchmark.py                                   # a generated 640x360 H.264 clip
    python scripts/benchmark.py --video ../shared/data/real-videos/basketball.mp4 --device cuda
    python scripts/benchmark.py --memory-minutes 1 10 60          # + peak memory of caching long videos
    python scripts/benchmark.py --inference-videos 32 --inference-dir ../shared/data/real-videos
                                # + predict.py against a tutorial loop on 16 and 32 videos, fp32 vs bf16 CNN
    python scripts/benchmark.py --only-inference --inference-videos 4 --repeats 1 --precision-sizes 112  # smoke
    python scripts/benchmark.py --only-inference --inference-mixed data/mixed --precision-sizes 112
                                # predict.py, exact and efficient sampling, on a mixed real folder with long GOPs
    python scripts/benchmark.py --only-first-run --first-run 64 --first-run-dir data/phone64
                                # train.py from an empty cache on 64 generated 720p/1080p phone clips
    python scripts/benchmark.py --device cuda --only-first-run --first-run 64 --finetune-run 32
                                # on a GPU: + fine-tuning on 360p clips, with the GPU's busy share
    python scripts/benchmark.py --only-live --live-checkpoint best.ckpt --live-memory-minutes 1 10
                                # live.py on 25 fps 720p UDP streams: latency, streams held, memory
    python scripts/benchmark.py --only-events-hour --events-hour data/fight_events/fights.csv
                                # an hour of 720p fight footage: cache fill, training from its event times,
                                # a timeline over it, each with the peak memory of its process tree
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import List

import torch

from pipeline.benchmarks.mixed_folder import make_mixed_folder
from pipeline.benchmarks.rows import BENCHMARK_DEFAULTS, format_markdown
from pipeline.benchmarks.runner import run_benchmark
from pipeline.errors import EXIT_OK, UsageError, run_script


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
    parser.add_argument("--inference-videos", type=int, default=d.inference_videos,
                        help="batch-inference rows on this many videos (and half as many, for the marginal time "
                             "per video), the folder's files copied as often as needed; 0 leaves them out")
    parser.add_argument("--inference-dir", type=Path, default=None,
                        help="the videos of the inference rows (default: three generated clips of mixed sizes)")
    parser.add_argument("--inference-mixed", type=Path, default=None, metavar="DIR",
                        help="build (or reuse) a mixed real folder in DIR for the inference rows: the clips of "
                             "--mixed-real, 10 clips per class of --mixed-labelled, generated long-GOP 720p/1080p "
                             "H.264, MPEG-4 and raw AVIs; every file is labelled (--inference-videos: how many)")
    parser.add_argument("--mixed-real", type=Path, default=Path("../shared/data/real-videos"),
                        help="the real clips of --inference-mixed")
    parser.add_argument("--mixed-labelled", type=Path, default=Path("data/fight"),
                        help="a class-folder set whose first clips --inference-mixed adds (skipped when absent)")
    parser.add_argument("--checkpoint", type=Path, default=None,
                        help="the inference rows' model (default: a freshly built, untrained one)")
    parser.add_argument("--inference-workers", type=int, default=d.inference_workers,
                        help="predict.py's loader workers in the inference rows")
    parser.add_argument("--precision-sizes", type=int, nargs="+", default=list(d.precision_sizes),
                        help="input sizes of the fp32 / bf16 CNN rows")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads of this process (default: torch's, one per core); on a busy machine 1 "
                             "avoids threads waiting on each other")
    parser.add_argument("--phone-clips", type=int, default=0,
                        help="cache-fill rows: generate this many 720p/1080p phone-like clips and fill the feature "
                             "cache from empty, every frame vs the default rate")
    parser.add_argument("--raw-avis", type=int, default=0, metavar="CLIPS",
                        help="raw-video rows: fill the feature cache for this many generated raw-video AVIs with "
                             "the default decoder choice and with the decoder that reads them named")
    parser.add_argument("--only-raw-avis", action="store_true", help="only the raw-video rows")
    parser.add_argument("--first-run", type=int, default=0, metavar="CLIPS",
                        help="first-run rows: scripts/train.py --config configs/list.yaml from an empty cache on this "
                             "many generated phone-like clips (e.g. 64), seconds and peak memory")
    parser.add_argument("--first-run-dir", type=Path, default=None,
                        help="keep the first run's generated clips here and reuse them (default: a temporary folder)")
    parser.add_argument("--finetune-run", type=int, default=0, metavar="CLIPS",
                        help="fine-tuning rows: the same run with the backbone trained (2 epochs, 224 px) on this many "
                             "generated 640x360 clips, with the GPU's busy share where nvidia-smi answers")
    parser.add_argument("--only-first-run", action="store_true", help="only the first-run and fine-tuning rows")
    parser.add_argument("--backbones", nargs="*", default=[], metavar="NAME",
                        help="backbone-choice rows: the CNN alone for each of these (e.g. timm/resnet50), beside "
                             "efficientnet_lite0, built without pretrained weights (speed does not depend on them)")
    parser.add_argument("--backbone-sizes", type=int, nargs="+", default=list(d.backbone_sizes),
                        help="input sizes of the backbone-choice rows")
    parser.add_argument("--only-inference", action="store_true", help="only the inference and precision rows")
    parser.add_argument("--only-backbones", action="store_true", help="only the backbone-choice rows")
    parser.add_argument("--motion-window-dir", type=Path, default=None,
                        help="motion-window rows: what finding the window costs for each video in this folder")
    parser.add_argument("--only-motion-window", action="store_true", help="only the motion-window rows")
    parser.add_argument("--live", action="store_true",
                        help="+ live recognition rows: 25 fps 720p streams over UDP (minutes: see --live-seconds)")
    parser.add_argument("--only-live", action="store_true", help="only the live rows")
    parser.add_argument("--live-checkpoint", type=Path, default=None,
                        help="the model of the live rows at its input size (default: the demo's architecture, "
                             "untrained)")
    parser.add_argument("--live-sizes", type=int, nargs="*", default=list(d.precision_sizes),
                        help="input sizes of the live latency rows (none: leave them out)")
    parser.add_argument("--live-seconds", type=float, default=d.live_seconds,
                        help="seconds each latency trial streams (the streams-held trials half of it)")
    parser.add_argument("--live-max-streams", type=int, default=d.live_max_streams,
                        help="the most streams the live trials try (0: leave those rows out)")
    parser.add_argument("--live-memory-minutes", type=float, nargs="*", default=None,
                        help="resident memory of one live stream after these minutes (e.g. 1 10)")
    parser.add_argument("--live-carried-video", type=Path, default=None,
                        help="a video to measure what carrying the recurrent head's state would change "
                             "(needs --live-checkpoint)")
    parser.add_argument("--events-hour", type=Path, default=None, metavar="EVENTS_CSV",
                        help="training from event times and a timeline on an hour of 720p footage made from the "
                             "long videos of this events CSV (e.g. the fight timelines' fights.csv)")
    parser.add_argument("--events-hour-dir", type=Path, default=Path("data/hour"),
                        help="where the hour, its events and the runs on it are kept")
    parser.add_argument("--only-events-hour", action="store_true", help="only the hour-of-footage rows")
    parser.add_argument("--events-hour-no-timeline", action="store_true",
                        help="leave out the timeline over the hour (its slowest step): the fill and training only")
    args = parser.parse_args(argv)
    if args.only_events_hour and not args.events_hour:
        raise UsageError("--only-events-hour needs --events-hour EVENTS_CSV")
    if args.threads:
        torch.set_num_threads(args.threads)
    inference = None
    if args.inference_mixed:
        labelled = args.mixed_labelled if args.mixed_labelled.is_dir() else None
        mixed = make_mixed_folder(args.inference_mixed, args.mixed_real, labelled)
        args.inference_dir, args.inference_videos = args.inference_mixed, args.inference_videos or len(mixed)
    if args.inference_videos:
        inference = {"videos_dir": args.inference_dir, "count": args.inference_videos, "checkpoint": args.checkpoint,
                     "workers": args.inference_workers, "sizes": args.precision_sizes}
    elif args.only_inference:
        raise UsageError("--only-inference needs --inference-videos N")
    if args.only_backbones and not args.backbones:
        raise UsageError("--only-backbones needs --backbones NAME [NAME ...]")
    if args.only_motion_window and not args.motion_window_dir:
        raise UsageError("--only-motion-window needs --motion-window-dir DIR")
    for flag, clips in (("--first-run", args.first_run), ("--finetune-run", args.finetune_run)):
        if clips < 0 or clips == 1:
            raise UsageError(f"{flag} needs at least 2 clips (two classes), got {clips}")
    if (args.only_first_run or args.first_run_dir) and not (args.first_run or args.finetune_run):
        raise UsageError("--only-first-run and --first-run-dir need --first-run or --finetune-run CLIPS")
    live = None
    if args.live or args.only_live:
        live = {"checkpoint": args.live_checkpoint, "sizes": args.live_sizes, "seconds": args.live_seconds,
                "max_streams": args.live_max_streams, "memory_minutes": args.live_memory_minutes or (),
                "carried_video": args.live_carried_video}
    if args.live_carried_video and not args.live_checkpoint:
        raise UsageError("--live-carried-video needs --live-checkpoint (a trained head)")
    core = not (args.only_inference or args.only_backbones or args.only_motion_window or args.only_first_run
                or args.only_raw_avis or args.only_live or args.only_events_hour)
    print(format_markdown(run_benchmark(args.video, args.repeats, args.input_size, args.device, args.memory_minutes,
                                        inference, core=core, phone_clips=args.phone_clips,
                                        backbones=args.backbones, backbone_sizes=args.backbone_sizes,
                                        motion_window_dir=args.motion_window_dir, first_run=args.first_run,
                                        first_run_dir=args.first_run_dir, finetune_run=args.finetune_run,
                                        raw_avis=args.raw_avis, live=live,
                                        events_hour=(args.events_hour, args.events_hour_dir) if args.events_hour
                                        else None, events_hour_timeline=not args.events_hour_no_timeline)))
    return EXIT_OK


if __name__ == "__main__":
    run_script(main)
