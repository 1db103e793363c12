"""model.trainable_stages: the CNN's last stages fine-tuned on cached maps of its frozen stages.

On small real H.264 videos: the frozen stages' maps (as the cache stores them, float16) through the trained
top are the whole CNN's output; a few real training steps change only the trained stages and the head; the
checkpoint predicts the same after reload, through the Recognizer and through export; the cache keys each
cut point apart from the frozen features and a second run reads its maps without decoding.
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Dict

import numpy as np
import pytest
import pytorch_lightning as pl
import torch

from models.backbones import (
    TIMM_PREFIX,
    Backbone,
    FrozenStages,
    available_backbones,
    create_backbone,
    pass_precision,
    stage_layout,
)
from pipeline.core.checkpoints import load_classifier_module
from pipeline.core.module import VideoClassifierModule
from pipeline.data import feature_cache
from pipeline.data.annotations import VideoRecord
from pipeline.data.datamodule import VideoDataModule
from pipeline.data.datasets import FeatureClipDataset, read_clips
from pipeline.data.feature_cache import FeatureCache, precompute_features
from pipeline.data.feature_rate import FeatureRate
from pipeline.data.frame_stream import stream_frames
from pipeline.data.sampling import sampler_from_config
from pipeline.data.transforms import normalize
from pipeline.demo import generate_direction_dataset
from pipeline.errors import UsageError
from pipeline.export.exporter import TOLERANCE, export_checkpoint, load_exported
from pipeline.inference.api import Recognizer
from pipeline.recipes.candidates import select_candidates
from pipeline.recipes.chooser import resolve
from pipeline.recipes.head_fit import Schedule, fit_head, seeded_module
from pipeline.training.progress import stray_eval_modules

REPO = Path(__file__).resolve().parents[1]
SMALL = dict(backbone="efficientnet_lite0", input_size=64, hidden_size=16, lr=3e-3, backbone_lr=1e-2,
             backbone_precision="fp32")
CACHE16 = 5e-3  # features from float16 maps: the cache's rounding (measured ~1e-3 at features up to ~5)
STAGES = 2  # the trained model's cut: blocks.6 and conv_head+bn2 of EfficientNet-Lite0


@pytest.fixture(scope="module")
def direction(tmp_path_factory) -> Path:
    return generate_direction_dataset(tmp_path_factory.mktemp("direction") / "data", n_train=4, n_val=2, n_test=2,
                                      size=64, num_frames=8, seed=5)


def _data(root: Path, cache: Path, views=("plain", "flip"), **kw) -> VideoDataModule:
    return VideoDataModule(root=str(root), clip_len=6, batch_size=4, num_workers=0, cache_dir=str(cache),
                           cache_max_frames=None, cache_views=list(views), **kw)


def _state(module: torch.nn.Module) -> Dict[str, torch.Tensor]:
    return {key: value.detach().clone() for key, value in module.state_dict().items()}


def _paths(backbone: Backbone, trained: bool) -> list:
    """The trunk's submodule paths of the trained stages (or of the frozen part), as state-dict prefixes."""
    layout = backbone.layout
    cut = len(layout.stages) - backbone.trainable_stages
    paths = [p for stage in layout.stages[cut:] for p in stage] if trained else backbone.frozen_stage_paths()
    return [f"model.backbone.trunk.{p}." for p in paths]


@pytest.fixture(scope="module")
def trained(direction, tmp_path_factory) -> dict:
    """A real few-step run on cached maps (plain and flipped views): the last two stages and the head train."""
    tmp = tmp_path_factory.mktemp("trained")
    pl.seed_everything(0, workers=True)
    data = _data(direction, tmp / "cache")
    model = VideoClassifierModule(class_names=data.class_names, sampling=data.sampling, trainable_stages=STAGES,
                                  **SMALL)
    extractor = model.frozen_backbone
    fingerprint = extractor.fingerprint()
    before = _state(model)
    data.attach_model(model.preprocessing, extractor)
    trainer = pl.Trainer(max_epochs=4, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, default_root_dir=str(tmp), deterministic=True)
    trainer.fit(model, datamodule=data)
    trainer.save_checkpoint(tmp / "model.ckpt")
    return {"model": model.eval(), "data": data, "before": before, "fingerprint": fingerprint, "tmp": tmp,
            "checkpoint": tmp / "model.ckpt", "steps": trainer.global_step}


