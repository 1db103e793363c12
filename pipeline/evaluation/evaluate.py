"""Evaluate a trained checkpoint on a split of a training config or on a labelled folder / list of videos.

`evaluate(options)` loads the checkpoint (as plain data only, unless trusted), runs Lightning's test
loop of the model itself over the videos (so the metrics are computed by the same code, on the same
clips, as the test at the end of training: equal on the same split) and writes into `options.out`:

    metrics.json          the metrics, per-class precision / recall / F1 / support, the confusion
                          matrix, the operating threshold (two-class checkpoints that have one) and
                          the videos that could not be read
    per_class.csv         the per-class report
    confusion_matrix.png  rows the true class, columns the predicted one
    mistakes.csv          every misclassified video with its class probabilities, most confident first
    report.html           one self-contained page (report_html.py) with all of that and frame
                          strips of the worst mistakes

"Predicted" is the decision the checkpoint makes (pipeline.core.decision, as predict.py labels): with an
operating threshold (two classes) p(positive) >= threshold, else the most probable class. The confusion
matrix, the per-class report and the mistakes follow it. The metrics (acc, mean_class_acc, f1_macro,
acc_top5, loss) are computed from the collected predictions of the most probable class, as training's
test metrics are (pipeline.core.metrics.video_scores: every figure from one confusion matrix), so without
a threshold they are the figures of the confusion matrix and per-class table beside them. With a
threshold the report gives both accuracies ("accuracy": most_probable_class, at_threshold) and the
threshold's own figures ("metrics_at_threshold", from the confusion matrix it shows).

Videos come either from train.py's data options (`data_args`: --config and any --data.* override; only
the configs' `data:` sections are read, by a parser of VideoDataModule's options alone, so a split is
exactly training's) or from `videos`: a folder of class folders or a list file of `path label` lines,
labelled with the checkpoint's class names.
"""
from __future__ import annotations

import base64
import io
import json
import logging
from argparse import ArgumentError
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from pytorch_lightning.callbacks import Callback

from pipeline.atomic_io import atomic_path, check_writable, write_csv_atomic, write_text_atomic
from pipeline.core.checkpoints import load_classifier_module
from pipeline.core.decision import decide_labels, describe_decision, operating_point
from pipeline.core.figures import confusion_figure, frame_strip, resize_height
from pipeline.core.metrics import confusion_matrix, per_class_scores, summary_scores, video_scores, worst_mistakes
from pipeline.data.annotations import AnnotationError, read_list_file, scan_class_folders
from pipeline.data.clip_frames import eval_clip_frames
from pipeline.data.datamodule import DEMO_CONFIG, VideoDataModule, split_config_files
from pipeline.data.datasets import VideoClipDataset, collate_clips
from pipeline.data.readers import FALLBACK_LIST, as_read_error, fallback_summary, format_fallbacks, recording_fallbacks
from pipeline.data.sampling import sampler_from_config
from pipeline.data.workers import resolve_num_workers
from pipeline.errors import InputError, UsageError
from pipeline.evaluation.report_html import accuracy_lines, render_report

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")


@dataclass
class EvaluationOptions:
    """What to evaluate, where the report goes, and how the videos are read."""

    ckpt: str
    out: str
    data_args: List[str] = field(default_factory=list)  # train.py's --config / --data.* options
    split: str = "test"
    videos: Optional[str] = None  # a folder of class folders or a `path label` list file, instead of a split
    mistakes: int = 8  # frame strips of the most confident mistakes in the HTML report
    batch_size: int = 8
    num_workers: Optional[int] = None  # None: one per CPU core (at most 16)
    device: str = "auto"
    trust_checkpoint: bool = False


class _Collector(Callback):
    """Keeps the per-video probabilities, labels and record indices the test steps return."""

    def __init__(self) -> None:
        self.parts: List[Dict[str, torch.Tensor]] = []

    def on_test_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int,
                          dataloader_idx: int = 0) -> None:
        if isinstance(outputs, dict) and "probs" in outputs:
            self.parts.append({k: outputs[k].detach().float().cpu() if k == "probs" else outputs[k].cpu()
                               for k in ("probs", "labels", "indices")})

    def arrays(self, num_classes: int) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """probs float [N,C], labels int64 [N], record indices int64 [N]."""
        if not self.parts:
            return np.zeros((0, num_classes)), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        return tuple(torch.cat([p[k] for p in self.parts]).numpy() for k in ("probs", "labels", "indices"))


