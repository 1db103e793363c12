"""Score the events a checkpoint finds in long (untrimmed) videos against annotated event times
(scripts/evaluate.py --events).

`evaluate_events(EventEvaluationOptions) -> report` loads the checkpoint once (pipeline.inference.api's
Recognizer), reads the event annotations (pipeline.data.annotations.events: an events CSV, an ActivityNet
JSON or SoccerNet Labels-v2.json files) with the checkpoint's event classes as the class list (a label the
model does not know is an error naming file:line), runs `Recognizer.timeline` on every video (the
checkpoint's window, stride and operating points unless an override is given) and scores the events with
pipeline.evaluation.event_metrics:

- segments (the true events with end > start): AP of each class at tIoU 0.1 ... 0.7 (THUMOS14), mAP and
  their average; precision / recall / F1 of the reported events (the operating point) at tIoU 0.5, per
  class, micro and macro;
- spots (the true events with end == start): SoccerNet's average-mAP, loose (5 ... 60 s) and tight
  (1 ... 5 s), and P / R / F1 of the reported events' peaks within `tolerance` seconds (the whole window,
  event_metrics' convention: a peak counts within tolerance / 2 of the true instant). A reported event is
  a spot at its `peak_time`, scored by its `peak_probability`.

A file holding both kinds scores each kind with its own truth; a class without any true event is scored
with every kind present (its detections are false there). The event classes are the model's classes but
the background class: `model.event_settings["background"]` where the module has such a dict, else the
`background` of the checkpoint's `sampling["events"]` (a checkpoint trained from event times), else the
classes named as an absence (pipeline.core.metrics.NEGATIVE_NAME: no_goal, background, other...); every
class when that leaves none.

Ranked candidates for AP. The reported events are thresholded already, so their precision / recall are
one point of a curve, not a ranking. AP ranks candidates taken from the timeline's window probabilities
instead, at a low floor `CANDIDATE_FLOOR` (0.1, or the lowest operating threshold of an event class when
that is lower): for segments, each run of consecutive windows (overlapping or touching) whose probability
of the class is >= the floor is one candidate from the first window's start to the last window's end,
scored by its peak probability (the timeline's own rule with threshold = floor, no minimum duration, no
merging); for spots, each local maximum of the class's probability over the window centres (a plateau: its
middle) that is >= the floor is a candidate, and a candidate within window / 2 seconds of a higher one is
suppressed (greedy non-maximum suppression, the higher score first, ties the earlier). No threshold sweep:
one floor. So the operating point's P / R / F1 (of the reported events, which may merge windows across
gaps or drop short runs) need not lie exactly on the AP's precision-recall curve.

A video that cannot be read (measured while reading the annotations, or decoded for its timeline) is
reported and skipped: its events are not scored and the report lists it; a missing video file is an
annotation error. Written into `out`, each file atomically:

    metrics.json           everything below: AP tables, operating points, per-video counts, the timeline
                           options used, the candidate floor, the unreadable videos, the annotation notes
    events_detected.csv    the reported events: video,label,start,end,peak_time,peak_probability,matched
    events_candidates.csv  the ranked candidates the AP is computed from: video,label,kind,start,end,score
    events_missed.csv      true events no reported event matched: video,label,kind,start,end,max_probability
    events_false.csv       reported events that matched no true event
    timelines/             each video's <stem>.windows.csv, .events.csv and .png (Timeline.write)
    report.html            one self-contained page: the tables, each video's probability curve with the
                           true and the reported events, the missed and false events with frame strips
    review.html            each video in a player under its curves, the true and the found events in two
                           lanes and a table (misses and false alarms marked): pipeline.inference.review_page
    review_media/          proxies (or frame strips) of the videos a browser cannot play

Times and scores are written with every digit (Python's repr), so the metrics can be recomputed from the
CSV files exactly.
"""
from __future__ import annotations

import json
import logging
import math
import sys
from collections import Counter
from dataclasses import asdict, dataclass, is_dataclass
from html import escape
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from pipeline.atomic_io import check_writable, write_csv_atomic, write_text_atomic
from pipeline.core.figures import frame_strip, resize_height
from pipeline.core.metrics import NEGATIVE_NAME
from pipeline.data.annotations.events import AnnotatedVideo, probe_duration, read_event_annotations
from pipeline.data.readers import (
    FALLBACK_LIST,
    VideoReadError,
    as_read_error,
    fallback_summary,
    read_with_fallback,
    recording_fallbacks,
)
from pipeline.errors import UsageError
from pipeline.evaluation.evaluate import png_data_uri
from pipeline.evaluation.event_metrics import (
    LOOSE_TOLERANCES,
    THUMOS_THRESHOLDS,
    TIGHT_TOLERANCES,
    Detection,
    MapScores,
    OperatingScores,
    Tally,
    TrueEvent,
    segment_map,
    segment_prf,
    spotting_average_map,
    spotting_prf,
)
from pipeline.evaluation.report_html import STYLE, _table
from pipeline.inference.review_page import (
    FALSE_ALARM,
    MATCHED,
    MISSED,
    PAGE_NAME,
    ReviewEvent,
    ReviewVideo,
    write_review_page,
)

log = logging.getLogger(__name__)

