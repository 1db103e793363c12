"""Scores of the events found in long videos against ground truth, as the field reports them: segments (start
and end, seconds) by the ActivityNet / THUMOS14 detection AP, spots (one instant, like SoccerNet's goals) by
SoccerNet-v2's Average-mAP, and precision / recall / F1 of the events kept at an operating point. Pure numpy,
no I/O.

    TrueEvent(video, label, start, end)          one ground-truth event; a spot has start == end
    Detection(video, label, start, end, score)   one found event and its confidence
        (plain tuples in these orders are accepted wherever these are; `.spot(...)` builds one instant)

    segment_iou(segment, candidates)                                      tIoU of one segment with many
    average_precision(precision, recall)                                  all-point interpolated AP
    segment_map(truth, detections, classes, thresholds) -> MapScores      AP per class and tIoU threshold
    segment_prf(truth, detections, classes, min_tiou) -> OperatingScores  P / R / F1, misses, false detections
    spotting_average_map(truth, detections, classes, tolerances) -> MapScores    AP per class and tolerance
    spotting_prf(truth, detections, classes, tolerance) -> OperatingScores
    THUMOS_THRESHOLDS, ACTIVITYNET_THRESHOLDS, LOOSE_TOLERANCES, TIGHT_TOLERANCES

Only the events of `classes` are scored (default: the labels of the truth), the others are ignored. A class
without ground truth has AP nan and is left out of the mean over classes (the benchmarks have truth for every
class; SoccerNet's code would count such a class as AP 0). tIoU and time differences are compared with a
slack of 1e-9, so that 0.5 on paper is 0.5 however the floats round.

Segments follow ActivityNet's Evaluation/eval_detection.py (`compute_average_precision_detection`,
`interpolated_prec_rec`): a class's detections, sorted by score across all videos (ties: input order), each
take the unmatched truth of their video with the highest tIoU >= the threshold (ties: input order), or are
false; AP is the all-point interpolated precision over recall (VOC 2010+). The average mAP is the plain mean
over thresholds.

Spots follow the SoccerNet package's SoccerNet/Evaluation/ActionSpotting.py (0.2.0: `compute_class_scores`,
`compute_precision_recall_curve`, `compute_mAP`, `average_mAP`). An event's instant is its centre
(start + end) / 2, which is its start for a spot. The truth of a class in a video, in time order, each takes
the highest-scoring unmatched detection within |t_detection - t_truth| <= tolerance / 2 (inclusive; ties: the
earliest). AP is 11-point interpolated: precision and recall at the 200 score thresholds linspace(0, 1, 200)
(a detection counts when score >= threshold), then the mean over recall levels 0, 0.1, ..., 1 of the highest
precision at that recall or more; scores must lie in [0, 1]. Average-mAP is the area under mAP over the
tolerances (trapezoids) divided by their span, which for evenly spaced tolerances is SoccerNet's
`average_mAP`; one tolerance gives its mAP. SoccerNet rounds times down to frames at 2 fps and keeps one spot
per frame and class; here times are used as given (on the frame grid the two agree, the tests check it).

The P / R / F1 of an operating point match the detections given by the same rule as the AP (a detection of
the same video and class, one-to-one), so for the detections above a score threshold they are a point of the
AP's precision-recall curve.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np

THUMOS_THRESHOLDS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)
ACTIVITYNET_THRESHOLDS = (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)
LOOSE_TOLERANCES = tuple(float(t) for t in range(5, 65, 5))  # seconds: SoccerNet-v2's "loose" Average-mAP
TIGHT_TOLERANCES = (1.0, 2.0, 3.0, 4.0, 5.0)  # seconds: SoccerNet's "tight" Average-mAP
SLACK = 1e-9


@dataclass(frozen=True)
class TrueEvent:
    """One ground-truth event of `label` in `video`, from `start` to `end` seconds (a spot: start == end)."""

    video: str
    label: str
    start: float
    end: float

    def __post_init__(self) -> None:
        _check_times(self.start, self.end)

    @classmethod
    def spot(cls, video: str, label: str, time: float) -> TrueEvent:
        return cls(video, label, time, time)

    @property
    def time(self) -> float:
        """The instant of the event: its centre."""
        return (self.start + self.end) / 2


@dataclass(frozen=True)
class Detection:
    """One found event of `label` in `video`, from `start` to `end` seconds, with its confidence `score`."""

    video: str
    label: str
    start: float
    end: float
    score: float

    def __post_init__(self) -> None:
        _check_times(self.start, self.end)
        if not math.isfinite(self.score):
            raise ValueError(f"a detection's score must be a finite number, got {self.score}")

    @classmethod
    def spot(cls, video: str, label: str, time: float, score: float) -> Detection:
        return cls(video, label, time, time, score)

    @property
    def time(self) -> float:
        """The instant of the detection: its centre."""
        return (self.start + self.end) / 2


TruthInput = Iterable[Union[TrueEvent, Tuple[str, str, float, float]]]
DetectionInput = Iterable[Union[Detection, Tuple[str, str, float, float, float]]]


@dataclass(frozen=True, eq=False)
class MapScores:
    """AP of each class at each threshold (tIoU for segments, tolerance in seconds for spots)."""

    classes: Tuple[str, ...]
    thresholds: Tuple[float, ...]
    ap: np.ndarray  # [C,T]; nan for a class without ground truth
    mean_ap: np.ndarray  # [T]: the mean over the classes with ground truth (nan when none has any)
    average_map: float  # mean_ap averaged over the thresholds (see the module docstring for how)
    class_average_ap: np.ndarray  # [C]: each class's AP averaged over the thresholds the same way

    def per_class(self) -> Dict[str, float]:
        """Each class's AP averaged over the thresholds, by name."""
        return dict(zip(self.classes, self.class_average_ap.tolist()))


