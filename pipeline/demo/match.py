"""A long "match" video for timeline mode: football clips played one after another, a few of them
goals, with a goals.csv of when each goal clip starts and ends."""
from __future__ import annotations

import os
from pathlib import Path
from typing import List, Tuple, Union

import numpy as np

from pipeline.atomic_io import write_text_atomic
from pipeline.demo.drawing import check_frame_size
from pipeline.demo.football_render import football_clip
from pipeline.demo.video_writer import write_video

PathLike = Union[str, "os.PathLike[str]"]
MATCH_SEED_SALT = 7919  # keeps the match's generators apart from the data sets' clip generators


def generate_match_video(
    out_dir: PathLike,
    n_clips: int = 20,
    goals: int = 3,
    size: int = 128,
    num_frames: int = 40,
    seed: int = 0,
    fps: float = 25.0,
) -> Path:
    """A long "match" for timeline mode: `n_clips` football clips played one after another, `goals`
    of them goals at random places. Writes out_dir/match.mp4 and out_dir/goals.csv (the true
    start and end, in seconds, of every goal clip); returns the video's path."""
    if not 0 <= goals <= n_clips:
        raise ValueError(f"goals must be between 0 and n_clips ({n_clips}), got {goals}")
    check_frame_size(size)
    out_dir = Path(out_dir)
    rng = np.random.default_rng([seed, MATCH_SEED_SALT])
    is_goal = np.zeros(n_clips, dtype=bool)
    is_goal[rng.choice(n_clips, size=goals, replace=False)] = True
    frames: List[np.ndarray] = []
    goal_times: List[Tuple[float, float]] = []  # seconds
    for index, goal in enumerate(is_goal):
        clip_rng = np.random.default_rng([seed, MATCH_SEED_SALT, index])
        clip, _plan = football_clip("goal" if goal else "no_goal", clip_rng, size, num_frames)
        if goal:
            goal_times.append((len(frames) / fps, (len(frames) + len(clip)) / fps))
        frames.extend(clip)
    video = write_video(out_dir / "match.mp4", frames, fps=fps)
    lines = ["start,end"] + [f"{start:.3f},{end:.3f}" for start, end in goal_times]
    write_text_atomic(out_dir / "goals.csv", "\n".join(lines) + "\n")
    return video


def generate_match_set(out_dir: PathLike, matches: int = 8, n_clips: int = 20, goals: int = 3, size: int = 128,
                       num_frames: int = 40, seed: int = 0, fps: float = 25.0) -> Path:
    """Long "matches" with the times of their goals, for training from event times: `matches` videos
    (out_dir/match_NN/match.mp4, as `generate_match_video` makes them, each with its own seed) and
    out_dir/events.csv (`video,label,start,end,group`: each goal clip a `goal` segment, the match its group).
    Returns the path of events.csv."""
    out_dir = Path(out_dir)
    rows = ["video,label,start,end,group"]
    for match in range(matches):
        folder = out_dir / f"match_{match:02d}"
        generate_match_video(folder, n_clips, goals, size, num_frames, seed=seed * 1000 + match, fps=fps)
        goal_lines = (folder / "goals.csv").read_text().splitlines()[1:]
        video = f"{folder.name}/match.mp4"
        rows += [f"{video},goal,{line},{folder.name}" for line in goal_lines] or [f"{video},,,,{folder.name}"]
    write_text_atomic(out_dir / "events.csv", "\n".join(rows) + "\n")
    return out_dir / "events.csv"
