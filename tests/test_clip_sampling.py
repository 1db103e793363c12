"""Clip sampling: exact indices for small cases, bounds, padding, determinism and config round-trips."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pipeline.data.sampling import (
    PAD_POLICIES,
    SAMPLING_DEFAULTS,
    ClipInfo,
    RandomWindowSampler,
    SegmentSampler,
    build_sampler,
    pad_indices,
    sampler_from_config,
)


def indices(clips: list[ClipInfo]) -> list[tuple[int, ...]]:
    return [c.indices for c in clips]


def test_pad_policies():
    assert pad_indices([0, 1, 2], 7, "loop") == [0, 1, 2, 0, 1, 2, 0]
    assert pad_indices([0, 1, 2], 7, "repeat_last") == [0, 1, 2, 2, 2, 2, 2]
    assert pad_indices([0, 2], 2, "loop") == [0, 2]
    assert PAD_POLICIES == ("loop", "repeat_last")


def test_segment_eval_centres():
    clips = SegmentSampler(4)(8, training=False)
    assert clips == [ClipInfo((1, 3, 5, 7), 0, 1, False)]
    assert indices(SegmentSampler(3)(9, training=False)) == [(1, 4, 7)]
    assert indices(SegmentSampler(2)(2, training=False)) == [(0, 1)]


def test_segment_eval_multi_clip_offsets():
    clips = SegmentSampler(4, num_clips=2)(16, training=False)
    # segment length 4, offsets 0.25 and 0.75 of it
    assert indices(clips) == [(1, 5, 9, 13), (3, 7, 11, 15)]
    assert [(c.clip_index, c.num_clips) for c in clips] == [(0, 2), (1, 2)]


def test_segment_train_one_frame_per_segment():
    sampler = SegmentSampler(4)
    for seed in range(20):
        (clip,) = sampler(20, training=True, rng=np.random.default_rng(seed))
        assert [i // 5 for i in clip.indices] == [0, 1, 2, 3]
        assert not clip.padded


def test_segment_short_video_pads_by_policy():
    assert SegmentSampler(5, pad="loop")(3, training=False)[0] == ClipInfo((0, 1, 2, 0, 1), 0, 1, True)
    assert indices(SegmentSampler(5, pad="repeat_last")(3, training=False)) == [(0, 1, 2, 2, 2)]
    (clip,) = SegmentSampler(5)(3, training=True, rng=np.random.default_rng(0))
    assert clip.indices == (0, 1, 2, 0, 1) and clip.padded
    assert indices(SegmentSampler(4)(1, training=False)) == [(0, 0, 0, 0)]


def test_window_eval_exact():
    assert indices(RandomWindowSampler(4)(10, training=False)) == [(3, 4, 5, 6)]
    assert indices(RandomWindowSampler(3, stride=2)(9, training=False)) == [(2, 4, 6)]
    clips = RandomWindowSampler(4, num_clips=3)(10, training=False)
    assert indices(clips) == [(0, 1, 2, 3), (3, 4, 5, 6), (6, 7, 8, 9)]


def test_window_short_video_uses_existing_strided_frames_then_pads():
    # span 7 > 5 frames: frames 0, 2, 4 exist at stride 2, then pad to 4
    assert RandomWindowSampler(4, stride=2, pad="loop")(5, training=False)[0] == ClipInfo(
        (0, 2, 4, 0), 0, 1, True
    )
    assert indices(
        RandomWindowSampler(4, stride=2, pad="repeat_last")(5, True, np.random.default_rng(1))
    ) == [(0, 2, 4, 4)]
    assert indices(RandomWindowSampler(3, num_clips=2)(2, training=False)) == [(0, 1, 0), (0, 1, 0)]


def test_window_train_is_contiguous_and_random():
    sampler = RandomWindowSampler(4, stride=3)
    starts = set()
    for seed in range(30):
        (clip,) = sampler(40, training=True, rng=np.random.default_rng(seed))
        assert np.all(np.diff(clip.indices) == 3)
        starts.add(clip.indices[0])
    assert len(starts) > 5


@pytest.mark.parametrize("name", ["segment", "window"])
def test_training_reproducible_with_seeded_rng_and_eval_deterministic(name):
    sampler = build_sampler(name, clip_len=8, num_clips=3)
    a = sampler(100, training=True, rng=np.random.default_rng(123))
    b = sampler(100, training=True, rng=np.random.default_rng(123))
    assert a == b and len(a) == 1
    draws = {sampler(100, training=True, rng=np.random.default_rng(s))[0].indices for s in range(10)}
    assert len(draws) > 1
    # evaluation never consumes the rng and ignores it
    rng = np.random.default_rng(5)
    state = rng.bit_generator.state
    assert sampler(100, training=False, rng=rng) == sampler(100, training=False)
    assert rng.bit_generator.state == state


@pytest.mark.parametrize("name", ["segment", "window"])
def test_multi_clip_eval_clips_differ(name):
    clips = build_sampler(name, clip_len=8, num_clips=4)(200, training=False)
    assert len(clips) == 4
    assert len({c.indices for c in clips}) == 4
    assert [c.clip_index for c in clips] == [0, 1, 2, 3]


def test_bounds_and_length_for_many_shapes():
    rng = np.random.default_rng(0)
    for name in ("segment", "window"):
        for pad in PAD_POLICIES:
            for clip_len in (1, 2, 3, 8, 16):
                for stride in (1, 2, 5) if name == "window" else (1,):
                    for num_clips in (1, 3):
                        sampler = build_sampler(name, clip_len, num_clips=num_clips, stride=stride, pad=pad)
                        for n in (1, 2, 3, 7, 8, 15, 16, 17, 33, 100):
                            for training in (True, False):
                                clips = sampler(n, training, rng)
                                assert len(clips) == (1 if training else num_clips)
                                for c in clips:
                                    assert len(c.indices) == clip_len
                                    assert all(0 <= i < n for i in c.indices), (name, n, c)
                                    assert all(type(i) is int for i in c.indices)
                                    assert c.padded == (n < getattr(sampler, "span", clip_len))


def test_padded_flag():
    assert not SegmentSampler(8)(8, training=False)[0].padded
    assert SegmentSampler(8)(7, training=False)[0].padded
    assert not RandomWindowSampler(3, stride=2)(5, training=False)[0].padded
    assert RandomWindowSampler(3, stride=2)(4, training=False)[0].padded


@pytest.mark.parametrize(
    "sampler",
    [SegmentSampler(8, num_clips=2, pad="repeat_last"), RandomWindowSampler(16, num_clips=3, stride=2)],
)
def test_config_round_trip(sampler):
    cfg = sampler.to_config()
    again = sampler_from_config(json.loads(json.dumps(cfg)))
    assert type(again) is type(sampler) and again.to_config() == cfg and again == sampler
    assert again(50, training=False) == sampler(50, training=False)


def test_defaults_come_from_sampling_defaults():
    d = SAMPLING_DEFAULTS
    assert type(build_sampler(d.sampler, 8)) is SegmentSampler
    for sampler in (SegmentSampler(8), RandomWindowSampler(8), build_sampler("window", 8)):
        assert (sampler.num_clips, sampler.pad) == (d.num_clips, d.pad), sampler
    assert RandomWindowSampler(8).stride == d.frame_stride


def test_bad_arguments():
    with pytest.raises(ValueError, match="clip_len"):
        SegmentSampler(0)
    with pytest.raises(ValueError, match="pad"):
        build_sampler("segment", 8, pad="zeros")
    with pytest.raises(ValueError, match="unknown clip sampler"):
        build_sampler("uniform", 8)
    with pytest.raises(ValueError, match="num_clips"):
        build_sampler("window", 8, num_clips=0)
    with pytest.raises(ValueError, match="stride"):
        build_sampler("window", 8, stride=0)
    with pytest.raises(ValueError, match="num_frames"):
        SegmentSampler(4)(0, training=False)
    with pytest.raises(ValueError, match="name"):
        sampler_from_config({"clip_len": 4})