CANDIDATE_FLOOR = 0.1  # window probability from which candidates for the AP are taken (see the docstring)
OPERATING_TIOU = 0.5  # the tIoU at which the reported segments' P / R / F1 are counted
DEFAULT_TOLERANCE = 5.0  # seconds, the whole window (a spot counts within tolerance / 2)
DEFAULT_STRIPS = 20  # frame strips per list (missed, false) in report.html
STRIP_FRAMES = 5
STRIP_HEIGHT = 72
LISTED_ROWS = 500  # rows of a list shown in report.html; the CSV files hold them all
FALLBACK_WINDOW = 2.0  # seconds, for the strips and the NMS when a timeline does not say its window
_UNMEASURED = sys.float_info.max  # the "duration" of a video that could not be measured (skipped later)
SEGMENT, SPOT = "segment", "spot"


@dataclass
class EventEvaluationOptions:
    """What to score, where the report goes; the timeline overrides are None for the checkpoint's own."""

    ckpt: str
    events: str  # an events CSV, an ActivityNet JSON, a Labels-v2.json or a folder of them
    out: str
    events_root: Optional[str] = None  # where relative video paths are found (default: the file's folder)
    device: str = "auto"
    window: Optional[float] = None
    stride: Optional[float] = None
    threshold: Optional[float] = None
    min_duration: Optional[float] = None
    merge_gap: Optional[float] = None
    tolerance: float = DEFAULT_TOLERANCE  # seconds, spots' P / R / F1
    strips: int = DEFAULT_STRIPS  # frame strips per list in report.html
    num_workers: Optional[int] = None
    trust_checkpoint: bool = False

    def overrides(self) -> Dict[str, float]:
        """The timeline options given (the others are the checkpoint's)."""
        given = {"window": self.window, "stride": self.stride, "threshold": self.threshold,
                 "min_duration": self.min_duration, "merge_gap": self.merge_gap}
        return {k: float(v) for k, v in given.items() if v is not None}

    def validate(self) -> None:
        """UsageError naming every option that cannot work, before anything is read."""
        problems = []
        for flag, value in (("--window", self.window), ("--stride", self.stride), ("--tolerance", self.tolerance)):
            if value is not None and not (math.isfinite(value) and value > 0):
                problems.append(f"{flag} {value}: must be a positive number of seconds")
        for flag, value in (("--min-duration", self.min_duration), ("--merge-gap", self.merge_gap)):
            if value is not None and not (math.isfinite(value) and value >= 0):
                problems.append(f"{flag} {value}: must be zero or more seconds")
        if self.threshold is not None and not 0 <= self.threshold <= 1:
            problems.append(f"--threshold {self.threshold}: must be a probability in [0, 1]")
        if self.strips < 0:
            problems.append(f"--mistakes {self.strips}: must be zero or more")
        if problems:
            raise UsageError("; ".join(problems))


@dataclass
class _Scored:
    """One video read: its annotation, key (the path as written in every output), timeline and events."""

    video: AnnotatedVideo
    key: str
    timeline: Any
    times: np.ndarray  # [W,2] seconds
    probs: np.ndarray  # [W,C] float64
    detected: List[Any]  # the timeline's events of the event classes


# ------------------------------------------------------------------------------------------------ the run

def event_classes(model: Any) -> List[str]:
    """The model's classes that are events: all but the background class (see the module docstring)."""
    names = list(model.class_names)
    settings = getattr(model, "event_settings", None)
    background = settings.get("background") if isinstance(settings, dict) else None
    if background is None:
        hparams = getattr(model, "hparams", None) or {}
        sampling = hparams.get("sampling") if hasattr(hparams, "get") else None
        trained = (sampling or {}).get("events") if isinstance(sampling, dict) else None
        background = trained.get("background") if isinstance(trained, dict) else None
    if background in names:
        return [n for n in names if n != background]
    events = [n for n in names if not NEGATIVE_NAME.search(n)]
    return events or names


def evaluate_events(options: EventEvaluationOptions) -> Dict[str, Any]:
    """Score, write the report files; returns the report (what metrics.json holds) plus "files"."""
    from pipeline.inference.api import Recognizer

    options.validate()
    out = Path(options.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out}: --output must be a folder (a file is in its way)")
    check_writable(out / "metrics.json")
    recognizer = Recognizer.from_checkpoint(options.ckpt, device=options.device, num_workers=options.num_workers,
                                            trust_checkpoint=options.trust_checkpoint)
    classes = event_classes(recognizer.model)
    unreadable: Dict[str, Dict[str, Any]] = {}

    def measure(path: Path) -> float:  # an unreadable video is skipped, not an annotation error
        try:
            return probe_duration(path)
        except (OSError, ValueError, RuntimeError) as exc:
            error = as_read_error(path, "measuring it", exc)
            unreadable[str(path)] = {"video": str(path), "status": error.kind, "error": error.reason}
            return _UNMEASURED

    annotations = read_event_annotations(options.events, options.events_root, classes, durations=measure)
    with recording_fallbacks(out / FALLBACK_LIST):
        scored = _run_timelines(recognizer, annotations.videos, classes, options, unreadable)
        backend = dict(recognizer.model.hparams.get("sampling") or {}).get("backend") or "auto"
        report, missed, false = _score(options, annotations, classes, scored, unreadable)
        strips = {"missed": _strips(missed, scored, backend, options.strips, "missed"),
                  "false": _strips(false, scored, backend, options.strips, "false")}
        report["decoder_fallbacks"] = fallback_summary()
    report["files"] = _write(out, report, scored, classes, missed, false, strips, backend)
    return report