# ---------------------------------------------------------------- 1. the cut point


def test_every_registered_stage_layout_is_its_cnns_forward():
    """For each registered backbone, cut below all its stages (the stem, then every stage, pooling and the rest
    run by the layout): frozen stages then top == the CNN's own forward (fp32)."""
    images = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    registered = [name for name in available_backbones() if not name.startswith(TIMM_PREFIX)]  # timm/*: none
    assert len(registered) == 7
    for name in registered:
        layout = stage_layout(name)
        assert layout is not None, f"{name}: registered without stages"
        part = create_backbone(name, "none", True, 32, precision="fp32", trainable_stages=len(layout.stages)).eval()
        with torch.no_grad():
            maps = part.stage_maps(images)
            assert maps.shape[1:] == part.stage_map_shape()
            torch.testing.assert_close(part.top_features(maps), part(images), rtol=1e-5, atol=1e-5,
                                       msg=f"{name}: its layout is not its forward")


@pytest.mark.parametrize("stages", [1, 2, 3])
def test_cached_maps_through_the_top_are_the_whole_cnn(stages, index_video, tmp_path):
    """A real video's frames, as the cache stores their maps (float16) and as predict.py runs them (whole CNN)."""
    model = VideoClassifierModule(class_names=["a", "b"], trainable_stages=stages, **SMALL).eval()
    extractor = model.frozen_backbone
    assert isinstance(extractor, FrozenStages) and extractor.frozen
    cache = FeatureCache(tmp_path, extractor.fingerprint(), "auto", FeatureRate(max_frames=12))
    [entry], errors = precompute_features([VideoRecord(index_video, 0)], extractor, cache, progress=False)
    assert not errors and entry.features.dtype == np.float16
    assert entry.features.shape == (12, extractor.feature_dim) == (12, int(np.prod(extractor.map_shape)))
    [(_, indices, frames)] = list(stream_frames(str(index_video), model.preprocessing,
                                                choose=lambda meta: np.asarray(entry.frames), chunk_frames=64))
    assert np.array_equal(indices, entry.frames)
    with torch.no_grad():
        whole = model.frame_features(torch.from_numpy(frames))  # the CNN's own forward, whole
        from_cache = model.cached_frame_features(entry.features)
        images = normalize(torch.from_numpy(frames), model.preprocessing)
        backbone = model.model.backbone
        exact = backbone.top_features(backbone.stage_maps(images))
    assert from_cache.shape == whole.shape == (12, backbone.feature_dim)
    torch.testing.assert_close(exact, whole, rtol=1e-5, atol=1e-5)  # the cut itself loses nothing
    assert (from_cache - whole).abs().max() < CACHE16 * max(1.0, float(whole.abs().max()) / 5)


# ---------------------------------------------------------------- 2. training changes only the top


