"""Long videos as timelines: the many-to-one classifier slid over time.

A window of `window` seconds every `stride` seconds is one clip (the checkpoint's sampler picks
its frames inside the window); each window gets class probabilities. Windows whose probability of
an event class reaches a threshold are merged into event segments (gaps up to `merge_gap` are
bridged, segments shorter than `min_duration` dropped), and the probabilities are drawn as a PNG.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from pipeline.atomic_io import atomic_path, write_csv_atomic
from pipeline.data.sampling import window_frames, window_indices  # noqa: F401  (the timeline's windows)

DEFAULT_EVENT_THRESHOLD = 0.5  # without an operating threshold in the checkpoint
DEFAULT_WINDOW, DEFAULT_STRIDE = 2.0, 1.0  # seconds, for a checkpoint trained on cut clips


@dataclass(frozen=True)
class TimelineOptions:
    """How a video is cut into windows and how windows become events.

    None means "the checkpoint's": `for_model` fills it from a checkpoint trained from event times (its
    training windows and the per-class operating points chosen on its validation videos), else from the
    defaults (DEFAULT_WINDOW, DEFAULT_STRIDE, no minimum duration, no merging, the two-class operating
    threshold or DEFAULT_EVENT_THRESHOLD). A value given always wins."""

    window: Optional[float] = None  # seconds per window
    stride: Optional[float] = None  # seconds between window starts
    threshold: Optional[float] = None  # one probability for every class
    min_duration: Optional[float] = None  # seconds; shorter segments are dropped
    merge_gap: Optional[float] = None  # seconds; segments closer than this are joined
    event_classes: Optional[Tuple[str, ...]] = None  # None: every class (trained from events: all but background)
    class_thresholds: Optional[Tuple[Tuple[str, float], ...]] = None  # set by `for_model`
    class_min_durations: Optional[Tuple[Tuple[str, float], ...]] = None  # set by `for_model`
    class_merge_gaps: Optional[Tuple[Tuple[str, float], ...]] = None  # set by `for_model`

    def threshold_for(self, name: str) -> float:
        """The probability that makes a window an event of class `name`."""
        if self.threshold is not None:
            return self.threshold
        return dict(self.class_thresholds or ()).get(name, DEFAULT_EVENT_THRESHOLD)

    def min_duration_for(self, name: str) -> float:
        """Seconds an event of class `name` must last to be reported."""
        if self.min_duration is not None:
            return self.min_duration
        return dict(self.class_min_durations or ()).get(name, 0.0)

    def merge_gap_for(self, name: str) -> float:
        """Seconds between two segments of class `name` that are bridged."""
        if self.merge_gap is not None:
            return self.merge_gap
        return dict(self.class_merge_gaps or ()).get(name, 0.0)

    def for_model(self, model: Any) -> TimelineOptions:
        """These options completed from a classifier module (its checkpoint): see the class docstring."""
        class_names = list(model.class_names)
        sampling = dict(getattr(model, "hparams", {}).get("sampling") or {})
        trained = dict(sampling.get("events") or {})
        points = dict((getattr(model, "event_points", None) or {}).get("classes") or {})
        window = self.window if self.window is not None else trained.get("window", DEFAULT_WINDOW)
        stride = self.stride if self.stride is not None else trained.get("stride", DEFAULT_STRIDE)
        resolved = replace(self, window=window, stride=stride)
        if self.event_classes is None and trained.get("background") in class_names:
            resolved = replace(resolved, event_classes=tuple(c for c in class_names if c != trained["background"]))
        if points:
            return replace(resolved, class_thresholds=tuple((c, float(p["threshold"])) for c, p in points.items()),
                           class_min_durations=tuple((c, float(p["min_duration"])) for c, p in points.items()),
                           class_merge_gaps=tuple((c, float(p["merge_gap"])) for c, p in points.items()))
        return resolved.with_operating_threshold(getattr(model, "threshold", None), class_names)

    def effective(self, class_names: Sequence[str]) -> Dict[str, Any]:
        """What decides the events, resolved per class (after `for_model`): the settings a resumed prediction
        must share, however they were spelled (given, or the checkpoint's)."""
        wanted = self.event_classes or tuple(class_names)
        return {"window": self.window, "stride": self.stride,
                "classes": {name: [self.threshold_for(name), self.min_duration_for(name), self.merge_gap_for(name)]
                            for name in wanted}}

    def with_operating_threshold(self, operating: Optional[dict], class_names: Sequence[str]) -> TimelineOptions:
        """With no `threshold` given, a two-class checkpoint's operating threshold t decides events as it
        decides labels: the positive class from p >= t, the other from p >= 1 - t."""
        if self.threshold is not None or not operating or len(class_names) != 2:
            return self
        positive = operating["positive"]
        other = next(name for name in class_names if name != positive)
        t = float(operating["threshold"])
        return replace(self, class_thresholds=((positive, t), (other, 1.0 - t)))


def format_event_points(points: Optional[Dict[str, Any]]) -> List[str]:
    """Lines that say each class's operating point and what it gave on the validation videos."""
    if not points:
        return []
    lines = [f"event operating points (chosen on {points['videos']} validation videos for event F1):"]
    for name, p in points["classes"].items():
        lines.append(f"  {name}: p >= {p['threshold']:.2f}, at least {p['min_duration']:g} s, gaps up to "
                     f"{p['merge_gap']:g} s merged: precision {p['precision']:.3f} recall {p['recall']:.3f} "
                     f"F1 {p['f1']:.3f} ({p['events']} events, {p['matched_by']})")
    return lines


def add_timeline_arguments(group: argparse._ActionsContainer) -> None:
    """The window and event options that predict.py --timeline and live.py share; each defaults to the
    checkpoint's (TimelineOptions.for_model)."""
    group.add_argument("--window", type=float, default=None,
                       help=f"window length, seconds (default: the checkpoint's training windows when it was trained "
                            f"from event times, else {DEFAULT_WINDOW:g})")
    group.add_argument("--stride", type=float, default=None,
                       help=f"seconds between window starts (default: the checkpoint's, else {DEFAULT_STRIDE:g})")
    group.add_argument("--threshold", type=float, default=None,
                       help="probability that makes a window an event, every class (default: the checkpoint's "
                            "per-class operating points, or a two-class checkpoint's operating threshold, "
                            f"else {DEFAULT_EVENT_THRESHOLD:g})")
    group.add_argument("--min-duration", type=float, default=None,
                       help="events shorter than this are not reported (s; default: the checkpoint's, else 0)")
    group.add_argument("--merge-gap", type=float, default=None,
                       help="join event segments closer than this (s; default: the checkpoint's, else 0)")
    group.add_argument("--event-classes", nargs="+", default=None,
                       help="classes to find (default: all; trained from event times: all but the background)")


def timeline_options_from(args: argparse.Namespace) -> TimelineOptions:
    """TimelineOptions from the arguments `add_timeline_arguments` added."""
    return TimelineOptions(window=args.window, stride=args.stride, threshold=args.threshold,
                           min_duration=args.min_duration, merge_gap=args.merge_gap,
                           event_classes=tuple(args.event_classes) if args.event_classes else None)



@dataclass(frozen=True)
class Event:
    """One event segment: its class, start and end (seconds), and its peak."""

    label: str
    start: float
    end: float
    peak_probability: float
    peak_time: float


def find_events(
    times: np.ndarray, probs: np.ndarray, class_names: Sequence[str], options: TimelineOptions
) -> List[Event]:
    """Event segments from window times [W,2] (start, end seconds) and probabilities [W,C]."""
    wanted = options.event_classes or tuple(class_names)
    unknown = set(wanted) - set(class_names)
    if unknown:
        raise ValueError(f"unknown event classes {sorted(unknown)}; the model knows {list(class_names)}")
    events: List[Event] = []
    for name in wanted:
        p = probs[:, list(class_names).index(name)]
        segments: List[List[int]] = []  # [first window, last window]
        for w in np.flatnonzero(p >= options.threshold_for(name)):
            if segments and times[w, 0] - times[segments[-1][1], 1] <= options.merge_gap_for(name):
                segments[-1][1] = w
            else:
                segments.append([w, w])
        for first, last in segments:
            start, end = float(times[first, 0]), float(times[last, 1])
            if end - start < options.min_duration_for(name):
                continue
            peak = first + int(np.argmax(p[first:last + 1]))
            events.append(Event(name, start, end, float(p[peak]), float(times[peak].mean())))
    return sorted(events, key=lambda e: (e.start, e.label))


def write_timeline(
    out_dir: Path,
    stem: str,
    times: np.ndarray,
    probs: np.ndarray,
    class_names: Sequence[str],
    events: Sequence[Event],
    options: TimelineOptions,
    title: str = "",
) -> dict:
    """Write <stem>.windows.csv, <stem>.events.csv and <stem>.png atomically; returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    windows_csv = out_dir / f"{stem}.windows.csv"
    events_csv = out_dir / f"{stem}.events.csv"
    png = out_dir / f"{stem}.png"
    write_csv_atomic(
        windows_csv,
        ["start", "end", *(f"prob_{c}" for c in class_names)],
        [[f"{s:.3f}", f"{e:.3f}", *(f"{v:.6f}" for v in row)] for (s, e), row in zip(times, probs)],
    )
    write_csv_atomic(
        events_csv,
        ["label", "start", "end", "peak_probability", "peak_time"],
        [[ev.label, f"{ev.start:.3f}", f"{ev.end:.3f}", f"{ev.peak_probability:.4f}", f"{ev.peak_time:.3f}"]
         for ev in events],
    )
    plot_timeline(png, times, probs, class_names, events, options, title)
    return {"windows": str(windows_csv), "events": str(events_csv), "plot": str(png)}


def plot_timeline(
    path: Path,
    times: np.ndarray,
    probs: np.ndarray,
    class_names: Sequence[str],
    events: Sequence[Event],
    options: TimelineOptions,
    title: str = "",
) -> None:
    """The probabilities of the shown classes over time, events shaded, saved as a PNG atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    centres = times.mean(axis=1)
    shown = options.event_classes or tuple(class_names)
    fig, ax = plt.subplots(figsize=(10, 3), dpi=100)
    for name in shown:
        ax.plot(centres, probs[:, list(class_names).index(name)], label=name, linewidth=1.5)
    for ev in events:
        ax.axvspan(ev.start, ev.end, alpha=0.15, color="tab:red")
        ax.annotate(f"{ev.label} {_clock(ev.peak_time)}", (ev.peak_time, 1.02), ha="center", fontsize=8,
                    annotation_clip=False)
    for level in sorted({options.threshold_for(name) for name in shown}):
        ax.axhline(level, color="grey", linestyle="--", linewidth=0.8)
    ax.set_xlim(float(times[0, 0]), float(times[-1, 1]))
    ax.set_ylim(0, 1.08)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("probability")
    ax.legend(loc="upper right", fontsize=8)
    if title:
        ax.set_title(title, fontsize=9, pad=14)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp)
    plt.close(fig)


def _clock(seconds: float) -> str:
    minutes, secs = divmod(seconds, 60)
    return f"{int(minutes)}:{secs:04.1f}"
