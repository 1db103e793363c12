"""The feature cache embeds the frames its rate picks (not every frame of the file), serves each
clip frame from the nearest stored one, and keeps entries of different rates apart."""
from __future__ import annotations

from functools import partial

import numpy as np
import pytest
import torch

from pipeline.core.module import VideoClassifierModule
from pipeline.data.annotations import VideoRecord
from pipeline.data.datasets import FeatureClipDataset
from pipeline.data.feature_cache import FeatureCache, embed_frames, precompute_features
from pipeline.data.feature_rate import FEATURE_RATE_DEFAULTS, CachedFeatures, FeatureRate
from pipeline.data.readers import open_video
from pipeline.data.sampling import build_sampler
from pipeline.data.transforms import resize_crop
from pipeline.errors import UsageError
from pipeline.training.cli import train


def test_the_rate_spreads_its_frames_over_the_whole_video():
    every = FeatureRate(fps=None, max_frames=None)
    assert every.every_frame and every.frames(50, 25.0).tolist() == list(range(50))

    capped = FeatureRate(fps=None, max_frames=128).frames(3000, 30.0)  # a 100 s phone clip
    assert len(capped) == 128 and np.all(np.diff(capped) > 0)
    assert capped[0] < 3000 / 128 and capped[-1] > 3000 - 3000 / 128, "from start to end"
    assert FeatureRate(fps=None, max_frames=128).frames(90, 30.0).tolist() == list(range(90)), "short: all"

    ten_fps = FeatureRate(fps=10, max_frames=None).frames(300, 30.0)
    assert len(ten_fps) == 100 and set(np.diff(ten_fps)) == {3}
    # A window sampler reads frames `stride` apart: stored frames are never further apart than that.
    window = FeatureRate(fps=None, max_frames=16, max_step=2).frames(300, 30.0)
    assert len(window) == 150 and np.diff(window).max() == 2
    entry = CachedFeatures(np.zeros((150, 1)), window, 300)  # frames 1, 3, 5, ...
    assert window[entry.rows_for(np.array([0, 2, 4, 6]))].tolist() == [1, 3, 5, 7], "the spacing is kept"

    for bad in (dict(fps=0), dict(max_frames=0), dict(max_frames=2.5)):
        with pytest.raises(ValueError):
            FeatureRate(**bad)


@pytest.fixture(scope="module")
def backbone():
    return VideoClassifierModule(class_names=["a", "b"], backbone="efficientnet_lite0", input_size=64,
                                 hidden_size=16).frozen_backbone


def test_capped_cache_embeds_only_its_frames_and_clips_use_the_nearest(index_video, backbone, tmp_path):
    rate = FeatureRate(fps=None, max_frames=8)
    cache = FeatureCache(tmp_path, backbone.fingerprint(), "pyav", rate)
    [entry], errors = precompute_features([VideoRecord(index_video, 0)], backbone, cache, backend="pyav",
                                          progress=False)
    assert not errors and entry.num_frames == 50
    assert entry.frames.tolist() == [3, 9, 15, 21, 28, 34, 40, 46]  # the centres of 8 equal stretches

    # Each row holds the features of exactly the frame it names.
    with open_video(index_video, "pyav") as reader:
        frames = reader.get_frames(entry.frames.tolist(), partial(resize_crop, preprocessing=backbone.preprocessing))
    direct = embed_frames(torch.from_numpy(frames), backbone, torch.device("cpu"))
    np.testing.assert_allclose(np.asarray(entry.features, np.float32), direct.astype(np.float32), atol=2e-3)

    # Evaluation takes frames 6, 18, 31, 43 of the 50 (segment centres); the cache serves the nearest,
    # ties to the later: 9, 21, 34, 46.
    dataset = FeatureClipDataset([VideoRecord(index_video, 0)], [entry], build_sampler("segment", 4), training=False)
    clip = dataset[0]["features"][0].numpy()
    expected = np.asarray(entry.features, np.float32)[[1, 3, 5, 7]]
    np.testing.assert_array_equal(clip, expected)


def test_a_new_rate_makes_new_entries(index_video, tmp_path):
    features = np.random.default_rng(0).standard_normal((50, 4)).astype(np.float16)
    every = FeatureCache(tmp_path, "fp", "pyav", FeatureRate(fps=None, max_frames=None))
    every.save(index_video, features)
    assert every.load(index_video).frames.tolist() == list(range(50))
    entry = every.path_for(index_video)
    entry.with_name(f"{entry.stem}.frames.npz").unlink()  # features without their frames file: not trusted
    assert every.load(index_video) is None
    every.save(index_video, features)
    assert FeatureCache(tmp_path, "fp", "pyav", FeatureRate(fps=None, max_frames=8)).load(index_video) is None
    assert FeatureCache(tmp_path, "fp", "pyav", FeatureRate(fps=5, max_frames=8)).load(index_video) is None
    capped = FeatureCache(tmp_path, "fp", "pyav", FeatureRate(fps=None, max_frames=8))
    capped.save(index_video, features[:8], frames=np.arange(3, 50, 6)[:8], num_frames=50)
    assert capped.load(index_video).frames.tolist() == np.arange(3, 50, 6)[:8].tolist()
    assert every.load(index_video).frames.tolist() == list(range(50)), "the other rate's entry is untouched"
    assert FEATURE_RATE_DEFAULTS.key() != "all" and capped.directory != every.directory


def test_train_refuses_a_rate_that_cannot_work(tmp_path):
    with pytest.raises(UsageError, match="cache_fps"):
        train(["--data.cache_fps=0", f"--trainer.logger.init_args.save_dir={tmp_path}"])

