"""Augmentation that survives the feature cache: spatial views cached beside the plain entry and drawn one
per clip per epoch (or applied on the fly without the cache), temporal jitter, and feature noise; all
drawn from the seeded worker generator, so runs stay deterministic whether the cache was empty or full."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import index_frame, make_index_video

from models.preprocessing import Preprocessing
from pipeline.core.module import VideoClassifierModule
from pipeline.data.annotations import VideoRecord
from pipeline.data.datamodule import VideoDataModule
from pipeline.data.datasets import FeatureClipDataset, VideoClipDataset, read_clips
from pipeline.data.feature_cache import FeatureCache, precompute_features
from pipeline.data.feature_rate import CachedFeatures, FeatureRate
from pipeline.data.sampling import SegmentSampler, build_sampler, sampler_from_config
from pipeline.data.transforms import resize_crop
from pipeline.data.views import ViewsResizeCrop, apply_view, check_views
from pipeline.demo import generate_direction_dataset

FEW = FeatureRate(max_frames=8)
STRETCH = Preprocessing(resize_size=48, crop_size=48, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25), fit="stretch")


def test_views_are_the_transforms_they_say():
    frames = np.stack([index_frame(i, 60, 100) for i in (5, 9)])  # asymmetric: the index pattern is at the left
    np.testing.assert_array_equal(apply_view(frames, "plain"), frames)
    np.testing.assert_array_equal(apply_view(frames, "flip"), frames[:, :, ::-1])
    np.testing.assert_array_equal(apply_view(frames, "zoom"), frames[:, 6:54, 10:90])  # the centre 80%
    np.testing.assert_array_equal(apply_view(frames, "left"), frames[:, :, :80])
    np.testing.assert_array_equal(apply_view(frames, "right"), frames[:, :, 20:])

    # Cut before the fit: each view is then fitted as a plain frame would be, one output per view.
    both = ViewsResizeCrop(STRETCH, ["plain", "flip"])(frames)
    assert both.shape == (2, 2, 48, 48, 3) and both.dtype == np.uint8
    np.testing.assert_array_equal(both[:, 0], resize_crop(frames, STRETCH))
    np.testing.assert_array_equal(both[:, 1], resize_crop(frames[:, :, ::-1].copy(), STRETCH))

    assert check_views(["flip", "plain", "flip"]) == ("flip", "plain")
    with pytest.raises(ValueError, match="unknown view 'mirror'; choose among plain, flip, zoom, left, right"):
        check_views(["plain", "mirror"])


@pytest.fixture(scope="module")
def backbone():
    return VideoClassifierModule(class_names=["a", "b"], backbone="efficientnet_lite0", input_size=64,
                                 hidden_size=16).frozen_backbone


def test_the_cache_holds_each_view_beside_the_plain_entry_it_reuses(index_video, backbone, tmp_path):
    record = [VideoRecord(index_video, 0)]
    cache = FeatureCache(tmp_path / "a", backbone.fingerprint(), "pyav", FEW)
    [plain], _ = precompute_features(record, backbone, cache, backend="pyav", progress=False)
    written = {p.name: p.stat().st_mtime_ns for p in cache.directory.glob("*.npy")}
    assert len(written) == 1 and not plain.views

    [both], errors = precompute_features(record, backbone, cache, backend="pyav", progress=False,
                                         views=["plain", "flip"])
    assert not errors and set(both.views) == {"flip"}
    now = {p.name: p.stat().st_mtime_ns for p in cache.directory.glob("*.npy")}
    assert len(now) == 2 and all(now[name] == mtime for name, mtime in written.items()), "plain not recomputed"
    np.testing.assert_array_equal(both.features, plain.features)
    assert np.abs(both.of_view("flip").astype(np.float32) - plain.features.astype(np.float32)).mean() > 0.01
    assert cache.load(index_video, ["zoom"]) is None, "a view not cached yet is asked for, not made up"

    # From an empty cache, the views come from one decode, and the plain entry is the one a plain-only cache writes.
    fresh = FeatureCache(tmp_path / "b", backbone.fingerprint(), "pyav", FEW)
    [together], _ = precompute_features(record, backbone, fresh, backend="pyav", progress=False,
                                        views=["flip", "plain"])
    np.testing.assert_array_equal(together.features, plain.features)
    np.testing.assert_array_equal(together.of_view("flip"), both.of_view("flip"))


def _synthetic_entry(frames: int = 20, dim: int = 6, seed: int = 0) -> CachedFeatures:
    """Features whose value says the view: plain 0, flip 100, zoom 200 (plus per-dimension variation)."""
    base = np.random.default_rng(seed).normal(size=(frames, dim)).astype(np.float16)
    base[:, -1] = 0  # a dimension that never varies gets no noise
    views = {"flip": base + np.float16(100), "zoom": base + np.float16(200)}
    return CachedFeatures(base, np.arange(frames), frames, views)


def _views_drawn(dataset: FeatureClipDataset, epochs: int, seed: int) -> list:
    torch.manual_seed(seed)
    return [int(round(float(dataset[0]["features"][..., 0].mean()) / 100)) for _ in range(epochs)]


def test_training_draws_one_view_per_clip_the_same_for_the_same_seed():
    entry = _synthetic_entry()
    dataset = FeatureClipDataset([VideoRecord(Path("v.mp4"), 0)], [entry], build_sampler("segment", 4),
                                 training=True, views=["plain", "flip", "zoom"])
    drawn = _views_drawn(dataset, 12, seed=0)
    assert set(drawn) == {0, 1, 2}, "every view is drawn over the epochs"
    assert drawn == _views_drawn(dataset, 12, seed=0), "same seed, same draws"
    assert drawn != _views_drawn(dataset, 12, seed=1)
    item = dataset[0]["features"][0].numpy()  # one view for every frame of the clip
    assert np.ptp(np.round(item[:, 0] / 100)) == 0

    evaluation = FeatureClipDataset([VideoRecord(Path("v.mp4"), 0)], [entry], build_sampler("segment", 4),
                                    training=False, views=["flip", "zoom"])
    assert _views_drawn(evaluation, 3, seed=0) == [0, 0, 0], "evaluation sees the plain view"


def test_feature_noise_changes_training_items_only():
    entry = _synthetic_entry(frames=40, dim=5)
    sampler = build_sampler("segment", 8)
    records = [VideoRecord(Path("v.mp4"), 0)]
    plain_train = FeatureClipDataset(records, [entry], sampler, training=True)
    noisy_train = FeatureClipDataset(records, [entry], sampler, training=True, feature_noise=0.5)
    noisy_eval = FeatureClipDataset(records, [entry], sampler, training=False, feature_noise=0.5)

    np.testing.assert_array_equal(noisy_eval[0]["features"], FeatureClipDataset(records, [entry], sampler, False)[0]
                                  ["features"])
    torch.manual_seed(3)
    clean = [plain_train[0]["features"] for _ in range(200)]
    torch.manual_seed(3)
    noisy = [noisy_train[0]["features"] for _ in range(200)]
    assert not torch.equal(clean[0], noisy[0])
    torch.manual_seed(3)
    assert torch.equal(noisy_train[0]["features"], noisy[0]), "drawn from the seeded generator"
    # Same frames (the indices come first from the generator); the noise is relative to each dimension's spread.
    noise = (torch.stack(noisy) - torch.stack(clean)).reshape(-1, 5).numpy()
    spread = np.asarray(entry.features, np.float64).std(0)
    np.testing.assert_allclose(noise[:, :4].std(0), 0.5 * spread[:4], rtol=0.1)
    assert np.all(noise[:, 4] == 0)


def test_temporal_jitter_keeps_clips_in_range_and_sorted_and_evaluation_unchanged():
    jittered, still = SegmentSampler(8, jitter=0.5), SegmentSampler(8)
    rng = np.random.default_rng(0)
    for num_frames in (5, 8, 40, 301):
        clips = [jittered(num_frames, training=True, rng=rng)[0].indices for _ in range(200)]
        assert all(0 <= min(c) and max(c) < num_frames for c in clips)
        if num_frames >= 8:  # (a shorter video is padded by its pad policy, as without jitter)
            assert all(list(c) == sorted(c) for c in clips)
        assert jittered(num_frames, training=False) == still(num_frames, training=False)
    spans = [c[-1] - c[0] for c in clips]  # 301 frames: clips cover from about half the video to all of it
    starts = [c[0] for c in clips]
    assert min(spans) < 170 and max(spans) > 280 and max(starts) > 100
    assert all(len(set(c)) == 8 for c in clips), "never fewer distinct frames than the clip asks for"
    assert max(still(301, training=True, rng=rng)[0].indices[0] for _ in range(100)) < 301 / 8

    assert sampler_from_config(jittered.to_config()).jitter == 0.5
    assert "temporal_jitter" not in still.to_config(), "configs without jitter stay as they were"
    with pytest.raises(ValueError, match="temporal_jitter"):
        build_sampler("window", 8, temporal_jitter=0.2)
    with pytest.raises(ValueError, match=r"temporal_jitter must be in \[0, 1\)"):
        SegmentSampler(8, jitter=1.0)


def test_without_the_cache_views_apply_to_decoded_frames(tmp_path):
    video = make_index_video(tmp_path / "eight.mp4", 8)  # 8 frames, clips of 8: every clip is frames 0..7
    sampler = build_sampler("segment", 8)
    plain = read_clips(str(video), sampler, STRETCH, training=False)["frames"][0]
    flip = read_clips(str(video), sampler, STRETCH, training=False, view="flip")["frames"][0]
    assert np.abs(flip.numpy().astype(int) - plain.flip(2).numpy().astype(int)).mean() < 3, "mirrored"
    assert np.abs(flip.numpy().astype(int) - plain.numpy().astype(int)).mean() > 20

    dataset = VideoClipDataset([VideoRecord(video, 0)], sampler, STRETCH, training=True, views=["plain", "flip"])
    torch.manual_seed(0)
    seen = [dataset[0]["frames"][0] for _ in range(6)]
    kinds = {"plain" if torch.equal(f, plain) else "flip" if torch.equal(f, flip) else "other" for f in seen}
    assert kinds == {"plain", "flip"}


def test_augmented_training_data_is_the_same_whether_the_cache_was_empty_or_full(tmp_path, backbone):
    root = generate_direction_dataset(tmp_path / "data", n_train=2, n_val=2, n_test=2, size=64, num_frames=8, seed=2)

    def training_items() -> list:
        torch.manual_seed(0)
        data = VideoDataModule(root=str(root), clip_len=4, num_workers=0, cache_dir=str(tmp_path / "cache"),
                               cache_views=["plain", "flip", "zoom"], temporal_jitter=0.5, feature_noise=0.2)
        data.attach_model(backbone.preprocessing, backbone)
        data.setup("fit")
        train = data.datasets["train"]
        return [train[i]["features"] for _ in range(3) for i in range(len(train))]

    cold = training_items()
    assert len(list((tmp_path / "cache").rglob("*.zoom.npy"))) == 2, "views of the training videos only"
    assert len(list((tmp_path / "cache").rglob("*.npy"))) == 2 * 3 + 2  # and val, plain
    warm = training_items()
    assert all(torch.equal(a, b) for a, b in zip(cold, warm))
