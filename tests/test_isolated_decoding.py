"""A decoder that aborts or hangs on one file costs that file only: isolated readers and fallback."""
from __future__ import annotations

import logging
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import decode_index

from models.preprocessing import Preprocessing
from pipeline.data.frame_stream import stream_frames
from pipeline.data.readers import VideoReadError, available_backends, open_video, read_with_fallback
from pipeline.data.readers.isolated import DECODER
from pipeline.data.video_check import probe_video
from pipeline.data.views import ViewsResizeCrop


@pytest.fixture
def named_copies(index_video, tmp_path):
    """The index video under the names the faulty readers react to."""
    def copy(name: str):
        return shutil.copy(index_video, tmp_path / name)
    return copy


def test_isolated_reads_are_frame_exact(index_video):
    with open_video(index_video, "pyav", isolated=True) as reader:
        assert reader.meta.num_frames == 50 and reader.meta.backend == "pyav"
        frames = reader.get_frames([7, 3, 3, 49])
        assert [decode_index(f) for f in frames] == [7, 3, 3, 49]
        chunks = list(reader.iter_frames(range(0, 50, 3), chunk_size=5))
    assert [len(c) for c in chunks] == [5, 5, 5, 2]
    assert [decode_index(f) for f in np.concatenate(chunks)] == list(range(0, 50, 3))


def test_transform_runs_in_the_child(index_video):
    with open_video(index_video, "pyav", isolated=True) as reader:
        small = reader.get_frames([0, 1], transform=_halve)
    assert small.shape == (2, 32, 48, 3)


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="reads the child's memory map from /proc (Linux)")
@pytest.mark.parametrize("backend", [b for b in available_backends() if b != "nvdec"])  # nvdec needs torch's CUDA
def test_the_decoding_child_never_loads_torch(index_video, backend):
    """The child that every job decodes in (one per loader worker) resizes frames with numpy and OpenCV:
    unpickling the preprocessing, the spotlight's views and the video check's transform must not import
    torch, whose libraries made each child 0.9 GB instead of 0.1 GB and 2.6 s slower to start."""
    preprocessing = Preprocessing(resize_size=32, crop_size=32, mean=(0.5,) * 3, std=(0.5,) * 3, fit="spotlight")
    transform = ViewsResizeCrop(preprocessing, ("plain", "flip"))
    DECODER.stop()  # a fresh child: others here unpickled functions of this test module, which imports torch
    chunks = stream_frames(str(index_video), preprocessing, backend, chunk_frames=20, transform=transform)
    frames = np.concatenate([chunk for _, _, chunk in chunks])
    assert frames.shape == (50, 2, 32, 32, 3)
    assert probe_video(str(index_video), backend).status == "ok"
    assert DECODER.pid not in (None, os.getpid())
    with open(f"/proc/{DECODER.pid}/maps") as maps:
        assert "libtorch" not in maps.read()


def _halve(frames):
    return frames[:, ::2, ::2]


def test_an_aborting_decoder_costs_one_file(named_copies):
    bad, good = named_copies("abort_me.mp4"), named_copies("fine.mp4")
    with pytest.raises(VideoReadError) as err:
        open_video(bad, "faulty_readers:AbortingReader", isolated=True)
    assert err.value.kind == "decoder_crashed" and "SIGABRT" in err.value.reason and "abort_me.mp4" in str(err.value)
    with open_video(good, "faulty_readers:AbortingReader", isolated=True) as reader:  # a fresh child takes over
        assert decode_index(reader.get_frames([12])[0]) == 12


def test_a_crash_while_reading_frames_is_reported(named_copies):
    with open_video(named_copies("midway.mp4"), "faulty_readers:CrashOnReadReader", isolated=True) as reader:
        assert reader.meta.num_frames == 50
        with pytest.raises(VideoReadError) as err:
            reader.get_frames([1, 2])
    assert err.value.kind == "decoder_crashed"


def test_a_hanging_decoder_is_stopped_after_the_timeout(named_copies):
    start = time.monotonic()
    with pytest.raises(VideoReadError) as err:
        open_video(named_copies("hang.mp4"), "faulty_readers:HangingReader", isolated=True, timeout=1.5)
    assert err.value.kind == "decoder_timeout" and "1.5 s" in err.value.reason
    assert time.monotonic() - start < 60  # stopped, not waited out (the reader sleeps an hour)
    with open_video(named_copies("ok.mp4"), "faulty_readers:HangingReader", isolated=True, timeout=30) as reader:
        assert reader.meta.num_frames == 50


def test_another_decoder_reads_a_file_the_first_one_crashes_on(named_copies, caplog):
    bad = named_copies("abort_me.mp4")
    with caplog.at_level(logging.WARNING):
        used, index = read_with_fallback(
            bad, "faulty_readers:AbortingReader", lambda r: (r.meta.backend, decode_index(r.get_frames([9])[0]))
        )
    assert used == available_backends()[0] and index == 9
    assert "abort_me.mp4" in caplog.text and "SIGABRT" in caplog.text and f"read with {used} instead" in caplog.text


def test_missing_files_are_not_retried_with_other_decoders(tmp_path):
    with pytest.raises(VideoReadError) as err:
        read_with_fallback(tmp_path / "gone.mp4", "auto", lambda r: r.meta)
    assert err.value.kind == "not_found"


def test_custom_backend_names_are_checked():
    with pytest.raises(ValueError, match="cannot be imported"):
        open_video("x.mp4", "no_such_module:Reader")
    with pytest.raises(ValueError, match="not a VideoReader"):
        open_video("x.mp4", "numpy:ndarray")
