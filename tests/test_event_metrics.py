"""The event scores of untrimmed videos (pipeline/evaluation/event_metrics.py): cases worked on paper, an
independent brute-force segment AP, SoccerNet's own Average-mAP code as the oracle of the spotting scores
(skipped where the SoccerNet package is absent), and properties on random cases."""
from __future__ import annotations

from typing import List, Sequence

import numpy as np
import pytest

from pipeline.evaluation.event_metrics import (
    LOOSE_TOLERANCES,
    THUMOS_THRESHOLDS,
    TIGHT_TOLERANCES,
    Detection,
    TrueEvent,
    average_precision,
    segment_iou,
    segment_map,
    segment_prf,
    spotting_average_map,
    spotting_prf,
)


def test_segment_iou_of_one_against_many():
    candidates = np.array([[0, 10], [5, 15], [10, 20], [20, 30], [0, 5], [-5, 20]])
    # overlaps 10, 5, 0, 0, 5, 10 over unions 10, 15, 20, 20, 10, 25
    assert segment_iou((0, 10), candidates) == pytest.approx([1, 1 / 3, 0, 0, 0.5, 0.4])
    assert segment_iou((3, 3), np.array([[3, 3], [0, 6]])).tolist() == [0.0, 0.0]  # instants have no area
    assert segment_iou((0, 1), np.zeros((0, 2))).shape == (0,)


def test_average_precision_is_the_all_point_interpolated_area():
    # ranks TP, FP, TP of 2 truths: precision 1, 1/2, 2/3 at recall 1/2, 1/2, 1;
    # raised from the right: 1 up to recall 1/2, then 2/3: AP = 1/2 * 1 + 1/2 * 2/3 = 5/6
    assert average_precision([1, 1 / 2, 2 / 3], [0.5, 0.5, 1.0]) == pytest.approx(5 / 6)
    assert average_precision([], []) == 0.0


def _goal(video: str, start: float, end: float) -> TrueEvent:
    return TrueEvent(video, "goal", start, end)


def _found(video: str, start: float, end: float, score: float, label: str = "goal") -> Detection:
    return Detection(video, label, start, end, score)


TWO_GOALS = [_goal("a", 0, 10), _goal("b", 20, 30)]


def test_perfect_detections_score_one():
    found = [_found("a", 0, 10, 0.3), _found("b", 20, 30, 0.9)]
    scores = segment_map(TWO_GOALS, found)
    assert scores.classes == ("goal",) and scores.thresholds == THUMOS_THRESHOLDS
    assert scores.ap.tolist() == [[1.0] * 7] and scores.mean_ap.tolist() == [1.0] * 7 and scores.average_map == 1.0


def test_a_false_detection_ranked_first():
    # one truth: FP (0.9) then TP (0.8): precision 0, 1/2 at recall 0, 1 -> AP = 1 * 1/2 = 0.5
    one = segment_map([_goal("a", 0, 10)], [_found("a", 50, 60, 0.9), _found("a", 0, 10, 0.8)], thresholds=[0.5])
    assert one.ap[0, 0] == pytest.approx(0.5)
    # two truths: FP, TP, TP: precision 0, 1/2, 2/3 at recall 0, 1/2, 1; raised from the right: 2/3 at both
    # recall steps -> AP = 1/2 * 2/3 + 1/2 * 2/3 = 2/3
    found = [_found("a", 50, 60, 0.9), _found("a", 0, 10, 0.8), _found("b", 20, 30, 0.7)]
    assert segment_map(TWO_GOALS, found, thresholds=[0.5]).ap[0, 0] == pytest.approx(2 / 3)
    # TP, FP, TP: precision 1, 1/2, 2/3 -> AP = 1/2 * 1 + 1/2 * 2/3 = 0.8333
    found = [_found("a", 0, 10, 0.9), _found("a", 50, 60, 0.8), _found("b", 20, 30, 0.7)]
    assert segment_map(TWO_GOALS, found, thresholds=[0.5]).ap[0, 0] == pytest.approx(5 / 6)


