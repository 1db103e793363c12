"""The "motion" frame fit: each video is cropped to the square where it moves, found from optical flow
with the camera's own motion taken out, so a small actor at the frame's edge fills the CNN's input;
training, the feature cache and inference crop a video alike (the checkpoint keeps the fit:
test_frame_fit.py)."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from models.preprocessing import Preprocessing
from pipeline.data import motion_box as motion_box_module
from pipeline.data.datasets import read_clips
from pipeline.data.frame_stream import stream_frames
from pipeline.data.motion_box import MIN_FRACTION, MotionBox, motion_box
from pipeline.data.readers import open_video
from pipeline.data.sampling import SegmentSampler
from pipeline.data.transforms import ResizeCrop
from pipeline.demo.video_writer import write_video

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
W, H, FRAMES = 192, 108, 30
ACTOR_X, ACTOR_Y = 176, 60  # the shoulder of a small figure near the right edge, in scene pixels


def _scene(rng: np.random.Generator) -> np.ndarray:
    """A textured green-blue scene wider than the frame (no red in it), for the camera to pan over."""
    texture = cv2.GaussianBlur(rng.uniform(0, 255, (H, W + FRAMES, 2)).astype(np.float32), (0, 0), 2)
    scene = np.zeros((H, W + FRAMES, 3), dtype=np.uint8)
    scene[..., 0] = 40
    scene[..., 1:] = np.clip(texture * 1.5 - 60, 0, 255).astype(np.uint8)
    return scene


def _frame(scene: np.ndarray, t: int, actor: bool) -> np.ndarray:
    """The camera pans one pixel a frame; a red figure stands in the scene and swings an arm at 2 Hz."""
    view = scene.copy()
    if actor:
        cv2.rectangle(view, (ACTOR_X - 3, ACTOR_Y - 6), (ACTOR_X + 3, ACTOR_Y + 18), (230, 20, 20), -1)
        angle = np.pi / 2 + 1.1 * np.sin(2 * np.pi * 2 * t / 25)
        hand = (int(ACTOR_X + 12 * np.cos(angle)), int(ACTOR_Y - 12 * np.sin(angle)))
        cv2.line(view, (ACTOR_X, ACTOR_Y), hand, (230, 20, 20), 3)
    return np.ascontiguousarray(view[:, t:t + W])


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("motion_fit")
    scene = _scene(np.random.default_rng(0))
    return {
        "actor": write_video(root / "actor.mp4", (_frame(scene, t, True) for t in range(FRAMES)), fps=25, crf=12),
        "still": write_video(root / "still.mp4", (scene[:, :W] for _ in range(FRAMES)), fps=25, crf=12),
    }


def _red(frames: np.ndarray) -> np.ndarray:
    return (frames[..., 0] > 170) & (frames[..., 1] < 90) & (frames[..., 2] < 90)


def _motion(size: int = 64) -> Preprocessing:
    return Preprocessing(resize_size=size, crop_size=size, mean=MEAN, std=STD, fit="motion")


@pytest.mark.parametrize("backend", ["pyav", "opencv", "decord"])
def test_the_window_finds_a_small_actor_at_the_edge_while_the_camera_pans(videos, backend, monkeypatch):
    monkeypatch.setattr(motion_box_module, "_FOUND", {})  # each decoder finds the window itself
    with open_video(videos["actor"], backend) as reader:
        top, left, side = motion_box(reader).pixels(H, W)
        cropped = reader.get_frames([0, 10, 20], ResizeCrop(_motion().with_fit("crop")))
        window = reader.get_frames([0, 10, 20], ResizeCrop(_motion()).for_video(reader))
    # The figure's body (x 173-179 at frame 0, a pixel further left each frame) stays inside the window.
    assert left <= ACTOR_X - 3 - (FRAMES - 1) and left + side >= ACTOR_X + 3, (top, left, side)
    assert top <= ACTOR_Y - 12 and top + side >= ACTOR_Y + 12, "the swinging arm is inside"
    assert round(MIN_FRACTION * H) - 1 <= side < H, "zoomed in on the figure, not the whole height"
    assert window.shape == cropped.shape == (3, 64, 64, 3)
    assert not _red(cropped[0]).any(), "the centre crop cuts the figure off"
    assert _red(window).mean() > 0.02, "the figure is in every frame of the window"


def _shaky_clutter(path, seed: int) -> tuple:
    """A small figure swinging an arm near the left edge of a fine, high-contrast texture, filmed by a
    shaking hand-held camera (sub-pixel offsets), with sensor noise; returns (file, figure's x, y)."""
    rng = np.random.default_rng(seed)
    texture = cv2.GaussianBlur(rng.uniform(0, 255, (H + 20, W + 20, 3)).astype(np.float32), (0, 0), 1.0)
    scene = np.clip((texture - 127) * 3 + 127, 0, 255).astype(np.float32)
    x, y, shake, frames = 30, 60, np.zeros(2), []
    for t in range(40):
        shake = 0.75 * shake + rng.normal(0, 1.5, 2)
        view = cv2.warpAffine(scene, np.float32([[1, 0, 10 + shake[0]], [0, 1, 10 + shake[1]]]), (W, H),
                              flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)
        fx, fy = x - shake[0], y - shake[1]
        cv2.rectangle(view, (int(fx - 3), int(fy - 6)), (int(fx + 3), int(fy + 18)), (230, 20, 20), -1)
        angle = np.pi / 2 + 1.1 * np.sin(2 * np.pi * 2 * t / 25)
        hand = (int(fx + 12 * np.cos(angle)), int(fy - 12 * np.sin(angle)))
        cv2.line(view, (int(fx), int(fy)), hand, (230, 20, 20), 3)
        frames.append(np.clip(view + rng.normal(0, 2, view.shape), 0, 255).astype(np.uint8))
    return write_video(path, frames, fps=25, crf=12), x, y


@pytest.mark.parametrize("seed", [0, 1])
def test_the_window_finds_the_actor_over_clutter_seen_by_a_shaking_camera(tmp_path, seed):
    """Real backgrounds are textured and hand-held cameras shake: the camera's motion is taken out of
    the frames themselves (aligned difference), not of the flow, whose errors over fine texture
    outweighed a small actor (window version 2 missed it here)."""
    path, x, y = _shaky_clutter(tmp_path / "clutter.mp4", seed)
    with open_video(path, "pyav") as reader:
        top, left, side = motion_box(reader).pixels(H, W)
    assert left <= x - 3 and left + side >= x + 12, (top, left, side)
    assert top <= y - 12 and top + side >= y + 16, (top, left, side)


def test_a_still_video_gets_the_centred_square(videos):
    with open_video(videos["still"], "pyav") as reader:
        assert motion_box(reader) == MotionBox.centred(H, W)


def test_the_spotlight_dims_the_still_scene_and_keeps_the_actor(videos):
    """The "spotlight" fit: the motion window, with what never moves faded to the mean colour, so that
    a cluttered scene behind a small actor weighs less in the frame features."""
    with open_video(videos["actor"], "pyav") as reader:
        window = reader.get_frames([0, 10, 20], ResizeCrop(_motion()).for_video(reader)).astype(int)
        lit = reader.get_frames([0, 10, 20], ResizeCrop(_motion().with_fit("spotlight")).for_video(reader)).astype(int)
        box = motion_box(reader)
    assert box.focus is not None and box.focus.max() == 255 and box.focus.min() < 64
    mean_colour = np.round(np.array(MEAN) * 255)
    actor = _red(window.astype(np.uint8))
    # The swinging arm and most of the figure keep their colour (its still body, near the arm, fades a little).
    assert _red(lit.astype(np.uint8))[actor].mean() > 0.6, "the figure is kept"
    far = np.abs(lit - mean_colour).sum(-1)[~actor].mean(), np.abs(window - mean_colour).sum(-1)[~actor].mean()
    assert far[0] < 0.6 * far[1], f"the still scene is dimmed toward the mean colour: {far}"
    with open_video(videos["still"], "pyav") as reader:  # nothing moves: nothing to dim, the centred square
        still = reader.get_frames([0], ResizeCrop(_motion().with_fit("spotlight")).for_video(reader))
        plain = reader.get_frames([0], ResizeCrop(_motion()).for_video(reader))
    assert np.array_equal(still, plain)


def test_training_the_cache_and_inference_see_the_same_window(videos):
    """Clips read for training and frames streamed for the feature cache or predict.py are cut alike."""
    path = str(videos["actor"])
    clips = read_clips(path, SegmentSampler(clip_len=6), _motion(), training=False, backend="pyav",
                       isolated=False)
    indices = clips["frame_indices"][0]
    streamed = {}
    for _, chosen, frames in stream_frames(path, _motion(), "pyav", lambda meta: np.unique(indices)):
        streamed.update(zip(chosen.tolist(), frames))
    for i, frame in zip(indices, clips["frames"][0].numpy()):
        assert np.abs(frame.astype(int) - streamed[int(i)].astype(int)).max() <= 2
    assert _red(clips["frames"].numpy()).mean() > 0.02



def test_the_benchmark_times_the_window_of_each_video_in_a_folder(videos):
    from pipeline.benchmarks.motion_window import motion_window_rows

    rows = motion_window_rows(videos["actor"].parent, repeats=1, backend="pyav")
    assert [r["what"].split()[0] for r in rows] == ["actor.mp4", "still.mp4"]
    assert all(r["unit"] == "videos/s" and r["rate"] > 0 and r["vs_baseline"] > 0 for r in rows)
    assert f"{W}x{H}, {FRAMES} frames, pyav" in rows[0]["what"]


def test_every_decoder_finds_the_same_window_and_cuts_the_same_picture(videos, monkeypatch):
    """A model trained with one decoder and run with another sees the same picture: the probes are
    shrunk by one resampler, and the window is cut at its exact place whatever size frames arrive at."""
    boxes, frames, focus = {}, {}, {}
    for backend in ("pyav", "opencv", "decord"):
        monkeypatch.setattr(motion_box_module, "_FOUND", {})
        with open_video(videos["actor"], backend) as reader:
            box = motion_box(reader)
            boxes[backend], focus[backend] = box.pixels(H, W), box.focus  # the focus: what the spotlight fades by
            transform = ResizeCrop(_motion(48)).for_video(reader)
            frames[backend] = reader.get_frames([5, 15], transform).astype(int)  # decoded to size where it can
            frames[backend + " full size"] = transform(reader.get_frames([5, 15])).astype(int)
    assert len(set(boxes.values())) == 1, boxes
    assert all(np.array_equal(focus["pyav"], other) for other in focus.values())
    for name, picture in frames.items():
        assert np.abs(picture - frames["opencv full size"]).mean() < 3, name
