"""Real training at small scale: generated H.264 videos, Lightning fit/test, checkpoints read back."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import pytorch_lightning as pl
import torch

from pipeline.core.checkpoints import load_classifier_module
from pipeline.core.module import VideoClassifierModule
from pipeline.data.datamodule import VideoDataModule
from pipeline.data.datasets import FeatureClipDataset, VideoClipDataset
from pipeline.demo import generate_direction_dataset
from pipeline.training.callbacks import LastCheckpoint
from pipeline.training.cli import train

SMALL_MODEL = dict(backbone="efficientnet_lite0", input_size=64, hidden_size=32, lr=3e-3)


@pytest.fixture(scope="module")
def direction_data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("direction")
    return generate_direction_dataset(root / "data", n_train=8, n_val=4, n_test=4, size=64, num_frames=8, seed=1)


def _fit(root: Path, tmp: Path, cache: bool, epochs: int = 2, callbacks: list = None, **model_kw) -> tuple:
    pl.seed_everything(0, workers=True)
    data = VideoDataModule(root=str(root), clip_len=6, batch_size=4, num_workers=0,
                           cache_features=cache, cache_dir=str(tmp / "cache"))
    model = VideoClassifierModule(class_names=data.class_names, sampling=data.sampling, **{**SMALL_MODEL, **model_kw})
    data.attach_model(model.preprocessing, model.frozen_backbone)
    trainer = pl.Trainer(
        max_epochs=epochs,
        default_root_dir=str(tmp),
        logger=pl.loggers.TensorBoardLogger(str(tmp / "runs"), name="t"),
        callbacks=callbacks or [pl.callbacks.ModelCheckpoint(monitor="val/acc", mode="max"), LastCheckpoint()],
        enable_progress_bar=False,
        deterministic=True,
    )
    trainer.fit(model, datamodule=data)
    return trainer, model, data


def test_training_on_decoded_frames_writes_a_self_contained_checkpoint(direction_data, tmp_path):
    trainer, model, data = _fit(direction_data, tmp_path, cache=False, freeze_backbone=True)
    best = Path(trainer.checkpoint_callback.best_model_path)
    last = torch.load(best.parent / "last.ckpt", map_location="cpu", weights_only=False)
    assert last["epoch"] == 1 and last["global_step"] == 4, "last.ckpt holds the final epoch"
    assert list(Path(trainer.log_dir).glob("events.out.tfevents.*")), "TensorBoard log missing"

    loaded = load_classifier_module(str(best.parent / "last.ckpt"))  # no config, no data module
    assert loaded.class_names == ["left_to_right", "right_to_left"]
    assert loaded.hparams.sampling["sampler"]["clip_len"] == 6
    assert loaded.preprocessing == model.preprocessing
    raw = torch.load(best, map_location="cpu", weights_only=False)
    assert raw["preprocessing"]["crop_size"] == 64 and raw["class_names"] == loaded.class_names

    # The checkpoint alone (backbone rebuilt without pretrained weights) scores decoded frames
    # exactly as the trained model in memory does, and differently from an untrained one.
    data.setup("test")
    batch = next(iter(data.test_dataloader()))
    untrained = VideoClassifierModule(class_names=data.class_names, **SMALL_MODEL).eval()
    with torch.no_grad():
        expected = model.eval().video_probabilities(batch)
        probs = loaded.video_probabilities(batch)
        assert not torch.allclose(untrained.video_probabilities(batch), expected, atol=1e-3)
    assert probs.shape == (len(batch["label"]), 2)
    assert torch.allclose(probs, expected, atol=1e-6)


def test_last_ckpt_names_the_best_checkpoint_that_exists(direction_data, tmp_path):
    # Every epoch is a new best (monitor the step), so ModelCheckpoint deletes the previous best each
    # epoch. last.ckpt, listed first here, must still be written after it: a resumed run tests the
    # best checkpoint that last.ckpt names, and an older one no longer exists.
    best_cb = pl.callbacks.ModelCheckpoint(monitor="step", mode="max", save_top_k=1)
    trainer, model, _ = _fit(direction_data, tmp_path, cache=True, epochs=3, callbacks=[LastCheckpoint(), best_cb])
    assert trainer.checkpoint_callback is best_cb
    # The cosine runs over the optimizer steps of the whole run (3 epochs of 2 batches), down to zero.
    assert model._total_steps == trainer.global_step == 6
    assert trainer.optimizers[0].param_groups[0]["lr"] < 1e-9
    last = torch.load(Path(best_cb.dirpath) / "last.ckpt", map_location="cpu", weights_only=True)
    [saved] = [state for key, state in last["callbacks"].items() if key.startswith("ModelCheckpoint")]
    assert saved["best_model_path"] == best_cb.best_model_path
    assert Path(saved["best_model_path"]).is_file() and "epoch=2" in saved["best_model_path"]


def test_cached_features_match_the_frame_path(direction_data, tmp_path):
    pl.seed_everything(0)
    data_frames = VideoDataModule(root=str(direction_data), clip_len=6, batch_size=4, num_workers=0,
                                  cache_features=False)
    data_cache = VideoDataModule(root=str(direction_data), clip_len=6, batch_size=4, num_workers=0,
                                 cache_features=True, cache_dir=str(tmp_path / "cache"))
    model = VideoClassifierModule(class_names=data_frames.class_names, sampling=data_frames.sampling,
                                  **SMALL_MODEL).eval()
    trainer = pl.Trainer(logger=False, enable_progress_bar=False)
    for data in (data_frames, data_cache):
        data.attach_model(model.preprocessing, model.frozen_backbone)
        trainer.test(model, datamodule=data, verbose=False)
    assert isinstance(data_frames.datasets["test"], VideoClipDataset)
    assert isinstance(data_cache.datasets["test"], FeatureClipDataset)
    frames_batch = next(iter(data_frames.test_dataloader()))
    feature_batch = next(iter(data_cache.test_dataloader()))
    assert torch.equal(frames_batch["label"], feature_batch["label"])
    with torch.no_grad():
        a = model.video_probabilities(frames_batch)
        b = model.video_probabilities(feature_batch)
    assert torch.allclose(a, b, atol=2e-3), "features are cached in float16; scores must agree closely"
    assert list((tmp_path / "cache").rglob("*.npy")), "the cache must be written to disk"


def test_fine_tuning_updates_the_backbone(direction_data, tmp_path):
    pl.seed_everything(0)
    data = VideoDataModule(root=str(direction_data), clip_len=4, batch_size=4, num_workers=0)
    model = VideoClassifierModule(class_names=data.class_names, sampling=data.sampling, freeze_backbone=False,
                                  **SMALL_MODEL)
    assert model.frozen_backbone is None, "a trainable backbone's features must not be cached"
    data.attach_model(model.preprocessing, model.frozen_backbone)
    before = model.model.backbone.trunk.conv_stem.weight.detach().clone()
    trainer = pl.Trainer(max_steps=2, limit_val_batches=0, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False)
    trainer.fit(model, datamodule=data)
    assert not torch.equal(before, model.model.backbone.trunk.conv_stem.weight)
    groups = trainer.optimizers[0].param_groups
    assert [g["initial_lr"] for g in groups] == [3e-3, 1e-4], "head and backbone have their own learning rates"


def test_unreadable_training_video_is_reported_and_skipped(direction_data, tmp_path):
    import shutil

    root = tmp_path / "data"
    shutil.copytree(direction_data, root)
    bad = root / "train" / "left_to_right" / "broken.mp4"
    bad.write_text("this is not a video")
    trainer, model, _ = _fit(root, tmp_path, cache=False, epochs=1)
    assert trainer.current_epoch == 1
    assert any("broken.mp4" in message for message in model.skipped_videos)


def test_cli_fits_tests_and_resumes(direction_data, tmp_path):
    args = [
        f"--data.root={direction_data}",
        "--data.clip_len=6",
        "--data.num_workers=0",
        "--data.batch_size=4",
        f"--data.cache_dir={tmp_path / 'cache'}",
        "--model.input_size=64",
        "--model.hidden_size=32",
        "--trainer.max_epochs=2",
        "--trainer.enable_progress_bar=false",
        f"--trainer.logger.init_args.save_dir={tmp_path / 'runs'}",
    ]
    summary = train(args)
    log_dir = Path(summary["log_dir"])
    metrics = json.loads((log_dir / "test_metrics.json").read_text())
    expected = _evaluate(summary["best_checkpoint"], direction_data, tmp_path / "cache")
    assert metrics["confusion_matrix"]["rows_true_cols_predicted"] == expected["confusion"]
    for key in ("test/acc", "test/f1_macro", "test/mean_class_acc"):
        assert metrics["test_metrics"][key] == pytest.approx(expected[key], abs=1e-6), key
    last = Path(summary["last_checkpoint"])
    assert last.is_file() and Path(summary["best_checkpoint"]).is_file()
    assert (log_dir / "config.yaml").is_file()
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(log_dir)).Reload()
    assert {"train/loss_epoch", "val/acc", "lr-AdamW"} <= set(events.Tags()["scalars"])
    assert "test/confusion_matrix" in events.Tags()["images"]

    first = torch.load(last, map_location="cpu", weights_only=False)
    assert (first["epoch"], first["global_step"]) == (1, 4)
    # One more epoch of one batch: a resumed run ends at step 4 + 1, a run started over at 3.
    resumed = train([*args, "--trainer.max_epochs=3", "--trainer.limit_train_batches=0.5", f"--ckpt_path={last}",
                     "--skip_test=true"])
    state = torch.load(resumed["last_checkpoint"], map_location="cpu", weights_only=False)
    assert (state["epoch"], state["global_step"]) == (2, 5), "resuming continues where the run stopped"


def _decided(model, probs: torch.Tensor) -> torch.Tensor:
    """The class each video is given: p(positive) >= the checkpoint's operating threshold when it has one
    (what training's confusion matrix counts), else the most probable class (what the metrics count)."""
    if not model.threshold:
        return probs.argmax(-1)
    pos = model.class_names.index(model.threshold["positive"])
    return torch.where(probs[:, pos] >= model.threshold["threshold"], pos, 1 - pos)


def _evaluate(checkpoint: str, root: Path, cache_dir: Path) -> dict:
    """Test-split metrics of a checkpoint, computed here without Lightning's loop or torchmetrics."""
    model = load_classifier_module(checkpoint)
    data = VideoDataModule(root=str(root), clip_len=6, batch_size=4, num_workers=0, cache_dir=str(cache_dir))
    data.attach_model(model.preprocessing, model.frozen_backbone)
    data.setup("test")
    confusion, decided = np.zeros((2, 2), dtype=int), np.zeros((2, 2), dtype=int)
    with torch.no_grad():
        for batch in data.test_dataloader():
            probs = model.video_probabilities(batch)
            for true, predicted, chosen in zip(batch["label"], probs.argmax(-1), _decided(model, probs)):
                confusion[true, predicted] += 1
                decided[true, chosen] += 1
    recall = confusion.diagonal() / confusion.sum(1)
    precision = confusion.diagonal() / np.maximum(confusion.sum(0), 1)
    f1 = np.where(precision + recall > 0, 2 * precision * recall / np.maximum(precision + recall, 1e-12), 0.0)
    return {
        "confusion": decided.tolist(),  # the summary's matrix is the checkpoint's decision
        "test/acc": confusion.trace() / confusion.sum(),
        "test/mean_class_acc": recall.mean(),
        "test/f1_macro": f1.mean(),
    }


def test_setup_without_attach_model_names_the_hand_off(direction_data):
    data = VideoDataModule(root=str(direction_data), clip_len=6, num_workers=0)
    with pytest.raises(RuntimeError, match="attach_model"):
        data.setup("fit")


def test_training_is_deterministic_on_cpu(direction_data, tmp_path):
    weights = []
    for run in ("a", "b"):
        _, model, _ = _fit(direction_data, tmp_path / run, cache=True)
        weights.append({k: v.clone() for k, v in model.model.head.state_dict().items()})
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0]), "same seed, same weights"