def evaluate(options: EvaluationOptions) -> Dict[str, Any]:
    """Evaluate, write the report files; returns the report (what metrics.json holds) plus "files"."""
    if options.split not in SPLITS:
        raise UsageError(f"--split {options.split!r}: choose one of {', '.join(SPLITS)}")
    if options.videos and options.data_args:
        raise UsageError("give either --videos or the data options of train.py (--config, --data.*), not both")
    out = Path(options.out)
    _check_out(out)
    model = load_classifier_module(options.ckpt, trust_checkpoint=options.trust_checkpoint)
    with recording_fallbacks(out / FALLBACK_LIST):  # said once for the run (loader workers included), listed there
        report, strips = _evaluate(options, model)
        report["decoder_fallbacks"] = fallback_summary()
    report["files"] = write_report(out, report, strips)
    return report


def _evaluate(options: EvaluationOptions, model: Any) -> Tuple[Dict[str, Any], List[Dict[str, str]]]:
    """The report and the mistakes' frame strips of `model` on the videos `options` name."""
    import pytorch_lightning as pl

    collector = _Collector()
    accelerator = "gpu" if options.device in ("cuda", "gpu") else options.device
    trainer = pl.Trainer(accelerator=accelerator, devices=1, logger=False, enable_checkpointing=False,
                         enable_model_summary=False, enable_progress_bar=False, callbacks=[collector])
    if options.videos:
        loader, source = _video_loader(options, model), f"videos {options.videos}"
        trainer.test(model, dataloaders=loader, verbose=False)
    else:
        data = _split_data(options, model)
        source = f"{options.split} split of {data.root}"
        trainer.test(model, datamodule=data, verbose=False)
        loader = trainer.test_dataloaders
    dataset = loader.dataset
    probs, labels, indices = collector.arrays(len(model.class_names))
    predicted = decide_labels(probs, model.class_names, getattr(model, "threshold", None))
    report = _report(options, model, source, probs, predicted, labels, indices, dataset)
    return report, _mistake_strips(model, dataset, probs, predicted, labels, indices, options.mistakes)


def _check_out(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out}: --output must be a folder (a file is in its way)")
    check_writable(out / "metrics.json")


def _split_data(options: EvaluationOptions, model: Any) -> Any:
    """train.py's data module for `options.data_args`, its test split replaced by `options.split`."""
    data = data_module(options.data_args)
    if list(data.class_names) != list(model.class_names):
        raise InputError(f"{options.ckpt}: its classes ({', '.join(model.class_names)}) are not the data's "
                         f"({', '.join(data.class_names)})")
    if data.event_windows is not None:
        raise UsageError("data.format events: score long videos against their events with --events EVENTS_FILE "
                         "(docs/evaluation.md, Scoring events in long videos)")
    records = getattr(data.splits, options.split)
    if not records:
        raise InputError(f"{data.root}: the {options.split} split has no videos")
    data.splits.test = list(records)
    data.datasets.pop("test", None)
    data.attach_model(model.preprocessing, model.frozen_backbone)
    return data


def data_module(args: Sequence[str]) -> VideoDataModule:
    """The VideoDataModule that train.py builds from the same `--config` files (configs/demo.yaml when none)
    and `--data.*` options: the configs' `data:` sections are read, their other sections (model, trainer...)
    ignored, and the module is built by a parser of its own options, with train.py's types and defaults."""
    import yaml
    from jsonargparse import Namespace
    from pytorch_lightning.cli import LightningArgumentParser

    configs, overrides = split_config_files(args)
    merged: Dict[str, Any] = {}
    for path in configs or [str(DEMO_CONFIG)]:
        try:
            loaded = yaml.safe_load(Path(path).read_text())
        except OSError as exc:
            raise UsageError(f"{path}: config file cannot be read ({exc.strerror or exc})") from exc
        except yaml.YAMLError as exc:
            raise UsageError(f"{path}: not a YAML config ({' '.join(str(exc).split())})") from exc
        section = (loaded or {}).get("data") if isinstance(loaded, dict) else None
        if isinstance(section, dict):
            merged.update(section.get("init_args", section) if "class_path" in section else section)
    parser = LightningArgumentParser(exit_on_error=False, allow_abbrev=False)
    parser.add_lightning_class_args(VideoDataModule, "data")
    try:
        config = parser.parse_args(["--data", json.dumps(merged), *overrides], defaults=True)
        built = parser.instantiate_classes(config)
    except ValueError as exc:
        if getattr(exc, "exit_code", None) is not None:
            raise
        raise UsageError(f"{' '.join(str(exc).split())} (see train.py --help)") from exc
    except ArgumentError as exc:
        raise UsageError(f"{' '.join(str(exc).split())} (see train.py --help)") from exc
    data = built["data"] if isinstance(built, (dict, Namespace)) else built.data
    return data