def test_a_second_detection_of_one_truth_is_false():
    # the duplicate (0.8) finds its truth taken: TP, FP, TP as above -> AP 5/6
    found = [_found("a", 0, 10, 0.9), _found("a", 1, 10, 0.8), _found("b", 20, 30, 0.7)]
    assert segment_map(TWO_GOALS, found, thresholds=[0.5]).ap[0, 0] == pytest.approx(5 / 6)
    kept = segment_prf(TWO_GOALS, found)
    assert kept.matches == ((0, 0), (2, 1)) and kept.false == (1,) and kept.missed == ()
    assert kept.micro.precision == pytest.approx(2 / 3) and kept.micro.recall == 1.0


def test_a_detection_in_another_video_does_not_match():
    truth, found = [_goal("a", 0, 10)], [_found("b", 0, 10, 0.9)]
    assert segment_map(truth, found).ap.tolist() == [[0.0] * 7]
    kept = segment_prf(truth, found)
    assert kept.missed == (0,) and kept.false == (0,) and kept.micro.f1 == 0.0


def test_a_tiou_exactly_at_the_threshold_matches():
    # [0, 5] in [0, 10]: overlap 5, union 10 -> tIoU 0.5: a match at 0.5, not at 0.6
    assert segment_map([_goal("a", 0, 10)], [_found("a", 0, 5, 1.0)], thresholds=[0.5, 0.6]).ap.tolist() == [[1, 0]]
    # [0.1, 0.3] in [0.1, 0.5]: 0.5 on paper, 0.49999999999999994 in floats; still a match
    assert segment_iou((0.1, 0.3), np.array([[0.1, 0.5]]))[0] < 0.5
    scores = segment_map([_goal("a", 0.1, 0.5)], [_found("a", 0.1, 0.3, 1.0)], thresholds=[0.5])
    assert scores.ap[0, 0] == 1.0


def test_classes_without_truth_are_left_out_of_the_mean():
    found = [_found("a", 0, 10, 0.9), _found("b", 20, 30, 0.8), _found("a", 40, 50, 0.95, label="card")]
    scores = segment_map(TWO_GOALS, found, classes=["goal", "card", "offside"], thresholds=[0.5])
    assert scores.ap[0, 0] == 1.0 and np.isnan(scores.ap[1:, 0]).all()
    assert scores.mean_ap.tolist() == [1.0] and scores.average_map == 1.0
    assert scores.per_class()["goal"] == 1.0 and np.isnan(scores.per_class()["card"])
    # a class with truth and no detection counts, as 0: mean of 1 and 0
    truth = TWO_GOALS + [TrueEvent("a", "card", 60, 70)]
    assert segment_map(truth, found[:2], thresholds=[0.5]).mean_ap.tolist() == [0.5]
    # by default the classes are those of the truth: "card" detections alone are ignored
    assert segment_map(TWO_GOALS, found[2:]).classes == ("goal",)


def test_no_detections_and_no_truth():
    empty = segment_map(TWO_GOALS, [])
    assert empty.ap.tolist() == [[0.0] * 7] and empty.average_map == 0.0
    kept = segment_prf(TWO_GOALS, [])
    assert kept.missed == (0, 1) and kept.false == () and kept.micro == kept.per_class["goal"]
    assert (kept.micro.precision, kept.micro.recall, kept.micro.f1) == (0.0, 0.0, 0.0)
    nothing = segment_map([], [_found("a", 0, 1, 0.5)])
    assert nothing.classes == () and np.isnan(nothing.mean_ap).all() and np.isnan(nothing.average_map)
    assert np.isnan(spotting_average_map([], [], tolerances=TIGHT_TOLERANCES).average_map)