def _run_timelines(recognizer: Any, videos: Sequence[AnnotatedVideo], classes: Sequence[str],
                   options: EventEvaluationOptions, unreadable: Dict[str, Dict[str, Any]]) -> List[_Scored]:
    from pipeline.inference.api import UnreadableVideoError

    scored = []
    overrides = options.overrides()
    for video in videos:
        key = str(video.path)
        if key in unreadable:
            unreadable[key]["events_not_scored"] = len(video.events)
            continue
        try:
            timeline = recognizer.timeline(video.path, **overrides)
        except (UnreadableVideoError, VideoReadError) as exc:
            status = getattr(exc, "status", None) or getattr(exc, "kind", "unreadable")
            reason = getattr(exc, "reason", None) or str(exc)
            log.warning("%s: skipped, it cannot be read (%s): %s", key, status, reason)
            unreadable[key] = {"video": key, "status": status, "error": reason, "events_not_scored": len(video.events)}
            continue
        probs = getattr(timeline, "probabilities", None)
        probs = np.asarray(probs if probs is not None else timeline.probs, dtype=np.float64)
        detected = [e for e in timeline.events if e.label in classes]
        scored.append(_Scored(video, key, timeline, np.asarray(timeline.times, dtype=np.float64), probs, detected))
    return scored


# --------------------------------------------------------------------------------------------- candidates

def _t(seconds: float) -> float:
    """Times rounded to the microsecond, once, so that the CSV files give back the numbers scored."""
    return round(float(seconds), 6)


def _window(timeline: Any) -> float:
    window = getattr(getattr(timeline, "options", None), "window", None)
    return float(window) if window else FALLBACK_WINDOW


def _threshold_for(timeline: Any, name: str) -> Optional[float]:
    return _option_for(timeline, "threshold", name)


def _option_for(timeline: Any, option: str, name: str) -> Optional[float]:
    """The timeline's `option` for class `name`: its `<option>_for(name)` where it has one, else the value."""
    opts = getattr(timeline, "options", None)
    try:
        by_class = getattr(opts, f"{option}_for", None)
        value = by_class(name) if by_class is not None else getattr(opts, option)
        return None if value is None else float(value)
    except (AttributeError, TypeError, ValueError):
        return None


def operating_points(timeline: Any, classes: Sequence[str]) -> Dict[str, Dict[str, Optional[float]]]:
    """How the timeline decided each event class's events: threshold, min_duration, merge_gap."""
    return {name: {option: _option_for(timeline, option, name) for option in ("threshold", "min_duration", "merge_gap")}
            for name in classes}


def candidate_floor(scored: Sequence[_Scored], classes: Sequence[str]) -> float:
    """CANDIDATE_FLOOR, or the lowest operating threshold of an event class when lower."""
    levels = [_threshold_for(s.timeline, name) for s in scored for name in classes]
    return min([CANDIDATE_FLOOR, *(v for v in levels if v is not None)])


def segment_candidates(times: np.ndarray, p: np.ndarray, floor: float) -> List[Tuple[float, float, float]]:
    """(start, end, peak probability) of each run of consecutive windows, overlapping or touching, whose
    probability `p` [W] is >= `floor`."""
    runs: List[List[int]] = []
    for w in np.flatnonzero(p >= floor):
        if runs and runs[-1][1] == w - 1 and times[w, 0] <= times[w - 1, 1]:
            runs[-1][1] = w
        else:
            runs.append([w, w])
    return [(float(times[a, 0]), float(times[b, 1]), float(p[a:b + 1].max())) for a, b in runs]


def spot_candidates(centres: np.ndarray, p: np.ndarray, floor: float, radius: float) -> List[Tuple[float, float]]:
    """(time, probability) of the local maxima of `p` [W] over the window centres [W] (a plateau: its middle)
    that are >= `floor`, after greedy non-maximum suppression within `radius` seconds; in time order."""
    peaks: List[Tuple[float, float]] = []
    w, n = 0, len(p)
    while w < n:
        last = w
        while last + 1 < n and p[last + 1] == p[w]:
            last += 1
        before = p[w - 1] if w > 0 else -np.inf
        after = p[last + 1] if last + 1 < n else -np.inf
        if p[w] >= floor and p[w] > before and p[w] > after:
            peaks.append(((float(centres[w]) + float(centres[last])) / 2, float(p[w])))
        w = last + 1
    kept: List[Tuple[float, float]] = []
    for time, score in sorted(peaks, key=lambda peak: -peak[1]):  # stable: ties keep the earlier
        if all(abs(time - other) > radius for other, _ in kept):
            kept.append((time, score))
    return sorted(kept)


# ------------------------------------------------------------------------------------------------ scoring

def _number(value: Any) -> Any:
    """A JSON-safe float: None for nan."""
    value = float(value)
    return None if math.isnan(value) else value


def _key(level: float) -> str:
    return f"{level:g}"


def _map_table(scores: MapScores, name: str) -> Dict[str, Any]:
    return {
        name: list(scores.thresholds),
        "ap": {c: {_key(t): _number(v) for t, v in zip(scores.thresholds, row)} for c, row in
               zip(scores.classes, scores.ap)},
        "map": {_key(t): _number(v) for t, v in zip(scores.thresholds, scores.mean_ap)},
        "average_map": _number(scores.average_map),
        "class_average_ap": {c: _number(v) for c, v in zip(scores.classes, scores.class_average_ap)},
    }