def _video_loader(options: EvaluationOptions, model: Any) -> Any:
    """A loader of the labelled videos of `options.videos`, read as the checkpoint's evaluation reads them."""
    from torch.utils.data import DataLoader

    path, names = Path(options.videos), list(model.class_names)
    try:
        if path.is_dir():
            records, found = scan_class_folders(path)
            unknown = sorted(set(found) - set(names))
            if unknown:
                raise InputError(f"{path}: class folders {', '.join(unknown)} are not classes of the checkpoint "
                                 f"({', '.join(names)})")
            records = [type(r)(r.path, names.index(found[r.label])) for r in records]
        elif path.is_file():
            records = read_list_file(path, None, names)
        else:
            raise InputError(f"{path}: --videos not found")
    except AnnotationError as exc:
        raise InputError(str(exc).strip().splitlines()[0]) from exc
    if not records:
        raise InputError(f"{path}: no videos found")
    sampling = dict(model.hparams.get("sampling") or {})
    sampler = sampler_from_config(dict(sampling.get("sampler") or {}))
    dataset = VideoClipDataset(records, sampler, model.preprocessing, False, sampling.get("backend") or "auto")
    workers = resolve_num_workers(options.num_workers)
    return DataLoader(dataset, batch_size=options.batch_size, num_workers=workers, collate_fn=collate_clips,
                      persistent_workers=False)


def _report(options: EvaluationOptions, model: Any, source: str, probs: np.ndarray, predicted: np.ndarray,
            labels: np.ndarray, indices: np.ndarray, dataset: Any) -> Dict[str, Any]:
    """What metrics.json holds: metrics (of the most probable class), per class, confusion, mistakes; the
    confusion, per-class scores and mistakes are of the checkpoint's decision `predicted` [N]."""
    names = list(model.class_names)
    matrix = confusion_matrix(labels, predicted, len(names)) if len(labels) else np.zeros((len(names),) * 2,
                                                                                            dtype=np.int64)
    scores = per_class_scores(matrix)
    order = worst_mistakes(probs, labels, len(labels), predicted) if len(labels) else []
    mistakes = [{
        "video": str(dataset.records[int(indices[i])].path),
        "true": names[int(labels[i])],
        "predicted": names[int(predicted[i])],
        "probability": float(probs[i, predicted[i]]),
        "probabilities": {name: float(p) for name, p in zip(names, probs[i])},
    } for i in order]
    report: Dict[str, Any] = {
        "checkpoint": str(options.ckpt),
        "source": source,
        "videos": int(len(labels)),
        "metrics": dict(sorted(video_scores(probs, labels).items())) if len(labels) else {},
        "per_class": {name: {key: (int(scores[key][i]) if key == "support" else float(scores[key][i]))
                             for key in ("precision", "recall", "f1", "support")} for i, name in enumerate(names)},
        "confusion_matrix": {"classes": names, "rows_true_cols_predicted": matrix.tolist()},
        "mistakes": mistakes,
        "skipped_videos": list(model.skipped_videos),
    }
    threshold = getattr(model, "threshold", None)
    point = operating_point(names, threshold)
    if point is not None:
        pos = point[0]
        chosen, truth = predicted == pos, labels == pos
        hits = int((chosen & truth).sum())
        report["threshold"] = {**threshold, "precision_here": hits / max(int(chosen.sum()), 1),
                               "recall_here": hits / max(int(truth.sum()), 1)}
        report["predicted_by"] = describe_decision(names, threshold)
        report["metrics_at_threshold"] = summary_scores(matrix)
        report["accuracy"] = {"most_probable_class": float(np.mean(probs.argmax(1) == labels)) if len(labels) else 0.0,
                              "at_threshold": float(np.mean(predicted == labels)) if len(labels) else 0.0}
    return report