def test_tuples_work_as_the_dataclasses():
    truth = [("a", "goal", 0, 10), ("b", "goal", 20, 30)]
    found = [("a", "goal", 50, 60, 0.9), ("a", "goal", 0, 10, 0.8), ("b", "goal", 20, 30, 0.7)]
    assert segment_map(truth, found).ap.tolist() == segment_map(TWO_GOALS, [Detection(*f) for f in found]).ap.tolist()
    with pytest.raises(ValueError, match="start <= end"):
        segment_map([("a", "goal", 10, 0)], [])
    with pytest.raises(ValueError, match="finite"):
        segment_map(truth, [("a", "goal", 0, 10, float("nan"))])
    with pytest.raises(TypeError, match="sequence"):
        segment_map(truth, found, classes="goal")
    with pytest.raises(ValueError, match="thresholds"):
        segment_map(truth, found, thresholds=[0.0, 0.5])
    with pytest.raises(ValueError, match="min_tiou"):
        segment_prf(truth, found, min_tiou=1.5)


def test_precision_recall_f1_per_class_micro_and_macro():
    truth = [_goal("a", 0, 10), _goal("a", 20, 30), TrueEvent("a", "card", 40, 50)]
    found = [_found("a", 21, 30, 0.9), _found("a", 60, 70, 0.8), _found("b", 0, 10, 0.5, label="offside")]
    kept = segment_prf(truth, found, classes=["goal", "card"])
    goal, card = kept.per_class["goal"], kept.per_class["card"]
    # goal: 1 of 2 detections right, 1 of 2 truths found -> P = R = F1 = 1/2; card: nothing found -> 0
    assert (goal.precision, goal.recall, goal.f1) == (0.5, 0.5, 0.5)
    assert (card.matched, card.detections, card.truth, card.f1) == (0, 0, 1, 0.0)
    # micro: 1 matched, 2 detections, 3 truths: P 1/2, R 1/3, F1 = 2 * 1/6 / (5/6) = 0.4; macro: means of the two
    assert kept.micro.precision == 0.5 and kept.micro.recall == pytest.approx(1 / 3)
    assert kept.micro.f1 == pytest.approx(0.4)
    assert kept.macro == pytest.approx({"precision": 0.25, "recall": 0.25, "f1": 0.25})
    assert kept.matches == ((0, 1),) and kept.missed == (0, 2) and kept.false == (1,)  # "offside" not scored
    assert segment_prf(truth, found, classes=["goal", "card"], min_tiou=0.95).matches == ()  # tIoU 0.9


# Spots


def _spot(video: str, time: float, label: str = "goal") -> TrueEvent:
    return TrueEvent.spot(video, label, time)


def _hit(video: str, time: float, score: float, label: str = "goal") -> Detection:
    return Detection.spot(video, label, time, score)


def test_a_spot_matches_within_half_the_tolerance_inclusive():
    truth = [_spot("a", 10.0)]
    assert spotting_prf(truth, [_hit("a", 12.5, 0.9)], tolerance=5).matches == ((0, 0),)  # |2.5| <= 5 / 2
    assert spotting_prf(truth, [_hit("a", 12.6, 0.9)], tolerance=5).matches == ()
    assert spotting_prf(truth, [_hit("b", 10.0, 0.9)], tolerance=5).missed == (0,)  # another video
    # 1.1 - 0.6 is 0.5000000000000001 in floats: still within 1 / 2
    assert spotting_prf([_spot("a", 0.6)], [_hit("a", 1.1, 0.9)], tolerance=1).matches == ((0, 0),)
    # a segment detection is spotted at its centre
    assert spotting_prf(truth, [Detection("a", "goal", 8, 12, 0.9)], tolerance=1).matches == ((0, 0),)


def test_spots_follow_soccernets_truth_first_matching():
    # truths at 0 and 2, tolerance 4 (+-2): the truth at 0 comes first and takes the best-scoring detection
    # near it, the one at 1; the one at -1 is then too far from the truth at 2: one match, not two
    truth, found = [_spot("a", 0), _spot("a", 2)], [_hit("a", 1, 0.9), _hit("a", -1, 0.5)]
    kept = spotting_prf(truth, found, tolerance=4)
    assert kept.matches == ((0, 0),) and kept.missed == (1,) and kept.false == (1,)


