"""scripts/evaluate.py: on the test split its metrics equal what training's test reported; it writes the
per-class report, the confusion matrix PNG, the mistakes with their probabilities and one self-contained
HTML page; a folder or list of labelled videos works too; wrong inputs end in one line."""
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
from PIL import Image

from pipeline.demo import generate_direction_dataset
from pipeline.errors import InputError, UsageError
from pipeline.training.cli import train

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
    for row in mistakes:
        probs = {n: float(row[f"p_{n}"]) for n in names}
        assert row["true"] != row["predicted"] == max(probs, key=probs.get)
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
    from pipeline.evaluation import evaluate

    by_folder = evaluate(from_folder)
    assert by_folder["videos"] == 5 and len(by_folder["mistakes"]) >= 1
    listing = tmp_path / "labels.txt"
    listing.write_text("".join(f"{p} {p.parent.name}\n" for p in sorted(folder.rglob("*.mp4"))))
    by_list = evaluate(evaluate_script.parse_args(["--ckpt", trained["ckpt"], "--output", str(tmp_path / "l"),
                                                   "--videos", str(listing), "--workers", "0"]))
    assert by_list["metrics"] == pytest.approx(by_folder["metrics"], abs=1e-6)
    assert by_list["confusion_matrix"] == by_folder["confusion_matrix"]


def test_wrong_inputs_end_in_one_line(trained, tmp_path):
    from pipeline.evaluation import evaluate

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
