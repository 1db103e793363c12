"""Demo data: generated, labelled videos to try the toolkit on (not needed to train on real data).
What the clips show and why is in docs/demo_data.md.

    datasets.py         generate_football_dataset, generate_direction_dataset: the split/class/clip
                        folders and manifest.json (written last); one seeded generator per clip
    football_plan.py    FootballPlan: everything random about a goal / no_goal clip, drawn first
    football_render.py  render_football_clip: draws a plan (pitch, goal, players, ball, camera)
    direction.py        render_direction_clip: a ball crossing left to right, or the same reversed
    match.py            generate_match_video: football clips one after another, plus goals.csv;
                        generate_match_set: several matches and an events CSV of their goals
    motion.py           the motion set (docs/motion_data.md): render_motion_clip, generate_motion_dataset
                        (a stick figure walks, runs, jumps, waves, sits down / stands up; flat class folders)
    stick_figure.py     the articulated figure: its actions as joint angles over time, and its drawing
    backgrounds.py      frames of real videos (or a procedural scene), cropped and slowly panned
    drawing.py          sub-pixel cv2 helpers, colours, motion curves, camera jitter and noise
    video_writer.py     write_video: uint8 RGB frames -> H.264 mp4, atomically; write_raw_avi: -> raw bgr24 AVI
"""
from pipeline.demo.datasets import GENERATOR_VERSION, SPLITS, generate_direction_dataset, generate_football_dataset
from pipeline.demo.direction import DIRECTION_CLASSES, render_direction_clip
from pipeline.demo.football_plan import FOOTBALL_CLASSES, NO_GOAL_VARIANTS, FootballPlan, football_trajectory
from pipeline.demo.football_render import render_football_clip
from pipeline.demo.match import generate_match_set, generate_match_video
from pipeline.demo.video_writer import write_raw_avi, write_video

__all__ = [
    "DIRECTION_CLASSES",
    "FOOTBALL_CLASSES",
    "GENERATOR_VERSION",
    "NO_GOAL_VARIANTS",
    "SPLITS",
    "FootballPlan",
    "football_trajectory",
    "generate_direction_dataset",
    "generate_football_dataset",
    "generate_match_set",
    "generate_match_video",
    "render_direction_clip",
    "render_football_clip",
    "write_raw_avi",
    "write_video",
]
