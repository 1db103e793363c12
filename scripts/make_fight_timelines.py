"""Rebuild long footage with real event times from the cut clips of the fight-detection-surv-dataset.

    git --git-dir=<the set's git> archive HEAD | tar -x -C data/fight_src    # or a clone of it
    python scripts/make_fight_timelines.py --dataset data/fight_src --output data/fight_events

One H.264 mp4 per source video (44 groups): the clips cut from it, in their order in the source, joined
by cuts; each fight clip's span is an event `fight` in `events.csv` (`video,label,start,end,group`), and
`sources.csv` says where each clip came from. Videos already written from the same clips are kept.
How the footage is made: pipeline/benchmarks/fight_timelines.py.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import List

from pipeline.benchmarks.fight_timelines import DEFAULT_SIZE, build_fight_timelines
from pipeline.errors import EXIT_OK, InputError, UsageError, run_script


def _size(text: str) -> tuple:
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise UsageError(f"--size must look like WxH, got {text!r}") from None
    if width <= 0 or height <= 0 or width % 2 or height % 2:
        raise UsageError(f"--size {text}: H.264 needs even, positive sizes")
    return width, height


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                     allow_abbrev=False)
    parser.add_argument("--dataset", required=True,
                        help="the set's folder: videos.txt, fight/fi*.mp4, noFight/nofi*.mp4")
    parser.add_argument("--output", required=True, help="the folder to write videos/, events.csv and sources.csv")
    parser.add_argument("--size", default="x".join(map(str, DEFAULT_SIZE)),
                        help="WxH of the joined videos (default %(default)s; clips fit inside, aspect kept)")
    args = parser.parse_args(argv)
    dataset = Path(args.dataset)
    if not (dataset / "videos.txt").is_file():
        raise InputError(f"{dataset}: no videos.txt (give the folder holding videos.txt, fight/ and noFight/)")
    started = time.monotonic()
    counts = build_fight_timelines(dataset, Path(args.output), size=_size(args.size), log=print)
    for note in counts["notes"]:
        print(f"note: {note}")
    print(f"{counts['videos']} videos in {args.output} ({counts['written']} written, {counts['kept']} kept; "
          f"{time.monotonic() - started:.0f} s): {counts['minutes']:.2f} minutes, {counts['events']} fight events "
          f"({counts['fight_minutes']:.2f} minutes), {counts['event_free']} videos without a fight")
    return EXIT_OK


if __name__ == "__main__":
    run_script(main)