def test_spotting_ap_is_soccernets_eleven_point_ap():
    truth = [_spot("a", 10), _spot("a", 100)]
    found = [_hit("a", 10, 0.9), _hit("a", 50, 0.8), _hit("a", 100, 0.7)]
    # at the 200 thresholds in [0, 1]: <= 0.7: P 2/3, R 1; (0.7, 0.8]: P 1/2, R 1/2; (0.8, 0.9]: P 1, R 1/2;
    # above: P 0, R 0. Best precision at recall >= 0, 0.1, ..., 0.5: 1 (6 levels); >= 0.6, ..., 1: 2/3 (5)
    # -> AP = (6 + 5 * 2/3) / 11 = 28/33 (the all-point AP would be 5/6)
    scores = spotting_average_map(truth, found, tolerances=[1.0])
    assert scores.ap[0, 0] == pytest.approx(28 / 33) and scores.average_map == pytest.approx(28 / 33)
    perfect = spotting_average_map(truth, found[::2], tolerances=TIGHT_TOLERANCES)
    assert perfect.ap.tolist() == [[1.0] * 5] and perfect.average_map == 1.0


def test_average_map_is_the_area_under_map_over_the_tolerances():
    # 1.2 s off: a match from tolerance 2.4 on -> mAP 0, 0, 1, 1, 1 at 1..5 s; trapezoids 0 + 1/2 + 1 + 1
    # over a span of 4 -> 0.625 (the plain mean would be 0.6)
    scores = spotting_average_map([_spot("a", 10)], [_hit("a", 11.2, 1.0)], tolerances=TIGHT_TOLERANCES)
    assert scores.mean_ap.tolist() == [0, 0, 1, 1, 1] and scores.average_map == pytest.approx(0.625)
    assert scores.class_average_ap == pytest.approx([0.625])
    assert LOOSE_TOLERANCES == tuple(range(5, 65, 5))
    with pytest.raises(ValueError, match=r"scores in \[0, 1\]"):
        spotting_average_map([_spot("a", 10)], [_hit("a", 10, 1.5)])
    with pytest.raises(ValueError, match="increasing"):
        spotting_average_map([_spot("a", 10)], [], tolerances=[5, 1])


# Oracles


def _brute_ranking(truth: Sequence[TrueEvent], found: Sequence[Detection], label: str, threshold: float):
    """A second, loop-by-loop matching as ActivityNet's eval_detection.py: the detections of `label` by score,
    and whether each found a truth."""
    gts = [g for g in truth if g.label == label]
    ranked = sorted((d for d in found if d.label == label), key=lambda d: -d.score)
    used, hits = set(), []
    for d in ranked:
        candidates = []
        for j, g in enumerate(gts):
            inter = max(0.0, min(d.end, g.end) - max(d.start, g.start))
            union = (d.end - d.start) + (g.end - g.start) - inter
            tiou = inter / union if union > 0 else 0.0
            if g.video == d.video and j not in used and tiou >= threshold - 1e-9:
                candidates.append((tiou, -j))
        if candidates:
            used.add(-max(candidates)[1])
        hits.append(bool(candidates))
    return ranked, hits


def _brute_segment_ap(truth: Sequence[TrueEvent], found: Sequence[Detection], label: str, threshold: float) -> float:
    """AP as the mean over the truths of the best precision at the rank that found it or any later rank (0 for
    a truth never found)."""
    count = sum(g.label == label for g in truth)
    if not count:
        return float("nan")
    _, hits = _brute_ranking(truth, found, label, threshold)
    precision = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    return sum(max(precision[rank:]) for rank, hit in enumerate(hits) if hit) / count


