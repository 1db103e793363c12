"""The motion set (pipeline/demo/motion.py, scripts/make_motion_data.py): clips that decode with the
project's readers at the stated size and length, a reversed pair that is the same frames in reverse
order, a scene that does not depend on the class, a seed that gives the same clips, and backgrounds
read from a folder of videos or made procedurally."""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import make_index_video

from pipeline.data.readers import open_video
from pipeline.demo.backgrounds import load_background_frames
from pipeline.demo.motion import MOTION_CLASSES, generate_motion_dataset, motion_for, render_motion_clip
from pipeline.demo.stick_figure import JOINTS, RUN_CADENCE, WALK_CADENCE
from pipeline.errors import InputError

REPO = Path(__file__).resolve().parents[1]
TINY = {"width": 96, "height": 54, "frames": (16, 16)}
TINY_SET = {**TINY, "backgrounds": "procedural"}


def _decoded(root: Path) -> dict:
    """{relative path: decoded frames uint8 [T,H,W,3]} of every clip under `root`."""
    clips = {}
    for path in sorted(root.glob("*/*.mp4")):
        with open_video(path) as reader:
            clips[path.relative_to(root).as_posix()] = reader.get_frames(range(reader.meta.num_frames))
    return clips


def test_script_writes_a_flat_set_that_decodes(tmp_path):
    out = tmp_path / "motion"
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "make_motion_data.py"), "--output", str(out), "--clips-per-class", "2",
         "--size", "96x54", "--frames", "16", "--backgrounds", "procedural"],
        capture_output=True, text=True, cwd=REPO, timeout=120)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == sorted(MOTION_CLASSES)
    manifest = json.loads((out / "manifest.json").read_text())
    assert len(manifest["clips"]) == 2 * len(MOTION_CLASSES)
    for label in MOTION_CLASSES:
        paths = sorted((out / label).glob("*.mp4"))
        assert len(paths) == 2
        for path in paths:
            with open_video(path) as reader:
                assert (reader.meta.num_frames, reader.meta.width, reader.meta.height) == (16, 96, 54)
                assert reader.get_frames([0, 15]).shape == (2, 54, 96, 3)


def test_clip_lengths_are_drawn_per_clip_alike_for_every_class():
    lengths = {label: [len(render_motion_clip(label, np.random.default_rng(i), 32, 18, (8, 12))) for i in range(6)]
               for label in MOTION_CLASSES}
    assert all(8 <= n <= 12 for ns in lengths.values() for n in ns)
    assert len({tuple(ns) for ns in lengths.values()}) == 1  # the same generator: the same length, whatever the class
    assert len(set(lengths["walk"])) > 1


def test_stand_up_is_sit_down_played_backwards():
    sit = render_motion_clip("sit_down", np.random.default_rng(7), **TINY)
    stand = render_motion_clip("stand_up", np.random.default_rng(7), **TINY)
    np.testing.assert_array_equal(stand, sit[::-1])
    assert np.abs(sit[0].astype(int) - sit[-1].astype(int)).max() > 50  # the figure moved: not a still clip


def test_the_scene_does_not_depend_on_the_class():
    """Same generator, two classes: background, camera, noise and actor identical; only the motion differs."""
    walk = render_motion_clip("walk", np.random.default_rng(3), 160, 90, (24, 24), backgrounds=())
    for label in ("run", "jump", "wave"):
        other = render_motion_clip(label, np.random.default_rng(3), 160, 90, (24, 24), backgrounds=())
        differs = np.any(walk != other, axis=-1)  # [T,H,W]
        assert differs.any()
        assert differs.mean() < 0.05  # only where the figure is


def test_walk_and_run_share_their_poses_and_differ_in_cadence():
    """A single frame cannot tell walk from run: each joint's angles over many clips are distributed
    alike; the stride rate (the hip angle's frequency) tells them apart."""
    fps, num_frames = 25.0, 200
    angles, rates = {}, {}
    for label in ("walk", "run"):
        motions = [motion_for(label, np.random.default_rng(i), num_frames, fps, True) for i in range(300)]
        angles[label] = np.concatenate([m.angles for m in motions])
        spectra = [np.abs(np.fft.rfft(m.angles[:, 1] - m.angles[:, 1].mean())) for m in motions]
        rates[label] = np.array([np.argmax(s) * fps / num_frames for s in spectra])
    for joint, name in enumerate(JOINTS):
        walk, run = angles["walk"][:, joint], angles["run"][:, joint]
        assert abs(np.median(walk) - np.median(run)) < 0.05, name
        assert np.percentile(walk, 90) - np.percentile(walk, 10) == pytest.approx(
            np.percentile(run, 90) - np.percentile(run, 10), abs=0.06), name
    assert rates["walk"].max() < rates["run"].min()
    assert WALK_CADENCE[0] - 0.15 < np.median(rates["walk"]) < WALK_CADENCE[1] + 0.15
    assert RUN_CADENCE[0] - 0.15 < np.median(rates["run"]) < RUN_CADENCE[1] + 0.15


