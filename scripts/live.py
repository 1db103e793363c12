"""Label a camera or network stream as it plays: one JSON record a line, flushed as it is produced.

    python scripts/live.py --ckpt model.ckpt --source rtsp://camera/stream --output events.jsonl
    python scripts/live.py --ckpt model.ckpt --source 0                         # the first camera
    ffmpeg -i input -c copy -f mpegts - | python scripts/live.py --ckpt model.ckpt --source -
    python scripts/live.py --ckpt model.ckpt --source match.mp4 --realtime --events-only

    python scripts/live.py --ckpt model.ckpt --source udp://0.0.0.0:5000 --events-only \
        --on-event https://hooks.example/live --event-frames snapshots/      # alerts with a snapshot

The windows, probabilities and events are predict.py --timeline's (same --window, --stride,
--threshold, --min-duration, --merge-gap, --event-classes), computed as frames arrive. Footage a
stream lost (a silence, timestamps that restart or jump, a source reopened after failing or stalling
for --stall-timeout seconds) is a gap record with its measured duration; windows never span it. The
end of a file or of standard input, SIGINT or SIGTERM end the run with a summary record. Each
event_start and event_end record can also go to a webhook (--on-event) and a command
(--on-event-command), in the background: a receiver that is down or slow never holds up recognition.

Exit status:
  0  the streams ended, or the run was stopped (SIGINT/SIGTERM): the summary was written
  2  a wrong option
  4  a source cannot be opened (no such file, unreachable URL, no camera) or the checkpoint is unusable
  5  the output cannot be written
  1  a bug (the traceback is printed)
"""
from __future__ import annotations

import argparse
from typing import List, Optional

from models.backbones import PRECISIONS
from pipeline.errors import EXIT_OK, run_script
from pipeline.inference.timeline import add_timeline_arguments, timeline_options_from
from pipeline.live.runner import LiveOptions, run_live

# Defaults live in the library's option classes; the parser only shows them.
LIVE = LiveOptions()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                     allow_abbrev=False)
    parser.add_argument("--ckpt", required=True, help="a checkpoint written by scripts/train.py")
    parser.add_argument("--source", required=True, action="append",
                        help="a camera index (0), a URL FFmpeg opens (rtsp://, udp://, srt://, rtmp://, http(s)://, "
                             "HLS), a video file, or - for MPEG-TS on standard input; give it again for more streams")
    parser.add_argument("--output", default=None, help="JSON-lines file the records are appended to "
                                                       "(default: standard output)")
    parser.add_argument("--events-only", action="store_true", help="leave out the window records")
    parser.add_argument("--realtime", action="store_true",
                        help="read a file at its own pace, not as fast as it decodes; with --source -, standard "
                             "input is a live feed (frames dropped when the model falls behind)")
    parser.add_argument("--fps", type=float, default=LIVE.fps, help="frame rate to assume (default: the stream's)")
    parser.add_argument("--stall-timeout", type=float, default=LIVE.stall_timeout,
                        help="seconds without data before a network source or camera is reopened (and to open it)")
    parser.add_argument("--max-backoff", type=float, default=LIVE.max_backoff,
                        help="longest wait between two reopening attempts, seconds")
    parser.add_argument("--queue-frames", type=int, default=LIVE.queue_frames,
                        help="sampled frames a stream may have waiting for the CNN before the oldest is dropped")
    parser.add_argument("--batch-size", type=int, default=LIVE.batch_size, help="frames per CNN batch, all streams")
    parser.add_argument("--log-every", type=float, default=LIVE.log_every, help="seconds between log lines")
    alerts = parser.add_argument_group("alerts (each event_start and event_end record)")
    alerts.add_argument("--on-event", metavar="URL", default=LIVE.on_event,
                        help="POST each event record as JSON to this http(s) URL (a webhook)")
    alerts.add_argument("--on-event-command", metavar="CMD", default=LIVE.on_event_command,
                        help="run CMD with each event record as one JSON line on its standard input "
                             "(words split as a shell would, no shell: use sh -c '...' for pipes)")
    alerts.add_argument("--event-frames", metavar="DIR", default=LIVE.event_frames,
                        help="write a JPEG of each event's peak frame into DIR; its path is the record's frame")
    alerts.add_argument("--alert-timeout", type=float, default=LIVE.alert_timeout,
                        help="seconds one delivery may take (then retried with backoff, 3 times)")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "gpu"],
                        help="auto: the GPU when there is one, with mixed precision")
    parser.add_argument("--backbone-precision", default=None, choices=PRECISIONS,
                        help="the CNN's precision (default: the checkpoint's)")
    parser.add_argument("--trust-checkpoint", action="store_true",
                        help="load a checkpoint that holds more than plain data (only one you made or trust)")
    parser.add_argument("--debug", action="store_true", help="show the traceback of any failure")
    timeline = parser.add_argument_group("windows and events (as predict.py --timeline)")
    add_timeline_arguments(timeline)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    options = LiveOptions(
        sources=tuple(args.source), realtime=args.realtime, fps=args.fps, stall_timeout=args.stall_timeout,
        max_backoff=args.max_backoff, queue_frames=args.queue_frames, batch_size=args.batch_size,
        events_only=args.events_only, log_every=args.log_every, on_event=args.on_event,
        on_event_command=args.on_event_command, event_frames=args.event_frames, alert_timeout=args.alert_timeout,
        timeline=timeline_options_from(args),
    )
    run_live(args.ckpt, options, output=args.output, device=args.device, backbone_precision=args.backbone_precision,
             trust_checkpoint=args.trust_checkpoint)
    return EXIT_OK


if __name__ == "__main__":
    run_script(main)
