"""The Python API: a trained checkpoint, loaded once, that labels videos.

    from pipeline import Recognizer
    rec = Recognizer.from_checkpoint("best.ckpt", device="auto")
    rec.predict("clip.mp4")                          # Prediction: label, probabilities, frames, timing
    rec.predict_many(["a.mp4", "videos/"])           # the rows scripts/predict.py writes for them
    rec.timeline("match.mp4", window=2.0, stride=0.5)  # Timeline: windows, events, .write(folder)
    for record in rec.stream("rtsp://camera/stream"):  # live: the records scripts/live.py writes
        ...

Everything is scripts/predict.py's own code: its options and their defaults (PredictOptions,
TimelineOptions), loading (pipeline.core.checkpoints: never runs code from the file unless
`trust_checkpoint=True`), sampling and decoding (pipeline.inference.datasets), the model's
predict_step and the output rows; pipeline.inference.engine runs them in this process on one
device instead of through Lightning's Trainer (no DDP, no output file, no resuming). `stream` is
scripts/live.py's run (pipeline.live) with this loaded model.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np

from pipeline.data.workers import resolve_num_workers
from pipeline.errors import InputError
from pipeline.inference.batch import dataset_factory, load_model, precision_for, reading_for
from pipeline.inference.engine import loader, run_predict_steps, torch_device
from pipeline.inference.inputs import collect_inputs
from pipeline.inference.options import PredictOptions
from pipeline.inference.output import prediction_rows, table_columns
from pipeline.inference.timeline import Event, TimelineOptions, write_timeline
from pipeline.inference.timeline_output import complete_timeline_row

_DEFAULTS = {f.name: f.default for f in fields(PredictOptions)}  # the one place they live is PredictOptions
_TIMELINE = TimelineOptions()
_LIVE: Dict[str, Any] = {}  # scripts/live.py's defaults (pipeline.live.runner.LiveOptions), read on first use


def _live_default(name: str) -> Any:
    if not _LIVE:
        from pipeline.live.runner import LiveOptions

        _LIVE.update({f.name: f.default for f in fields(LiveOptions)})
    return _LIVE[name]


class UnreadableVideoError(InputError):
    """A video that could not be read: names the file, its status (as predict.py's rows say it) and why."""

    def __init__(self, path: str, status: str, reason: str):
        self.path, self.status, self.reason = path, status, reason
        super().__init__(f"{path}: cannot be read ({status}): {reason}")


@dataclass(frozen=True)
class Prediction:
    """One video's label, the probability of every class, the frames it was read at, and the time taken."""

    path: str
    label: str
    probability: float
    probabilities: Dict[str, float]  # class name -> probability, averaged over the clips
    frame_indices: List[List[int]]  # per clip, the frames of the video it was read at
    num_frames: int
    fps: float
    duration: float  # seconds
    decoder: str
    decode_seconds: float  # waiting for decoded, resized frames
    model_seconds: float  # normalisation, CNN, recurrent head


@dataclass(frozen=True)
class Timeline:
    """A video scored window by window: window times [W,2] (start, end seconds), class probabilities
    [W,C], the event segments, and the video's row (its windows averaged), as scripts/predict.py
    --timeline writes them."""

    path: str
    class_names: List[str]
    times: np.ndarray
    probabilities: np.ndarray
    events: List[Event]
    row: Dict[str, Any]
    options: TimelineOptions
    decode_seconds: float
    model_seconds: float

    def write(self, out_dir: os.PathLike, stem: Optional[str] = None) -> Dict[str, str]:
        """<stem>.windows.csv, <stem>.events.csv and <stem>.png in out_dir (stem: the video's); their paths."""
        return write_timeline(Path(out_dir), stem or Path(self.path).stem, self.times, self.probabilities,
                              self.class_names, self.events, self.options, title=self.path)


class Recognizer:
    """A trained recognizer loaded once from its checkpoint: predict, predict_many and timeline."""

    def __init__(self, model: Any, options: PredictOptions):
        self.model, self.options = model, options
        self.device = torch_device(options.device)
        self.precision = precision_for(options)
        self.model.to(self.device).eval()

    @classmethod
    def from_checkpoint(
        cls,
        checkpoint: os.PathLike,
        device: str = _DEFAULTS["device"],
        *,
        backend: Optional[str] = _DEFAULTS["backend"],
        batch_size: int = _DEFAULTS["batch_size"],
        num_workers: Optional[int] = _DEFAULTS["num_workers"],
        clips: Optional[int] = _DEFAULTS["clips"],
        top_k: int = _DEFAULTS["top_k"],
        precision: Optional[str] = _DEFAULTS["precision"],
        backbone_precision: Optional[str] = _DEFAULTS["backbone_precision"],
        decode_timeout: float = _DEFAULTS["decode_timeout"],
        trust_checkpoint: bool = _DEFAULTS["trust_checkpoint"],
    ) -> Recognizer:
        """Load a checkpoint written by scripts/train.py; the options are scripts/predict.py's, with its
        defaults (None: the checkpoint's own). Raises UsageError for a wrong option and InputError for
        a missing or unusable checkpoint."""
        options = PredictOptions(
            checkpoint=str(checkpoint), inputs=(), output="", device=device, backend=backend, batch_size=batch_size,
            num_workers=num_workers, clips=clips, top_k=top_k, precision=precision,
            backbone_precision=backbone_precision, decode_timeout=decode_timeout, trust_checkpoint=trust_checkpoint,
            progress=False,
        )
        options.validate()
        return cls(load_model(options), options)

    @property
    def class_names(self) -> List[str]:
        """The model's classes, in the order of its outputs."""
        return list(self.model.class_names)

    def __repr__(self) -> str:
        return f"Recognizer({self.options.checkpoint!r}, classes={self.class_names}, device={self.device})"

    def predict(self, video: os.PathLike) -> Prediction:
        """Label one video (its clips' probabilities averaged); raises UnreadableVideoError naming the file
        when it cannot be read."""
        path = _one_video(video)
        rows, (decode, model) = self._predict_rows(self.options, [path], num_workers=0)
        row = rows[0]
        _raise_if_failed(row)
        return Prediction(
            path=row["path"], label=row["label"], probability=row["probability"],
            probabilities={name: row[f"prob_{name}"] for name in self.class_names},
            frame_indices=row["frame_indices"], num_frames=row["num_frames"], fps=row["fps"],
            duration=row["duration"], decoder=row["decoder"], decode_seconds=decode, model_seconds=model,
        )

    def predict_many(self, videos: Sequence[os.PathLike]) -> List[Dict[str, Any]]:
        """The rows scripts/predict.py writes for these videos (folders, files and list files, as its
        --input), in batches of `batch_size`: one dict per video with the output's columns; a video that
        cannot be read gets a row whose status and error say why."""
        if isinstance(videos, (str, os.PathLike)):
            videos = [videos]
        paths = collect_inputs([str(v) for v in videos])
        workers = min(resolve_num_workers(self.options.num_workers), len(paths))
        rows, _ = self._predict_rows(self.options, paths, num_workers=workers)
        return rows

    def timeline(
        self,
        video: os.PathLike,
        window: Optional[float] = _TIMELINE.window,
        stride: Optional[float] = _TIMELINE.stride,
        threshold: Optional[float] = _TIMELINE.threshold,
        min_duration: Optional[float] = _TIMELINE.min_duration,
        merge_gap: Optional[float] = _TIMELINE.merge_gap,
        event_classes: Optional[Sequence[str]] = _TIMELINE.event_classes,
    ) -> Timeline:
        """Score a long video window by window, as scripts/predict.py --timeline does (same options and
        defaults: None is the checkpoint's, TimelineOptions.for_model); raises UnreadableVideoError naming
        the file when it cannot be read."""
        path = _one_video(video)
        timeline = TimelineOptions(window, stride, threshold, min_duration, merge_gap,
                                   tuple(event_classes) if event_classes else None)
        timeline = timeline.for_model(self.model)
        options = replace(self.options, timeline=timeline)
        options.validate()
        options.validate_for_model(self.class_names)
        steps = self._steps(options, [path], num_workers=min(resolve_num_workers(self.options.num_workers), 1))
        rows, decode, model, window_probs, item = [], 0.0, 0.0, None, None
        for prediction, waited, computed in steps:
            decode, model = decode + waited, model + computed
            if "window_probs" in prediction:
                window_probs, item = prediction["window_probs"], prediction["items"][0]
            rows += prediction_rows(prediction, self.class_names, self._top_k(options), self.model.threshold)
        row = self._as_columns(rows)[0]
        _raise_if_failed(row)
        times, probs, events = complete_timeline_row(row, item, window_probs, self.class_names, timeline,
                                                     self._top_k(options), self.model.threshold)
        return Timeline(path, self.class_names, times, probs, events, row, timeline, round(decode, 6),
                        round(model, 6))

    def stream(
        self,
        source: Union[str, int, os.PathLike, Sequence[Union[str, int, os.PathLike]]],
        window: Optional[float] = _TIMELINE.window,
        stride: Optional[float] = _TIMELINE.stride,
        threshold: Optional[float] = _TIMELINE.threshold,
        min_duration: Optional[float] = _TIMELINE.min_duration,
        merge_gap: Optional[float] = _TIMELINE.merge_gap,
        event_classes: Optional[Sequence[str]] = _TIMELINE.event_classes,
        *,
        realtime: Optional[bool] = None,
        fps: Optional[float] = None,
        stall_timeout: Optional[float] = None,
        queue_frames: Optional[int] = None,
        events_only: Optional[bool] = None,
    ) -> Iterator[Dict[str, Any]]:
        """Label a live source as it plays, as scripts/live.py does (same options; None: its default): an
        iterator of its records (dicts: `window`, `event_start`, `event_end`, `gap`, and `summary` last).
        `source`: a camera index, a URL FFmpeg opens, a file, "-" (MPEG-TS on stdin), or a list of them (one
        CNN batch serves all; records then carry `stream`). Leaving the loop ends the run. The first record
        asked for raises SourceError (an InputError) when a source cannot be opened."""
        from pipeline.live.runner import LiveOptions, stream_records

        sources = [source] if isinstance(source, (str, int, os.PathLike)) else list(source)
        given = {"realtime": realtime, "fps": fps, "stall_timeout": stall_timeout, "queue_frames": queue_frames,
                 "events_only": events_only}
        options = LiveOptions(
            timeline=TimelineOptions(window, stride, threshold, min_duration, merge_gap,
                                     tuple(event_classes) if event_classes else None),
            **{k: _live_default(k) if v is None else v for k, v in given.items()})
        return stream_records(self.model, [os.fspath(s) if not isinstance(s, int) else str(s) for s in sources],
                              options, device=self.device, precision=self.precision)

    # ------------------------------------------------------------------ the loop

    def _steps(self, options: PredictOptions, paths: List[str], num_workers: int):
        sampler, backend = reading_for(options, self.model)
        dataset = dataset_factory(options, sampler, self.model.preprocessing, backend)(paths)
        batch_size = 1 if options.timeline is not None else options.batch_size  # as predict.py's
        return run_predict_steps(self.model, loader(dataset, batch_size, num_workers), self.device, self.precision)

    def _predict_rows(self, options: PredictOptions, paths: List[str],
                      num_workers: int) -> Tuple[List[Dict[str, Any]], Tuple[float, float]]:
        rows, decode, model = [], 0.0, 0.0
        for prediction, waited, computed in self._steps(options, paths, num_workers):
            rows += prediction_rows(prediction, self.class_names, self._top_k(options), self.model.threshold)
            decode, model = decode + waited, model + computed
        return self._as_columns(rows), (round(decode, 6), round(model, 6))

    def _top_k(self, options: PredictOptions) -> int:
        return min(options.top_k, len(self.class_names))  # as predict.py's

    def _as_columns(self, rows: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
        columns = table_columns(self.class_names)
        return [{c: row.get(c) for c in columns} for row in rows]


def _one_video(video: os.PathLike) -> str:
    path = Path(video)
    if path.is_dir():
        raise InputError(f"{path}: a folder; predict and timeline take one video (predict_many takes folders)")
    if not path.exists():
        raise InputError(f"{path}: no such file")
    return os.path.abspath(path)


def _raise_if_failed(row: Dict[str, Any]) -> None:
    if row["status"] != "ok":
        raise UnreadableVideoError(row["path"], row["status"], row["error"])
