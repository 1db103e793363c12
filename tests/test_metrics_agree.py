"""Every figure of one evaluation comes from the same predictions: acc, mean class accuracy and macro F1
equal what the confusion matrix and per-class table beside them say, computed by hand from the
predictions, for 2, 6 and 101 classes, in Lightning's val/test metrics (what train.py's summary,
test_metrics.json, crossval.py and TensorBoard show), in the recipe search's scores, and in a real
evaluate.py run on encoded videos with known mistakes.

The failure this guards against: a first batch with no mistake made torchmetrics merge the top-5 and the
macro metrics into one compute group, and a six-class evaluation with 9 mistakes of 72 reported a macro F1
and a mean class accuracy of 1.0."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from conftest import index_frame

from pipeline.core.metrics import summary_scores, video_scores
from pipeline.core.module import EpochMetrics, VideoClassifierModule
from pipeline.data.sampling import build_sampler
from pipeline.demo.video_writer import write_video
from pipeline.recipes.head_fit import scores as recipe_scores

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import evaluate as evaluate_script  # noqa: E402  (scripts/evaluate.py)


def by_hand(labels, predicted, num_classes):
    """acc, mean class accuracy (mean recall over classes with videos) and macro F1 (over classes with videos
    or predictions), with loops, from (label, predicted) pairs."""
    labels, predicted = list(map(int, labels)), list(map(int, predicted))
    recalls, f1s = [], []
    for c in range(num_classes):
        true = sum(1 for y in labels if y == c)
        said = sum(1 for p in predicted if p == c)
        hit = sum(1 for y, p in zip(labels, predicted) if y == p == c)
        if true:
            recalls.append(hit / true)
        if true or said:
            precision = hit / said if said else 0.0
            recall = hit / true if true else 0.0
            f1s.append(2 * precision * recall / (precision + recall) if hit else 0.0)
    acc = sum(1 for y, p in zip(labels, predicted) if y == p) / len(labels)
    return {"acc": acc, "mean_class_acc": sum(recalls) / len(recalls), "f1_macro": sum(f1s) / len(f1s)}


def uneven_predictions(num_classes: int, seed: int):
    """Probabilities [N,C] and labels [N] in batches of 8: the first batch has no mistake (the case that
    broke), classes unevenly spread (class 0 four times as often as the others), mistakes to a neighbour
    class with high confidence in later batches."""
    rng = np.random.default_rng(seed)
    weights = np.ones(num_classes)
    weights[0] = 4
    labels = rng.choice(num_classes, size=max(72, 3 * num_classes), p=weights / weights.sum())
    logits = rng.normal(size=(len(labels), num_classes))
    logits[np.arange(len(labels)), labels] += 6
    wrong = rng.choice(np.arange(8, len(labels)), size=len(labels) // 8, replace=False)
    logits[wrong, (labels[wrong] + 1) % num_classes] += 12
    probs = torch.from_numpy(logits).float().softmax(-1).numpy()
    return probs, labels


@pytest.mark.parametrize("num_classes", [2, 6, 101])
def test_epoch_metrics_equal_the_hand_computed_figures_of_the_same_predictions(num_classes):
    probs, labels = uneven_predictions(num_classes, seed=num_classes)
    predicted = probs.argmax(1)
    expected = by_hand(labels, predicted, num_classes)
    assert expected["acc"] < 1 and expected["mean_class_acc"] < 1 and expected["f1_macro"] < 1

    metrics = EpochMetrics(num_classes, "test/")
    for start in range(0, len(labels), 8):
        metrics.update(torch.from_numpy(probs[start:start + 8]), torch.from_numpy(labels[start:start + 8]))
    got = {key: float(value) for key, value in metrics.compute().items()}
    assert set(got) == set(metrics.keys())
    for key, value in expected.items():
        assert got[f"test/{key}"] == pytest.approx(value, abs=1e-6), key
        assert video_scores(probs, labels)[key] == pytest.approx(value, abs=1e-9), key
        assert recipe_scores(probs, labels, num_classes)[key] == pytest.approx(value, abs=1e-9), key
    if num_classes > 5:
        top5 = np.argsort(-probs, 1)[:, :5]
        expected_top5 = np.mean([y in row for y, row in zip(labels, top5)])
        assert got["test/acc_top5"] == pytest.approx(expected_top5) == video_scores(probs, labels)["acc_top5"]
    else:
        assert "test/acc_top5" not in got

    metrics.reset()  # a new epoch starts from nothing
    metrics.update(torch.from_numpy(probs[:8]), torch.from_numpy(labels[:8]))
    assert float(metrics.compute()["test/acc"]) == 1.0


def test_summary_scores_of_a_confusion_matrix():
    # rows true, columns predicted: class 0 has 3 videos (2 right), class 1 has 1 (right), class 2 none but
    # one video was called class 2, class 3 nothing at all (left out of both means).
    matrix = np.array([[2, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]])
    scores = summary_scores(matrix)
    assert scores["acc"] == pytest.approx(3 / 4)
    assert scores["mean_class_acc"] == pytest.approx((2 / 3 + 1) / 2)
    f1_class0 = 2 * 1.0 * (2 / 3) / (1.0 + 2 / 3)
    assert scores["f1_macro"] == pytest.approx((f1_class0 + 1.0 + 0.0) / 3)
    assert summary_scores(np.zeros((3, 3), dtype=np.int64)) == {"acc": 0.0, "mean_class_acc": 0.0, "f1_macro": 0.0}


CLASSES = [f"action{i}" for i in range(6)]


@pytest.fixture(scope="module")
def six_class_model(tmp_path_factory):
    """A real six-class checkpoint (a small CNN, untrained) and 24 real H.264 videos of distinct content."""
    tmp = tmp_path_factory.mktemp("six")
    pl.seed_everything(0)
    sampling = {"sampler": build_sampler("segment", 4).to_config()}
    model = VideoClassifierModule(class_names=CLASSES, sampling=sampling, backbone="resnet18", weights="none",
                                  input_size=32, hidden_size=8, threshold_objective="none")
    trainer = pl.Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False)
    trainer.strategy.connect(model)
    trainer.save_checkpoint(tmp / "six.ckpt")
    videos = [write_video(tmp / f"v{i:02d}.mp4", (index_frame(997 * i + 13 * t, 32, 48) for t in range(6)), fps=6)
              for i in range(24)]
    return tmp, tmp / "six.ckpt", videos


def _evaluate(tmp: Path, ckpt: Path, videos, labels, name: str) -> dict:
    listing = tmp / f"{name}.txt"
    listing.write_text("".join(f"{v} {CLASSES[y]}\n" for v, y in zip(videos, labels)))
    out = tmp / name
    code = evaluate_script.main(["--ckpt", str(ckpt), "--videos", str(listing), "--output", str(out),
                                 "--batch-size", "4", "--workers", "0", "--device", "cpu"])
    assert code == 0
    return json.loads((out / "metrics.json").read_text())


def test_evaluate_macro_figures_agree_with_its_own_confusion_matrix(six_class_model):
    tmp, ckpt, videos = six_class_model
    # What the checkpoint predicts for each video: a first pass with every video called action0.
    first = _evaluate(tmp, ckpt, videos, [0] * len(videos), "probe")
    called = {m["video"]: CLASSES.index(m["predicted"]) for m in first["mistakes"]}
    predicted = [called.get(str(v), 0) for v in videos]
    # Labels with known mistakes: the first batch of 4 all right, then every third video wrong (labelled with
    # the class after the predicted one), so classes are spread unevenly over the batches.
    labels = [p if i < 4 or i % 3 else (p + 1) % 6 for i, p in enumerate(predicted)]
    report = _evaluate(tmp, ckpt, videos, labels, "eval")
    expected = by_hand(labels, predicted, 6)
    assert sum(y != p for y, p in zip(labels, predicted)) == 6 == len(report["mistakes"])
    assert expected["mean_class_acc"] < 1 and expected["f1_macro"] < 1

    metrics = report["metrics"]
    for key, value in expected.items():
        assert metrics[key] == pytest.approx(value, abs=1e-6), key
    # ... and equal to what its own confusion matrix and per-class table say.
    matrix = np.array(report["confusion_matrix"]["rows_true_cols_predicted"])
    assert matrix.sum() == len(videos) and np.trace(matrix) == len(videos) - 6
    for key, value in summary_scores(matrix).items():
        assert metrics[key] == pytest.approx(value, abs=1e-6), key
    per_class = [report["per_class"][name] for name in CLASSES]
    with_videos = [row["recall"] for row in per_class if row["support"]]
    assert metrics["mean_class_acc"] == pytest.approx(np.mean(with_videos), abs=1e-6)
    assert 0 < metrics["acc_top5"] <= 1