def test_top5_accuracy_is_reported_only_with_more_than_five_classes():
    names = [f"class{i}" for i in range(6)]
    model = VideoClassifierModule(class_names=names, backbone="resnet18", weights="none", input_size=64)
    assert "test/acc_top5" in list(model.test_metrics.keys())
    # With five classes every label is among the top five: the metric would always be 1.0.
    assert "val/acc_top5" not in VideoClassifierModule(class_names=names[:5], backbone="resnet18", weights="none",
                                                       input_size=64).val_metrics.keys()


def test_checkpoint_preprocessing_wins_over_the_rebuilt_backbone(direction_data, tmp_path):
    """Some torchvision weights have their own resize; a model rebuilt without its weights must
    still prepare frames the way it was trained."""
    from dataclasses import replace

    pl.seed_everything(0)
    data = VideoDataModule(root=str(direction_data), clip_len=4, batch_size=4, num_workers=0,
                           cache_dir=str(tmp_path / "cache"))
    model = VideoClassifierModule(class_names=data.class_names, sampling=data.sampling, backbone="resnet18",
                                  weights="none", input_size=64)
    trained_with = replace(model.preprocessing, resize_size=80, interpolation="bicubic")
    model.model.backbone.preprocessing = trained_with
    data.attach_model(model.preprocessing, model.frozen_backbone)
    trainer = pl.Trainer(max_epochs=1, logger=False, enable_progress_bar=False, default_root_dir=str(tmp_path),
                         callbacks=[pl.callbacks.ModelCheckpoint(dirpath=str(tmp_path), filename="m")])
    trainer.fit(model, datamodule=data)
    assert load_classifier_module(str(tmp_path / "m.ckpt")).preprocessing == trained_with


