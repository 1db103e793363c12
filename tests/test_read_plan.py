"""The reading plan on real long-GOP H.264: each wanted frame decoded once, exact frames, dense and sparse."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from conftest import decode_index, index_frame

from pipeline.data.readers import PyAVReader
from pipeline.data.readers.read_plan import gop_groups, keyframe_before, seek_target

FRAMES, GOP = 300, 100


def write_long_gop(path: Path, frames: int = FRAMES, gop: int = GOP) -> Path:
    """Index frames, a keyframe every `gop` (and no scene-cut keyframes), B-frames in a pyramid, as x264 makes."""
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=Fraction(25))
        stream.width, stream.height, stream.pix_fmt = 96, 64, "yuv420p"
        stream.options = {"crf": "18", "preset": "veryfast", "g": str(gop), "keyint_min": str(gop),
                          "sc_threshold": "0", "bf": "3", "threads": "1"}
        for i in range(frames):
            for packet in stream.encode(av.VideoFrame.from_ndarray(index_frame(i), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


@pytest.fixture(scope="module")
def long_gop(tmp_path_factory) -> Path:
    return write_long_gop(tmp_path_factory.mktemp("plan") / "long_gop.mp4")


def test_seek_rule():
    keys = [0, 100, 200]
    assert keyframe_before(0, keys) == 0 and keyframe_before(199, keys) == 100 and keyframe_before(250, keys) == 200
    assert seek_target(50, None, keys) == 0  # not started: from the keyframe before
    assert seek_target(90, 51, keys) is None  # same GOP, ahead: decode on
    assert seek_target(150, 51, keys) == 100  # a later GOP: the seek skips 51..99
    assert seek_target(40, 51, keys) == 0  # behind: back to its keyframe
    assert seek_target(150, 51, keys, pending=True) is None  # its packet is in the decoder already
    assert gop_groups([5, 50, 120, 250, 260], keys) == [(0, [5, 50]), (100, [120]), (200, [250, 260])]


def test_keyframes_are_known(long_gop):
    with PyAVReader(long_gop) as reader:
        assert reader.meta.num_frames == FRAMES and reader.meta.key_frames == (0, 100, 200)


@pytest.mark.parametrize("request_name", ["sparse", "one-per-gop", "dense", "segments", "keyframes"])
def test_each_wanted_frame_is_decoded_once_and_exact(long_gop, request_name):
    wanted = {
        "sparse": [10, 50, 90],  # far apart in one GOP: one pass, no seek back to its keyframe
        "one-per-gop": [5, 150, 290],
        "dense": list(range(0, FRAMES, 3)),
        "segments": [int((k + 0.5) * FRAMES / 16) for k in range(16)],
        "keyframes": [0, 100, 200],
    }[request_name]
    with PyAVReader(long_gop) as reader:
        frames = reader.get_frames(wanted)
        decoded = reader.decoded_frames
    assert [decode_index(f) for f in frames] == wanted
    # What the plan may decode: from each group's keyframe to its last wanted frame, plus the few frames the
    # decoder holds back to reorder B-frames; frames nothing refers to and wanted nothing of are skipped.
    groups = gop_groups(wanted, [0, 100, 200])
    if request_name == "keyframes":
        assert decoded == len(wanted)  # keyframe-only decoding: nothing else
    else:
        assert decoded <= sum(last[-1] - key + 1 + 4 for key, last in groups)
    with PyAVReader(long_gop, skipping=False) as plain:  # the same pixels as decoding every frame
        assert np.array_equal(plain.get_frames(wanted), frames)


def test_a_later_request_for_a_frame_the_decoder_skipped_goes_back_for_it(long_gop):
    with PyAVReader(long_gop) as reader:
        assert [decode_index(f) for f in reader.get_frames([40])] == [40]
        assert [decode_index(f) for f in reader.get_frames([41, 43, 20])] == [41, 43, 20]
        chunks = list(reader.iter_frames(list(range(60, 120)), chunk_size=7))
        assert [decode_index(f) for f in np.concatenate(chunks)] == list(range(60, 120))
        assert reader._trusted  # nothing disagreed: still seeking