def test_a_few_steps_train_only_the_top_stages_and_the_head(trained):
    model, before = trained["model"], trained["before"]
    after = _state(model)
    backbone = model.model.backbone
    assert trained["steps"] == 4 and isinstance(trained["data"].datasets["train"], FeatureClipDataset)
    frozen, top = _paths(backbone, trained=False), _paths(backbone, trained=True)
    for key, value in before.items():
        if key.startswith(tuple(frozen)):
            assert torch.equal(value, after[key]), f"{key}: a frozen stage changed"
    top_params = [f"model.{name}" for name, p in model.model.named_parameters() if p.requires_grad
                  and name.startswith("backbone.")]
    assert top_params and all(key.startswith(tuple(top)) for key in top_params)
    changed = [key for key in top_params if not torch.equal(before[key], after[key])]
    assert changed == top_params, "every parameter of the trained stages moves"
    head = [key for key in before if key.startswith("model.head.") and before[key].is_floating_point()]
    assert any(not torch.equal(before[k], after[k]) for k in head)
    model.train()
    assert stray_eval_modules(model) == [], "the frozen stages and the trained stages' BatchNorm, on purpose"
    top_bn = [m for m in backbone.trained_stage_modules() for m in m.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert top_bn and not any(m.training for m in top_bn) and model.model.head.training
    model.eval()
    # trainable_bn "frozen": the trained stages' BatchNorm statistics are the ImageNet ones still
    stats = [k for k in before if k.startswith(tuple(top)) and ("running_" in k or "num_batches" in k)]
    assert stats and all(torch.equal(before[k], after[k]) for k in stats)
    # The cache key covers the frozen stages only: training does not move it (a resumed run finds its maps).
    assert model.frozen_backbone.fingerprint() == trained["fingerprint"]
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) < 0.5 * sum(
        p.numel() for p in model.parameters())


def test_batchnorm_statistics_train_when_asked(trained, direction):
    """trainable_bn train: the trained stages' statistics follow the batches; the frozen stages' never move.
    It reads the maps the first run cached (same cut, same views)."""
    pl.seed_everything(0, workers=True)
    data = _data(direction, trained["tmp"] / "cache")
    model = VideoClassifierModule(class_names=data.class_names, sampling=data.sampling, trainable_stages=STAGES,
                                  trainable_bn="train", **SMALL)
    model.train()
    top_bn = [m for m in model.model.backbone.trained_stage_modules() for m in m.modules()
              if isinstance(m, torch.nn.BatchNorm2d)]
    assert top_bn and all(m.training for m in top_bn)
    assert not any(m.training for m in model.model.backbone.frozen_stage_modules())
    assert stray_eval_modules(model) == [], "only the frozen stages stay in eval mode"
    before = _state(model)
    data.attach_model(model.preprocessing, model.frozen_backbone)
    pl.Trainer(max_steps=1, limit_val_batches=0, logger=False, enable_checkpointing=False, enable_progress_bar=False,
               enable_model_summary=False).fit(model, datamodule=data)
    after = _state(model)
    backbone = model.model.backbone
    top_stats = [k for k in before if k.startswith(tuple(_paths(backbone, True))) and "running_mean" in k]
    assert top_stats and all(not torch.equal(before[k], after[k]) for k in top_stats)
    assert all(torch.equal(before[k], after[k]) for k in before if k.startswith(tuple(_paths(backbone, False))))


# ---------------------------------------------------------------- 3. the checkpoint


def _with_pretrained_top(trained: dict) -> VideoClassifierModule:
    """The trained model with its trained stages put back to their pretrained weights (its head kept)."""
    other = copy.deepcopy(trained["model"])
    top = tuple(_paths(other.model.backbone, trained=True))
    other.load_state_dict({**other.state_dict(), **{k: v for k, v in trained["before"].items() if k.startswith(top)}})
    return other.eval()