@dataclass(frozen=True)
class Tally:
    """Matched detections, detections and truth events, and the scores they give (0 where undefined)."""

    matched: int
    detections: int
    truth: int

    @property
    def precision(self) -> float:
        return self.matched / self.detections if self.detections else 0.0

    @property
    def recall(self) -> float:
        return self.matched / self.truth if self.truth else 0.0

    @property
    def f1(self) -> float:
        total = self.precision + self.recall
        return 2 * self.precision * self.recall / total if total else 0.0


@dataclass(frozen=True)
class OperatingScores:
    """P / R / F1 of a set of detections, and which events they got wrong (indices into the inputs)."""

    per_class: Dict[str, Tally]
    matches: Tuple[Tuple[int, int], ...]  # (detection, truth) pairs
    missed: Tuple[int, ...]  # truth events of the scored classes that no detection matched
    false: Tuple[int, ...]  # detections of the scored classes that matched no truth

    @property
    def micro(self) -> Tally:
        """The counts summed over the classes."""
        tallies = self.per_class.values()
        return Tally(sum(t.matched for t in tallies), sum(t.detections for t in tallies),
                     sum(t.truth for t in tallies))

    @property
    def macro(self) -> Dict[str, float]:
        """Precision, recall and F1 averaged over the classes with truth or detections (F1: the mean of the
        classes' F1); 0 when there are none."""
        scored = [t for t in self.per_class.values() if t.truth or t.detections]
        return {key: float(np.mean([getattr(t, key) for t in scored])) if scored else 0.0
                for key in ("precision", "recall", "f1")}


def segment_iou(segment: Sequence[float], candidates: np.ndarray) -> np.ndarray:
    """Temporal IoU float64 [N] of one (start, end) segment with each row of `candidates` [N,2] (0 where the
    union is empty: two instants)."""
    candidates = np.asarray(candidates, dtype=np.float64).reshape(-1, 2)
    start, end = float(segment[0]), float(segment[1])
    overlap = (np.minimum(end, candidates[:, 1]) - np.maximum(start, candidates[:, 0])).clip(0)
    union = (end - start) + (candidates[:, 1] - candidates[:, 0]) - overlap
    return np.divide(overlap, union, out=np.zeros_like(overlap), where=union > 0)


