"""scripts/evaluate.py: on the test split its metrics equal what training's test reported; it writes the
per-class report, the confusion matrix PNG, the mistakes with their probabilities and one self-contained
HTML page; a folder or list of labelled videos works too; wrong inputs end in one line. With a two-class
operating threshold, "predicted" (mistakes, strips, confusion matrix) is the threshold's decision, as
predict.py labels, and the report and train.py's summary give both accuracies."""
from __future__ import annotations

import base64
import csv
import io
import json
import re
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from PIL import Image

from pipeline.core.checkpoints import load_classifier_module
from pipeline.demo import generate_direction_dataset
from pipeline.errors import InputError, UsageError
from pipeline.training.cli import build_cli, format_summary, train

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import evaluate as evaluate_script  # noqa: E402  (scripts/evaluate.py)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> dict:
    """A one-epoch train.py run on the two-class direction set (one test video also filed under the other
    class, so there is always a mistake), with its data options and test_metrics.json."""
    tmp = tmp_path_factory.mktemp("evaluate")
    root = generate_direction_dataset(tmp / "data", n_train=4, n_val=2, n_test=4, size=64, num_frames=8, seed=2)
    shutil.copy(root / "test" / "left_to_right" / "test_left_to_right_0000.mp4",
                root / "test" / "right_to_left" / "mislabelled.mp4")
    data_args = [f"--data.root={root}", "--data.clip_len=6", "--data.num_workers=0", "--data.batch_size=4",
                 f"--data.cache_dir={tmp / 'cache'}"]
    logger = {"class_path": "pytorch_lightning.loggers.TensorBoardLogger",
              "init_args": {"save_dir": str(tmp / "runs"), "name": "eval"}}
    summary = train([*data_args, "--model.input_size=64", "--model.hidden_size=16", "--trainer.max_epochs=1",
                     "--trainer.enable_progress_bar=false", f"--trainer.logger={json.dumps(logger)}"])
    tested = json.loads((Path(summary["log_dir"]) / "test_metrics.json").read_text())
    return {"root": root, "data_args": data_args, "ckpt": summary["best_checkpoint"], "tested": tested, "tmp": tmp}


@pytest.fixture(scope="module")
def report(trained) -> dict:
    out = trained["tmp"] / "report"
    code = evaluate_script.main(["--ckpt", trained["ckpt"], "--output", str(out), "--split", "test",
                                 *trained["data_args"]])
    assert code == 0
    return {"out": out, "metrics": json.loads((out / "metrics.json").read_text())}


def test_metrics_equal_what_training_tested_on_the_same_split(trained, report):
    tested, metrics = trained["tested"], report["metrics"]
    assert metrics["videos"] == 5
    expected = {key.split("/", 1)[1]: value for key, value in tested["test_metrics"].items()}
    assert set(metrics["metrics"]) == set(expected)
    for key, value in expected.items():
        assert metrics["metrics"][key] == pytest.approx(value, abs=1e-6), key
    assert metrics["confusion_matrix"] == tested["confusion_matrix"]
    # a two-class run stores its validation threshold; training reports the one its best checkpoint holds
    assert tested["threshold"]["positive"] in tested["confusion_matrix"]["classes"]
    assert metrics["threshold"]["threshold"] == pytest.approx(tested["threshold"]["threshold"])
    # both decide by it: the same confusion (above) and the same two accuracies
    matrix = np.array(tested["confusion_matrix"]["rows_true_cols_predicted"])
    assert tested["accuracy"]["at_threshold"] == pytest.approx(np.trace(matrix) / matrix.sum())
    assert tested["accuracy"]["most_probable_class"] == pytest.approx(tested["test_metrics"]["test/acc"])
    assert metrics["accuracy"] == pytest.approx(tested["accuracy"], abs=1e-6)