def _tally(tally: Tally) -> Dict[str, Any]:
    return {"precision": tally.precision, "recall": tally.recall, "f1": tally.f1, "matched": tally.matched,
            "detections": tally.detections, "truth": tally.truth}


def _operating(scores: OperatingScores) -> Dict[str, Any]:
    return {"per_class": {c: _tally(t) for c, t in scores.per_class.items()}, "micro": _tally(scores.micro),
            "macro": scores.macro}


def _score(options: EventEvaluationOptions, annotations: Any, classes: List[str], scored: List[_Scored],
           unreadable: Dict[str, Dict[str, Any]]) -> Tuple[Dict[str, Any], List[Dict[str, Any]],
                                                           List[Dict[str, Any]]]:
    """The report, the missed true events and the false reported events (dicts, in report order)."""
    truth = [TrueEvent(s.key, e.label, _t(e.start), _t(e.end)) for s in scored for e in s.video.events]
    owner = [(s, e) for s in scored for e in s.video.events]  # truth[i] is owner[i]'s event
    found = [(s, e) for s in scored for e in s.detected]
    floor = candidate_floor(scored, classes)
    has = {SEGMENT: {t.label for t in truth if t.end > t.start}, SPOT: {t.label for t in truth if t.end == t.start}}
    kinds = [k for k in (SEGMENT, SPOT) if has[k]] or [SEGMENT]
    without_truth = [c for c in classes if c not in has[SEGMENT] | has[SPOT]]
    matched_found, matched_truth = set(), set()
    candidates: List[Dict[str, Any]] = []
    report: Dict[str, Any] = {
        "checkpoint": str(options.ckpt), "events_file": str(annotations.source), "event_classes": classes,
        "videos": len(annotations.videos), "videos_scored": len(scored),
        "timeline_options": _timeline_options(scored), "timeline_overrides": options.overrides(),
        "operating_points": operating_points(scored[0].timeline, classes) if scored else None,
        "candidate_floor": floor, "tolerance": float(options.tolerance), "segments": None, "spots": None,
    }
    for kind in kinds:
        scored_classes = [c for c in classes if c in has[kind] or c in without_truth]
        rows = [i for i, t in enumerate(truth) if (t.end > t.start) == (kind == SEGMENT)]
        kind_truth = [truth[i] for i in rows]
        if kind == SEGMENT:
            detections = [Detection(s.key, e.label, _t(e.start), _t(e.end), float(e.peak_probability))
                          for s, e in found]
            ranked = _segment_candidates(scored, scored_classes, floor)
            ranking = segment_map(kind_truth, ranked, scored_classes, THUMOS_THRESHOLDS)
            point = segment_prf(kind_truth, detections, scored_classes, OPERATING_TIOU)
            section = {"classes": scored_classes, **_map_table(ranking, "tiou_thresholds"),
                       "map@0.5": _number(ranking.mean_ap[list(ranking.thresholds).index(0.5)]),
                       "operating_point": {"min_tiou": OPERATING_TIOU, **_operating(point)}}
        else:
            detections = [Detection.spot(s.key, e.label, _t(e.peak_time), float(e.peak_probability))
                          for s, e in found]
            ranked = _spot_candidates(scored, scored_classes, floor)
            loose = spotting_average_map(kind_truth, ranked, scored_classes, LOOSE_TOLERANCES)
            tight = spotting_average_map(kind_truth, ranked, scored_classes, TIGHT_TOLERANCES)
            point = spotting_prf(kind_truth, detections, scored_classes, options.tolerance)
            section = {"classes": scored_classes, "loose": _map_table(loose, "tolerances"),
                       "tight": _map_table(tight, "tolerances"),
                       "operating_point": {"tolerance": float(options.tolerance), **_operating(point)}}
        section.update(truth=len(kind_truth), detections=sum(1 for d in detections if d.label in scored_classes),
                       candidates=len(ranked))
        report["segments" if kind == SEGMENT else "spots"] = section
        candidates += [{"video": d.video, "label": d.label, "kind": kind, "start": d.start, "end": d.end,
                        "score": d.score} for d in ranked]
        matched_found |= {d for d, _ in point.matches}
        matched_truth |= {rows[t] for _, t in point.matches}
    detected_rows = []
    for i, (s, e) in enumerate(found):
        detected_rows.append({"video": s.key, "label": e.label, "start": _t(e.start), "end": _t(e.end),
                              "peak_time": _t(e.peak_time), "peak_probability": float(e.peak_probability),
                              "matched": i in matched_found})
    missed = [{"video": truth[i].video, "label": truth[i].label, "kind": SPOT if truth[i].end == truth[i].start
               else SEGMENT, "start": truth[i].start, "end": truth[i].end,
               "max_probability": _max_probability(owner[i][0], truth[i])}
              for i in range(len(truth)) if i not in matched_truth]
    false = sorted((r for r in detected_rows if not r["matched"]), key=lambda r: -r["peak_probability"])
    report["per_video"] = [_video_counts(s, truth, matched_truth, detected_rows) for s in scored]
    report["unreadable_videos"] = list(unreadable.values())
    report["truth_events"] = len(truth)
    report["detected_events"] = len(detected_rows)
    report["missed_events"] = len(missed)
    report["false_events"] = len(false)
    report["notes"] = list(annotations.notes)
    report["_rows"] = {"detected": detected_rows, "candidates": candidates}
    return report, missed, false


