"""The timeline's event segments, decided window by window as a stream plays.

`pipeline.inference.timeline.find_events` needs all windows; here each class keeps its open segment
and says what is already certain:

- a window whose probability reaches the class's threshold opens a segment, or extends the open one
  when it starts at most `merge_gap` seconds after the segment's end (as `find_events` merges);
- the segment becomes an event (`event_start`) as soon as it lasts `min_duration` seconds, since
  it can only grow;
- it ends (`event_end`) when a window starts more than `merge_gap` after its end (window starts
  never decrease, so no later window can join it), or when the segment of the stream ends.

So the events given by `event_end` are exactly `find_events`' over the same windows (tested).

Each window may bring a `payload` (live: the decoded frame at its middle); each change carries the
payload of its event's peak window so far (`EventChange.peak`), for the event's snapshot.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, List, NamedTuple, Optional, Sequence

import numpy as np

from pipeline.inference.timeline import Event, TimelineOptions


@dataclass
class _Open:
    start: float
    end: float
    peak_probability: float
    peak_time: float
    peak: Any = None  # the payload of the peak window
    announced: bool = False


class EventChange(NamedTuple):
    """`kind` "start" or "end", the event (its peak so far at a start), the peak window's payload."""

    kind: str
    event: Event
    peak: Any = None


class EventTracker:
    """Event segments of the event classes over one continuous segment of windows."""

    def __init__(self, class_names: Sequence[str], options: TimelineOptions):
        wanted = options.event_classes or tuple(class_names)
        unknown = set(wanted) - set(class_names)
        if unknown:
            raise ValueError(f"unknown event classes {sorted(unknown)}; the model knows {list(class_names)}")
        self.options = options
        self.classes = [(name, list(class_names).index(name), options.threshold_for(name)) for name in wanted]
        self.open: dict = {name: None for name in wanted}

    def add(self, start: float, end: float, probs: np.ndarray, payload: Any = None) -> List[EventChange]:
        """A window [start, end] (seconds), its probabilities [C] and its payload: the changes it makes
        certain, in time order."""
        changes: List[EventChange] = []
        for name, column, threshold in self.classes:
            segment: Optional[_Open] = self.open[name]
            if segment is not None and start - segment.end > self.options.merge_gap_for(name):
                changes += self._close(name)
                segment = None
            p = float(probs[column])
            if p < threshold:
                continue
            if segment is None:
                segment = self.open[name] = _Open(start, end, p, (start + end) / 2, payload)
            else:
                segment.end = end
                if p > segment.peak_probability:  # the first of equal peaks, as argmax takes it
                    segment.peak_probability, segment.peak_time, segment.peak = p, (start + end) / 2, payload
            if not segment.announced and segment.end - segment.start >= self.options.min_duration_for(name):
                segment.announced = True
                changes.append(self._change("start", name, segment))
        return sorted(changes, key=lambda change: (change.event.start, change.event.label))

    def close_all(self) -> List[EventChange]:
        """End every open segment (the stream's segment ended): the changes that makes."""
        changes: List[EventChange] = []
        for name, _, _ in self.classes:
            changes += self._close(name)
        return changes

    def _close(self, name: str) -> List[EventChange]:
        segment: Optional[_Open] = self.open[name]
        self.open[name] = None
        if segment is None or segment.end - segment.start < self.options.min_duration_for(name):
            return []
        changes = [] if segment.announced else [self._change("start", name, segment)]
        return changes + [self._change("end", name, segment)]

    @staticmethod
    def _change(kind: str, name: str, segment: _Open) -> EventChange:
        event = Event(name, segment.start, segment.end, segment.peak_probability, segment.peak_time)
        return EventChange(kind, event, segment.peak)