def test_feature_cache_entries_follow_the_video_file(direction_data, tmp_path):
    import os
    import shutil

    from pipeline.data.feature_cache import FeatureCache

    video = tmp_path / "clip.mp4"
    shutil.copy(next(Path(direction_data).rglob("*.mp4")), video)
    cache = FeatureCache(tmp_path / "cache", "fingerprint", "decord")
    features = torch.randn(8, 4).numpy().astype("float16")
    cache.save(video, features)
    assert torch.equal(torch.from_numpy(cache.load(video).features), torch.from_numpy(features))
    assert FeatureCache(tmp_path / "cache", "fingerprint", "pyav").load(video) is None, "per decoder"
    assert FeatureCache(tmp_path / "cache", "other-weights", "decord").load(video) is None, "per backbone"
    stat = video.stat()
    os.utime(video, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert cache.load(video) is None, "a rewritten video is embedded again"


def test_a_class_with_few_validation_videos_is_named(direction_data, caplog, capsys):
    import logging

    with caplog.at_level(logging.WARNING):
        VideoDataModule(root=str(direction_data), clip_len=4)
    assert "fewer than 3 videos of class left_to_right (2), right_to_left (2)" in caplog.text


def test_results_do_not_depend_on_whether_the_cache_was_empty_or_full(direction_data, tmp_path):
    _, cold, _ = _fit(direction_data, tmp_path, cache=True)  # fills tmp_path/cache
    assert list((tmp_path / "cache").rglob("*.npy")), "the first run filled the cache"
    _, warm, _ = _fit(direction_data, tmp_path, cache=True)  # reads it
    cold_head, warm_head = cold.model.head.state_dict(), warm.model.head.state_dict()
    assert all(torch.equal(cold_head[k], warm_head[k]) for k in cold_head), "same seed, same weights"
