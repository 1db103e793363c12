"""Operating points of a model trained from event times: per class, the window threshold, minimum duration
and merge gap that give the best event F1 on the validation videos.

Window accuracy is not what a user of a timeline gets: they get events. So after every validation epoch
(`EventOperatingPoints`, a Lightning callback) the model scores every window of each validation video (the
timeline's windows, from the cached features: no decoding), and for each event class a small grid is tried:
thresholds 0.10-0.95 by 0.05, minimum durations 0, one and two windows, merge gaps 0, one stride and one
window. The events `find_events` makes of each are scored against the true events: segments by F1 at
temporal IoU >= 0.5, spots by F1 within a tolerance of one window (the event's peak within half a window
of the truth). The best F1 wins (ties: the lowest threshold, then the shortest minimum and gap); a class
whose best F1 is 0 (no validation events, or none found) gets no point and the timeline's defaults. The
choice and its precision, recall and F1 are kept on the module (`event_points`), saved in each checkpoint
written after that validation (so the best checkpoint holds the points of its own weights), and used by
predict.py --timeline, live.py and Recognizer.timeline unless options are given.
"""
from __future__ import annotations

import logging
from typing import Any, Dict, Optional, Sequence, Tuple

import numpy as np
import pytorch_lightning as pl
import torch

from pipeline.core.metrics import metric_name
from pipeline.data.event_windows import video_windows
from pipeline.evaluation.event_metrics import Detection, TrueEvent, segment_prf, spotting_prf
from pipeline.inference.timeline import TimelineOptions, find_events

log = logging.getLogger(__name__)

THRESHOLDS = tuple(round(0.10 + 0.05 * i, 2) for i in range(18))  # 0.10 ... 0.95


def choose_event_points(timelines: Sequence[Tuple[str, np.ndarray, np.ndarray, Sequence[Any]]],
                        class_names: Sequence[str], event_classes: Sequence[str], window: float,
                        stride: float) -> Dict[str, Any]:
    """The operating point of each event class (the module docstring) from the validation `timelines`:
    (video, window times [W,2], probabilities [W,C], true events (label, start, end)) each."""
    truth = [TrueEvent(video, e.label, e.start, e.end) for video, _, _, events in timelines for e in events]
    chosen: Dict[str, Any] = {}
    for name in event_classes:
        mine = [t for t in truth if t.label == name]
        spots = bool(mine) and all(t.start == t.end for t in mine)
        best: Optional[Tuple[float, Dict[str, Any]]] = None
        for threshold in THRESHOLDS:
            for min_duration in (0.0, window, 2 * window):
                for merge_gap in (0.0, stride, window):
                    options = TimelineOptions(window=window, stride=stride, threshold=threshold,
                                              min_duration=min_duration, merge_gap=merge_gap, event_classes=(name,))
                    found = [Detection(video, e.label, e.start, e.end, e.peak_probability)
                             for video, times, probs, _ in timelines
                             for e in find_events(times, probs, class_names, options)]
                    if spots:  # an event's instant is its peak, as evaluate.py --events scores it
                        found = [Detection.spot(video, e.label, e.peak_time, e.peak_probability)
                                 for video, times, probs, _ in timelines
                                 for e in find_events(times, probs, class_names, options)]
                        scores = spotting_prf(mine, found, (name,), tolerance=window)
                    else:
                        scores = segment_prf(mine, found, (name,), min_tiou=0.5)
                    tally = scores.per_class[name]
                    if best is None or tally.f1 > best[0] + 1e-12:
                        # plain floats: a checkpoint holds plain data only (loaded with weights_only)
                        best = (tally.f1, {"threshold": float(threshold), "min_duration": float(min_duration),
                                           "merge_gap": float(merge_gap), "precision": float(tally.precision),
                                           "recall": float(tally.recall), "f1": float(tally.f1), "events": len(mine),
                                           "matched_by": f"spots within ±{window / 2:g} s" if spots
                                           else "tIoU >= 0.5"})
        if best is not None and best[0] > 0:  # else nothing to stand on: the timeline's defaults apply to it
            chosen[name] = best[1]
    return {"classes": chosen, "videos": len(timelines), "window": window, "stride": stride}


class EventOperatingPoints(pl.Callback):
    """After each validation epoch of a model trained from event times, choose its operating points on the
    validation videos (`choose_event_points`) and keep them on the module for the checkpoints that follow."""

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        data = trainer.datamodule
        if trainer.sanity_checking or getattr(data, "event_windows", None) is None or "val" not in data.datasets:
            return
        timelines = []
        names = list(pl_module.class_names)
        with torch.no_grad():
            for video, entry in data.event_videos("val"):
                if entry is None:
                    continue
                times, _, indices = video_windows(video, entry, data.eval_sampler, data.event_windows, names)
                # the cached rows as frame features (with model.trainable_stages, maps through the trained top)
                features = pl_module.cached_frame_features(entry.features)
                rows = torch.from_numpy(entry.rows_for(indices)).to(pl_module.device)
                probs = pl_module.window_probabilities(features, rows).cpu().numpy()
                timelines.append((str(video.path), times, probs, video.events))
        if not timelines:  # points of earlier weights must not be saved with these
            pl_module.event_points = None
            return
        background = dict(data.sampling["events"])["background"]
        pl_module.event_points = choose_event_points(timelines, names, [c for c in names if c != background],
                                                     data.event_windows.window, data.event_windows.stride)
        for name, p in pl_module.event_points["classes"].items():
            pl_module.log(f"val/event_f1_{metric_name(name)}", float(p["f1"]), rank_zero_only=True)
