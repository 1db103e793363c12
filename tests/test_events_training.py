"""Training from event times in long videos: how windows are labelled, splits by group, a real train.py run
on generated matches with an events CSV (each frame embedded once, windows sliced from the cache, background
sampled per epoch), the operating points stored in the checkpoint, and predict.py --timeline using them with
no other option."""
from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from pipeline.data.annotations import AnnotatedEvent, AnnotatedVideo, build_splits
from pipeline.data.event_windows import IGNORED, label_window, window_labels
from pipeline.demo import generate_match_set
from pipeline.training.cli import train

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
import predict as predict_script  # noqa: E402  (scripts/predict.py)

NAMES = ["background", "goal", "celebration"]


def _video(*events) -> AnnotatedVideo:
    return AnnotatedVideo(Path("v.mp4"), tuple(AnnotatedEvent(*e) for e in events), "g", 100.0)


def test_a_segment_labels_the_windows_it_mostly_covers_and_grazed_windows_are_left_out():
    video = _video(("goal", 10.0, 14.0))
    assert label_window(10.0, 12.0, video, NAMES) == 1  # inside
    assert label_window(9.0, 11.0, video, NAMES) == 1  # half of the window covered
    assert label_window(8.5, 10.5, video, NAMES) == IGNORED  # a quarter: neither goal nor background
    assert label_window(20.0, 22.0, video, NAMES) == 0  # no event: background
    short = _video(("goal", 10.0, 10.6))  # shorter than the window: labels it when mostly inside
    assert label_window(9.5, 11.5, short, NAMES) == 1
    assert label_window(10.4, 12.4, short, NAMES) == IGNORED


def test_a_spot_labels_the_windows_whose_central_half_holds_it():
    video = _video(("goal", 30.0, 30.0))
    assert label_window(29.0, 31.0, video, NAMES) == 1  # at the centre
    assert label_window(29.4, 31.4, video, NAMES) == 1  # 0.4 s off a 2-s window's centre: inside the central 1 s
    assert label_window(29.9, 31.9, video, NAMES) == IGNORED  # near the edge
    assert label_window(31.0, 33.0, video, NAMES) == 0


def test_overlapping_classes_the_one_covering_more_of_the_window_wins():
    video = _video(("goal", 10.0, 12.0), ("celebration", 11.0, 20.0))
    assert label_window(10.0, 12.0, video, NAMES) == 1  # goal covers all of it, the celebration half
    assert label_window(11.5, 13.5, video, NAMES) == 2
    assert label_window(14.0, 16.0, video, NAMES) == 2


def test_labelling_every_window_of_a_long_video_at_once_agrees_with_the_rule_window_by_window():
    rng = np.random.default_rng(0)
    events = []
    for start in np.sort(rng.uniform(0, 95, 60)):
        length = float(rng.choice([0.0, 0.3, 1.5, 4.0, 12.0]))  # spots, short, long and very long segments
        events.append((str(rng.choice(NAMES[1:] + ["other"])), float(start), float(start) + length))
    video = AnnotatedVideo(Path("v.mp4"), tuple(AnnotatedEvent(*e) for e in events), "g", 100.0)
    starts = np.arange(0, 98, 0.25)
    times = np.stack([starts, starts + 2.0], axis=1)
    expected = [label_window(s, e, video, NAMES) for s, e in times]
    assert window_labels(times, video, NAMES).tolist() == expected
    assert {1, 2, 0, IGNORED} <= set(expected)  # every outcome of the rule is exercised


@pytest.fixture(scope="module")
def matches(tmp_path_factory) -> Path:
    """Six generated 10-s matches, two goals each, and their events CSV (the match is the group)."""
    root = tmp_path_factory.mktemp("matches")
    generate_match_set(root, matches=6, n_clips=10, goals=2, size=64, num_frames=25, seed=1)
    return root


def test_splits_keep_groups_whole_and_count_videos_hours_and_events(matches, tmp_path):
    rows = list(csv.DictReader((matches / "events.csv").open()))
    for row in rows:  # two matches share a stadium: one group
        row["group"] = "stadium" if row["group"] in ("match_00", "match_01") else row["group"]
    listing = tmp_path / "events.csv"
    with listing.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows({**r, "video": str(matches / r["video"])} for r in rows)
    splits = build_splits("events", matches, train_list=listing, val_fraction=0.2, test_fraction=0.2, seed=3)
    assert splits.class_names == ["background", "goal"]
    sides = {name: {r.path.parent.name for r in getattr(splits, name)} for name in ("train", "val", "test")}
    together = [name for name, folders in sides.items() if {"match_00", "match_01"} & folders]
    assert len(together) == 1 and {"match_00", "match_01"} <= sides[together[0]]
    table = splits.summary()
    assert "events of goal" in table and "hours" in table and "groups" in table