def average_precision(precision: np.ndarray, recall: np.ndarray) -> float:
    """All-point interpolated AP of a ranked list's precision and recall at each rank: the area under the
    precision-recall curve after each precision is raised to the best one at a higher recall (VOC 2010+,
    ActivityNet's `interpolated_prec_rec`)."""
    precision = np.concatenate([[0.0], np.asarray(precision, dtype=np.float64), [0.0]])
    recall = np.concatenate([[0.0], np.asarray(recall, dtype=np.float64), [1.0]])
    precision = np.maximum.accumulate(precision[::-1])[::-1]
    steps = np.flatnonzero(recall[1:] != recall[:-1]) + 1
    return float(np.sum((recall[steps] - recall[steps - 1]) * precision[steps]))


def segment_map(truth: TruthInput, detections: DetectionInput, classes: Optional[Sequence[str]] = None,
                thresholds: Sequence[float] = THUMOS_THRESHOLDS) -> MapScores:
    """ActivityNet / THUMOS14 detection AP of each class at each tIoU threshold, their mean over classes and
    the mean of that over thresholds."""
    truth, detections = _truth_list(truth), _detection_list(detections)
    classes = _classes(classes, truth)
    levels = np.asarray(thresholds, dtype=np.float64).reshape(-1)
    if levels.size == 0 or not ((levels > 0) & (levels <= 1)).all():
        raise ValueError(f"tIoU thresholds must be in (0, 1], got {tuple(thresholds)}")
    ap = np.full((len(classes), levels.size), np.nan)
    for c, (true_rows, found_rows) in enumerate(_by_class(truth, detections, classes)):
        if not true_rows:
            continue
        found = [detections[i] for i in found_rows]
        order, taken = _match_segments([truth[i] for i in true_rows], found, levels)
        hits = np.cumsum(taken >= 0, axis=1)
        precision = hits / np.arange(1, len(order) + 1)
        recall = hits / len(true_rows)
        ap[c] = [average_precision(precision[t], recall[t]) for t in range(levels.size)]
    mean_ap = _mean_over_classes(ap)
    return MapScores(classes, tuple(levels.tolist()), ap, mean_ap, float(mean_ap.mean()), ap.mean(axis=1))


def segment_prf(truth: TruthInput, detections: DetectionInput, classes: Optional[Sequence[str]] = None,
                min_tiou: float = 0.5) -> OperatingScores:
    """P / R / F1 of the detections given (already thresholded): matched one-to-one to the truth of their
    video and class at tIoU >= `min_tiou`, the highest score first, as `segment_map` matches."""
    if not 0 < min_tiou <= 1:
        raise ValueError(f"min_tiou must be in (0, 1], got {min_tiou}")
    truth, detections = _truth_list(truth), _detection_list(detections)
    classes = _classes(classes, truth)
    pairs: List[Tuple[int, int]] = []
    for true_rows, found_rows in _by_class(truth, detections, classes):
        order, taken = _match_segments([truth[i] for i in true_rows], [detections[i] for i in found_rows],
                                       np.array([min_tiou], dtype=np.float64))
        pairs += [(found_rows[d], true_rows[t]) for d, t in zip(order, taken[0]) if t >= 0]
    return _operating_scores(truth, detections, classes, pairs)


def spotting_average_map(truth: TruthInput, detections: DetectionInput, classes: Optional[Sequence[str]] = None,
                         tolerances: Sequence[float] = LOOSE_TOLERANCES) -> MapScores:
    """SoccerNet-v2 action spotting: AP of each class at each tolerance (seconds, the whole window: a
    detection may be tolerance / 2 away), their mean over classes, and the Average-mAP over tolerances."""
    truth, detections = _truth_list(truth), _detection_list(detections)
    classes = _classes(classes, truth)
    deltas = np.asarray(tolerances, dtype=np.float64).reshape(-1)
    if deltas.size == 0 or not (deltas > 0).all() or not (np.diff(deltas) > 0).all():
        raise ValueError(f"tolerances must be increasing positive seconds, got {tuple(tolerances)}")
    outside = [d.score for d in detections if d.label in classes and not 0 <= d.score <= 1]
    if outside:
        raise ValueError(f"spotting AP needs scores in [0, 1] (SoccerNet's thresholds), got e.g. {outside[0]}")
    ap = np.full((len(classes), deltas.size), np.nan)
    for c, (true_rows, found_rows) in enumerate(_by_class(truth, detections, classes)):
        if not true_rows:
            continue
        true_events, found = [truth[i] for i in true_rows], [detections[i] for i in found_rows]
        scores = np.array([d.score for d in found], dtype=np.float64)
        for k, delta in enumerate(deltas):
            hit = _match_spots(true_events, found, float(delta)) >= 0
            ap[c, k] = _eleven_point_ap(scores, hit, len(true_rows))
    mean_ap = _mean_over_classes(ap)
    return MapScores(classes, tuple(deltas.tolist()), ap, mean_ap, float(_area_mean(mean_ap, deltas)),
                     _area_mean(ap, deltas))


