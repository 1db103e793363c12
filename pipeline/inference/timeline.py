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
from typing import List, Optional, Sequence, Tuple

import numpy as np

from pipeline.atomic_io import atomic_path, write_csv_atomic
from pipeline.data.sampling import ClipSampler

DEFAULT_EVENT_THRESHOLD = 0.5  # without an operating threshold in the checkpoint


@dataclass(frozen=True)
class TimelineOptions:
    """How a video is cut into windows and how windows become events."""

    window: float = 2.0  # seconds per window
    stride: float = 1.0  # seconds between window starts
    threshold: Optional[float] = None  # None: the checkpoint's operating threshold (two classes), else 0.5
    min_duration: float = 0.0  # seconds; shorter segments are dropped
    merge_gap: float = 0.0  # seconds; segments closer than this are joined
    event_classes: Optional[Tuple[str, ...]] = None  # None: every class
    class_thresholds: Optional[Tuple[Tuple[str, float], ...]] = None  # set by `with_operating_threshold`

    def threshold_for(self, name: str) -> float:
        """The probability that makes a window an event of class `name`."""
        if self.threshold is not None:
            return self.threshold
        return dict(self.class_thresholds or ()).get(name, DEFAULT_EVENT_THRESHOLD)

    def with_operating_threshold(self, operating: Optional[dict], class_names: Sequence[str]) -> TimelineOptions:
        """With no `threshold` given, a two-class checkpoint's operating threshold t decides events as it
        decides labels: the positive class from p >= t, the other from p >= 1 - t."""
        if self.threshold is not None or not operating or len(class_names) != 2:
            return self
        positive = operating["positive"]
        other = next(name for name in class_names if name != positive)
        t = float(operating["threshold"])
        return replace(self, class_thresholds=((positive, t), (other, 1.0 - t)))


def add_timeline_arguments(group: argparse._ActionsContainer) -> None:
    """The window and event options that predict.py --timeline and live.py share, with the defaults of
    TimelineOptions."""
    defaults = TimelineOptions()
    group.add_argument("--window", type=float, default=defaults.window, help="window length, seconds")
    group.add_argument("--stride", type=float, default=defaults.stride, help="seconds between window starts")
    group.add_argument("--threshold", type=float, default=defaults.threshold,
                       help="probability that makes a window an event (default: a two-class checkpoint's "
                            "operating threshold, else 0.5)")
    group.add_argument("--min-duration", type=float, default=defaults.min_duration,
                       help="events shorter than this are not reported (s)")
    group.add_argument("--merge-gap", type=float, default=defaults.merge_gap,
                       help="join event segments closer than this (s)")
    group.add_argument("--event-classes", nargs="+", default=None, help="classes to find (default: all)")


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


def window_frames(num_frames: int, fps: float, window: float, stride: float) -> List[Tuple[int, int]]:
    """[first, last) frame ranges of the windows; a video shorter than one window is one window."""
    if window <= 0 or stride <= 0:
        raise ValueError(f"window and stride must be positive seconds, got {window} and {stride}")
    length = max(1, int(round(window * fps)))
    step = max(1, int(round(stride * fps)))
    if num_frames <= length:
        return [(0, num_frames)]
    starts = list(range(0, num_frames - length + 1, step))
    if starts[-1] + length < num_frames:  # the tail gets a window of its own
        starts.append(num_frames - length)
    return [(s, s + length) for s in starts]


def window_indices(ranges: Sequence[Tuple[int, int]], sampler: ClipSampler) -> np.ndarray:
    """Frame indices of one clip per window: int64 [W,T] (the sampler's evaluation clip)."""
    return np.asarray(
        [np.asarray(sampler(end - start, training=False)[0].indices) + start for start, end in ranges], dtype=np.int64
    )


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
            if segments and times[w, 0] - times[segments[-1][1], 1] <= options.merge_gap:
                segments[-1][1] = w
            else:
                segments.append([w, w])
        for first, last in segments:
            start, end = float(times[first, 0]), float(times[last, 1])
            if end - start < options.min_duration:
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
