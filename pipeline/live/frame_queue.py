"""Between the readers and the model: one bounded queue per stream, newest frames kept.

Readers put the frames the windows need (`FrameItem`) and small markers (a window is complete, a
segment ended, a gap, the stream ended) in order. When a live stream's queue holds `max_frames`
frames and another arrives, the oldest droppable frame is dropped and counted: the model falls
behind by at most `max_frames` frames and memory stays bounded, whatever the source does. A file
read as fast as it decodes, and standard input, are never dropped from: the reader waits for room. Markers are
never dropped (a few per second); a model that stops taking them altogether is stopped by the
runner's own end, not by them.

The model takes from all streams at once (`take`): up to `max_batch` frames in all, round robin,
each stream's items in order, so that one CNN batch serves every camera.
"""
from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Deque, Dict, List, Optional

import numpy as np


@dataclass
class FrameItem:
    """A frame a window needs: its segment, index in the segment, arrival (monotonic s), pixels."""

    segment: Any
    index: int
    arrival: float
    pixels: np.ndarray
    droppable: bool = True


@dataclass
class Marker:
    """Anything else a reader reports, in stream order: `kind` is "window", "segment_end", "gap" or
    "end"; `data` what the model needs for it."""

    kind: str
    segment: Any = None
    data: Dict[str, Any] = field(default_factory=dict)


class _StreamQueue:
    def __init__(self, max_frames: int, drops: bool):
        self.items: Deque[Any] = deque()
        self.frames = 0  # FrameItems now in `items`
        self.max_frames, self.drops = max_frames, drops
        self.dropped = 0
        self.peak = 0  # the most frames it ever held


class FrameQueues:
    """The bounded queues of all streams, with one condition that wakes the model."""

    def __init__(self, streams: int, max_frames: int, drops: List[bool]):
        if max_frames < 1:
            raise ValueError(f"the queue must hold at least one frame, got {max_frames}")
        self.queues = [_StreamQueue(max_frames, d) for d in drops]
        self.ready = threading.Condition()
        self.stopping = False
        self._next = 0  # the stream `take` starts with (round robin)

    def put(self, stream: int, item: Any) -> None:
        """Add an item to a stream's queue: a frame to a full queue drops the oldest droppable frame (a
        live stream) or waits for room (a file read as fast as it decodes; returns when stopping)."""
        q = self.queues[stream]
        with self.ready:
            if isinstance(item, FrameItem) and item.droppable:
                while q.frames >= q.max_frames and not q.drops and not self.stopping:
                    self.ready.wait(0.1)
                if q.frames >= q.max_frames and q.drops:
                    self._drop_oldest(q)
            q.items.append(item)
            q.frames += isinstance(item, FrameItem)
            q.peak = max(q.peak, q.frames)
            self.ready.notify_all()

    @staticmethod
    def _drop_oldest(q: _StreamQueue) -> None:
        for i, old in enumerate(q.items):
            if isinstance(old, FrameItem) and old.droppable:
                del q.items[i]
                q.frames -= 1
                q.dropped += 1
                return

    def take(self, max_batch: int, timeout: Optional[float] = None) -> List[List[Any]]:
        """Per stream, the items taken (in order): markers freely, frames up to `max_batch` in all.
        Waits up to `timeout` seconds (None: forever) while every queue is empty."""
        with self.ready:
            if not any(q.items for q in self.queues):
                self.ready.wait(timeout)
            taken: List[List[Any]] = [[] for _ in self.queues]
            budget = max_batch
            order = list(range(self._next, len(self.queues))) + list(range(self._next))
            self._next = (self._next + 1) % len(self.queues)
            progress = True
            while progress:  # one frame per stream per round, so that streams share the batch
                progress = False
                for s in order:
                    q = self.queues[s]
                    while q.items and not isinstance(q.items[0], FrameItem):
                        taken[s].append(q.items.popleft())
                    if q.items and budget > 0:
                        taken[s].append(q.items.popleft())
                        q.frames -= 1
                        budget -= 1
                        progress = True
            for s in order:  # markers that now head a queue
                q = self.queues[s]
                while q.items and not isinstance(q.items[0], FrameItem):
                    taken[s].append(q.items.popleft())
            self.ready.notify_all()
            return taken

    def dropped(self, stream: int) -> int:
        """Frames dropped from this stream's queue so far."""
        return self.queues[stream].dropped

    def peak_frames(self, stream: int) -> int:
        """The most frames this stream's queue ever held."""
        return self.queues[stream].peak

    def stop(self) -> None:
        """Wake every waiting reader and the model: the run is ending."""
        with self.ready:
            self.stopping = True
            self.ready.notify_all()