def spotting_prf(truth: TruthInput, detections: DetectionInput, classes: Optional[Sequence[str]] = None,
                 tolerance: float = 5.0) -> OperatingScores:
    """P / R / F1 of the spots given (already thresholded) within one tolerance (seconds, the whole window),
    matched one-to-one as `spotting_average_map` matches."""
    if not tolerance > 0:
        raise ValueError(f"the tolerance must be positive seconds, got {tolerance}")
    truth, detections = _truth_list(truth), _detection_list(detections)
    classes = _classes(classes, truth)
    pairs: List[Tuple[int, int]] = []
    for true_rows, found_rows in _by_class(truth, detections, classes):
        taken = _match_spots([truth[i] for i in true_rows], [detections[i] for i in found_rows], tolerance)
        pairs += [(found_rows[d], true_rows[t]) for d, t in enumerate(taken) if t >= 0]
    return _operating_scores(truth, detections, classes, pairs)


def _check_times(start: float, end: float) -> None:
    if not (math.isfinite(start) and math.isfinite(end) and start <= end):
        raise ValueError(f"an event needs finite seconds with start <= end, got {start} and {end}")


def _truth_list(rows: TruthInput) -> List[TrueEvent]:
    return [row if isinstance(row, TrueEvent) else TrueEvent(*row) for row in rows]


def _detection_list(rows: DetectionInput) -> List[Detection]:
    return [row if isinstance(row, Detection) else Detection(*row) for row in rows]


def _classes(classes: Optional[Sequence[str]], truth: Sequence[TrueEvent]) -> Tuple[str, ...]:
    if classes is None:
        return tuple(sorted({t.label for t in truth}))
    if isinstance(classes, str):
        raise TypeError("classes must be a sequence of class names, not one string")
    return tuple(dict.fromkeys(classes))


def _by_class(truth: Sequence[TrueEvent], detections: Sequence[Detection],
              classes: Sequence[str]) -> List[Tuple[List[int], List[int]]]:
    """For each class, the indices of its truth events and of its detections."""
    rows: Dict[str, Tuple[List[int], List[int]]] = {name: ([], []) for name in classes}
    for i, event in enumerate(truth):
        if event.label in rows:
            rows[event.label][0].append(i)
    for i, found in enumerate(detections):
        if found.label in rows:
            rows[found.label][1].append(i)
    return [rows[name] for name in classes]