def _random_segments(rng: np.random.Generator, classes: Sequence[str]):
    truth: List[TrueEvent] = []
    found: List[Detection] = []
    for video in ("v0", "v1", "v2"):
        for label in classes:
            for _ in range(rng.integers(0, 6)):
                start = float(rng.uniform(0, 200))
                event = TrueEvent(video, label, start, start + float(rng.uniform(1, 20)))
                truth.append(event)
                for _ in range(rng.integers(0, 3)):  # jittered copies: hits, near misses, duplicates
                    jitter = rng.normal(0, 2, 2)
                    start, end = sorted((event.start + jitter[0], event.end + jitter[1]))
                    found.append(Detection(video, label, float(start), float(end), float(rng.random())))
            for _ in range(rng.integers(0, 4)):  # strays
                start = float(rng.uniform(0, 200))
                found.append(Detection(video, label, start, start + float(rng.uniform(1, 20)), float(rng.random())))
    rng.shuffle(found)
    return truth, found


@pytest.mark.parametrize("seed", range(6))
def test_segment_ap_equals_a_brute_force_implementation(seed):
    rng = np.random.default_rng(seed)
    classes = ("goal", "card", "corner")
    truth, found = _random_segments(rng, classes)
    scores = segment_map(truth, found, classes)
    expected = [[_brute_segment_ap(truth, found, c, t) for t in THUMOS_THRESHOLDS] for c in classes]
    np.testing.assert_allclose(scores.ap, expected, rtol=1e-12, atol=1e-12)
    # the detections above a score are a point of the curve: their P / R match the ranked matching's at that rank
    for cut in (0.3, 0.7):
        kept = segment_prf(truth, [d for d in found if d.score >= cut], classes, min_tiou=0.5)
        for c in classes:
            ranked, hits = _brute_ranking(truth, found, c, 0.5)
            above = [hit for d, hit in zip(ranked, hits) if d.score >= cut]
            assert (kept.per_class[c].matched, kept.per_class[c].detections) == (sum(above), len(above))


def _soccernet_arrays(truth, found, classes, videos, frames, framerate):
    """SoccerNet's per-frame inputs: targets [F,C] 1 at a truth, detections [F,C] the score (-1: none)."""
    targets, detections, closests = [], [], []
    for video in videos:
        target, detection = np.zeros((frames, len(classes))), np.full((frames, len(classes)), -1.0)
        for event in truth:
            if event.video == video:
                target[int(round(event.time * framerate)), classes.index(event.label)] = 1
        for spot in found:
            if spot.video == video:
                detection[int(round(spot.time * framerate)), classes.index(spot.label)] = spot.score
        targets.append(target)
        detections.append(detection)
        closests.append(np.zeros_like(target))  # only SoccerNet's visible / unshown split reads it
    return targets, detections, closests


def _random_spots(rng: np.random.Generator, classes, videos, frames, framerate):
    """Spots on the frame grid, one per frame and class at most (as SoccerNet's arrays hold them)."""
    truth, found = [], []
    for video in videos:
        for label in classes:
            true_frames = rng.choice(frames, int(rng.integers(1, 6)), replace=False)
            near = true_frames[:, None] + rng.integers(-14, 15, (true_frames.size, 2))
            strays = rng.integers(0, frames, int(rng.integers(0, 8)))
            found_frames = np.unique(np.clip(np.concatenate([near.ravel(), strays]), 0, frames - 1))
            found_frames = rng.permutation(found_frames)[:max(1, int(found_frames.size * 0.8))]
            truth += [TrueEvent.spot(video, label, f / framerate) for f in true_frames.tolist()]
            found += [Detection.spot(video, label, f / framerate, round(float(rng.random()), 3))
                      for f in found_frames.tolist()]
    return truth, found


