"""The "efficient" sampling mode: frames snapped to keyframes, recorded in checkpoints, exact stays the default."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from conftest import decode_index
from test_read_plan import FRAMES, write_long_gop

from pipeline.core.checkpoints import load_classifier_module
from pipeline.core.module import VideoClassifierModule
from pipeline.data.datasets import clip_indices, read_clips
from pipeline.data.readers import PyAVReader
from pipeline.data.sampling import (
    SAMPLING_DEFAULTS,
    SegmentSampler,
    build_sampler,
    sampler_from_config,
    snap_to_keyframes,
)
from pipeline.inference.batch import reading_for
from pipeline.inference.datasets import PredictClipDataset
from pipeline.inference.options import PredictOptions

KEYS = (0, 100, 200)


@pytest.fixture(scope="module")
def long_gop(tmp_path_factory) -> Path:
    return write_long_gop(tmp_path_factory.mktemp("efficient") / "long_gop.mp4")


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> dict:
    """An untrained two-class model saved as train.py saves one, with an exact and with an efficient sampler."""
    model = VideoClassifierModule(class_names=["a", "b"], input_size=64)
    out = {}
    for mode in ("exact", "efficient"):
        state = {"state_dict": model.state_dict(), "hyper_parameters": dict(model.hparams),
                 "pytorch-lightning_version": pl.__version__}
        state["hyper_parameters"]["sampling"] = {"sampler": build_sampler("segment", 16, mode=mode).to_config(),
                                                 "backend": "auto"}
        model.on_save_checkpoint(state)
        out[mode] = tmp_path_factory.mktemp("ckpt") / f"{mode}.ckpt"
        torch.save(state, out[mode])
    return out


def test_snapping_and_the_default():
    assert SAMPLING_DEFAULTS.mode == "exact"
    assert snap_to_keyframes([0, 49, 50, 51, 160, 299], KEYS) == [0, 0, 0, 100, 200, 200]  # a tie: the earlier
    exact = build_sampler("segment", 16)
    efficient = build_sampler("segment", 16, mode="efficient")
    assert "mode" not in exact.to_config()  # configs written before the modes existed are unchanged
    assert efficient.to_config()["mode"] == "efficient" and sampler_from_config(efficient.to_config()) == efficient
    plain = exact(FRAMES, training=False)[0].indices
    assert exact(FRAMES, training=False, key_frames=KEYS)[0].indices == plain  # exact ignores keyframes
    assert set(efficient(FRAMES, training=False, key_frames=KEYS)[0].indices) == set(KEYS)
    assert efficient(FRAMES, training=False)[0].indices == plain  # keyframes unknown (an AVI): exact
    rng = np.random.default_rng(0)
    assert set(efficient(FRAMES, training=True, rng=rng, key_frames=KEYS)[0].indices) <= set(KEYS)
    with pytest.raises(ValueError, match="sampling mode"):
        SegmentSampler(16, mode="fast")


def test_an_efficient_clip_decodes_only_keyframes(long_gop):
    sampler = build_sampler("segment", 16, mode="efficient")
    with PyAVReader(long_gop) as reader:
        indices = clip_indices(sampler, reader.meta.num_frames, False, key_frames=reader.meta.key_frames)
        unique = np.unique(indices)
        frames = reader.get_frames(unique.tolist())
        assert unique.tolist() == list(KEYS) and [decode_index(f) for f in frames] == list(KEYS)
        assert reader.decoded_frames == len(KEYS)
    from models.preprocessing import Preprocessing

    prep = Preprocessing(resize_size=64, crop_size=64, mean=(0.5,) * 3, std=(0.5,) * 3)
    clips = read_clips(str(long_gop), sampler, prep, training=False, isolated=False)
    assert set(clips["frame_indices"].ravel().tolist()) == set(KEYS)  # the isolated child's meta carries them


def test_checkpoints_record_the_mode_and_exact_ones_predict_as_before(long_gop, checkpoints):
    """predict.py's reading (reading_for: the checkpoint's sampler, --sampling-mode over it) and its dataset."""
    plain = list(SegmentSampler(16)(FRAMES, training=False)[0].indices)
    for stored, path in checkpoints.items():
        model = load_classifier_module(str(path))
        assert "mode" not in model.hparams["sampling"]["sampler"] or stored == "efficient"
        for option in (None, "exact", "efficient"):
            sampler, backend = reading_for(PredictOptions("", [], "x.csv", sampling_mode=option), model)
            assert sampler.mode == (option or stored)
            item = PredictClipDataset([str(long_gop)], sampler, model.preprocessing, backend)[0]["item"]
            indices = [i for clip in item["frame_indices"] for i in clip]
            assert item["status"] == "ok", item
            if sampler.mode == "exact":
                assert indices == plain  # what an exact checkpoint read before the modes existed
            else:
                assert set(indices) == set(KEYS)