def test_per_class_report_and_mistakes_are_written(report):
    out, metrics = report["out"], report["metrics"]
    matrix = np.array(metrics["confusion_matrix"]["rows_true_cols_predicted"])
    names = metrics["confusion_matrix"]["classes"]
    with open(out / "per_class.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["class"] for r in rows] == names
    for i, row in enumerate(rows):
        assert int(row["videos"]) == matrix[i].sum() == metrics["per_class"][names[i]]["support"]
        recall = matrix[i, i] / matrix[i].sum()
        assert float(row["recall"]) == pytest.approx(recall, abs=1e-6)
    with open(out / "mistakes.csv") as f:
        mistakes = list(csv.DictReader(f))
    assert len(mistakes) == matrix.sum() - np.trace(matrix) >= 1  # the mislabelled copy is always one
    threshold = metrics["threshold"]  # the checkpoint's operating threshold decides "predicted"
    other = next(n for n in names if n != threshold["positive"])
    for row in mistakes:
        probs = {n: float(row[f"p_{n}"]) for n in names}
        decided = threshold["positive"] if probs[threshold["positive"]] >= threshold["threshold"] else other
        assert row["true"] != row["predicted"] == decided
        assert sum(probs.values()) == pytest.approx(1.0, abs=1e-4)
        assert Path(row["video"]).is_file()
    confidences = [float(r["probability"]) for r in mistakes]
    assert confidences == sorted(confidences, reverse=True)
    assert Image.open(out / "confusion_matrix.png").size[0] > 100


def test_the_html_report_is_self_contained(report):
    page = (report["out"] / "report.html").read_text()
    assert not re.search(r"""(src|href)=["'](?!data:)""", page)  # no file, server or network asset
    assert "<script" not in page
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(images) >= 2  # the confusion matrix and at least one mistake's frames
    for image in images:
        assert Image.open(io.BytesIO(base64.b64decode(image))).size[0] > 0
    mistakes = report["metrics"]["mistakes"]  # the copy or its original: one of the two is always a mistake
    assert mistakes and {Path(m["video"]).name for m in mistakes} & {"mislabelled.mp4", "test_left_to_right_0000.mp4"}
    for mistake in mistakes:
        assert mistake["video"] in page
    for name in report["metrics"]["confusion_matrix"]["classes"]:
        assert name in page
    assert f"{report['metrics']['metrics']['acc']:.4f}" in page


def test_a_folder_or_list_of_labelled_videos(trained, tmp_path):
    folder = trained["root"] / "test"
    from_folder = evaluate_script.parse_args(["--ckpt", trained["ckpt"], "--output", str(tmp_path / "f"),
                                              "--videos", str(folder), "--workers", "0"])
    from pipeline.evaluation.evaluate import evaluate

    by_folder = evaluate(from_folder)
    assert by_folder["videos"] == 5 and len(by_folder["mistakes"]) >= 1
    listing = tmp_path / "labels.txt"
    listing.write_text("".join(f"{p} {p.parent.name}\n" for p in sorted(folder.rglob("*.mp4"))))
    by_list = evaluate(evaluate_script.parse_args(["--ckpt", trained["ckpt"], "--output", str(tmp_path / "l"),
                                                   "--videos", str(listing), "--workers", "0"]))
    assert by_list["metrics"] == pytest.approx(by_folder["metrics"], abs=1e-6)
    assert by_list["confusion_matrix"] == by_folder["confusion_matrix"]


def test_wrong_inputs_end_in_one_line(trained, tmp_path):
    from pipeline.evaluation.evaluate import evaluate

    other = tmp_path / "other"
    (other / "jump").mkdir(parents=True)
    shutil.copy(next((trained["root"] / "test" / "left_to_right").glob("*.mp4")), other / "jump" / "a.mp4")
    with pytest.raises(InputError, match="jump.*not classes of the checkpoint"):
        evaluate(evaluate_script.parse_args(["--ckpt", trained["ckpt"], "--output", str(tmp_path / "o"),
                                             "--videos", str(other)]))
    with pytest.raises(UsageError, match="--model.lr"):
        evaluate_script.parse_args(["--ckpt", trained["ckpt"], "--output", str(tmp_path / "o"), "--model.lr=1"])
    with pytest.raises(InputError, match="not found"):
        evaluate(evaluate_script.parse_args(["--ckpt", str(tmp_path / "missing.ckpt"), "--output", str(tmp_path)]))


def _with_threshold(source: str, target: Path, threshold) -> Path:
    """A copy of a checkpoint whose operating threshold is `threshold` (None: without one)."""
    state = torch.load(source, map_location="cpu", weights_only=True)
    state.pop("threshold", None)
    if threshold is not None:
        state["threshold"] = threshold
    torch.save(state, target)
    return target


def _test_data(trained, model):
    """train.py's data module of the fixture's options (as evaluate.py builds it), ready for its test split."""
    data = build_cli([*trained["data_args"], "--model.weights=none", "--trainer.logger=false"]).datamodule
    data.attach_model(model.preprocessing, model.frozen_backbone)
    return data


@pytest.fixture(scope="module")
def flipped(trained) -> dict:
    """The trained checkpoint with an operating threshold that decides the test split otherwise than the most
    probable class (another accuracy), and what to expect of it, computed here from the test videos'
    probabilities without pipeline.core.decision."""
    model = load_classifier_module(trained["ckpt"])
    data = _test_data(trained, model)
    data.setup("test")
    dataset, probs, labels, videos = data.datasets["test"], [], [], []
    with torch.no_grad():
        for batch in data.test_dataloader():
            probs.append(model.video_probabilities(batch).float().numpy())
            labels += batch["label"].tolist()
            videos += [str(dataset.records[int(i)].path) for i in batch["index"]]
    probs, labels = np.concatenate(probs), np.array(labels)
    names, stored = list(model.class_names), dict(model.threshold)
    pos = names.index(stored["positive"])
    argmax_acc = float(np.mean(probs.argmax(1) == labels))
    # thresholds halfway between the videos' p(positive) (never on one), the closest to 0.5 first
    points = np.unique(probs[:, pos])
    candidates = sorted([points[0] / 2, (points[-1] + 1) / 2, *((points[1:] + points[:-1]) / 2)],
                        key=lambda t: abs(t - 0.5))
    decide = {t: np.where(probs[:, pos] >= t, pos, 1 - pos) for t in candidates}
    chosen = next(float(t) for t in candidates if np.mean(decide[t] == labels) != argmax_acc)
    decided = decide[chosen]
    assert (decided != probs.argmax(1)).any()
    ckpt = _with_threshold(trained["ckpt"], trained["tmp"] / "flipped.ckpt", {**stored, "threshold": chosen})
    matrix = np.zeros((2, 2), dtype=int)
    np.add.at(matrix, (labels, decided), 1)
    return {"ckpt": ckpt, "names": names, "positive": names[pos], "threshold": chosen, "probs": probs,
            "videos": videos, "argmax_acc": argmax_acc, "threshold_acc": float(np.mean(decided == labels)),
            "matrix": matrix.tolist(),
            "wrong": {v: names[d] for v, d, t in zip(videos, decided, labels) if d != t}}


def test_the_report_follows_the_operating_threshold(trained, flipped, tmp_path, capsys):
    out = tmp_path / "report"
    assert evaluate_script.main(["--ckpt", str(flipped["ckpt"]), "--output", str(out), "--split", "test",
                                 *trained["data_args"]]) == 0
    printed = capsys.readouterr().out
    metrics = json.loads((out / "metrics.json").read_text())
    names, wrong = flipped["names"], flipped["wrong"]
    assert metrics["threshold"]["threshold"] == pytest.approx(flipped["threshold"])
    # the misclassified videos and their "predicted" column are the threshold's decision
    assert {m["video"]: m["predicted"] for m in metrics["mistakes"]} == wrong
    for mistake in metrics["mistakes"]:
        expected = flipped["probs"][flipped["videos"].index(mistake["video"])]
        assert [mistake["probabilities"][n] for n in names] == pytest.approx(expected.tolist(), abs=1e-5)
        assert mistake["probability"] == pytest.approx(mistake["probabilities"][mistake["predicted"]])
    with open(out / "mistakes.csv") as f:
        assert {r["video"]: r["predicted"] for r in csv.DictReader(f)} == wrong
    assert metrics["confusion_matrix"]["rows_true_cols_predicted"] == flipped["matrix"]
    # both accuracies: Lightning's acc is the most probable class's
    assert metrics["metrics"]["acc"] == pytest.approx(flipped["argmax_acc"], abs=1e-6)
    assert metrics["accuracy"] == pytest.approx({"most_probable_class": flipped["argmax_acc"],
                                                 "at_threshold": flipped["threshold_acc"]}, abs=1e-6)
    argmax_line = f"accuracy (most probable class): {flipped['argmax_acc']:.4f}"
    threshold_line = (f"accuracy at threshold {flipped['threshold']:.4f} for {flipped['positive']}: "
                      f"{flipped['threshold_acc']:.4f}")
    assert argmax_line in printed and threshold_line in printed
    assert re.search(rf"misclassified +{len(wrong)}\n", printed)
    page = (out / "report.html").read_text()
    assert f"Misclassified videos ({len(wrong)})" in page
    for video, predicted in wrong.items():
        true = next(n for n in names if n != predicted)
        assert f"<td>{video}</td><td>{true}</td><td>{predicted}</td>" in page
    captions = re.findall(r"<figcaption>([^<]+)</figcaption>", page)
    assert sorted(captions) == sorted(wrong)  # a strip for each mistake of the decision, no other
    for label, value in (("accuracy (most probable class)", flipped["argmax_acc"]),
                         (f"accuracy at threshold {flipped['threshold']:.4f} for {flipped['positive']}",
                          flipped["threshold_acc"])):
        assert f'<td>{label}</td><td class="num">{value:.4f}</td>' in page


def test_the_training_summary_shows_both_accuracies(trained, flipped):
    """train.py's summary after its test (pipeline.training.cli.test_summary over Lightning's test loop)."""
    from pipeline.training.cli import test_summary

    model = load_classifier_module(str(flipped["ckpt"]))
    trainer = pl.Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False)
    results = trainer.test(model, datamodule=_test_data(trained, model), verbose=False)
    summary = test_summary(model, results[0])
    assert summary["confusion_matrix"]["rows_true_cols_predicted"] == flipped["matrix"]
    assert summary["accuracy"] == pytest.approx({"most_probable_class": flipped["argmax_acc"],
                                                 "at_threshold": flipped["threshold_acc"]}, abs=1e-6)
    text = format_summary({**summary, "best_checkpoint": "b.ckpt", "last_checkpoint": "l.ckpt", "log_dir": "runs/x/v"})
    assert f"accuracy (most probable class): {flipped['argmax_acc']:.4f}" in text
    assert (f"accuracy at threshold {flipped['threshold']:.4f} for {flipped['positive']}: "
            f"{flipped['threshold_acc']:.4f}") in text
    assert "columns: predicted at the operating threshold" in text