def test_a_seed_gives_the_same_clips(tmp_path):
    """The frames are exactly reproducible. The files nearly: this x264 build now and then encodes the
    same frames a little differently (docs/demo_data.md), so decoded clips are compared with a tolerance."""
    for label in MOTION_CLASSES:
        clip = render_motion_clip(label, np.random.default_rng(5), **TINY)
        np.testing.assert_array_equal(clip, render_motion_clip(label, np.random.default_rng(5), **TINY))
    first = _decoded(generate_motion_dataset(tmp_path / "a", clips_per_class=1, seed=5, **TINY_SET))
    again = _decoded(generate_motion_dataset(tmp_path / "b", clips_per_class=1, seed=5, **TINY_SET))
    other = _decoded(generate_motion_dataset(tmp_path / "c", clips_per_class=1, seed=6, **TINY_SET))
    assert first.keys() == again.keys() == other.keys() and len(first) == len(MOTION_CLASSES)
    for path in first:
        assert first[path].shape == again[path].shape
        assert np.abs(first[path].astype(int) - again[path]).mean() < 4, path  # grey levels
        assert first[path].shape != other[path].shape or np.abs(first[path].astype(int) - other[path]).mean() > 10


def test_backgrounds_come_from_a_folder_of_videos(tmp_path):
    folder = tmp_path / "videos"
    make_index_video(folder / "a.mp4", 20, height=64, width=96)
    (folder / "broken.mp4").write_bytes(b"not a video")  # skipped, not fatal
    pool = load_background_frames(folder, height=54)
    assert len(pool) == 4 and all(frame.shape == (64, 96, 3) for frame in pool)
    out = generate_motion_dataset(tmp_path / "set", clips_per_class=1, **{**TINY_SET, "backgrounds": str(folder)})
    params = json.loads((out / "manifest.json").read_text())["params"]
    assert (params["backgrounds"], params["background_frames"]) == (str(folder.resolve()), 4)
    procedural = _decoded(generate_motion_dataset(tmp_path / "procedural", clips_per_class=1, **TINY_SET))
    assert not np.array_equal(_decoded(out)["walk/walk_0000.mp4"], procedural["walk/walk_0000.mp4"])

    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no videos here")
    with pytest.raises(InputError, match="no readable video"):
        load_background_frames(empty, height=54)


def test_real_videos_make_backgrounds(real_videos, tmp_path):
    """Files that trip decoders (non-UTF-8 metadata, a header that lies about its length, an audio stream)."""
    names = ["hmdb51_Turnk_r_Pippi_Michel_cartwheel_f_cm_np2_le_med_6.avi", "tree.avi", "R6llTwEh07w.mp4"]
    for name in names:
        (tmp_path / name).symlink_to(real_videos / name)
    pool = load_background_frames(tmp_path, height=54)
    assert len(pool) == 4 * len(names)
    clip = render_motion_clip("jump", np.random.default_rng(0), **TINY, backgrounds=pool)
    assert clip.shape == (16, 54, 96, 3)


def test_the_actor_mask_is_where_the_figure_is_drawn():
    """`actor_mask` draws a clip again over black and white: it marks the figure, not the scene."""
    from pipeline.demo.motion import actor_mask, clip_rng

    clip = render_motion_clip("wave", clip_rng(3, 3, 0), **TINY)
    mask = actor_mask("wave", (3, 3, 0), **TINY)
    assert mask.shape == clip.shape[:3]
    assert 0.005 < mask.mean() < 0.3, "a figure, not the frame"
    again = render_motion_clip("wave", clip_rng(3, 3, 0), **TINY, background_fill=128)
    inside = np.abs(clip[mask].astype(int) - again[mask])
    assert np.median(inside) == 0 and inside.mean() < 8, "the figure does not depend on the background (edges blend)"
    assert again[0][~mask[0]].std() < 8, "elsewhere, one grey (dimmed or brightened as the scene, and noise)"


def test_window_coverage_measures_the_actor_inside_the_motion_window(tmp_path, monkeypatch, capsys):
    """scripts/window_coverage.py: on a generated set, how much of each actor the motion window holds."""
    out = generate_motion_dataset(tmp_path / "set", clips_per_class=1, seed=2,
                                  **{**TINY_SET, "width": 192, "height": 108, "frames": (30, 30)})
    from pipeline.demo.window_coverage import summarise, window_coverage

    rows = window_coverage(out)
    assert [row.label for row in rows] == list(MOTION_CLASSES)
    assert all(0.0 <= row.coverage <= 1.0 and row.actor_height > 0 for row in rows)
    summary = summarise(rows)
    assert summary["coverage_mean"] > 0.7, rows  # the window finds these actors
    # The script prints those rows (read once: the script's own call is handed them).
    spec = importlib.util.spec_from_file_location("window_coverage_script", REPO / "scripts" / "window_coverage.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    monkeypatch.setattr(script, "window_coverage", lambda data, clips_per_class, backend: rows)
    assert script.main(["--data", str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith(f"{len(MOTION_CLASSES)} clips: actor inside the window "
                              f"{summary['coverage_mean']:.1%} on average"), printed
    with pytest.raises(InputError, match="not a generated motion set"):
        window_coverage(tmp_path)