def test_the_checkpoint_predicts_the_same_after_reload(trained, direction):
    model, checkpoint = trained["model"], trained["checkpoint"]
    loaded = load_classifier_module(checkpoint)  # what predict.py, live.py, evaluate.py and export.py load
    assert loaded.hparams.trainable_stages == STAGES and loaded.frozen_backbone is not None
    reference = _state(model)
    for key, value in _state(loaded).items():
        assert torch.equal(value, reference[key]), f"{key} differs after reload"

    video = sorted(direction.rglob("*.mp4"))[0]
    rec = Recognizer.from_checkpoint(checkpoint, device="cpu", num_workers=0, backbone_precision="fp32")
    result = rec.predict(video)
    sampler = sampler_from_config(model.hparams.sampling["sampler"])
    clips = read_clips(str(video), sampler, model.preprocessing, training=False)
    assert clips["frame_indices"].tolist() == result.frame_indices
    with torch.no_grad():
        expected = model.video_probabilities({"frames": clips["frames"][None]})[0]
        untrained = _with_pretrained_top(trained).video_probabilities({"frames": clips["frames"][None]})[0]
    got = torch.tensor([result.probabilities[name] for name in model.class_names])
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-5)
    assert (untrained - expected).abs().max() > 1e-4, "the prediction must use the trained top stages"

    # evaluate.py's path (cached maps through the top) agrees with the frames path, as train.py's test does
    data = _data(direction, trained["tmp"] / "cache")
    data.attach_model(loaded.preprocessing, loaded.frozen_backbone)
    data.setup("test")
    frames_data = VideoDataModule(root=str(direction), clip_len=6, batch_size=4, num_workers=0, cache_features=False)
    frames_data.attach_model(loaded.preprocessing, None)
    frames_data.setup("test")
    with torch.no_grad():
        cached = torch.cat([loaded.video_probabilities(b) for b in data.test_dataloader()])
        decoded = torch.cat([loaded.video_probabilities(b) for b in frames_data.test_dataloader()])
    assert (cached - decoded).abs().max() < 2e-3


# ---------------------------------------------------------------- 4. export


def _real_clips(direction: Path, model: VideoClassifierModule) -> torch.Tensor:
    sampler = sampler_from_config(model.hparams.sampling["sampler"])
    return torch.stack([read_clips(str(v), sampler, model.preprocessing, training=False)["frames"][0]
                        for v in sorted(direction.rglob("*.mp4"))[:4]])


def _check_export(exported: Path, fmt: str, trained: dict, direction: Path) -> None:
    """The file gives the trained model's probabilities on real clips, not those of its pretrained top."""
    model = trained["model"]
    clips = _real_clips(direction, model)
    run = load_exported(exported, fmt)
    with torch.no_grad():
        expected = model.video_probabilities({"frames": clips[:, None]}).numpy()
        pretrained = _with_pretrained_top(trained).video_probabilities({"frames": clips[:, None]}).numpy()
    got = run(clips.numpy())
    assert np.abs(got - expected).max() < TOLERANCE
    assert np.abs(pretrained - got).max() > 1e-4


def test_torchscript_export_holds_the_trained_top(trained, direction, tmp_path):
    result = export_checkpoint(trained["checkpoint"], "torchscript", tmp_path / "model.pt")
    assert result.max_abs_diff is not None and result.max_abs_diff < TOLERANCE
    _check_export(tmp_path / "model.pt", "torchscript", trained, direction)
    # the whole CNN is in the file, its top with the trained weights
    exported = torch.jit.load(str(tmp_path / "model.pt")).state_dict()
    weights = {f"classifier.{k[len('model.'):]}": v for k, v in _state(trained["model"]).items()
               if k.startswith("model.backbone.trunk.")}
    assert set(weights) <= set(exported)
    assert all(torch.equal(exported[k], v) for k, v in weights.items())


@pytest.mark.slow  # torch's dynamo ONNX exporter takes 30-60 s per model on 2 cores
def test_onnx_export_holds_the_trained_top(trained, direction, tmp_path):
    for package in ("onnx", "onnxscript", "onnxruntime"):
        pytest.importorskip(package)
    result = export_checkpoint(trained["checkpoint"], "onnx", tmp_path / "model.onnx")
    assert result.max_abs_diff is not None and result.max_abs_diff < TOLERANCE
    _check_export(tmp_path / "model.onnx", "onnx", trained, direction)


# ---------------------------------------------------------------- 5. the cache