def test_without_a_threshold_the_most_probable_class_decides_as_before(trained, flipped, tmp_path, capsys):
    plain = _with_threshold(trained["ckpt"], tmp_path / "plain.ckpt", None)
    out = tmp_path / "report"
    assert evaluate_script.main(["--ckpt", str(plain), "--output", str(out), "--split", "test",
                                 *trained["data_args"]]) == 0
    printed = capsys.readouterr().out
    metrics = json.loads((out / "metrics.json").read_text())
    names, probs, videos = flipped["names"], flipped["probs"], flipped["videos"]
    assert not {"threshold", "accuracy", "predicted_by"} & set(metrics) and "accuracy (" not in printed
    for mistake in metrics["mistakes"]:
        assert mistake["predicted"] == names[int(probs[videos.index(mistake["video"])].argmax())]
    matrix = np.array(metrics["confusion_matrix"]["rows_true_cols_predicted"])
    assert np.trace(matrix) / matrix.sum() == pytest.approx(flipped["argmax_acc"])
    assert len(metrics["mistakes"]) == matrix.sum() - np.trace(matrix)
    assert "accuracy (" not in (out / "report.html").read_text()
    # train.py's summary: the metrics and the most probable class's confusion matrix, no other accuracy
    from pipeline.training.cli import test_summary

    model = load_classifier_module(str(plain))
    trainer = pl.Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False)
    summary = test_summary(model, trainer.test(model, datamodule=_test_data(trained, model), verbose=False)[0])
    assert "accuracy" not in summary and "threshold" not in summary
    assert summary["confusion_matrix"] == metrics["confusion_matrix"]
    text = format_summary({**summary, "best_checkpoint": "b.ckpt", "last_checkpoint": "l.ckpt", "log_dir": "runs/x/v"})
    assert "accuracy (" not in text and "confusion matrix (rows: true, columns: predicted)" in text