def _segment_candidates(scored: Sequence[_Scored], classes: Sequence[str], floor: float) -> List[Detection]:
    ranked = []
    for s in scored:
        for name in classes:
            p = s.probs[:, list(s.timeline.class_names).index(name)]
            ranked += [Detection(s.key, name, _t(start), _t(end), score)
                       for start, end, score in segment_candidates(s.times, p, floor)]
    return ranked


def _spot_candidates(scored: Sequence[_Scored], classes: Sequence[str], floor: float) -> List[Detection]:
    ranked = []
    for s in scored:
        centres = s.times.mean(axis=1)
        for name in classes:
            p = s.probs[:, list(s.timeline.class_names).index(name)]
            peaks = spot_candidates(centres, p, floor, _window(s.timeline) / 2)
            ranked += [Detection.spot(s.key, name, _t(time), score) for time, score in peaks]
    return ranked


def _max_probability(s: _Scored, event: TrueEvent) -> Optional[float]:
    """The highest probability of the event's class in the windows that overlap it (hold it: a spot)."""
    inside = (s.times[:, 0] <= event.end) & (s.times[:, 1] >= event.start)
    if not inside.any() or event.label not in s.timeline.class_names:
        return None
    return float(s.probs[inside, list(s.timeline.class_names).index(event.label)].max())


def _video_counts(s: _Scored, truth: Sequence[TrueEvent], matched_truth: set,
                  detected: Sequence[Dict[str, Any]]) -> Dict[str, Any]:
    mine = [i for i, t in enumerate(truth) if t.video == s.key]
    found = [r for r in detected if r["video"] == s.key]
    hit = sum(1 for i in mine if i in matched_truth)
    return {"video": s.key, "duration": _t(s.video.duration), "windows": int(len(s.times)), "truth": len(mine),
            "detected": len(found), "matched_truth": hit, "missed": len(mine) - hit,
            "false": sum(1 for r in found if not r["matched"])}


def _timeline_options(scored: Sequence[_Scored]) -> Optional[Dict[str, Any]]:
    """The options of the first timeline (the same for every video: they come from the checkpoint)."""
    if not scored:
        return None
    opts = getattr(scored[0].timeline, "options", None)
    if opts is None or not is_dataclass(opts):
        return None
    return json.loads(json.dumps(asdict(opts), default=str))


# ------------------------------------------------------------------------------------------ strips, plots

def _strips(events: Sequence[Dict[str, Any]], scored: Sequence[_Scored], backend: str, count: int,
            what: str) -> List[Optional[str]]:
    """A frame strip (PNG data URI) for each of the first `count` events, None where it cannot be drawn."""
    by_key = {s.key: s for s in scored}
    uris: List[Optional[str]] = []
    for event in events[:max(count, 0)]:
        s = by_key[event["video"]]
        start, end = float(event["start"]), float(event["end"])
        if end <= start:  # a spot: the window around it
            half = _window(s.timeline) / 2
            start, end = start - half, end + half
        span = f"{_clock(float(event['start']))}" + ("" if event["end"] == event["start"] else
                                                     f"-{_clock(float(event['end']))}")
        caption = [Path(s.key).name, f"{what}: {event['label']} at {span}"]
        try:
            uris.append(png_data_uri(_event_strip(s.key, start, end, s.video.duration, backend, caption)))
        except Exception as exc:  # a picture that cannot be drawn costs that picture only
            log.warning("no frame strip for a %s event: %s", what, as_read_error(s.key, "the strip", exc))
            uris.append(None)
    return uris


def _event_strip(path: str, start: float, end: float, duration: float, backend: str,
                 caption: Sequence[str]) -> np.ndarray:
    """A few frames from `start` to `end` seconds, decoded by the project's read path, as one image."""

    def job(reader: Any) -> Tuple[np.ndarray, List[int]]:
        meta = reader.meta
        last = max(meta.num_frames - 1, 0)
        times = np.linspace(max(start, 0.0), min(end, duration), STRIP_FRAMES)
        indices = sorted({int(np.clip(round(t * meta.fps), 0, last)) for t in times})
        return reader.get_frames(indices), indices

    frames, indices = read_with_fallback(path, backend, job)
    return frame_strip(np.stack([resize_height(f, STRIP_HEIGHT) for f in frames]), indices, caption)