def test_each_cut_point_has_its_own_cache_entries_and_a_second_run_decodes_nothing(trained, direction, monkeypatch):
    frozen = create_backbone("efficientnet_lite0", "default", True, 64, precision="fp32")
    keys = {"frozen": frozen.fingerprint()}
    for n in (1, 2, 3):
        part = Backbone(frozen.name, frozen.trunk, frozen.preprocessing, "default", True, 1, "fp32", frozen.layout, n)
        keys[f"top{n}"] = part.frozen_stages().fingerprint()
    assert len(set(keys.values())) == 4, keys
    assert all(keys[f"top{n}"].endswith(f"-top{n}") for n in (1, 2, 3)) and "-top" not in keys["frozen"]
    assert keys[f"top{STAGES}"] == trained["fingerprint"]

    # The trained run filled the cache: another run with the same cut reads every map and decodes nothing.
    def no_decoding(self):
        raise AssertionError("a video was decoded: its maps were cached already")

    monkeypatch.setattr(feature_cache._FrameChunks, "__iter__", no_decoding)
    data = _data(direction, trained["tmp"] / "cache")
    model = VideoClassifierModule(class_names=data.class_names, sampling=data.sampling, trainable_stages=STAGES,
                                  **SMALL)
    data.attach_model(model.preprocessing, model.frozen_backbone)
    data.setup("fit")
    data.setup("test")
    train = data.datasets["train"]
    assert isinstance(train, FeatureClipDataset) and not train.errors
    assert all(entry.features.shape[1] == model.frozen_backbone.feature_dim for entry in train.features)
    assert all(set(entry.views) == {"flip"} for entry in train.features)
    folder = data.feature_cache().directory
    assert folder.name.startswith(trained["fingerprint"]) and len(list(folder.glob("*.flip.npy"))) == 4
    batch = next(iter(data.train_dataloader()))
    assert batch["features"].shape[-1] == model.frozen_backbone.feature_dim

    # Another cut is another entry: nothing of the first is read for it.
    other = Backbone(frozen.name, frozen.trunk, frozen.preprocessing, "default", True, 1, "fp32", frozen.layout, 1)
    data.attach_model(other.preprocessing, other.frozen_stages())
    assert data.feature_cache().directory.name.startswith(keys["top1"]) and data.datasets == {}


def test_cached_videos_are_skipped_and_an_unreadable_one_is_named(trained, direction, tmp_path):
    """The same videos (linked: the cache keys a file by its real path) and one broken file: the cached maps
    are read, only the broken file is tried, and it is left out by name."""
    root = tmp_path / "data"
    for video in direction.rglob("*.mp4"):
        link = root / video.relative_to(direction)
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(video)
    (root / "train" / "left_to_right" / "broken.mp4").write_text("not a video")
    data = _data(root, trained["tmp"] / "cache")
    model = VideoClassifierModule(class_names=data.class_names, sampling=data.sampling, trainable_stages=STAGES,
                                  **SMALL)
    data.attach_model(model.preprocessing, model.frozen_backbone)
    data.setup("fit")
    train = data.datasets["train"]
    assert [message for message in train.errors.values() if "broken.mp4" in message]
    assert sum(entry is not None for entry in train.features) == len(train.features) - 1 == 4


# ---------------------------------------------------------------- bad input, the recipe search


@pytest.mark.parametrize("options, message", [
    ({"trainable_stages": 9}, r"model.trainable_stages 9: efficientnet_lite0 has 8 stages \(blocks.0, .*"
                              r"conv_head\+bn2\); choose 1 to 8"),
    ({"trainable_stages": 1, "freeze_backbone": False}, "model.trainable_stages 1 with model.freeze_backbone false"),
    ({"trainable_stages": -1}, "model.trainable_stages must be a whole number >= 0"),
    ({"trainable_stages": 1, "trainable_bn": "batch"}, "model.trainable_bn 'batch': choose 'frozen'"),
    ({"trainable_stages": 1, "rgb_diff": True}, "model.trainable_stages 1 with model.rgb_diff true"),
    ({"trainable_stages": 2, "backbone": "resnet18", "weights": "none"}, None),
    ({"trainable_stages": 5, "backbone": "resnet18", "weights": "none"}, "resnet18 has 4 stages"),
    ({"trainable_stages": 1, "backbone": "timm/resnet18", "weights": "none"},
     "the backbone 'timm/resnet18' has no stages defined"),
])
def test_options_that_cannot_work_say_which_and_why(options, message):
    kwargs = {**SMALL, **options}
    if message is None:
        model = VideoClassifierModule(class_names=["a", "b"], **kwargs)
        assert [type(m).__name__ for m in model.model.backbone.trained_stage_modules()] == ["Sequential"] * 2
        return
    with pytest.raises(ValueError, match=message):
        VideoClassifierModule(class_names=["a", "b"], **kwargs)


