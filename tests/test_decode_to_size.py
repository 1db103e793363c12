"""Decoding straight to the CNN's size: the same frames as decoding at full size and resizing after,
nearly the same pixels, on every backend; and decoder threads that change speed, not frames."""

from __future__ import annotations

import dataclasses
import pickle
from fractions import Fraction
from functools import partial
from pathlib import Path

import av
import numpy as np
import pytest
from conftest import decode_index, index_frame, make_index_video

from models.preprocessing import Preprocessing
from pipeline.data.frame_stream import decoder_threads, stream_frames
from pipeline.data.readers import PyAVReader, available_backends, open_video
from pipeline.data.transforms import ResizeCrop, resize_crop

ALL = available_backends()
SQUARE = Preprocessing(resize_size=64, crop_size=64, mean=(0.5,) * 3, std=(0.5,) * 3)  # 256x256 -> 64x64, no crop


def _prep(resize: int, crop: int) -> Preprocessing:
    return Preprocessing(resize_size=resize, crop_size=crop, mean=(0.5,) * 3, std=(0.5,) * 3)


class SeenSizes(ResizeCrop):
    """ResizeCrop that notes the size of the frames the reader hands it."""

    def __init__(self, preprocessing: Preprocessing) -> None:
        super().__init__(preprocessing)
        self.seen: set = set()

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        self.seen.add(frames.shape[1:3])
        return super().__call__(frames)


class ThreadCountReader(PyAVReader):
    """PyAV, saying in its metadata how many decoder threads it was given (named as a custom backend)."""

    def __init__(self, path, threads: int = 1) -> None:
        super().__init__(path, threads)
        self._meta = dataclasses.replace(self._meta, backend=f"threads={threads}")


@pytest.fixture(scope="module")
def square_video(tmp_path_factory) -> Path:
    """40 index frames at 256x256: shrunk to 64x64, each still shows its index."""
    return make_index_video(tmp_path_factory.mktemp("big") / "square.mp4", 40, height=256, width=256)


@pytest.fixture(scope="module")
def square_avi(tmp_path_factory) -> Path:
    """The same as an MPEG-4 AVI with B-frames: untrusted timestamps, read forward (decord's other path)."""
    path = tmp_path_factory.mktemp("big") / "square.avi"
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("mpeg4", rate=Fraction(25))
        stream.width, stream.height, stream.pix_fmt = 256, 256, "yuv420p"
        stream.options = {"bf": "2", "g": "12", "qscale": "2"}
        for i in range(40):
            frame = av.VideoFrame.from_ndarray(index_frame(i, 256, 256), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def test_resize_crop_class_is_the_function():
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (3, 90, 160, 3), dtype=np.uint8)
    for prep in (_prep(32, 28), _prep(128, 112), _prep(100, 112)):  # shrink, enlarge, crop above resize
        transform = pickle.loads(pickle.dumps(ResizeCrop(prep)))  # it travels to worker and decoder processes
        np.testing.assert_array_equal(transform(frames), resize_crop(frames, prep))
    sizes = ResizeCrop(_prep(128, 112))
    assert sizes.scaled_size(1080, 1920) == (128, 228) and sizes.scaled_size(1920, 1080) == (228, 128)
    assert sizes.scaled_size(240, 320) == (128, 171)
    at_size = np.ascontiguousarray(frames[:, :32, :57])  # already at scaled_size(90, 160) of _prep(32, 28)
    assert ResizeCrop(_prep(32, 28)).scaled_size(90, 160) == (32, 57)
    np.testing.assert_array_equal(ResizeCrop(_prep(32, 28))(at_size), at_size[:, 2:30, 14:42])  # cropped only


@pytest.mark.parametrize("backend", ALL)
@pytest.mark.parametrize("video", ["square_video", "square_avi"])
def test_frames_decoded_to_size_are_exact(request, backend, video):
    path = request.getfixturevalue(video)
    transform = SeenSizes(SQUARE)
    with open_video(path, backend) as reader:
        assert reader.meta.num_frames == 40
        for start, size, tf in ((2, 256, None), (8, 64, transform), (15, 256, None), (30, 64, transform)):
            frames = reader.get_frames([start, start + 3], tf)  # forward, switching between sizes
            assert frames.shape[1:3] == (size, size) and [decode_index(f) for f in frames] == [start, start + 3]
        for indices in ([39, 3, 20, 21, 3, 0], list(range(40)), [5, 37]):
            small = reader.get_frames(indices, transform)
            assert small.shape == (len(indices), 64, 64, 3)
            assert [decode_index(f) for f in small] == indices
            full = reader.get_frames(indices)  # a full-size call in between keeps both positions right
            assert full.shape == (len(indices), 256, 256, 3)
            assert [decode_index(f) for f in full] == indices
        chunks = list(reader.iter_frames(range(0, 40, 3), 5, transform))
    assert [decode_index(f) for f in np.concatenate(chunks)] == list(range(0, 40, 3))
    assert transform.seen == {(64, 64)}  # the decoder made no full-size frame for the transform