def _match_segments(truth: Sequence[TrueEvent], detections: Sequence[Detection],
                    thresholds: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """The detections' order by score, and the truth event each took at each threshold: int64 [T,N] in that
    order, -1 for a false detection."""
    order = np.argsort(-np.array([d.score for d in detections], dtype=np.float64), kind="stable")
    taken = np.full((thresholds.size, len(detections)), -1, dtype=np.int64)
    in_video: Dict[str, List[int]] = {}
    for i, event in enumerate(truth):
        in_video.setdefault(event.video, []).append(i)
    spans = np.array([[t.start, t.end] for t in truth], dtype=np.float64).reshape(-1, 2)
    locked = np.zeros((thresholds.size, len(truth)), dtype=bool)
    every = np.arange(thresholds.size)
    for rank, d in enumerate(order):
        found = detections[d]
        if found.video not in in_video:
            continue
        rows = np.asarray(in_video[found.video])
        tiou = segment_iou((found.start, found.end), spans[rows])
        free = (tiou[None, :] >= thresholds[:, None] - SLACK) & ~locked[:, rows]
        best = np.where(free, tiou[None, :], -np.inf).argmax(axis=1)
        hit = free[every, best]
        taken[hit, rank] = rows[best[hit]]
        locked[every[hit], rows[best[hit]]] = True
    return order, taken


def _match_spots(truth: Sequence[TrueEvent], detections: Sequence[Detection], tolerance: float) -> np.ndarray:
    """The truth event each detection took, int64 [N] in input order (-1: false). SoccerNet's rule: the truth
    events of a video in time order each take the best-scoring free detection within tolerance / 2."""
    taken = np.full(len(detections), -1, dtype=np.int64)
    found_in: Dict[str, List[int]] = {}
    for i, found in enumerate(detections):
        found_in.setdefault(found.video, []).append(i)
    by_video: Dict[str, List[int]] = {}
    for i in sorted(range(len(truth)), key=lambda i: truth[i].time):
        by_video.setdefault(truth[i].video, []).append(i)
    for video, true_rows in by_video.items():
        rows = np.array(sorted(found_in.get(video, []), key=lambda i: detections[i].time), dtype=np.int64)
        times = np.array([detections[i].time for i in rows], dtype=np.float64)
        scores = np.array([detections[i].score for i in rows], dtype=np.float64)
        free = np.ones(rows.size, dtype=bool)
        for t in true_rows:
            near = free & (np.abs(times - truth[t].time) <= tolerance / 2 + SLACK)
            if near.any():
                best = int(np.where(near, scores, -np.inf).argmax())  # the first of equal scores: the earliest
                free[best] = False
                taken[rows[best]] = t
    return taken


def _eleven_point_ap(scores: np.ndarray, hit: np.ndarray, truth_count: int) -> float:
    """SoccerNet's AP: precision and recall at 200 score thresholds, 11-point interpolated."""
    order = np.argsort(scores, kind="stable")
    ranked, hits = scores[order], np.concatenate([[0], np.cumsum(hit[order])])
    first = np.searchsorted(ranked, np.linspace(0, 1, 200), side="left")  # the first score >= each threshold
    kept = ranked.size - first
    matched = (hits[-1] - hits[first]).astype(np.float64)
    precision = np.divide(matched, kept, out=np.zeros_like(matched), where=kept > 0)
    recall = matched / truth_count
    total = 0.0
    for level in np.arange(11) / 10:
        reached = precision[recall >= level]
        total += reached.max() if reached.size else 0.0
    return total / 11


def _mean_over_classes(ap: np.ndarray) -> np.ndarray:
    scored = ~np.isnan(ap).all(axis=1)
    return ap[scored].mean(axis=0) if scored.any() else np.full(ap.shape[1], np.nan)


def _area_mean(values: np.ndarray, points: np.ndarray) -> np.ndarray:
    """The mean of `values` [...,T] over `points` [T] by the trapezoid rule (the value itself for one point)."""
    if points.size == 1:
        return values[..., 0]
    areas = (values[..., 1:] + values[..., :-1]) / 2 * np.diff(points)
    return areas.sum(axis=-1) / (points[-1] - points[0])


def _operating_scores(truth: Sequence[TrueEvent], detections: Sequence[Detection], classes: Sequence[str],
                      pairs: List[Tuple[int, int]]) -> OperatingScores:
    matched_found = {d for d, _ in pairs}
    matched_truth = {t for _, t in pairs}
    wanted = set(classes)
    counts = {name: [0, 0, 0] for name in classes}
    for d, _ in pairs:
        counts[detections[d].label][0] += 1
    for found in detections:
        if found.label in wanted:
            counts[found.label][1] += 1
    for event in truth:
        if event.label in wanted:
            counts[event.label][2] += 1
    per_class = {name: Tally(*counts[name]) for name in classes}
    missed = tuple(i for i, event in enumerate(truth) if event.label in wanted and i not in matched_truth)
    false = tuple(i for i, found in enumerate(detections) if found.label in wanted and i not in matched_found)
    return OperatingScores(per_class, tuple(sorted(pairs)), missed, false)
