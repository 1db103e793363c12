"""The operating threshold of a two-class event task: chosen on validation by the objective, stored in the
checkpoint, and deciding predict.py's labels (p(positive) >= threshold); checkpoints without one: argmax."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import pytorch_lightning as pl
import torch

from pipeline.core.decision import accuracy_rows, choose_threshold, decide_label, decide_labels, parse_objective
from pipeline.core.module import VideoClassifierModule
from pipeline.data.datamodule import VideoDataModule
from pipeline.demo import generate_direction_dataset
from pipeline.inference import PredictOptions, format_summary, predict

SCORES = np.array([0.95, 0.9, 0.8, 0.7, 0.6, 0.4, 0.3, 0.2, 0.1])
TRUTH = np.array([1, 1, 0, 1, 1, 0, 1, 0, 0], dtype=bool)


def test_the_objective_picks_its_threshold():
    f1 = choose_threshold(SCORES, TRUTH, "f1")  # p>=0.6: precision 4/5, recall 4/5; p>=0.3: 5/7, 5/5
    assert f1["threshold"] == 0.3 and f1["recall"] == 1.0 and f1["f1"] == pytest.approx(2 * (5 / 7) / (5 / 7 + 1))
    strict = choose_threshold(SCORES, TRUTH, "precision=1.0")
    assert strict["threshold"] == 0.9 and strict["recall"] == 0.4 and strict["met"]
    recall = choose_threshold(SCORES, TRUTH, "recall=0.8")
    assert recall["threshold"] == 0.6 and recall["precision"] == 0.8
    assert choose_threshold(SCORES, TRUTH, "none") is None
    assert choose_threshold(SCORES, np.ones(9, dtype=bool), "f1") is None  # one class only: undefined
    for wrong in ("f2", "precision", "recall=1.5", "precision=x"):
        with pytest.raises(ValueError, match="threshold_objective"):
            parse_objective(wrong)


def test_the_label_follows_the_threshold_of_two_classes_only():
    names = ["goal", "no_goal"]
    threshold = {"positive": "goal", "threshold": 0.3}
    assert decide_label(np.array([0.35, 0.65]), names, threshold) == 0
    assert decide_label(np.array([0.25, 0.75]), names, threshold) == 1
    assert decide_label(np.array([0.35, 0.65]), names, None) == 1
    assert decide_label(np.array([0.2, 0.5, 0.3]), ["a", "b", "c"], threshold) == 1


def test_one_rule_decides_a_row_or_many_and_both_accuracies_are_said_once_when_equal():
    names, threshold = ["goal", "no_goal"], {"positive": "goal", "threshold": 0.3}
    probs = np.array([[0.35, 0.65], [0.25, 0.75], [0.3, 0.7], [0.9, 0.1]], dtype=np.float32)
    assert decide_labels(probs, names, threshold).tolist() == [0, 1, 0, 0]
    assert decide_labels(probs, names, None).tolist() == [1, 1, 1, 0]
    for row in probs:  # the single-row form is the same rule
        assert decide_label(row, names, threshold) == decide_labels(row[None], names, threshold)[0]
    assert decide_labels(np.array([[0.2, 0.5, 0.3]]), ["a", "b", "c"], threshold).tolist() == [1]
    assert accuracy_rows(0.5, 0.75, names, threshold) == [("accuracy (most probable class)", 0.5),
                                                          ("accuracy at threshold 0.3000 for goal", 0.75)]
    assert accuracy_rows(0.75, 0.75, names, threshold) == [
        ("accuracy (most probable class, and at threshold 0.3000 for goal)", 0.75)]
    assert accuracy_rows(0.5, 0.5, names, None) == [] == accuracy_rows(0.5, 0.5, ["a", "b", "c"], threshold)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("threshold")
    root = generate_direction_dataset(tmp / "data", n_train=4, n_val=4, n_test=2, size=64, num_frames=8, seed=4)
    pl.seed_everything(0, workers=True)
    data = VideoDataModule(root=str(root), clip_len=6, batch_size=4, num_workers=0, cache_features=False)
    model = VideoClassifierModule(class_names=data.class_names, sampling=data.sampling, input_size=64, hidden_size=16,
                                  threshold_objective="recall=1.0")
    data.attach_model(model.preprocessing, model.frozen_backbone)
    trainer = pl.Trainer(max_epochs=1, logger=False, enable_progress_bar=False, enable_checkpointing=False,
                         num_sanity_val_steps=0, default_root_dir=str(tmp))
    trainer.fit(model, datamodule=data)
    trainer.save_checkpoint(tmp / "model.ckpt")
    return {"path": tmp / "model.ckpt", "root": root, "tmp": tmp}


def _with_threshold(source: Path, target: Path, threshold) -> Path:
    state = torch.load(source, map_location="cpu", weights_only=True)
    state.pop("threshold", None)
    if threshold is not None:
        state["threshold"] = threshold
    torch.save(state, target)
    return target


def _labels(ckpt: Path, videos: Path, out: Path) -> tuple:
    summary = predict(PredictOptions(checkpoint=str(ckpt), inputs=(str(videos),), output=str(out), num_workers=0,
                                     device="cpu", progress=False))
    with open(out) as f:
        return list(csv.DictReader(f)), summary


# slow: a training run of its own; the default run checks the stored threshold (test_evaluate) and
# predict.py labelling by it (test_predict.py::test_jsonl_output_and_list_file_input)
@pytest.mark.slow
def test_the_checkpoint_holds_the_validation_threshold_and_predict_uses_it(checkpoint):
    stored = torch.load(checkpoint["path"], map_location="cpu", weights_only=True)["threshold"]
    assert stored["positive"] == "right_to_left" and stored["objective"] == "recall=1.0"
    assert stored["videos"] == 4 and stored["recall"] == 1.0 and 0 < stored["threshold"] <= 1
    tmp, videos = checkpoint["tmp"], checkpoint["root"] / "test"
    rows, summary = _labels(checkpoint["path"], videos, tmp / "stored.csv")
    assert "operating threshold: right_to_left when p >=" in format_summary(summary)
    for row in rows:
        assert (row["label"] == "right_to_left") == (float(row["prob_right_to_left"]) >= stored["threshold"])
    # A threshold above every probability makes every video the other class; none at all: the argmax.
    high = _with_threshold(checkpoint["path"], tmp / "high.ckpt", {**stored, "threshold": 1.01})
    assert {r["label"] for r in _labels(high, videos, tmp / "high.csv")[0]} == {"left_to_right"}
    plain = _with_threshold(checkpoint["path"], tmp / "plain.ckpt", None)
    rows, summary = _labels(plain, videos, tmp / "plain.csv")
    assert "operating threshold" not in format_summary(summary)
    for row in rows:
        probs = {n: float(row[f"prob_{n}"]) for n in ("left_to_right", "right_to_left")}
        assert row["label"] == max(probs, key=probs.get)


def test_timeline_events_follow_the_operating_threshold_unless_one_is_given():
    from pipeline.inference.timeline import TimelineOptions, find_events

    names = ["goal", "no_goal"]
    times = np.array([[0.0, 2.0], [1.0, 3.0], [2.0, 4.0], [3.0, 5.0]])
    p_goal = np.array([0.1, 0.35, 0.4, 0.1])
    probs = np.stack([p_goal, 1 - p_goal], axis=1)
    operating = {"positive": "goal", "threshold": 0.3}
    stored = TimelineOptions(event_classes=("goal",)).with_operating_threshold(operating, names)
    assert [(e.start, e.end) for e in find_events(times, probs, names, stored)] == [(1.0, 4.0)]
    assert stored.threshold_for("no_goal") == pytest.approx(0.7)  # the same decision, seen from the other class
    given = TimelineOptions(threshold=0.5, event_classes=("goal",)).with_operating_threshold(operating, names)
    assert find_events(times, probs, names, given) == []  # --threshold wins
    plain = TimelineOptions(event_classes=("goal",)).with_operating_threshold(None, names)
    assert plain.threshold_for("goal") == 0.5 and find_events(times, probs, names, plain) == []