def event_figure(scored: _Scored, classes: Sequence[str], truth: Sequence[Any], title: str) -> Any:
    """A matplotlib Figure (Agg, no pyplot) of the event classes' probabilities over the window centres, the
    true events in green and the reported ones in red, each in a lane under the curves (truth also shaded
    across the plot), and each class's operating threshold dashed."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 3.2), dpi=80)
    ax = fig.subplots()
    times, names = scored.times, list(scored.timeline.class_names)
    centres = times.mean(axis=1)
    for name in classes:
        ax.plot(centres, scored.probs[:, names.index(name)], label=f"p({name})".replace("$", r"\$"), linewidth=1.4)
        level = _threshold_for(scored.timeline, name)
        if level is not None:
            ax.axhline(level, color="grey", linestyle="--", linewidth=0.7)
    true_lane, found_lane = (-0.15, 0.09), (-0.29, 0.09)
    for event in truth:
        if event.end > event.start:
            ax.axvspan(event.start, event.end, color="tab:green", alpha=0.12, linewidth=0)
            ax.broken_barh([(event.start, event.end - event.start)], true_lane, color="tab:green")
        else:
            ax.axvline(event.start, color="tab:green", alpha=0.5, linewidth=1)
            ax.plot([event.start], [true_lane[0] + true_lane[1] / 2], marker="v", color="tab:green")
    for event in scored.detected:
        ax.broken_barh([(event.start, event.end - event.start)], found_lane, color="tab:red", alpha=0.6)
        ax.plot([event.peak_time], [found_lane[0] + found_lane[1] / 2], marker="^", color="tab:red")
    ax.set_xlim(float(times[0, 0]), max(float(times[-1, 1]), float(scored.video.duration)))
    ax.set_ylim(-0.32, 1.05)
    ax.set_yticks([0, 0.5, 1, true_lane[0] + true_lane[1] / 2, found_lane[0] + found_lane[1] / 2],
                  ["0", "0.5", "1", "true", "found"])
    ax.set_xlabel("time (s)")
    ax.set_ylabel("probability")
    if classes:
        ax.legend(loc="upper right", fontsize=8)
    ax.set_title(title.replace("$", r"\$"), fontsize=9)
    fig.tight_layout()
    return fig


def _g(value: Optional[float]) -> str:
    return "–" if value is None else f"{value:.4g}"


def _clock(seconds: float) -> str:
    minutes, secs = divmod(max(seconds, 0.0), 60)
    return f"{int(minutes)}:{secs:04.1f}"


# ------------------------------------------------------------------------------------------------ writing

def _num(value: Any) -> str:
    """Every digit of a number (Python's shortest round-trip form), empty for None."""
    return "" if value is None else repr(float(value))


def _write(out: Path, report: Dict[str, Any], scored: Sequence[_Scored], classes: Sequence[str],
           missed: Sequence[Dict[str, Any]], false: Sequence[Dict[str, Any]],
           strips: Dict[str, List[Optional[str]]], backend: str = "auto") -> Dict[str, str]:
    from pipeline.inference.timeline_output import unique_stems

    out.mkdir(parents=True, exist_ok=True)
    rows = report.pop("_rows")
    stems = unique_stems([s.key for s in scored])
    timelines = {}
    for s in scored:
        timelines[s.key] = s.timeline.write(out / "timelines", stems[s.key])
    for entry in report["per_video"]:
        entry["timeline_files"] = timelines[entry["video"]]
    files = {name: str(out / name) for name in ("metrics.json", "events_detected.csv", "events_candidates.csv",
                                                 "events_missed.csv", "events_false.csv", "report.html")}
    files["timelines"] = str(out / "timelines")
    detected_columns = ["video", "label", "start", "end", "peak_time", "peak_probability", "matched"]

    def detected_row(r: Dict[str, Any]) -> List[str]:
        return [r["video"], r["label"], _num(r["start"]), _num(r["end"]), _num(r["peak_time"]),
                _num(r["peak_probability"]), "yes" if r["matched"] else "no"]

    write_csv_atomic(out / "events_detected.csv", detected_columns, [detected_row(r) for r in rows["detected"]])
    write_csv_atomic(out / "events_false.csv", detected_columns, [detected_row(r) for r in false])
    write_csv_atomic(out / "events_candidates.csv", ["video", "label", "kind", "start", "end", "score"],
                     [[c["video"], c["label"], c["kind"], _num(c["start"]), _num(c["end"]), _num(c["score"])]
                      for c in rows["candidates"]])
    write_csv_atomic(out / "events_missed.csv", ["video", "label", "kind", "start", "end", "max_probability"],
                     [[m["video"], m["label"], m["kind"], _num(m["start"]), _num(m["end"]),
                       _num(m["max_probability"])] for m in missed])
    write_text_atomic(out / "metrics.json", json.dumps(report, indent=2, allow_nan=False))
    figures = []
    for s in scored:
        try:
            figures.append((s.key, png_data_uri(event_figure(s, classes, s.video.events, s.key))))
        except Exception as exc:  # a plot that cannot be drawn costs that plot only
            log.warning("no probability plot for %s: %s", s.key, exc)
            figures.append((s.key, None))
    write_text_atomic(out / "report.html", render_event_report(report, figures, missed, false, strips))
    review = write_review_page(out / PAGE_NAME, review_videos(report, scored, classes, missed, rows["detected"], stems),
                               f"Review: events of {Path(report['events_file']).name}", _review_meta(report), backend)
    files[PAGE_NAME] = str(review.path)
    report["review"] = review.describe()
    return files


def review_videos(report: Dict[str, Any], scored: Sequence[_Scored], classes: Sequence[str],
                  missed: Sequence[Dict[str, Any]], detected: Sequence[Dict[str, Any]],
                  stems: Dict[str, str]) -> List[ReviewVideo]:
    """The review page's videos: each scored one with its curves, its true events (matched or missed) and
    its reported ones (matched or false alarms), then the unreadable ones with why."""
    unmatched = Counter((m["video"], m["label"], m["start"], m["end"]) for m in missed)
    rows = iter(detected)  # in the order of the scored videos and their events, as _score made them
    videos = []
    for s in scored:
        truth = []
        for event in s.video.events:
            key = (s.key, event.label, _t(event.start), _t(event.end))
            truth.append(ReviewEvent(event.label, key[2], key[3], result=MISSED if unmatched[key] else MATCHED))
            unmatched[key] -= 1 if unmatched[key] else 0
        found = []
        for event in s.detected:
            row = next(rows)
            found.append(ReviewEvent(event.label, _t(event.start), _t(event.end), _t(event.peak_time),
                                     float(event.peak_probability), MATCHED if row["matched"] else FALSE_ALARM))
        videos.append(ReviewVideo(s.key, stems[s.key], list(s.timeline.class_names), s.times, s.probs, classes,
                                  {name: _threshold_for(s.timeline, name) for name in classes}, found, truth,
                                  duration=_t(s.video.duration)))
    for video in report["unreadable_videos"]:
        videos.append(ReviewVideo(video["video"], Path(video["video"]).stem,
                                  error=f"{video['status']}: {video['error']}", truth=[]))
    return videos


def _review_meta(report: Dict[str, Any]) -> List[str]:
    options = report.get("timeline_options") or {}
    lines = [f"checkpoint {report['checkpoint']}",
             f"events {report['events_file']}: {report['videos']} videos, {report['videos_scored']} scored, "
             f"{report['truth_events']} true events, {report['detected_events']} found, "
             f"{report['missed_events']} missed, {report['false_events']} false "
             f"alarm{'' if report['false_events'] == 1 else 's'} (report.html has the scores)"]
    if options.get("window") is not None and options.get("stride") is not None:
        lines.append(f"windows of {options['window']:g} s every {options['stride']:g} s")
    for name, point in (report.get("operating_points") or {}).items():
        lines.append(f"events of {name}: p ≥ {_g(point['threshold'])}, at least {_g(point['min_duration'])} s, "
                     f"gaps up to {_g(point['merge_gap'])} s merged")
    return lines


# --------------------------------------------------------------------------------------------------- HTML

def _fmt(value: Any) -> Any:
    """A table cell: floats as they are (4 decimals), None as a dash."""
    return "–" if value is None else value


def _map_html(section: Dict[str, Any], column: str, unit: str, title: str) -> List[str]:
    levels = section[column]
    header = ["class", *(f"{_key(t)}{unit}" for t in levels), "average"]
    rows = [[c, *(_fmt(section["ap"][c][_key(t)]) for t in levels), _fmt(section["class_average_ap"][c])]
            for c in section["ap"]]
    rows.append(["mAP", *(_fmt(section["map"][_key(t)]) for t in levels), _fmt(section["average_map"])])
    return [f"<h3>{escape(title)}</h3>", _table(header, rows)]


def _operating_html(point: Dict[str, Any], title: str) -> List[str]:
    def row(name: str, t: Dict[str, Any]) -> List[Any]:
        return [name, t["precision"], t["recall"], t["f1"], t["matched"], t["detections"], t["truth"]]

    macro = point["macro"]
    rows = [row(c, t) for c, t in point["per_class"].items()] + [row("micro (all classes)", point["micro"])]
    rows.append(["macro (mean over classes)", macro["precision"], macro["recall"], macro["f1"], "", "", ""])
    return [f"<h3>{escape(title)}</h3>",
            _table(["class", "precision", "recall", "F1", "matched", "reported", "true"], rows)]


def _event_list_html(title: str, events: Sequence[Dict[str, Any]], columns: Sequence[Tuple[str, str]],
                     strips: Sequence[Optional[str]], csv_name: str) -> List[str]:
    parts = [f"<h2>{escape(title)} ({len(events)})</h2>"]
    if not events:
        return parts + ["<p>None.</p>"]
    shown = events[:LISTED_ROWS]
    parts.append(_table([label for label, _ in columns], [[_fmt(e[key]) if not isinstance(e[key], bool) else
                                                           ("yes" if e[key] else "no") for _, key in columns]
                                                          for e in shown]))
    if len(events) > len(shown):
        parts.append(f"<p>{len(events) - len(shown)} more in {escape(csv_name)}.</p>")
    drawn = [(e, uri) for e, uri in zip(events, strips) if uri]
    if drawn:
        parts.append(f"<p>Frames around the first {len(drawn)}:</p>")
    for event, uri in drawn:
        span = _clock(event["start"]) + ("" if event["end"] == event["start"] else f"–{_clock(event['end'])}")
        label = f"{event['video']}: {event['label']} at {span}"
        parts.append(f'<figure><img alt="frames of {escape(label)}" src="{uri}">'
                     f"<figcaption>{escape(label)}</figcaption></figure>")
    return parts


def render_event_report(report: Dict[str, Any], figures: Sequence[Tuple[str, Optional[str]]],
                        missed: Sequence[Dict[str, Any]], false: Sequence[Dict[str, Any]],
                        strips: Dict[str, List[Optional[str]]]) -> str:
    """The page: the AP tables and operating points, each video's counts and curve, the missed and false
    events with frame strips, the unreadable videos. Self-contained: inline CSS, data-URI images, no script."""
    options = report.get("timeline_options") or {}
    shown_options = ", ".join(f"{k} {options[k]:g} s" for k in ("window", "stride") if options.get(k) is not None)
    for name, point in (report.get("operating_points") or {}).items():
        shown_options += (f"; {escape(name)}: p &ge; {_g(point['threshold'])}, events &ge; "
                          f"{_g(point['min_duration'])} s, gaps &le; {_g(point['merge_gap'])} s merged")
    shown_options += " (given: " + (", ".join(f"--{k.replace('_', '-')} {v:g}" for k, v in
                                              report["timeline_overrides"].items()) or "none") + ")"
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Event evaluation: {escape(report['checkpoint'])}</title><style>{STYLE}</style></head><body>",
        "<h1>Events in long videos</h1>",
        f'<p class="meta">checkpoint <code>{escape(report["checkpoint"])}</code><br>'
        f'events <code>{escape(report["events_file"])}</code>: {report["videos"]} videos, '
        f'{report["videos_scored"]} scored, {report["truth_events"]} true events, '
        f'{report["detected_events"]} reported<br>event classes: {escape(", ".join(report["event_classes"]))}<br>'
        f"timeline: {shown_options}<br>"
        f"AP ranks candidates from the window probabilities at &ge; {report['candidate_floor']:g}; precision, "
        "recall and F1 are of the events the timeline reports (its operating point).<br>"
        f'Each video in a player under its curves, its true and found events side by side: <a href="{PAGE_NAME}">'
        f"{PAGE_NAME}</a></p>",
    ]
    segments, spots = report.get("segments"), report.get("spots")
    if segments:
        parts.append(f"<h2>Segments ({segments['truth']} true, {segments['detections']} reported)</h2>")
        parts += _map_html(segments, "tiou_thresholds", "", "AP by tIoU threshold (THUMOS14)")
        parts += _operating_html(segments["operating_point"],
                                 f"At the operating point, tIoU ≥ {segments['operating_point']['min_tiou']:g}")
    if spots:
        parts.append(f"<h2>Spots ({spots['truth']} true, {spots['detections']} reported)</h2>")
        parts += _map_html(spots["tight"], "tolerances", " s", "Tight average-mAP: AP by tolerance")
        parts += _map_html(spots["loose"], "tolerances", " s", "Loose average-mAP: AP by tolerance")
        tolerance = spots["operating_point"]["tolerance"]
        parts += _operating_html(spots["operating_point"],
                                 f"At the operating point, within {tolerance:g} s (±{tolerance / 2:g} s)")
    parts.append("<h2>Videos</h2>")
    parts.append(_table(["video", "duration (s)", "windows", "true", "reported", "true matched", "missed", "false"],
                        [[v["video"], v["duration"], v["windows"], v["truth"], v["detected"], v["matched_truth"],
                          v["missed"], v["false"]] for v in report["per_video"]]))
    for key, uri in figures:
        parts.append(f"<h3>{escape(key)}</h3>")
        if uri:
            parts.append(f'<figure><img alt="probabilities over time of {escape(key)}" src="{uri}"><figcaption>'
                         "Green: the true events; red: the reported ones (their peaks marked); dashed: the "
                         "operating thresholds.</figcaption></figure>")
        else:
            parts.append("<p>(the plot could not be drawn)</p>")
    parts += _event_list_html("Missed events", missed, [("video", "video"), ("label", "label"), ("kind", "kind"),
                                                        ("start (s)", "start"), ("end (s)", "end"),
                                                        ("highest p in it", "max_probability")],
                              strips["missed"], "events_missed.csv")
    parts += _event_list_html("False events", false, [("video", "video"), ("label", "label"), ("start (s)", "start"),
                                                      ("end (s)", "end"), ("peak (s)", "peak_time"),
                                                      ("peak p", "peak_probability")],
                              strips["false"], "events_false.csv")
    if report["unreadable_videos"]:
        parts.append(f"<h2>Videos that could not be read ({len(report['unreadable_videos'])}): skipped</h2><ul>")
        parts += [f"<li>{escape(v['video'])}: {escape(str(v['status']))}: {escape(str(v['error']))} "
                  f"({v.get('events_not_scored', 0)} events not scored)</li>" for v in report["unreadable_videos"]]
        parts.append("</ul>")
    if report.get("notes"):
        parts.append("<h2>Notes on the annotations</h2><ul>")
        parts += [f"<li>{escape(note)}</li>" for note in report["notes"]]
        parts.append("</ul>")
    parts.append("</body></html>")
    return "\n".join(parts)


