"""A long "match" video for timeline mode: football clips played one after another, a few of them
goals, with a goals.csv of when each goal clip starts and ends."""
from __future__ import annotations

import os
from pathlib import Path
from typing import List, Optional, Tuple, Union

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
    clips_dir: Optional[PathLike] = None,
) -> Path:
    """A long "match" for timeline mode: `n_clips` football clips played one after another, `goals`
    of them goals at random places. Writes out_dir/match.mp4 and out_dir/goals.csv (the true
    start and end, in seconds, of every goal clip); returns the video's path. With `clips_dir`, each
    clip is also written there cut, as clip_KK_goal.mp4 or clip_KK_no_goal.mp4 (the same pixels)."""
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
        if clips_dir is not None:
            write_video(Path(clips_dir) / f"clip_{index:02d}_{'goal' if goal else 'no_goal'}.mp4", clip, fps=fps)
        if goal:
            goal_times.append((len(frames) / fps, (len(frames) + len(clip)) / fps))
        frames.extend(clip)
    video = write_video(out_dir / "match.mp4", frames, fps=fps)
    lines = ["start,end"] + [f"{start:.3f},{end:.3f}" for start, end in goal_times]
    write_text_atomic(out_dir / "goals.csv", "\n".join(lines) + "\n")
    return video


def generate_match_set(out_dir: PathLike, matches: int = 8, n_clips: int = 20, goals: int = 3, size: int = 128,
                       num_frames: int = 40, seed: int = 0, fps: float = 25.0, cut_clips: bool = False) -> Path:
    """Long "matches" with the times of their goals, for training from event times: `matches` videos
    (out_dir/match_NN/match.mp4, as `generate_match_video` makes them, each with its own seed) and
    out_dir/events.csv (`video,label,start,end,group`: each goal clip a `goal` segment, the match its group).
    With `cut_clips`, the clips each match is made of are written cut too (out_dir/match_NN/clips/) with
    out_dir/clips.csv (`path,label,group`: goal or no_goal, the match), to train the same recipe on cut
    clips. Returns the path of events.csv."""
    out_dir = Path(out_dir)
    rows, clip_rows = ["video,label,start,end,group"], ["path,label,group"]
    for match in range(matches):
        folder = out_dir / f"match_{match:02d}"
        generate_match_video(folder, n_clips, goals, size, num_frames, seed=seed * 1000 + match, fps=fps,
                             clips_dir=folder / "clips" if cut_clips else None)
        clip_rows += [f"{folder.name}/clips/{clip.name},{clip.stem.split('_', 2)[2]},{folder.name}"
                      for clip in sorted((folder / "clips").glob("clip_*.mp4"))] if cut_clips else []
        goal_lines = (folder / "goals.csv").read_text().splitlines()[1:]
        video = f"{folder.name}/match.mp4"
        rows += [f"{video},goal,{line},{folder.name}" for line in goal_lines] or [f"{video},,,,{folder.name}"]
    write_text_atomic(out_dir / "events.csv", "\n".join(rows) + "\n")
    if cut_clips:
        write_text_atomic(out_dir / "clips.csv", "\n".join(clip_rows) + "\n")
    return out_dir / "events.csv"
