"""Generate the embedded synthetic demo data set (football goal/no_goal, or ball direction).

    python scripts/make_demo_data.py                          # football set in data/demo/football
    python scripts/make_demo_data.py --set direction          # direction set in data/demo/direction
    python scripts/make_demo_data.py --output /tmp/goals --seed 1
    python scripts/make_demo_data.py --set match              # one long video + goals.csv in data/demo/match

What the clips show, and why: docs/demo_data.md.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import List, Optional

from pipeline.demo import generate_direction_dataset, generate_football_dataset, generate_match_video
from pipeline.demo.reference import compare_with_reference
from pipeline.errors import EXIT_OK, UsageError, run_script

GENERATORS = {"football": generate_football_dataset, "direction": generate_direction_dataset}


def generate(argv: Optional[List[str]] = None) -> Path:
    """Parse the options and write the chosen set; returns its folder (the match: its video)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                     allow_abbrev=False)
    parser.add_argument("--output", "--out", dest="output", default=None,
                        help="the data set's folder (default: data/demo/<set>; --out: its old name, accepted in "
                             "this release)")
    parser.add_argument("--set", choices=[*sorted(GENERATORS), "match"], default="football", dest="which",
                        help="match: one long video of --clips football clips, --goals of them goals")
    parser.add_argument("--clips", type=int, default=None, help="match: clips in the video")
    parser.add_argument("--goals", type=int, default=None, help="match: how many of them are goals")
    parser.add_argument("--seed", type=int, default=None, help="default: the library's")
    parser.add_argument("--n-train", type=int, default=None, help="clips in train, both classes together")
    parser.add_argument("--n-val", type=int, default=None)
    parser.add_argument("--n-test", type=int, default=None)
    parser.add_argument("--size", type=int, default=None, help="frame side in pixels (even)")
    parser.add_argument("--frames", type=int, default=None, help="frames per clip")
    parser.add_argument("--force", action="store_true", help="regenerate even if a complete set exists")
    args = parser.parse_args(argv)

    out_dir = Path(args.output) if args.output else Path("data/demo") / args.which
    # Only options the user gave are passed on: the defaults live in the library's signatures.
    options = {"seed": args.seed, "n_train": args.n_train, "n_val": args.n_val, "n_test": args.n_test,
               "size": args.size, "num_frames": args.frames}
    options = {key: value for key, value in options.items() if value is not None}
    try:
        if args.which == "match":
            match = {"n_clips": args.clips, "goals": args.goals, "seed": args.seed, "size": args.size,
                     "num_frames": args.frames}
            video = generate_match_video(out_dir, **{k: v for k, v in match.items() if v is not None})
            print(f"match video: {video}\ngoal times: {video.parent / 'goals.csv'}")
            return video
        out = GENERATORS[args.which](out_dir, force=args.force, **options)
    except ValueError as exc:  # the generators check their options (sizes, balanced counts)
        raise UsageError(str(exc)) from exc

    manifest = json.loads((out / "manifest.json").read_text())
    print(f"{args.which} data set in {out}")
    for split, per_class in manifest["counts"].items():
        print(f"  {split:5s} " + "  ".join(f"{label}: {count}" for label, count in per_class.items()))
    if args.which == "football":
        note = compare_with_reference(out)  # None: not the default set, the README's figure is not about it
        if note:
            print(note)
    return out


def main(argv: List[str]) -> int:
    generate(argv)
    return EXIT_OK


if __name__ == "__main__":
    run_script(main)