def test_train_py_refuses_too_many_stages_as_a_usage_error(direction, tmp_path):
    from pipeline.training.cli import train

    with pytest.raises(UsageError, match="model.trainable_stages 12: efficientnet_lite0 has 8 stages"):
        train([f"--data.root={direction}", "--model.input_size=64", "--model.trainable_stages=12",
               f"--trainer.logger.init_args.save_dir={tmp_path}"])


def test_fit_head_trains_the_top_stages_and_keeps_their_best_state(trained, direction):
    """The recipe search's fold loop on cached maps: the trained stages move and their best state is kept."""
    data = _data(direction, trained["tmp"] / "cache", views=("plain",))
    module = seeded_module(0, class_names=data.class_names, sampling=data.sampling, trainable_stages=STAGES, **SMALL)
    start = _state(module)
    data.attach_model(module.preprocessing, module.frozen_backbone)
    result = fit_head(module, data, Schedule(max_epochs=2))
    assert result.epochs == 2 and "test/acc" in result.metrics and len(result.paths) == 2
    end = _state(module)
    backbone = module.model.backbone
    assert any(not torch.equal(start[k], end[k]) for k in start if k.startswith(tuple(_paths(backbone, True))))
    assert all(torch.equal(start[k], end[k]) for k in start if k.startswith(tuple(_paths(backbone, False))))


def test_fine_tuning_candidates_apply_where_the_backbone_has_stages(tmp_path):
    [top1, top2] = select_candidates(["top1-bigru", "top2-bigru"])
    base = {"model": {"backbone": "efficientnet_lite0", "rgb_diff": True}, "data": {"root": "data/x"}}
    recipe = resolve(top2, base, tmp_path)
    assert recipe.trained_stages == 2 and recipe.model["rgb_diff"] is False and not recipe.unusable()
    simpler = resolve(top1, base, tmp_path)
    assert simpler.complexity(100) < recipe.complexity(100), "fewer stages trained is simpler"
    timm = resolve(top1, {**base, "model": {"backbone": "timm/resnet18"}}, tmp_path)
    assert "has no stages defined" in timm.unusable()
    # a config that fine-tunes two stages: the head candidates stay on frozen features, `config` keeps its own
    tuned = {"model": {"backbone": "efficientnet_lite0", "trainable_stages": 2}, "data": {"root": "data/x"}}
    [config, bigru, mean_pool] = select_candidates(["config", "bigru", "mean-pool"])
    assert resolve(config, tuned, tmp_path).trained_stages == 2
    assert resolve(bigru, tuned, tmp_path).trained_stages == resolve(mean_pool, tuned, tmp_path).trained_stages == 0


# ---------------------------------------------------------------- train.py: resume, event times


def _train_args(direction: Path, tmp: Path) -> list:
    return [f"--data.root={direction}", "--data.clip_len=6", "--data.num_workers=0", "--data.batch_size=4",
            f"--data.cache_dir={tmp / 'cache'}", "--data.cache_max_frames=null", "--model.input_size=64",
            "--model.hidden_size=16", "--model.backbone_precision=fp32", "--model.trainable_stages=1",
            "--model.scheduler=none",  # the cosine of a 2-epoch run ends at 0: the resumed 3rd epoch would not move
            "--trainer.max_epochs=2", "--trainer.enable_progress_bar=false",
            f"--trainer.logger.init_args.save_dir={tmp / 'runs'}"]


