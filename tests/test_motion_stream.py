"""The motion stream (`model.rgb_diff`): the CNN also embeds each frame's difference from the frame before
it. Decoded clips carry each frame's predecessor, the feature cache stores the stream beside the frames'
own features (shared with models without it), and a checkpoint with the stream is read the same way by
training, predict.py (batch and timeline) and evaluate.py."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from conftest import decode_index, make_index_video

from models.backbones import create_backbone
from pipeline.core.checkpoints import load_classifier_module
from pipeline.core.module import VideoClassifierModule
from pipeline.data.annotations import VideoRecord
from pipeline.data.datamodule import VideoDataModule
from pipeline.data.datasets import read_clips
from pipeline.data.feature_cache import RGB_DIFF, FeatureCache, precompute_features
from pipeline.data.sampling import SegmentSampler, sampler_from_config
from pipeline.data.transforms import RGB_DIFF_GAIN, difference_image, normalize
from pipeline.demo import generate_direction_dataset
from pipeline.errors import UsageError
from pipeline.evaluation.evaluate import EvaluationOptions, evaluate
from pipeline.inference import PredictOptions, TimelineOptions, predict


def test_difference_image_is_grey_where_nothing_moved():
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (3, 8, 8, 3), dtype=np.uint8)
    assert (difference_image(frames, frames) == 128).all()
    brighter = np.clip(frames.astype(int) + 10, 0, 255).astype(np.uint8)
    change = brighter.astype(int) - frames.astype(int)
    assert np.array_equal(difference_image(brighter, frames), np.clip(128 + RGB_DIFF_GAIN * change, 0, 255))
    assert difference_image(np.full((1, 1, 3), 255, np.uint8), np.zeros((1, 1, 3), np.uint8)).max() == 255
    assert np.array_equal(difference_image(torch.from_numpy(brighter), torch.from_numpy(frames)).numpy(),
                          difference_image(brighter, frames))


@pytest.fixture(scope="module")
def square_video(tmp_path_factory) -> Path:
    """40 square frames that spell their own index (the stretch fit keeps the pattern)."""
    return make_index_video(tmp_path_factory.mktemp("motion") / "index.mp4", 40, height=64, width=64)


def small_backbone(rgb_diff: bool):
    torch.manual_seed(0)  # random weights, the same each time
    backbone = create_backbone("efficientnet_lite0", "none", True, input_size=64, precision="fp32")
    backbone.preprocessing = backbone.preprocessing.with_fit("stretch").with_rgb_diff(rgb_diff)
    return backbone


def test_clips_carry_the_frame_before_each_frame(square_video):
    preprocessing = small_backbone(True).preprocessing
    clips = read_clips(str(square_video), SegmentSampler(8, num_clips=2), preprocessing, training=False)
    shown = [[decode_index(f) for f in clip] for clip in clips["frames"].numpy()]
    before = [[decode_index(f) for f in clip] for clip in clips["previous_frames"].numpy()]
    assert shown == clips["frame_indices"].tolist()
    assert before == np.maximum(clips["frame_indices"] - 1, 0).tolist()
    plain = read_clips(str(square_video), SegmentSampler(8, num_clips=2), preprocessing.with_rgb_diff(False), False)
    assert "previous_frames" not in plain and torch.equal(plain["frames"], clips["frames"])


def test_the_cache_keeps_the_stream_beside_the_shared_frame_features(square_video, tmp_path):
    record = [VideoRecord(square_video, 0)]
    plain_backbone, motion_backbone = small_backbone(False), small_backbone(True)
    assert plain_backbone.fingerprint() == motion_backbone.fingerprint()  # one cache folder for both
    cache = FeatureCache(tmp_path, plain_backbone.fingerprint())
    (plain,), errors = precompute_features(record, plain_backbone, cache, progress=False)
    assert not errors and plain.features.shape[1] == plain_backbone.feature_dim
    entry = cache.path_for(square_video)
    written = entry.stat().st_mtime_ns
    (both,), errors = precompute_features(record, motion_backbone, cache, progress=False)
    assert not errors and entry.stat().st_mtime_ns == written, "the frames' own features are not embedded again"
    assert cache.path_for(square_video, RGB_DIFF).is_file()
    dim = plain_backbone.feature_dim
    assert both.features.shape == (len(plain.frames), 2 * dim)
    assert np.array_equal(np.asarray(both.features[:, :dim]), np.asarray(plain.features))
    # The cached stream is what the model computes from decoded clips (train.py without the cache, predict.py).
    clips = read_clips(str(square_video), SegmentSampler(6), motion_backbone.preprocessing, training=False)
    with torch.no_grad():
        change = difference_image(clips["frames"][0], clips["previous_frames"][0])
        direct = motion_backbone(normalize(change, motion_backbone.preprocessing)).numpy()
    cached = both.clip(clips["frame_indices"][0])[:, dim:]
    assert np.allclose(cached, direct, atol=2e-2 * np.abs(direct).max())


def test_inference_embeds_in_chunks_with_each_frame_beside_its_own_previous_frame():
    """Without gradients the backbone sees at most INFERENCE_FRAME_CHUNK frames at a time (bounded memory);
    the features, motion stream included, are the ones one pass over every frame gives."""
    from pipeline.core.module import INFERENCE_FRAME_CHUNK

    model = VideoClassifierModule(class_names=["a", "b"], weights="none", input_size=32, hidden_size=8,
                                  rgb_diff=True, backbone_precision="fp32").eval()
    rng = np.random.default_rng(0)
    frames = torch.from_numpy(rng.integers(0, 256, (2, 3, 20, 32, 32, 3), dtype=np.uint8))
    previous = torch.from_numpy(rng.integers(0, 256, (2, 3, 20, 32, 32, 3), dtype=np.uint8))
    assert frames[..., 0, 0, 0].numel() > INFERENCE_FRAME_CHUNK
    seen = []
    hook = model.model.backbone.register_forward_hook(lambda m, i, o: seen.append(len(i[0])))
    with torch.enable_grad():
        whole = model.frame_features(frames, previous).detach()
    assert seen == [120, 120]  # frames, then their differences, each in one pass
    seen.clear()
    with torch.no_grad():
        chunked = model.frame_features(frames, previous)
    hook.remove()
    assert max(seen) <= INFERENCE_FRAME_CHUNK and sum(seen) == 240
    assert chunked.shape == whole.shape == (2, 3, 20, 2 * model.model.backbone.feature_dim)
    torch.testing.assert_close(chunked, whole, atol=1e-5, rtol=1e-5)


@pytest.fixture(scope="module")
def motion_checkpoint(tmp_path_factory) -> tuple:
    """A two-class model with the motion stream, trained a few epochs on cached features."""
    tmp = tmp_path_factory.mktemp("motion_model")
    root = generate_direction_dataset(tmp / "direction", n_train=16, n_val=4, n_test=8, size=64, num_frames=12,
                                      seed=1)
    pl.seed_everything(0, workers=True)
    data = VideoDataModule(root=str(root), clip_len=6, batch_size=8, num_workers=0, cache_dir=str(tmp / "cache"))
    model = VideoClassifierModule(class_names=data.class_names, sampling=data.sampling, weights="none",
                                  input_size=64, hidden_size=16, rgb_diff=True, backbone_precision="fp32")
    data.attach_model(model.preprocessing, model.frozen_backbone)
    trainer = pl.Trainer(max_epochs=2, logger=False, enable_progress_bar=False, default_root_dir=str(tmp),
                         callbacks=[pl.callbacks.ModelCheckpoint(dirpath=str(tmp), filename="model")])
    trainer.fit(model, datamodule=data)
    assert data.datasets["train"][0]["features"].shape[-1] == 2 * model.model.backbone.feature_dim
    return tmp / "model.ckpt", root


@pytest.mark.slow  # trains a model, then predict.py (batch and timeline) and evaluate.py read it: about a minute
def test_a_checkpoint_with_the_stream_is_read_the_same_everywhere(motion_checkpoint, tmp_path):
    checkpoint, root = motion_checkpoint
    model = load_classifier_module(str(checkpoint))
    assert model.hparams.rgb_diff and model.preprocessing.rgb_diff
    videos = sorted((root / "test").rglob("*.mp4"))[:3]
    output = tmp_path / "preds.csv"
    predict(PredictOptions(str(checkpoint), [str(v) for v in videos], str(output), num_workers=0, progress=False))
    rows = (output.read_text().splitlines())[1:]
    assert len(rows) == 3 and all(",ok," in row for row in rows)
    sampler = sampler_from_config(model.hparams.sampling["sampler"])
    header = output.read_text().splitlines()[0].split(",")
    for video in videos:
        clips = read_clips(str(video), sampler, model.preprocessing, training=False)
        with torch.no_grad():
            probs = model.video_probabilities({k: v[None] for k, v in clips.items() if k.endswith("frames")})[0]
        row = next(r.split(",") for r in rows if video.name in r)
        assert np.isclose(float(row[header.index(f"prob_{model.class_names[0]}")]), float(probs[0]), atol=1e-5)
    with pytest.raises(ValueError, match="needs the frame before each frame"):
        model(torch.zeros(1, 6, 64, 64, 3, dtype=torch.uint8))

    timeline = predict(PredictOptions(str(checkpoint), [str(videos[0])], str(tmp_path / "tl.csv"), num_workers=0,
                                      progress=False, timeline=TimelineOptions(window=0.2, stride=0.1)))
    windows = Path(timeline["timeline_dir"]) / f"{videos[0].stem}.windows.csv"
    assert len(windows.read_text().splitlines()) > 2

    report = evaluate(EvaluationOptions(str(checkpoint), str(tmp_path / "eval"), videos=str(root / "test"),
                                        num_workers=0, mistakes=0))
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert report and metrics["videos"] == 8


@pytest.mark.slow  # needs the trained model above
def test_export_refuses_the_stream(motion_checkpoint, tmp_path):
    from pipeline.export.exporter import export_checkpoint

    with pytest.raises(UsageError, match="motion stream"):
        export_checkpoint(motion_checkpoint[0], "torchscript", tmp_path / "model.pt")