@pytest.mark.parametrize("backend", ALL)
def test_pixels_close_to_resizing_after_decoding(tmp_path, backend):
    """A landscape frame keeps its aspect: decoding to size differs from cv2's resize only by resampling."""
    path = make_index_video(tmp_path / "wide.mp4", 12, height=144, width=256)
    prep = _prep(48, 40)
    with open_video(path, backend) as reader:
        assert reader.size_for(ResizeCrop(prep)) == (48, 85)
        new = reader.get_frames([0, 5, 11], ResizeCrop(prep)).astype(np.int16)
        old = reader.get_frames([0, 5, 11], partial(resize_crop, preprocessing=prep)).astype(np.int16)
    assert new.shape == old.shape == (3, 40, 40, 3)
    assert np.abs(new - old).mean() < 8, backend  # measured 0 (opencv) to ~3 (decord) on real clips


def test_no_decoding_to_size_when_enlarging(index_video):
    """A 96x64 video for a 112 px CNN is enlarged by resize_crop's own interpolation, as before."""
    prep = _prep(128, 112)
    for backend in ALL:
        with open_video(index_video, backend) as reader:
            assert reader.size_for(ResizeCrop(prep)) is None
            np.testing.assert_array_equal(
                reader.get_frames([1, 4], ResizeCrop(prep)), resize_crop(reader.get_frames([1, 4]), prep)
            )


@pytest.mark.parametrize("backend", ALL)
def test_decoder_threads_give_the_same_frames(square_video, backend):
    """threads=0 (the decoder's automatic count, frame threads too) while seeking back and forth."""
    with open_video(square_video, backend, threads=0) as reader:
        indices = [39, 2, 30, 31, 0, 17, 16]
        assert [decode_index(f) for f in reader.get_frames(indices, ResizeCrop(SQUARE))] == indices
        assert [decode_index(f) for f in reader.get_frames(range(40))] == list(range(40))


def test_isolated_reader_and_stream_decode_to_size(square_video):
    """The transform and the thread count reach the decoding child process."""
    counting = "test_decode_to_size:ThreadCountReader"
    with open_video(square_video, counting, isolated=True, threads=3) as reader:
        assert reader.meta.backend == "threads=3"
        small = reader.get_frames([7, 3, 3], ResizeCrop(SQUARE))
    assert small.shape == (3, 64, 64, 3) and [decode_index(f) for f in small] == [7, 3, 3]
    chunks = list(stream_frames(str(square_video), SQUARE, counting, chunk_frames=16))
    assert {meta.backend for meta, _, _ in chunks} == {f"threads={decoder_threads()}"}
    assert [len(frames) for _, _, frames in chunks] == [16, 16, 8]
    indices = np.concatenate([i for _, i, _ in chunks])
    assert [decode_index(f) for f in np.concatenate([f for _, _, f in chunks])] == indices.tolist() == list(range(40))


REAL_CLIPS = ("R6llTwEh07w.mp4", "WUzgd7C1pWA.mp4", "v_SoccerJuggling_g23_c01.avi", "tree.avi")


def _mean_diff(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs(a.astype(np.int16) - b.astype(np.int16)).mean(axis=(1, 2, 3))


def test_real_clips_decoded_to_size_show_the_same_frames(real_videos):
    """On real clips (H.264 with audio, MPEG-4 AVI, cinepak with a lying header), every backend's frames
    decoded to size are the pictures resize_crop makes of the same full-size frames, up to resampling
    (measured: mean abs difference at most 3), and not their neighbours where those differ visibly."""
    prep = _prep(128, 112)
    for name in REAL_CLIPS:
        for backend in ALL:
            with open_video(real_videos / name, backend) as reader:
                n = reader.meta.num_frames
                request, following = [n - 2, 0, n // 2, 1], [n - 1, 1, n // 2 + 1, 2]
                assert reader.size_for(ResizeCrop(prep)) is not None
                new = reader.get_frames(request, ResizeCrop(prep))
                old = reader.get_frames(request, partial(resize_crop, preprocessing=prep))
                old_next = reader.get_frames(following, partial(resize_crop, preprocessing=prep))
            own, moving = _mean_diff(new, old), _mean_diff(old, old_next) > 8
            assert (own < 8).all(), (name, backend, own)
            assert (own < _mean_diff(new, old_next))[moving].all(), (name, backend, own)
