"""The synthetic demo data: layout, determinism, decodability, and that the classes mean what they say."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import av
import numpy as np
import pytest

from pipeline.demo import (
    DIRECTION_CLASSES,
    FOOTBALL_CLASSES,
    NO_GOAL_VARIANTS,
    football_trajectory,
    generate_direction_dataset,
    generate_football_dataset,
    generate_match_set,
    generate_match_video,
    render_direction_clip,
    render_football_clip,
    write_video,
)
from pipeline.demo.datasets import clip_rng


def decode(path) -> np.ndarray:
    with av.open(str(path)) as container:
        return np.stack([frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)])


@pytest.fixture(scope="module")
def football(tmp_path_factory):
    out = tmp_path_factory.mktemp("football")
    return generate_football_dataset(out, n_train=4, n_val=2, n_test=2, size=64, num_frames=16, seed=5)


def test_football_layout_counts_and_decoding(football):
    manifest = json.loads((football / "manifest.json").read_text())
    assert manifest["classes"] == list(FOOTBALL_CLASSES)
    assert manifest["counts"] == {"train": {"goal": 2, "no_goal": 2}, "val": {"goal": 1, "no_goal": 1},
                                  "test": {"goal": 1, "no_goal": 1}}
    for split, per_class in manifest["counts"].items():
        for label, count in per_class.items():
            files = sorted((football / split / label).glob("*.mp4"))
            assert [f.name for f in files] == [f"{split}_{label}_{i:04d}.mp4" for i in range(count)]
    for clip in manifest["clips"]:
        assert clip["variant"] in (("goal",) if clip["label"] == "goal" else NO_GOAL_VARIANTS)
    frames = decode(football / "train" / "goal" / "train_goal_0000.mp4")
    assert frames.shape == (16, 64, 64, 3) and frames.dtype == np.uint8


def test_football_rerun_skips_and_force_regenerates(football):
    manifest = football / "manifest.json"
    clip = football / "val" / "no_goal" / "val_no_goal_0000.mp4"
    before = manifest.stat().st_mtime_ns, clip.stat().st_mtime_ns
    generate_football_dataset(football, n_train=4, n_val=2, n_test=2, size=64, num_frames=16, seed=5)
    assert (manifest.stat().st_mtime_ns, clip.stat().st_mtime_ns) == before
    # An incomplete set (missing clip) is regenerated with the same bytes (tests/test_demo_determinism.py).
    reference = clip.read_bytes()
    clip.unlink()
    generate_football_dataset(football, n_train=4, n_val=2, n_test=2, size=64, num_frames=16, seed=5)
    assert clip.read_bytes() == reference


def test_football_smaller_rerun_removes_stale_clips(tmp_path):
    generate_football_dataset(tmp_path, n_train=4, n_val=0, n_test=0, size=32, num_frames=8)
    generate_football_dataset(tmp_path, n_train=2, n_val=0, n_test=0, size=32, num_frames=8)
    assert sorted(p.name for p in tmp_path.rglob("*.mp4")) == ["train_goal_0000.mp4", "train_no_goal_0000.mp4"]


def test_football_rendering_is_seeded():
    a = render_football_clip("goal", np.random.default_rng(3), size=64, num_frames=12)
    b = render_football_clip("goal", np.random.default_rng(3), size=64, num_frames=12)
    c = render_football_clip("goal", np.random.default_rng(4), size=64, num_frames=12)
    assert a.shape == (12, 64, 64, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("num_frames", [40, 16])
def test_goal_means_the_ball_went_in_under_the_bar(num_frames):
    variants = set()
    for seed in range(60):
        goal = football_trajectory("goal", np.random.default_rng(seed), num_frames)
        miss = football_trajectory("no_goal", np.random.default_rng(seed), num_frames)
        variants.add(miss.variant)
        assert goal.scored(), f"seed {seed}: goal clip never has the ball in the net"
        assert not miss.scored(), f"seed {seed}: {miss.variant} clip has the ball in the net"
        for plan in (goal, miss):
            # Every shot reaches the goal line region, and every clip ends with the ball back in the field.
            distance = np.abs(plan.ball_xy[:, 0] - plan.goal_line_x).min()
            assert distance < plan.ball_radius + 0.22, (seed, plan.variant)
            assert plan.ball_xy[-1, 0] < plan.goal_line_x - plan.ball_radius, (seed, plan.variant)
    assert variants == set(NO_GOAL_VARIANTS)


def test_the_ball_is_drawn_where_the_trajectory_says():
    rng_seed = 11
    plan = football_trajectory("goal", np.random.default_rng(rng_seed), 40)
    frames = render_football_clip("goal", np.random.default_rng(rng_seed), size=128, num_frames=40)
    centres = plan.ball_pixels(128)
    for t in (0, 8):  # the ball is on the open pitch before the shot: a bright disc at its centre
        x, y = np.round(centres[t]).astype(int)
        if 4 <= x < 124 and 4 <= y < 124:
            patch = frames[t, y - 1:y + 2, x - 1:x + 2].astype(float)
            assert patch.mean() > frames[t].mean() + 30


def test_direction_classes_are_the_same_frames_reversed(tmp_path):
    forward = render_direction_clip("left_to_right", np.random.default_rng(2), size=64, num_frames=10)
    backward = render_direction_clip("right_to_left", np.random.default_rng(2), size=64, num_frames=10)
    assert np.array_equal(backward, forward[::-1])
    other = render_direction_clip("left_to_right", np.random.default_rng(9), size=64, num_frames=10)
    assert not np.array_equal(forward, other)

    out = generate_direction_dataset(tmp_path, n_train=2, n_val=2, n_test=2, size=64, num_frames=10, seed=4)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["classes"] == list(DIRECTION_CLASSES)
    assert all(n == 1 for per_class in manifest["counts"].values() for n in per_class.values())
    # The decoded right_to_left clip is (up to compression) the reversed rendering of its generator.
    decoded = decode(out / "test" / "right_to_left" / "test_right_to_left_0000.mp4")
    rendered = render_direction_clip("left_to_right", clip_rng(4, "test", 1, 0), size=64, num_frames=10)
    assert decoded.shape == (10, 64, 64, 3)
    assert np.abs(decoded.astype(int) - rendered[::-1].astype(int)).mean() < 3.0


def test_unbalanced_or_odd_sizes_are_refused(tmp_path):
    with pytest.raises(ValueError, match="n_train"):
        generate_football_dataset(tmp_path, n_train=3, n_val=0, n_test=0, size=32, num_frames=8)
    with pytest.raises(ValueError, match="even"):
        render_football_clip("goal", np.random.default_rng(0), size=33)
    with pytest.raises(ValueError, match="label"):
        render_football_clip("penalty", np.random.default_rng(0))


def test_match_video_marks_its_goals(tmp_path):
    video = generate_match_video(tmp_path / "match", n_clips=5, goals=2, size=64, num_frames=10, seed=2)
    with av.open(str(video)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 50
    lines = (tmp_path / "match" / "goals.csv").read_text().splitlines()
    assert lines[0] == "start,end" and len(lines) == 3
    for line in lines[1:]:
        start, end = map(float, line.split(","))
        assert end - start == pytest.approx(0.4)
        assert round(start / 0.4, 6).is_integer(), "a goal starts where a clip starts"


def test_match_set_cut_clips_are_the_matches_pixels_labelled_by_its_events(tmp_path):
    events = generate_match_set(tmp_path, matches=2, n_clips=4, goals=1, size=64, num_frames=10, seed=4,
                                cut_clips=True)
    rows = list(csv.DictReader(open(tmp_path / "clips.csv")))
    assert len(rows) == 8 and {r["group"] for r in rows} == {"match_00", "match_01"}
    goals = {(r["group"], round(float(r["start"]) / 0.4)) for r in csv.DictReader(open(events))}
    for r in rows:
        index = int(Path(r["path"]).name.split("_")[1])
        assert r["label"] == ("goal" if (r["group"], index) in goals else "no_goal")
        match = decode(tmp_path / r["group"] / "match.mp4").astype(int)
        clip = decode(tmp_path / r["path"]).astype(int)
        here, other = (np.abs(clip - match[k * 10:(k + 1) * 10]).mean() for k in (index, (index + 1) % 4))
        assert here < 8 and here < other / 2, "the same pixels as the match at its place (both lossy)"


def test_a_failed_video_write_keeps_the_old_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "clip.mp4"
    write_video(target, render_direction_clip("left_to_right", np.random.default_rng(0), size=32, num_frames=4))
    before = target.read_bytes()
    with pytest.raises(ValueError, match="even"):
        write_video(target, np.zeros((3, 33, 32, 3), dtype=np.uint8))
    with pytest.raises(ValueError, match="no frames"):
        write_video(target, [])
    assert [p.name for p in tmp_path.iterdir()] == ["clip.mp4"]
    assert target.read_bytes() == before and decode(target).shape == (4, 32, 32, 3)
