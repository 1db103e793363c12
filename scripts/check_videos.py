"""Check a dataset's videos before a long run: every file is decoded in an isolated process (a decoder
that crashes or hangs costs that file only) and gets a verdict.

    python scripts/check_videos.py data/clips/                 # a folder (searched recursively)
    python scripts/check_videos.py videos.txt --clip-len 16    # a list file (one path a line)
    python scripts/check_videos.py --config configs/list.yaml  # the videos of a config's data section

Verdicts:
  ok               decodes, at least a clip's worth of frames
  too_short        fewer frames than a clip (--clip-len, or the config's data.clip_len); padded when used
  header_mismatch  the container's frame count disagrees with the frames that decode (those are used)
  not_found, empty_file, unreadable, no_video_stream, decode_error   cannot be read
  decoder_crashed  the decoder died on it;  decoder_timeout  it took longer than --decode-timeout
A file the chosen decoder cannot read but another installed one can is "ok", and its reason says so.

The table lists the files that are not ok (--all: every file), then a summary; the CSV (--output)
has every file. Verdicts are cached (--cache) by resolved path, size, modification time and decoder,
so a second run checks only new or changed files.

Exit status: 0 every file is ok, 3 some are not, 2 a wrong option, 4 a missing input or a broken
config/annotations, 5 the CSV cannot be written, 1 a bug. --debug shows the traceback.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from pipeline.atomic_io import check_writable, write_csv_atomic
from pipeline.data.annotations import build_splits
from pipeline.data.readers import DEFAULT_DECODE_TIMEOUT, fallback_order
from pipeline.data.sampling import SAMPLING_DEFAULTS
from pipeline.data.video_check import VideoCheck, check_videos, summary_counts
from pipeline.data.workers import resolve_num_workers
from pipeline.errors import EXIT_OK, EXIT_SOME_FAILED, InputError, UsageError, run_script
from pipeline.inference.inputs import collect_inputs

COLUMNS = ("path", "status", "decoder", "frames", "header_frames", "fps", "width", "height", "duration", "reason")
SPLIT_KEYS = ("train_list", "val_list", "test_list", "class_list", "annotation_dir", "ucf_split", "hmdb_split",
              "val_fraction", "test_fraction")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                     allow_abbrev=False)
    parser.add_argument("data", nargs="*", help="folders, video files or list files")
    parser.add_argument("--config", help="a training config: check the videos of its data section")
    parser.add_argument("--clip-len", type=int, default=None,
                        help="frames in a clip (default: the config's data.clip_len, else "
                             f"{SAMPLING_DEFAULTS.clip_len})")
    parser.add_argument("--backend", default=None,
                        help="decoder: auto, decord, opencv, pyav, nvdec (GPU) or 'module:Class' "
                             "(default: the config's, else auto)")
    parser.add_argument("--no-fallback", action="store_true", help="judge the chosen decoder alone")
    parser.add_argument("--decode-timeout", type=float, default=DEFAULT_DECODE_TIMEOUT,
                        help="seconds a decoder may take on one file")
    parser.add_argument("--workers", type=int, default=None,
                        help="parallel checking processes (0: this one; default: one per CPU core this process may "
                             "use)")
    parser.add_argument("--output", default="video_check.csv", help="the CSV of every file's verdict")
    parser.add_argument("--cache", default=".cache/video_check.json", help="the verdict cache (JSON)")
    parser.add_argument("--no-cache", action="store_true", help="check every file again, cache nothing")
    parser.add_argument("--all", action="store_true", help="list every file in the table, not only the bad ones")
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("--debug", action="store_true", help="show the traceback of any failure")
    return parser


def config_videos(config: str) -> Tuple[List[str], Dict]:
    """The videos of a config's data section (train, val and test, each once) and that section."""
    import yaml

    try:
        data = (yaml.safe_load(Path(config).read_text(encoding="utf-8")) or {}).get("data") or {}
    except (OSError, yaml.YAMLError) as exc:
        raise InputError(f"{config}: cannot be read as a YAML config ({exc})") from None
    if not isinstance(data, dict) or "root" not in data:
        raise InputError(f"{config}: no data section with a root")
    kwargs = {k: data[k] for k in SPLIT_KEYS if data.get(k) is not None}
    if data.get("split_seed") is not None:
        kwargs["seed"] = data["split_seed"]
    splits = build_splits(data.get("format", "folders"), data["root"], check_files=False, **kwargs)
    videos = [str(r.path) for r in [*splits.train, *splits.val, *splits.test]]
    return list(dict.fromkeys(videos)), data