@pytest.mark.slow  # two train.py runs: about 40 s on 2 cores
def test_train_py_resumes_on_the_cached_maps(direction, tmp_path, monkeypatch, capsys):
    from pipeline.training.cli import train

    first = train(_train_args(direction, tmp_path) + ["--skip_test=true"])
    assert "(last 1 stage trained, BatchNorm statistics kept)" in capsys.readouterr().out
    last = torch.load(first["last_checkpoint"], map_location="cpu", weights_only=True)
    assert (last["epoch"], last["global_step"]) == (1, 2) and last["hyper_parameters"]["trainable_stages"] == 1
    [folder] = [p for p in (tmp_path / "cache").iterdir() if p.is_dir()]
    assert "-top1-" in folder.name

    def no_decoding(self):
        raise AssertionError("a video was decoded: its maps were cached by the first run")

    monkeypatch.setattr(feature_cache._FrameChunks, "__iter__", no_decoding)
    resumed = train(_train_args(direction, tmp_path) + ["--trainer.max_epochs=3", "--skip_test=true",
                                                        f"--ckpt_path={first['last_checkpoint']}"])
    state = torch.load(resumed["last_checkpoint"], map_location="cpu", weights_only=True)
    assert (state["epoch"], state["global_step"]) == (2, 3), "resuming continues where the run stopped"
    top = "model.backbone.trunk.conv_head.weight"
    assert not torch.equal(state["state_dict"][top], last["state_dict"][top]), "the top went on training"
    stem = "model.backbone.trunk.conv_stem.weight"
    assert torch.equal(state["state_dict"][stem], last["state_dict"][stem])


@pytest.mark.slow  # a train.py run from event times on generated matches, then a timeline: about a minute
def test_training_from_event_times_fine_tunes_the_top_on_cached_maps(tmp_path):
    from pipeline.demo import generate_match_set
    from pipeline.training.cli import train

    matches = tmp_path / "matches"
    generate_match_set(matches, matches=6, n_clips=10, goals=2, size=64, num_frames=25, seed=1)
    summary = train(["--config", str(REPO / "configs" / "events.yaml"), f"--data.root={matches}",
                     f"--data.train_list={matches / 'events.csv'}", "--data.window=1.0", "--data.stride=0.25",
                     "--data.val_fraction=0.2", "--data.test_fraction=0.2", f"--data.cache_dir={tmp_path / 'cache'}",
                     "--data.num_workers=0", "--data.batch_size=8", "--model.input_size=64", "--model.hidden_size=32",
                     "--model.trainable_stages=1", "--trainer.max_epochs=2", "--trainer.enable_progress_bar=false",
                     f"--trainer.logger.init_args.save_dir={tmp_path / 'runs'}"])
    assert "test/f1_macro" in summary["test_metrics"] and "event_points" in summary
    assert [p.name for p in (tmp_path / "cache").iterdir() if p.is_dir() and "-top1-" in p.name]
    rec = Recognizer.from_checkpoint(summary["best_checkpoint"], device="cpu", num_workers=0)
    timeline = rec.timeline(matches / "match_05" / "match.mp4")
    assert len(timeline.times) > 10 and timeline.probabilities.shape == (len(timeline.times), 2)


def test_auto_precision_never_back_propagates_through_fp16(monkeypatch):
    # Nothing scales the loss: a trained pass under "auto" on a GPU runs bf16 (fp32 without it), never fp16.
    assert pass_precision("auto", "cuda", trains=False) == "fp16", "inference and caching keep fp16"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert pass_precision("auto", "cuda", trains=True) == "bf16"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert pass_precision("auto", "cuda", trains=True) == "fp32"
    assert pass_precision("fp16", "cuda", trains=True) == "fp16", "asked for (with Lightning's 16-mixed scaler)"
    assert pass_precision("fp32", "cpu", trains=True) == "fp32"
