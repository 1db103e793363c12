"""k-fold cross-validation: real training runs per fold on generated H.264 clips, the report, and resuming."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.demo import generate_direction_dataset
from pipeline.errors import UsageError
from pipeline.training import crossval


@pytest.fixture(scope="module")
def tiny_set(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("cv")
    return generate_direction_dataset(root / "data", n_train=10, n_val=4, n_test=4, size=48, num_frames=6, seed=2)


def _args(root: Path, tmp: Path) -> list:
    return [f"--data.root={root}", "--data.clip_len=4", "--data.num_workers=0", "--data.batch_size=4",
            "--data.val_fraction=0.25", f"--data.cache_dir={tmp / 'cache'}", "--model.input_size=32",
            "--model.hidden_size=16", "--trainer.max_epochs=1", "--trainer.enable_progress_bar=false"]


def test_every_video_is_tested_once_and_a_stopped_run_resumes(tiny_set, tmp_path, monkeypatch):
    out = tmp_path / "cv"
    report = crossval.cross_validate(_args(tiny_set, tmp_path), 3, str(out))

    assert report["num_folds"] == 3 and len(report["folds"]) == 3
    confusion = report["confusion_matrix"]["rows_true_cols_predicted"]
    assert sum(map(sum, confusion)) == 18  # 2 classes x 9 videos, each in exactly one test fold
    for fold, metrics in enumerate(report["folds"]):
        written = json.loads((out / f"fold{fold}" / "test_metrics.json").read_text())["test_metrics"]
        assert metrics["test/acc"] == pytest.approx(written["test/acc"])
        assert (out / f"fold{fold}" / "checkpoints" / "last.ckpt").is_file()
    accuracies = [m["test/acc"] for m in report["folds"]]
    assert report["metrics"]["test/acc"]["mean"] == pytest.approx(sum(accuracies) / 3)
    assert json.loads((out / "crossval.json").read_text())["metrics"] == report["metrics"]
    assert "3-fold cross-validation" in crossval.format_report(report)

    # Stopped after two folds: a restart trains only the third, resuming from its last checkpoint.
    (out / "fold2" / "test_metrics.json").unlink()
    calls = []
    real_train = crossval.train
    monkeypatch.setattr(crossval, "train", lambda args: calls.append(args) or real_train(args))
    again = crossval.cross_validate(_args(tiny_set, tmp_path), 3, str(out))
    assert len(calls) == 1 and "--data.fold" in calls[0] and calls[0][calls[0].index("--data.fold") + 1] == "2"
    assert "--ckpt_path" in calls[0]
    assert again["folds"] == report["folds"]


def test_another_configuration_in_the_same_folder_is_refused(tiny_set, tmp_path):
    out = tmp_path / "cv"
    out.mkdir()
    (out / "crossval_args.json").write_text(json.dumps({"folds": 3, "args": ["--model.cell=lstm"]}))
    with pytest.raises(UsageError, match="other options"):
        crossval.cross_validate(_args(tiny_set, tmp_path), 3, str(out))
    with pytest.raises(UsageError, match="sets these itself"):
        crossval.cross_validate(["--data.fold=1"], 3, str(tmp_path / "other"))