def _mistake_strips(model: Any, dataset: Any, probs: np.ndarray, predicted: np.ndarray, labels: np.ndarray,
                    indices: np.ndarray, count: int) -> List[Dict[str, str]]:
    """The first evaluation clip of each of the `count` most confident mistakes of the checkpoint's decision
    `predicted`, as PNG data URIs."""
    names, strips = list(model.class_names), []
    if not len(labels) or count <= 0:
        return strips
    for i in worst_mistakes(probs, labels, count, predicted):
        record = dataset.records[int(indices[i])]
        guess = int(predicted[i])
        caption = [f"{record.path.parent.name}/{record.path.name}",
                   f"true {names[labels[i]]}, predicted {names[guess]} (p={probs[i, guess]:.2f})"]
        try:
            frames, used = eval_clip_frames(dataset, int(indices[i]), model.preprocessing,
                                            getattr(dataset, "backend", "auto"))
            image = frame_strip(np.stack([resize_height(f, 96) for f in frames]), used, caption)
        except Exception as exc:  # a picture that cannot be drawn costs that picture only
            log.warning("no frame strip for a misclassified video: %s", as_read_error(record.path, "the strip", exc))
            continue
        strips.append({"video": str(record.path), "image": png_data_uri(image)})
    return strips


def png_bytes(image: Any) -> bytes:
    """A uint8 [H,W,3] array or a matplotlib Figure as PNG bytes."""
    buffer = io.BytesIO()
    if isinstance(image, np.ndarray):
        from PIL import Image

        Image.fromarray(image).save(buffer, format="PNG")
    else:
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        FigureCanvasAgg(image)
        image.savefig(buffer, format="png", dpi=80)
    return buffer.getvalue()


def png_data_uri(image: Any) -> str:
    """An image (see png_bytes) as a `data:image/png;base64,...` URI for a self-contained page."""
    return "data:image/png;base64," + base64.b64encode(png_bytes(image)).decode("ascii")


def write_report(out: Path, report: Dict[str, Any], strips: Sequence[Dict[str, str]]) -> Dict[str, str]:
    """Write metrics.json, per_class.csv, confusion_matrix.png, mistakes.csv and report.html into `out`."""
    out.mkdir(parents=True, exist_ok=True)
    names = report["confusion_matrix"]["classes"]
    files = {name: str(out / name) for name in
             ("metrics.json", "per_class.csv", "confusion_matrix.png", "mistakes.csv", "report.html")}
    write_text_atomic(out / "metrics.json", json.dumps({k: v for k, v in report.items() if k != "files"}, indent=2))
    write_csv_atomic(out / "per_class.csv", ["class", "precision", "recall", "f1", "videos"],
                     [[n, *(f"{report['per_class'][n][k]:.6f}" for k in ("precision", "recall", "f1")),
                       report["per_class"][n]["support"]] for n in names])
    write_csv_atomic(out / "mistakes.csv", ["video", "true", "predicted", "probability", *(f"p_{n}" for n in names)],
                     [[m["video"], m["true"], m["predicted"], f"{m['probability']:.6f}",
                       *(f"{m['probabilities'][n]:.6f}" for n in names)] for m in report["mistakes"]])
    matrix = np.array(report["confusion_matrix"]["rows_true_cols_predicted"])
    figure = png_bytes(confusion_figure(matrix, names))
    with atomic_path(out / "confusion_matrix.png") as tmp:
        tmp.write_bytes(figure)
    page = render_report(report, "data:image/png;base64," + base64.b64encode(figure).decode("ascii"), strips)
    write_text_atomic(out / "report.html", page)
    return files


def format_summary(report: Dict[str, Any]) -> str:
    """What scripts/evaluate.py prints: the metrics, the threshold (if any) and where the files are."""
    lines = [f"{report['source']}: {report['videos']} videos"]
    lines += [f"  {key:<22} {value:.4f}" for key, value in report["metrics"].items()]
    lines += [f"  {label}: {value:.4f}" for label, value in accuracy_lines(report)]
    threshold = report.get("threshold")
    if threshold:
        lines.append(f"  threshold {threshold['positive']} >= {threshold['threshold']:.4f}: precision "
                     f"{threshold['precision']:.4f}, recall {threshold['recall']:.4f} on validation; here precision "
                     f"{threshold['precision_here']:.4f}, recall {threshold['recall_here']:.4f}")
        lines.append(f"  predicted: {report['predicted_by']}")
    lines.append(f"  misclassified          {len(report['mistakes'])}")
    if report["skipped_videos"]:
        lines.append(f"  skipped unreadable videos: {len(report['skipped_videos'])}")
    if report.get("decoder_fallbacks"):
        lines.append(f"  {format_fallbacks(report['decoder_fallbacks'])}")
    lines.append(f"report: {report['files']['report.html']}")
    return "\n".join(lines)
