"""scripts/evaluate.py --events: a real (tiny) goal / no_goal checkpoint scores a long video stitched from
goal and no_goal clips against the goal times written in an events CSV. The metrics it writes are what
pipeline.evaluation.event_metrics gives on the CSV files it writes beside them (recomputed here), the page is
self-contained and escaped, missed and false events are listed with frame strips, an unreadable video is
skipped and reported, and a label the checkpoint does not know ends in one line naming file:line."""
from __future__ import annotations

import base64
import csv
import io
import json
import re
import sys
from pathlib import Path

import av
import numpy as np
import pytest
import pytorch_lightning as pl
from PIL import Image

from pipeline.core.module import VideoClassifierModule
from pipeline.data.annotations import AnnotationError
from pipeline.data.datamodule import VideoDataModule
from pipeline.demo import generate_football_dataset
from pipeline.demo.video_writer import write_video
from pipeline.errors import EXIT_BAD_INPUT, EXIT_SOME_FAILED, UsageError, exit_code_for, one_line
from pipeline.evaluation.event_evaluation import event_classes, segment_candidates, spot_candidates
from pipeline.evaluation.event_metrics import (
    LOOSE_TOLERANCES,
    THUMOS_THRESHOLDS,
    TIGHT_TOLERANCES,
    Detection,
    TrueEvent,
    segment_map,
    segment_prf,
    spotting_average_map,
    spotting_prf,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import evaluate as evaluate_script  # noqa: E402  (scripts/evaluate.py)

FPS = 25.0
CLIP_FRAMES = 40
CLIP_SECONDS = CLIP_FRAMES / FPS
SEQUENCE = ["no_goal", "no_goal", "goal", "no_goal", "no_goal", "goal", "no_goal"]
VIDEO_NAME = "derby <A&B>.mp4"  # escaped in the page: &lt;A&amp;B&gt;
GOALS = [(i * CLIP_SECONDS, (i + 1) * CLIP_SECONDS) for i, label in enumerate(SEQUENCE) if label == "goal"]


@pytest.fixture(scope="module")
def match(tmp_path_factory) -> dict:
    """A 15-epoch goal / no_goal checkpoint (64 px, a small GRU) and an 11.2 s match stitched from test clips."""
    tmp = tmp_path_factory.mktemp("events")
    root = generate_football_dataset(tmp / "data", n_train=12, n_val=4, n_test=10, size=64, num_frames=CLIP_FRAMES,
                                     seed=5)
    pl.seed_everything(0, workers=True)
    data = VideoDataModule(root=str(root), clip_len=12, batch_size=8, num_workers=0, cache_dir=str(tmp / "cache"))
    model = VideoClassifierModule(class_names=data.class_names, sampling=data.sampling, input_size=64, hidden_size=32,
                                  lr=3e-3, backbone_precision="fp32")
    data.attach_model(model.preprocessing, model.frozen_backbone)
    trainer = pl.Trainer(max_epochs=15, logger=False, enable_progress_bar=False, enable_model_summary=False,
                         default_root_dir=str(tmp), callbacks=[pl.callbacks.ModelCheckpoint(dirpath=str(tmp / "ckpt"),
                                                                                          filename="model")])
    trainer.fit(model, datamodule=data)
    clips = {label: iter(sorted((root / "test" / label).glob("*.mp4"))) for label in ("goal", "no_goal")}
    frames = []
    for label in SEQUENCE:
        with av.open(str(next(clips[label]))) as container:
            frames += [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    videos = tmp / "videos"
    videos.mkdir()
    write_video(videos / VIDEO_NAME, frames, fps=FPS)
    (videos / "broken.mp4").write_text("not a video, just text\n")
    return {"ckpt": str(tmp / "ckpt" / "model.ckpt"), "videos": videos, "tmp": tmp}


def _events_csv(path: Path, rows) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["video", "label", "start", "end"])
        writer.writerows(rows)
    return path


def _rows(path: Path) -> list:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _evaluate(match: dict, out: Path, events: Path, *extra: str) -> int:
    return evaluate_script.main(["--ckpt", match["ckpt"], "--events", str(events), "--output", str(out),
                                 "--device", "cpu", "--workers", "0", *extra])


def _truth(metrics: dict, spans, spot: bool = False) -> list:
    (video,) = [v["video"] for v in metrics["per_video"] if v["video"].endswith(VIDEO_NAME)]
    return [TrueEvent(video, "goal", (s + e) / 2, (s + e) / 2) if spot else TrueEvent(video, "goal", s, e)
            for s, e in _rounded(spans)]


def _rounded(spans) -> list:
    """Times as the report scores them: to the microsecond."""
    return [(round(s, 6), round(e, 6)) for s, e in spans]


def _detections(out: Path, spot: bool = False) -> list:
    rows = _rows(out / "events_detected.csv")
    if spot:
        return [Detection.spot(r["video"], r["label"], float(r["peak_time"]), float(r["peak_probability"]))
                for r in rows]
    return [Detection(r["video"], r["label"], float(r["start"]), float(r["end"]), float(r["peak_probability"]))
            for r in rows]


def _candidates(out: Path, kind: str) -> list:
    return [Detection(r["video"], r["label"], float(r["start"]), float(r["end"]), float(r["score"]))
            for r in _rows(out / "events_candidates.csv") if r["kind"] == kind]


def _assert_same(written: dict, scores, key) -> None:
    for c, name in enumerate(scores.classes):
        for t, level in enumerate(scores.thresholds):
            value = written["ap"][name][key(level)]
            assert (value is None and np.isnan(scores.ap[c, t])) or np.isclose(value, scores.ap[c, t], atol=1e-12)
    assert np.isclose(written["average_map"], scores.average_map, atol=1e-12)


def _assert_prf(written: dict, scores, detections: list, out: Path) -> None:
    for name, tally in scores.per_class.items():
        for key in ("precision", "recall", "f1", "matched", "detections", "truth"):
            assert np.isclose(written["per_class"][name][key], getattr(tally, key), atol=1e-12), (name, key)
    assert np.isclose(written["micro"]["f1"], scores.micro.f1, atol=1e-12)
    assert np.isclose(written["macro"]["f1"], scores.macro["f1"], atol=1e-12)
    matched = {d for d, _ in scores.matches}
    flags = [r["matched"] for r in _rows(out / "events_detected.csv")]
    assert flags == ["yes" if i in matched else "no" for i in range(len(detections))]
    assert len(_rows(out / "events_missed.csv")) == len(scores.missed)
    assert len(_rows(out / "events_false.csv")) == len(scores.false)


def _assert_self_contained(page: str) -> None:
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", page, re.IGNORECASE)
    assert "http://" not in page and "https://" not in page
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert images and len(images) == page.count("<img ")
    for data in images:
        assert Image.open(io.BytesIO(base64.b64decode(data))).format == "PNG"
    assert "derby &lt;A&amp;B&gt;.mp4" in page and "<A&B>" not in page


def test_segments_score_as_event_metrics_scores_the_written_files(match, tmp_path):
    events = _events_csv(match["videos"] / "events.csv", [[VIDEO_NAME, "goal", s, e] for s, e in GOALS])
    out = tmp_path / "eval"
    assert _evaluate(match, out, events) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["event_classes"] == ["goal"] and metrics["spots"] is None
    assert metrics["unreadable_videos"] == [] and metrics["timeline_overrides"] == {}
    assert metrics["timeline_options"]["window"] > 0 and metrics["candidate_floor"] <= 0.1
    segments = metrics["segments"]
    assert set(segments["ap"]["goal"]) == {f"{t:g}" for t in THUMOS_THRESHOLDS} and segments["truth"] == 2

    truth = _truth(metrics, GOALS)
    detections = _detections(out)
    ranked = _candidates(out, "segment")
    _assert_same(segments, segment_map(truth, ranked, ["goal"], THUMOS_THRESHOLDS), lambda t: f"{t:g}")
    assert np.isclose(segments["map@0.5"], segment_map(truth, ranked, ["goal"], (0.5,)).average_map, atol=1e-12)
    _assert_prf(segments["operating_point"], segment_prf(truth, detections, ["goal"], 0.5), detections, out)
    for d in detections:  # a reported event lies inside a candidate: the floor is below the operating threshold
        assert any(c.start <= d.start and d.end <= c.end and c.score >= d.score for c in ranked), d
    (video,) = metrics["per_video"]
    assert video["truth"] == 2 and video["detected"] == len(detections)
    assert video["missed"] + video["matched_truth"] == 2
    assert all(Path(f).is_file() for f in video["timeline_files"].values())

    page = (out / "report.html").read_text(encoding="utf-8")
    _assert_self_contained(page)
    assert f"Missed events ({video['missed']})" in page and f"False events ({video['false']})" in page
    assert "AP by tIoU threshold" in page and "mAP" in page


def test_missed_and_false_events_are_listed_with_frames_and_an_unreadable_video_is_skipped(match, tmp_path):
    # --threshold 0 makes the whole match one reported goal: tIoU 1.6 / 11.2 with each true goal, so at 0.5
    # both goals are missed and the one event is false; the candidates (floor 0) are that one segment too.
    events = _events_csv(match["videos"] / "events_broken.csv",
                         [[VIDEO_NAME, "goal", s, e] for s, e in GOALS] + [["broken.mp4", "goal", 1, 2]])
    out = tmp_path / "eval"
    assert _evaluate(match, out, events, "--threshold", "0") == EXIT_SOME_FAILED
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["timeline_overrides"] == {"threshold": 0.0} and metrics["timeline_options"]["threshold"] == 0.0
    assert metrics["operating_points"]["goal"]["threshold"] == 0.0
    (skipped,) = metrics["unreadable_videos"]
    assert skipped["video"].endswith("broken.mp4") and skipped["events_not_scored"] == 1
    assert metrics["videos"] == 2 and metrics["videos_scored"] == 1 and metrics["truth_events"] == 2
    ap = metrics["segments"]["ap"]["goal"]
    assert ap["0.1"] == 0.5 and all(ap[f"{t:g}"] == 0.0 for t in THUMOS_THRESHOLDS[1:])
    missed, false = _rows(out / "events_missed.csv"), _rows(out / "events_false.csv")
    assert [(float(m["start"]), float(m["end"])) for m in missed] == _rounded(GOALS)
    assert len(false) == 1 and float(false[0]["start"]) == 0.0 and false[0]["matched"] == "no"

    page = (out / "report.html").read_text(encoding="utf-8")
    _assert_self_contained(page)
    assert "Missed events (2)" in page and "False events (1)" in page
    assert page.count('<img alt="frames of ') == 3  # a strip for each missed and false event
    assert "Videos that could not be read (1)" in page and "broken.mp4" in page


def test_spots_score_as_soccernet_scores_the_written_files(match, tmp_path):
    events = _events_csv(match["videos"] / "spots.csv", [[VIDEO_NAME, "goal", (s + e) / 2, ""] for s, e in GOALS])
    out = tmp_path / "eval"
    assert _evaluate(match, out, events, "--tolerance", "3") == 0
    metrics = json.loads((out / "metrics.json").read_text())
    spots = metrics["spots"]
    assert metrics["segments"] is None and spots["truth"] == 2 and spots["operating_point"]["tolerance"] == 3.0
    assert len(spots["loose"]["ap"]["goal"]) == len(LOOSE_TOLERANCES) == 12
    truth = _truth(metrics, GOALS, spot=True)
    ranked = _candidates(out, "spot")
    assert all(c.start == c.end for c in ranked)
    _assert_same(spots["loose"], spotting_average_map(truth, ranked, ["goal"], LOOSE_TOLERANCES), lambda t: f"{t:g}")
    _assert_same(spots["tight"], spotting_average_map(truth, ranked, ["goal"], TIGHT_TOLERANCES), lambda t: f"{t:g}")
    detections = _detections(out, spot=True)
    _assert_prf(spots["operating_point"], spotting_prf(truth, detections, ["goal"], 3.0), detections, out)
    page = (out / "report.html").read_text(encoding="utf-8")
    _assert_self_contained(page)
    assert "Tight average-mAP" in page and "Loose average-mAP" in page


def test_an_unknown_label_ends_in_one_line_naming_the_file_and_line(match, tmp_path):
    events = _events_csv(tmp_path / "events.csv", [[str(match["videos"] / VIDEO_NAME), "goal", 3.2, 4.8],
                                                   [str(match["videos"] / VIDEO_NAME), "penalty", 5, 6]])
    out = tmp_path / "eval"
    with pytest.raises(AnnotationError) as raised:
        _evaluate(match, out, events)
    assert exit_code_for(raised.value) == EXIT_BAD_INPUT  # what run_script exits with
    assert f"{events}:3: unknown label 'penalty'" in one_line(raised.value)
    assert not (out / "metrics.json").exists()


def test_wrong_combinations_are_usage_errors(tmp_path):
    base = ["--ckpt", "m.ckpt", "--output", str(tmp_path / "o")]
    with pytest.raises(UsageError, match="--events and --videos"):
        evaluate_script.parse_args([*base, "--events", "e.csv", "--videos", "clips/"])
    with pytest.raises(UsageError, match="--events and --data.root"):
        evaluate_script.parse_args([*base, "--events", "e.csv", "--data.root=x"])
    with pytest.raises(UsageError, match="--tolerance applies to --events only"):
        evaluate_script.parse_args([*base, "--tolerance", "2"])
    with pytest.raises(UsageError, match="--threshold 2.0: must be a probability"):
        evaluate_script.main([*base, "--events", "e.csv", "--threshold", "2"])
    options = evaluate_script.parse_args([*base, "--events", "e.csv", "--window", "1.5", "--mistakes", "3"])
    assert options.overrides() == {"window": 1.5} and options.strips == 3 and options.tolerance == 5.0


def test_candidates_from_window_probabilities():
    times = np.array([[i * 0.5, i * 0.5 + 1.0] for i in range(10)])
    p = np.array([0.0, 0.2, 0.6, 0.6, 0.3, 0.05, 0.5, 0.4, 0.45, 0.0])
    assert segment_candidates(times, p, 0.1) == [(0.5, 3.0, 0.6), (3.0, 5.0, 0.5)]
    centres = times.mean(axis=1)
    # peaks: the plateau 0.6 (centres 1.5, 2.0: its middle 1.75), 0.5 at 3.5, 0.45 at 4.5; 0.45 is within
    # 1 s of 0.5 and suppressed
    assert spot_candidates(centres, p, 0.1, radius=1.0) == [(1.75, 0.6), (3.5, 0.5)]
    assert spot_candidates(centres, p, 0.1, radius=0.5) == [(1.75, 0.6), (3.5, 0.5), (4.5, 0.45)]
    assert spot_candidates(centres, p, 0.55, radius=0.5) == [(1.75, 0.6)]


def test_event_classes_leave_out_the_background():
    class Module:
        class_names = ["background", "goal", "corner"]
        hparams: dict = {}

    assert event_classes(Module()) == ["goal", "corner"]
    module = Module()
    module.class_names = ["idle", "goal"]
    module.event_settings = {"background": "idle"}
    assert event_classes(module) == ["goal"]
    module = Module()
    module.class_names = ["walk", "run"]
    assert event_classes(module) == ["walk", "run"]