def format_event_summary(report: Dict[str, Any]) -> str:
    """What scripts/evaluate.py --events prints: the headline scores and where the report is."""
    lines = [f"{report['events_file']}: {report['videos_scored']} of {report['videos']} videos scored, "
             f"{report['truth_events']} true events, {report['detected_events']} reported"]

    def score(value: Optional[float]) -> str:
        return "n/a" if value is None else f"{value:.4f}"

    segments, spots = report.get("segments"), report.get("spots")
    if segments:
        micro = segments["operating_point"]["micro"]
        lines.append(f"  segments: mAP@0.5 {score(segments['map@0.5'])}, average mAP (tIoU 0.1-0.7) "
                     f"{score(segments['average_map'])}; operating point (tIoU 0.5): precision "
                     f"{micro['precision']:.4f}, recall {micro['recall']:.4f}, F1 {micro['f1']:.4f}")
    if spots:
        micro, tolerance = spots["operating_point"]["micro"], spots["operating_point"]["tolerance"]
        lines.append(f"  spots: average-mAP tight {score(spots['tight']['average_map'])}, loose "
                     f"{score(spots['loose']['average_map'])}; operating point (within {tolerance:g} s): "
                     f"precision {micro['precision']:.4f}, recall {micro['recall']:.4f}, F1 {micro['f1']:.4f}")
    lines.append(f"  missed {report['missed_events']}, false {report['false_events']}")
    if report["unreadable_videos"]:
        lines.append(f"  skipped unreadable videos: {len(report['unreadable_videos'])}")
    lines.append(f"report: {report['files']['report.html']}")
    if report.get("review"):
        lines.append(f"review: {report['review']}")
    return "\n".join(lines)