@pytest.mark.parametrize("seed", range(2))
def test_spotting_equals_soccernets_average_map(seed):
    errors = np.geterr()
    try:
        spotting = pytest.importorskip("SoccerNet.Evaluation.ActionSpotting")
    finally:
        np.seterr(**errors)  # its import silences numpy's division warnings for the whole process
    rng = np.random.default_rng(seed)
    classes, videos, frames, framerate = ["goal", "card", "corner"], ["g0/1", "g0/2", "g1/1"], 240, 2
    truth, found = _random_spots(rng, classes, videos, frames, framerate)
    targets, detections, closests = _soccernet_arrays(truth, found, classes, videos, frames, framerate)
    for tolerances in (LOOSE_TOLERANCES, TIGHT_TOLERANCES):
        ours = spotting_average_map(truth, found, classes, tolerances)
        with np.errstate(divide="ignore", invalid="ignore"):  # SoccerNet divides 0 by 0, then nan_to_num
            official = spotting.average_mAP(targets, detections, closests, framerate, deltas=np.array(tolerances))
        assert ours.average_map == pytest.approx(official[0], rel=1e-12, abs=1e-12)
        np.testing.assert_allclose(ours.class_average_ap, official[1], rtol=1e-12, atol=1e-12)
    # P / R of the spots above a threshold: one of the points of SoccerNet's precision-recall curve
    delta = 5
    with np.errstate(divide="ignore", invalid="ignore"):
        curve = spotting.compute_precision_recall_curve(targets, closests, detections, delta * framerate)
    precision, recall = curve[:2]
    for threshold in np.linspace(0, 1, 200)[::37]:
        kept = spotting_prf(truth, [d for d in found if d.score >= threshold], classes, tolerance=delta)
        for c, name in enumerate(classes):
            point = np.array([kept.per_class[name].precision, kept.per_class[name].recall])
            assert np.isclose(np.stack([precision[:, c], recall[:, c]], 1), point, rtol=1e-12).all(1).any()


# Properties


@pytest.mark.parametrize("seed", range(4))
def test_segment_ap_properties(seed):
    rng = np.random.default_rng(100 + seed)
    classes = ("goal", "card")
    truth, found = _random_segments(rng, classes)
    scores = segment_map(truth, found, classes)
    has_truth = [any(t.label == c for t in truth) for c in classes]
    ap = scores.ap[has_truth]
    assert ((ap >= 0) & (ap <= 1)).all()
    exact = [Detection(t.video, t.label, t.start, t.end, float(rng.random())) for t in truth]
    assert (segment_map(truth, exact, classes).ap[has_truth] == 1.0).all()
    for factor in (0.25, 3.0, 1000.0):
        scaled = [Detection(d.video, d.label, d.start, d.end, d.score * factor) for d in found]
        np.testing.assert_array_equal(segment_map(truth, scaled, classes).ap, scores.ap)
    top = max([d.score for d in found], default=0.0) + 1
    worse = segment_map(truth, found + [Detection("elsewhere", c, 0, 5, top) for c in classes], classes).ap
    assert (worse[has_truth] < ap)[ap > 0].all() and (worse[has_truth] == 0)[ap == 0].all()


@pytest.mark.parametrize("seed", range(4))
def test_spotting_ap_properties(seed):
    rng = np.random.default_rng(200 + seed)
    classes = ("goal", "card")
    truth = [TrueEvent.spot(video, label, float(t))  # more than 30 s apart: no window of 60 s holds two
             for video in ("v0", "v1") for label in classes for t in np.cumsum(rng.uniform(31, 90, 4))]
    found = [Detection.spot(t.video, t.label, t.time + float(rng.normal(0, 8)), float(rng.random())) for t in truth]
    found += [Detection.spot("v0", c, float(rng.uniform(0, 400)), float(rng.random())) for c in classes]
    scores = spotting_average_map(truth, found, classes, LOOSE_TOLERANCES)
    assert ((scores.ap >= 0) & (scores.ap <= 1)).all() and 0 <= scores.average_map <= 1
    exact = [Detection.spot(t.video, t.label, t.time, float(rng.random())) for t in truth]
    assert (spotting_average_map(truth, exact, classes, LOOSE_TOLERANCES).ap == 1.0).all()
    worse = spotting_average_map(truth, found + [Detection.spot("v9", c, 0, 1.0) for c in classes], classes).ap
    assert (worse < scores.ap)[scores.ap > 0].all() and (worse == 0)[scores.ap == 0].all()
