"""Dashboards a user opens: TensorBoard's images, curves, scalars and HPARAMS after a real run, the
frames of misclassified clips, other loggers, and a stable best.ckpt."""
from __future__ import annotations

import importlib.util
import io
import json
import os
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from conftest import decode_index, make_index_video
from PIL import Image

from models.preprocessing import Preprocessing
from pipeline.core.metrics import default_positive, worst_mistakes
from pipeline.data.annotations import VideoRecord
from pipeline.data.clip_frames import eval_clip_frames
from pipeline.data.datasets import FeatureClipDataset, VideoClipDataset
from pipeline.data.feature_rate import CachedFeatures
from pipeline.data.sampling import build_sampler
from pipeline.demo import generate_direction_dataset
from pipeline.errors import UsageError
from pipeline.training import callbacks
from pipeline.training.callbacks import BestCheckpointLink
from pipeline.training.cli import build_cli, missing_logger_package, train
from pipeline.training.dashboards import Dashboards

CALLBACKS: list = []  # Dashboards and BestCheckpointLink are train.py's default callbacks


@pytest.fixture(scope="module")
def direction_data(tmp_path_factory) -> Path:
    """The two-class direction set, with one validation video also filed under the other class: whatever
    the model predicts for it, one of the two is a mistake."""
    root = generate_direction_dataset(tmp_path_factory.mktemp("direction") / "data", n_train=4, n_val=2, n_test=2,
                                      size=64, num_frames=8, seed=1)
    shutil.copy(root / "val" / "left_to_right" / "val_left_to_right_0000.mp4",
                root / "val" / "right_to_left" / "mislabelled.mp4")
    return root


def _args(data: Path, tmp: Path, *extra: str) -> list:
    return [f"--data.root={data}", "--data.clip_len=6", "--data.num_workers=0", "--data.batch_size=4",
            f"--data.cache_dir={tmp / 'cache'}", "--model.input_size=64", "--model.hidden_size=32",
            "--trainer.max_epochs=2", "--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false",
            *extra]


def _loggers(tmp: Path) -> list:
    """TensorBoard (first: the run's log folder), CSV and, when the optional extra is installed, MLflow."""
    loggers = [{"class_path": "pytorch_lightning.loggers.TensorBoardLogger",
                "init_args": {"save_dir": str(tmp / "runs"), "name": "demo"}},
               {"class_path": "pytorch_lightning.loggers.CSVLogger", "init_args": {"save_dir": str(tmp / "csv")}}]
    if importlib.util.find_spec("mlflow") is not None:
        loggers.append({"class_path": "pytorch_lightning.loggers.MLFlowLogger",
                        "init_args": {"experiment_name": "dashboards", "save_dir": str(tmp / "mlruns")}})
    return loggers