@pytest.fixture(scope="module")
def trained(matches, tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("events_run")
    logger = {"class_path": "pytorch_lightning.loggers.TensorBoardLogger",
              "init_args": {"save_dir": str(tmp / "runs"), "name": "events"}}
    summary = train(["--config", str(REPO / "configs" / "events.yaml"), f"--data.root={matches}",
                     f"--data.train_list={matches / 'events.csv'}", "--data.window=1.0", "--data.stride=0.25",
                     "--data.val_fraction=0.2", "--data.test_fraction=0.2", f"--data.cache_dir={tmp / 'cache'}",
                     "--data.num_workers=0", "--data.batch_size=8", "--model.input_size=64", "--model.hidden_size=32",
                     "--trainer.max_epochs=15", "--trainer.enable_progress_bar=false",
                     f"--trainer.logger={json.dumps(logger)}"])
    return {"summary": summary, "tmp": tmp}


def test_training_from_event_times_stores_windows_and_operating_points(trained, matches):
    summary, tmp = trained["summary"], trained["tmp"]
    ckpt = torch.load(summary["best_checkpoint"], map_location="cpu", weights_only=True)
    assert ckpt["class_names"] == ["background", "goal"]
    assert ckpt["hyper_parameters"]["sampling"]["events"] == {"window": 1.0, "stride": 0.25,
                                                               "background": "background"}
    point = ckpt["event_points"]["classes"]["goal"]
    assert set(point) >= {"threshold", "min_duration", "merge_gap", "precision", "recall", "f1"}
    assert 0.1 <= point["threshold"] <= 0.95 and 0 < point["f1"] <= 1
    # The run says what was done about the imbalance: every event window, background drawn per epoch.
    train_windows = summary["windows"]["train"]
    assert train_windows["windows"]["goal"] > 0 and train_windows["background_share"] > 0.5
    assert train_windows["background_per_epoch"] == min(3 * train_windows["windows"]["goal"],
                                                        train_windows["windows"]["background"])
    written = json.loads((Path(summary["log_dir"]) / "test_metrics.json").read_text())
    assert written["event_points"]["classes"]["goal"] == summary["event_points"]["classes"]["goal"]
    # Each video embedded once, at clip_len / window = 8 frames a second, however many windows were drawn.
    entries = [np.load(p) for p in sorted((tmp / "cache").rglob("*.frames.npz"))]
    assert len(entries) == 6
    for entry in entries:
        assert abs(len(entry["frames"]) - 8 * int(entry["num_frames"]) / 25) <= 1


def test_predict_timeline_uses_the_checkpoint_windows_and_operating_points(trained, matches, tmp_path):
    ckpt = trained["summary"]["best_checkpoint"]
    out = tmp_path / "out.csv"
    code = predict_script.main(["--ckpt", ckpt, "--input", str(matches / "match_05" / "match.mp4"),
                                "--output", str(out), "--timeline", "--no-progress"])
    assert code == 0
    events = list(csv.DictReader((tmp_path / "out_timeline" / "events.csv").open()))
    assert all(e["label"] == "goal" for e in events), "background is never reported as an event"
    assert {"path", "label", "start", "end", "peak_probability"} <= set(
        csv.DictReader((tmp_path / "out_timeline" / "events.csv").open()).fieldnames)
    windows = list(csv.DictReader((tmp_path / "out_timeline" / "match.windows.csv").open()))
    starts = [float(w["start"]) for w in windows]
    assert float(windows[0]["end"]) - starts[0] == pytest.approx(1.0) and starts[1] - starts[0] == pytest.approx(0.24)
    # An option given on the command line still wins.
    code = predict_script.main(["--ckpt", ckpt, "--input", str(matches / "match_05" / "match.mp4"),
                                "--output", str(tmp_path / "wide.csv"), "--timeline", "--window", "2",
                                "--stride", "1", "--no-progress"])
    windows = list(csv.DictReader((tmp_path / "wide_timeline" / "match.windows.csv").open()))
    assert code == 0 and float(windows[0]["end"]) == pytest.approx(2.0) and float(windows[1]["start"]) == 1.0


def test_a_class_without_validation_events_gets_no_operating_point():
    from pipeline.training.event_points import choose_event_points

    times = np.array([[0.0, 1.0], [0.5, 1.5], [1.0, 2.0]])
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.9, 0.1]])
    event = AnnotatedEvent("goal", 0.5, 1.5)
    found = choose_event_points([("v", times, probs, (event,))], ["background", "goal"], ["goal"], 1.0, 0.5)
    assert found["classes"]["goal"]["f1"] == 1.0 and found["classes"]["goal"]["threshold"] <= 0.8
    empty = choose_event_points([("v", times, probs, ())], ["background", "goal"], ["goal"], 1.0, 0.5)
    assert empty["classes"] == {}, "no events to stand on: the timeline's defaults, not a threshold of 0.10"


def test_background_is_a_reserved_label(matches, tmp_path):
    listing = tmp_path / "events.csv"
    listing.write_text(f"video,label,start,end\n{matches / 'match_00' / 'match.mp4'},background,1,2\n"
                       f"{matches / 'match_01' / 'match.mp4'},goal,1,2\n")
    with pytest.raises(Exception, match="reserved"):
        build_splits("events", matches, train_list=listing)


def test_a_prediction_written_before_timelines_were_resolved_resumes():
    """Settings stored by the earlier version (the options' fields, defaults spelled out) equal today's
    resolved settings of the same run, so resuming such an output is not refused."""
    from types import SimpleNamespace

    from pipeline.inference.settings import _effective_stored
    from pipeline.inference.timeline import TimelineOptions

    model = SimpleNamespace(class_names=["goal", "no_goal"], hparams={"sampling": {}}, event_points=None,
                            threshold={"positive": "goal", "threshold": 0.6})
    old = {"window": 2.0, "stride": 1.0, "threshold": None, "min_duration": 0.0, "merge_gap": 0.0,
           "event_classes": None, "class_thresholds": [["goal", 0.6], ["no_goal", 0.4]]}
    now = TimelineOptions().for_model(model).effective(model.class_names)
    assert _effective_stored(old, model.class_names) == json.loads(json.dumps(now))


def test_evaluate_points_a_config_of_long_videos_to_events(trained, matches, tmp_path):
    import evaluate as evaluate_script  # scripts/evaluate.py

    from pipeline.errors import UsageError

    with pytest.raises(UsageError, match="--events"):
        evaluate_script.main(["--ckpt", trained["summary"]["best_checkpoint"], "--output", str(tmp_path / "never"),
                              "--config", str(REPO / "configs" / "events.yaml"), f"--data.root={matches}",
                              f"--data.train_list={matches / 'events.csv'}"])
