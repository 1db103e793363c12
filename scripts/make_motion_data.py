"""Generate the motion set: a stick figure that walks, runs, jumps, waves, sits down or stands up over
frames of real video, one folder per class (flat, ready for k-fold cross-validation).

    python scripts/make_motion_data.py                                  # data/motion, 30 clips a class
    python scripts/make_motion_data.py --clips-per-class 20 --seed 1 --output /tmp/motion
    python scripts/make_motion_data.py --backgrounds /path/to/videos    # backgrounds from your videos
    python scripts/make_motion_data.py --backgrounds procedural         # no videos needed

Backgrounds default to ../shared/data/real-videos beside the repository when it exists, else procedural.
What the clips show, and why: docs/motion_data.md.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import List, Optional, Tuple

from pipeline.demo.motion import generate_motion_dataset
from pipeline.errors import EXIT_OK, InputError, UsageError, run_script


def _pair(text: str, separator: str, what: str) -> Tuple[int, int]:
    parts = text.lower().split(separator)
    if len(parts) == 1:
        parts = parts * 2
    try:
        first, second = (int(part) for part in parts)
    except ValueError:
        raise UsageError(f"{what} must look like N{separator}M, got {text!r}") from None
    return first, second


def generate(argv: Optional[List[str]] = None) -> Path:
    """Parse the options and write the set; returns its folder."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                     allow_abbrev=False)
    parser.add_argument("--output", "--out", dest="output", default="data/motion",
                        help="the data set's folder (default: %(default)s; --out: its old name, accepted in this "
                             "release)")
    parser.add_argument("--clips-per-class", type=int, default=None, help="default: the library's")
    parser.add_argument("--size", default=None, help="WxH in pixels, even (default: the library's)")
    parser.add_argument("--frames", default=None,
                        help="frames per clip, N or MIN-MAX (drawn per clip; default: the library's)")
    parser.add_argument("--seed", type=int, default=None, help="default: the library's")
    parser.add_argument("--backgrounds", default=None,
                        help="a folder of videos to take background frames from, or 'procedural' "
                             "(default: ../shared/data/real-videos when it exists, else procedural)")
    parser.add_argument("--force", action="store_true", help="regenerate even if a complete set exists")
    args = parser.parse_args(argv)

    # Only options the user gave are passed on: the defaults live in the library's signature.
    options = {"clips_per_class": args.clips_per_class, "seed": args.seed, "backgrounds": args.backgrounds}
    if args.size is not None:
        options["width"], options["height"] = _pair(args.size, "x", "--size")
    if args.frames is not None:
        options["frames"] = _pair(args.frames, "-", "--frames")
    options = {key: value for key, value in options.items() if value is not None}
    started = time.monotonic()
    try:
        out = generate_motion_dataset(args.output, force=args.force, **options)
    except InputError:  # a background folder without readable videos
        raise
    except ValueError as exc:  # the generator checks its options (sizes, counts)
        raise UsageError(str(exc)) from exc

    manifest = json.loads((out / "manifest.json").read_text())
    params = manifest["params"]
    counts = {label: sum(clip["label"] == label for clip in manifest["clips"]) for label in manifest["classes"]}
    print(f"motion data set in {out} ({time.monotonic() - started:.0f} s)")
    print("  " + "  ".join(f"{label}: {count}" for label, count in counts.items()))
    print(f"  {params['width']}x{params['height']}, {params['frames'][0]}-{params['frames'][1]} frames at "
          f"{params['fps']:g} fps; backgrounds: {params['backgrounds']}")
    return out


def main(argv: List[str]) -> int:
    generate(argv)
    return EXIT_OK


if __name__ == "__main__":
    run_script(main)