@pytest.fixture(scope="module")
def run(direction_data, tmp_path_factory) -> dict:
    """One CLI run (fit 2 epochs on cached features, then test) with the dashboards, logging to TensorBoard,
    CSV and MLflow (local folder, offline); its summary, TensorBoard events and folder."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tmp = tmp_path_factory.mktemp("run")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 keeps its folder store behind this switch
        summary = train(_args(direction_data, tmp, f"--trainer.logger={json.dumps(_loggers(tmp))}", *CALLBACKS))
    sizes = {"images": 0, "tensors": 0, "scalars": 0}
    events = EventAccumulator(summary["log_dir"], size_guidance=sizes).Reload()
    return {"summary": summary, "events": events, "tmp": tmp}


def _png(event) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(event.encoded_image_string)))


def test_every_validation_logs_the_confusion_matrix_scores_and_curves(run):
    events = run["events"]
    tags = events.Tags()
    assert len(events.Images("val/confusion_matrix")) == 2, "one per validation (not the sanity check)"
    assert "val/roc" in tags["images"]
    assert "val/pr_curve" in tags["tensors"]
    assert "val/per_class/text_summary" in tags["tensors"], "the per-class table (TensorBoard text)"
    auc = [e.value for e in events.Scalars("val/auc")]
    assert len(auc) == 2 and all(0.0 <= a <= 1.0 for a in auc)
    for name in ("left_to_right", "right_to_left"):
        for key in ("precision", "recall", "f1"):
            assert len(events.Scalars(f"val_per_class/{name}/{key}")) == 2
    # Throughput of each training epoch, in clips of 6 frames.
    clips = [e.value for e in events.Scalars("train/clips_per_s")]
    frames = [e.value for e in events.Scalars("train/frames_per_s")]
    assert len(clips) == 2 and all(c > 0 for c in clips)
    assert frames == pytest.approx([6 * c for c in clips], rel=1e-5)


def test_misclassified_clips_are_shown_as_their_sampled_frames(run):
    events = run["events"]
    strips = [tag for tag in events.Tags()["images"] if tag.startswith("val_mistakes/")]
    assert strips, "the mislabelled validation video is always a mistake"
    image = _png(events.Images(strips[0])[-1])
    assert image.shape[1] == 6 * 96 + 5 * 2, "the clip's 6 frames, side by side"
    listed = [e for e in events.Tensors("val_mistakes/list/text_summary")]
    text = listed[-1].tensor_proto.string_val[0].decode()
    assert "val_left_to_right_0000.mp4" in text or "mislabelled.mp4" in text
    rows = [row.strip("| ").split(" | ") for row in text.splitlines()[2:]]
    assert len(rows) == len(strips) and all(row[2] != row[3] for row in rows), "true and predicted differ"
    probabilities = [float(row[4]) for row in rows]
    assert probabilities == sorted(probabilities, reverse=True) and min(probabilities) >= 0.5, "worst first"
    assert all(len(row[5].split()) == 6 for row in rows), "the clip's frame indices"


def test_hparams_hold_the_real_final_metrics(run):
    from tensorboard.plugins.hparams import metadata

    events, summary = run["events"], run["summary"]
    content = events.PluginTagToContent("hparams")
    experiment = metadata.parse_experiment_plugin_data(content[metadata.EXPERIMENT_TAG])
    metric_tags = {m.name.tag for m in experiment.metric_infos}
    assert {"hp/val/acc", "hp/val/auc", "hp/test/acc", "hp/test/f1_macro"} <= metric_tags
    start = metadata.parse_session_start_info_plugin_data(content[metadata.SESSION_START_INFO_TAG])
    assert start.hparams["cell"].string_value == "gru" and start.hparams["hidden_size"].number_value == 32
    assert "hp_metric" not in events.Tags()["scalars"], "no -1 placeholder"
    test = {k: v for k, v in summary["test_metrics"].items()}
    assert events.Scalars("hp/test/acc")[-1].value == pytest.approx(test["test/acc"])
    assert events.Scalars("hp/test/loss")[-1].value == pytest.approx(test["test/loss"])
    assert events.Scalars("hp/val/acc")[-1].value == pytest.approx(events.Scalars("val/acc")[-1].value)


def test_best_ckpt_is_the_best_epoch_checkpoint(run):
    summary = run["summary"]
    best = Path(summary["best_checkpoint"])
    stable = best.with_name("best.ckpt")
    assert best.name.startswith("best-epoch") and stable.is_file()
    assert stable.read_bytes() == best.read_bytes()


@pytest.mark.parametrize("hard_links", [True, False])
def test_best_ckpt_follows_a_changing_best_and_outlives_the_old_file(tmp_path, monkeypatch, hard_links):
    if not hard_links:  # some network and FUSE filesystems: best.ckpt is then a copy
        monkeypatch.setattr(callbacks.os, "link", lambda *a: (_ for _ in ()).throw(OSError("no hard links")))
    best_cb = pl.callbacks.ModelCheckpoint(dirpath=str(tmp_path))
    trainer = pl.Trainer(callbacks=[best_cb], logger=False, enable_progress_bar=False)
    link = BestCheckpointLink()
    first, second = tmp_path / "best-epoch00.ckpt", tmp_path / "best-epoch01.ckpt"
    first.write_bytes(b"epoch 0")
    best_cb.best_model_path = str(first)
    assert link.refresh(trainer) == tmp_path / "best.ckpt"
    assert (tmp_path / "best.ckpt").read_bytes() == b"epoch 0"

    second.write_bytes(b"epoch 1, better")  # ModelCheckpoint writes the new best, then deletes the old one
    first.unlink()
    assert (tmp_path / "best.ckpt").read_bytes() == b"epoch 0", "never dangling, even before the refresh"
    best_cb.best_model_path = str(second)
    link.refresh(trainer)
    assert (tmp_path / "best.ckpt").read_bytes() == b"epoch 1, better"
    assert os.path.samefile(second, tmp_path / "best.ckpt") == hard_links
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best-epoch01.ckpt", "best.ckpt"], "no temporary left"


def test_strip_frames_are_the_clip_the_model_saw_decoded_again(tmp_path):
    # Square frames at the model's size, so that each decoded frame still shows its index.
    records = [VideoRecord(path=make_index_video(tmp_path / "index.mp4", 60, height=64, width=64), label=0)]
    prep = Preprocessing(resize_size=64, crop_size=64, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    sampler = build_sampler("segment", 6, 1, 1, "loop")
    expected = [int(i) for i in sampler(60, training=False)[0].indices]

    frames, used = eval_clip_frames(VideoClipDataset(records, sampler, prep, training=False), 0, prep)
    assert list(used) == expected and frames.shape == (6, 64, 64, 3)
    assert [decode_index(f) for f in frames] == expected, "the sampled frames, in order"

    # Cached features hold every 4th frame: each sampled frame was served by the nearest stored one.
    stored = np.arange(0, 60, 4)
    entry = CachedFeatures(features=np.zeros((len(stored), 8), np.float16), frames=stored, num_frames=60)
    frames, used = eval_clip_frames(FeatureClipDataset(records, [entry], sampler, training=False), 0, prep)
    nearest = [int(stored[np.abs(stored - i).argmin()]) for i in expected]
    assert list(used) == nearest and [decode_index(f) for f in frames] == nearest


def test_the_most_confident_mistakes_come_first():
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7], [0.45, 0.55], [0.95, 0.05]])
    labels = np.array([0, 0, 1, 0, 0, 1])
    assert worst_mistakes(probs, labels, 4).tolist() == [5, 1, 3, 2]
    assert worst_mistakes(probs, labels, 2).tolist() == [5, 1]
    assert worst_mistakes(probs, probs.argmax(1), 4).tolist() == []


def test_the_positive_class_of_an_event_task_is_the_event():
    assert default_positive(["goal", "no_goal"]) == 0
    assert default_positive(["background", "wave"]) == 1
    assert default_positive(["left_to_right", "right_to_left"]) == 1, "neither is an absence: the second"
    assert default_positive(["nothing", "none"]) == 1
    assert default_positive(["fight", "noFight"]) == 0, "camel case, as the fight set names its classes"
    assert default_positive(["SHAKE", "NOD"]) == 1 and default_positive(["normal", "NORMAL_fight"]) == 1, "not absences"


def test_dashboards_leave_the_random_state_alone_and_check_the_positive_class():
    module = SimpleNamespace(class_names=["left_to_right", "right_to_left"])
    trainer = pl.Trainer(logger=False, enable_progress_bar=False)
    with pytest.raises(ValueError, match="positive_class 'goal' is not a class.*left_to_right, right_to_left"):
        Dashboards(positive_class="goal").setup(trainer, module, "fit")

    torch.manual_seed(3)
    before = torch.get_rng_state()
    from pipeline.training.callbacks import kept_random_state

    with kept_random_state():
        torch.rand(5)
        np.random.rand(3)
    assert torch.equal(torch.get_rng_state(), before)


def test_a_missing_logger_package_is_one_line_naming_what_to_install(direction_data, tmp_path, monkeypatch):
    from pytorch_lightning.loggers.wandb import _WANDB_AVAILABLE

    monkeypatch.chdir(tmp_path)

    if _WANDB_AVAILABLE:
        pytest.skip("wandb is installed")
    with pytest.raises(UsageError) as info:  # train.py ends with this one line, exit status 2
        build_cli(_args(direction_data, tmp_path, "--trainer.logger+=pytorch_lightning.loggers.WandbLogger"))
    assert str(info.value) == ("the logger pytorch_lightning.loggers.WandbLogger needs the package wandb, which is not "
                    "installed: pip install 'wandb>=0.12.10'")
    assert "[loggers]" in missing_logger_package("Requirement 'mlflow>=1.0.0' not met. HINT: ...")
    assert missing_logger_package("some other problem") is None


def test_csv_and_mlflow_loggers_get_the_scalars(run):
    summary, tmp = run["summary"], run["tmp"]
    [csv] = (tmp / "csv").rglob("metrics.csv")
    header = csv.read_text().splitlines()[0].split(",")
    assert {"val/acc", "val/auc", "hp/test/acc", "train/frames_per_s", "val_per_class/left_to_right/f1"} <= set(header)

    mlflow = pytest.importorskip("mlflow", reason="the optional extra 'loggers' (MLflow) is not installed")
    client = mlflow.tracking.MlflowClient(tracking_uri=f"file:{tmp / 'mlruns'}")
    [experiment] = [e for e in client.search_experiments() if e.name == "dashboards"]
    [found] = client.search_runs([experiment.experiment_id])
    metrics = found.data.metrics
    assert metrics["hp/test/acc"] == pytest.approx(summary["test_metrics"]["test/acc"])
    assert {"val/acc", "val/auc", "train/clips_per_s", "val_per_class/left_to_right/f1"} <= set(metrics)
    assert found.data.params["cell"] == "gru"