def resolve_job(args: argparse.Namespace) -> Tuple[List[str], int, str]:
    """The videos, the clip length and the decoder of this check; wrong options raise UsageError."""
    if bool(args.data) == bool(args.config):
        raise UsageError("give the videos (folders, files, list files) or --config, one of the two")
    section: Dict = {}
    videos = collect_inputs(args.data) if args.data else []
    if args.config:
        videos, section = config_videos(args.config)
        if not videos:
            raise InputError(f"{args.config}: its data section lists no videos")
    clip_len = args.clip_len if args.clip_len is not None else int(section.get("clip_len", SAMPLING_DEFAULTS.clip_len))
    backend = args.backend or section.get("backend") or "auto"
    problems = []
    if clip_len < 1:
        problems.append(f"--clip-len {clip_len}: must be at least 1")
    if args.workers is not None and args.workers < 0:
        problems.append(f"--workers {args.workers}: must be 0 or more")
    if not args.decode_timeout > 0:
        problems.append(f"--decode-timeout {args.decode_timeout}: must be a positive number of seconds")
    try:
        fallback_order(backend)
    except (ValueError, RuntimeError) as exc:
        problems.append(f"--backend: {exc}")
    if problems:
        raise UsageError("; ".join(problems))
    return videos, clip_len, backend


def _cell(value: object) -> str:
    return "" if value is None else str(value)


def format_table(checks: Sequence[VideoCheck]) -> str:
    """A fixed-width table: path, status, decoder, frames, fps, size, duration, reason."""
    header = ("path", "status", "decoder", "frames", "fps", "size", "duration", "reason")
    rows = [header] + [(c.path, c.status, _cell(c.decoder), _cell(c.frames), _cell(c.fps),
                        f"{c.width}x{c.height}" if c.width else "", _cell(c.duration), c.reason) for c in checks]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header) - 1)]
    return "\n".join("  ".join([*(r[i].ljust(w) for i, w in enumerate(widths)), r[-1]]).rstrip() for r in rows)


def format_summary(checks: Sequence[VideoCheck], output: str) -> str:
    """How many files got each verdict, and where the CSV is."""
    counts = summary_counts(checks)
    usable = sum(c.usable for c in checks)
    lines = [f"{counts.get('ok', 0)} ok of {len(checks)} videos ({usable} usable) -> {output}"]
    lines += [f"  {status:<16} {count}" for status, count in sorted(counts.items()) if status != "ok"]
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    """Check the videos; 0 when every one is ok, 3 when some are not."""
    args = build_parser().parse_args(argv)
    videos, clip_len, backend = resolve_job(args)
    check_writable(Path(args.output))
    bar = None
    if not args.no_progress:
        from tqdm import tqdm

        bar = tqdm(total=len(videos), unit="video", desc="checking", dynamic_ncols=True, file=sys.stderr)
    try:
        workers = min(resolve_num_workers(args.workers), len(videos))
        checks = check_videos(videos, backend, clip_len, args.decode_timeout, workers,
                              None if args.no_cache else args.cache, fallback=not args.no_fallback,
                              on_result=(lambda _: bar.update()) if bar is not None else None)
    finally:
        if bar is not None:
            bar.close()
    write_csv_atomic(args.output, COLUMNS, [[_cell(getattr(c, k)) for k in COLUMNS] for c in checks])
    shown = checks if args.all else [c for c in checks if not c.ok]
    if shown:
        print(format_table(shown))
    print(format_summary(checks, os.fspath(args.output)))
    return EXIT_OK if all(c.ok for c in checks) else EXIT_SOME_FAILED


if __name__ == "__main__":
    run_script(main)
