"""Training from event times against training on cut clips, on the same long videos, in grouped folds.

For each fold of `kfold_split` over the long videos of an events CSV (whole groups held out):
(a) configs/events.yaml trained on the fold's training videos (validation carved by group from them);
(b) the same recipe (backbone, head, clip length) trained on the cut clips of the fold's training groups
    (a clips CSV `path,label,group`), then run as a timeline over the held-out long videos with the
    window and stride of (a) and its own two-class operating threshold;
both scored on the held-out long videos by scripts/evaluate.py --events (segment AP at tIoU 0.1-0.7,
F1 at the operating point). Every run writes into `out/fold<k>/{events,clips}`; a finished fold is read
back, so a stopped measurement resumes. `scripts/measure_events.py` is the command.
"""
from __future__ import annotations

import csv
import json
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from pipeline.data.annotations import build_splits, kfold_split

REPO = Path(__file__).resolve().parents[2]


def _rows(path: Path) -> List[Dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def _write(path: Path, rows: Sequence[Dict[str, str]], fields: Sequence[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(fields), extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


def fold_lists(events_csv: Path, clips_csv: Path, folds: int, fold: int, out: Path, seed: int = 0) -> Dict[str, Path]:
    """The fold's events CSVs (train, test) and clips CSV (the training groups' clips), absolute paths."""
    root = events_csv.parent
    splits = build_splits("events", root, train_list=events_csv, val_fraction=0.0, test_fraction=0.0)
    records = splits.train
    rest, held = kfold_split(records, folds, fold, seed, splits.group_key)
    held_paths = {str(r.path) for r in held}
    rows = [{**r, "video": str(root / r["video"])} for r in _rows(events_csv)]
    fields = ["video", "label", "start", "end", "group"]
    train = _write(out / "train_events.csv", [r for r in rows if r["video"] not in held_paths], fields)
    test = _write(out / "test_events.csv", [r for r in rows if r["video"] in held_paths], fields)
    held_groups = {splits.group_key(r) for r in held}
    clips = [{**r, "path": str((clips_csv.parent / r["path"]).resolve())} for r in _rows(clips_csv)
             if r["group"] not in held_groups]
    return {"train": train, "test": test, "clips": _write(out / "train_clips.csv", clips, ["path", "label", "group"]),
            "groups": sorted(held_groups)}


def run_fold(events_csv: Path, clips_csv: Path, folds: int, fold: int, out: Path, cache_dir: Path,
             common: Sequence[str] = (), max_epochs: int = 20) -> Dict[str, Any]:
    """Both trainings of one fold and their event scores (read back when the fold has finished)."""
    from pipeline.evaluation.event_evaluation import EventEvaluationOptions, evaluate_events

    done = out / "fold.json"
    if done.is_file():
        return json.loads(done.read_text())
    lists = fold_lists(events_csv, clips_csv, folds, fold, out)
    result: Dict[str, Any] = {"fold": fold, "test_groups": lists["groups"]}
    logger = lambda name: json.dumps({"class_path": "pytorch_lightning.loggers.TensorBoardLogger",  # noqa: E731
                                      "init_args": {"save_dir": str(out / "runs"), "name": name}})
    events_run = _trained(out / "events_run.json", [
        "--config", str(REPO / "configs" / "events.yaml"), f"--data.root={events_csv.parent}",
        f"--data.train_list={lists['train']}", "--data.test_list=null", "--data.test_fraction=0",
        f"--data.cache_dir={cache_dir}", f"--trainer.max_epochs={max_epochs}",
        f"--trainer.logger={logger('events')}", "--trainer.enable_progress_bar=false", *common])
    # The same recipe on the cut clips of the same training groups (their own two-class operating threshold).
    clips_run = _trained(out / "clips_run.json", [
        "--config", str(REPO / "configs" / "events.yaml"), "--data.format=list", f"--data.root={clips_csv.parent}",
        f"--data.train_list={lists['clips']}", "--data.group_by=group", "--data.test_list=null",
        "--data.test_fraction=0", "--data.cache_max_frames=16", "--checkpoint.monitor=val/acc",
        f"--data.cache_dir={cache_dir}", f"--trainer.max_epochs={max_epochs}",
        f"--trainer.logger={logger('clips')}", "--trainer.enable_progress_bar=false", *common])
    result["events_train_seconds"], result["clips_train_seconds"] = events_run["seconds"], clips_run["seconds"]
    window = dict(events_run.get("event_points") or {}).get("window", 2.0)
    stride = dict(events_run.get("event_points") or {}).get("stride", 0.5)
    for name, run, extra in (("events", events_run, {}), ("clips", clips_run, {"window": window, "stride": stride})):
        report = evaluate_events(EventEvaluationOptions(ckpt=run["best_checkpoint"], events=str(lists["test"]),
                                                        out=str(out / f"eval_{name}"), **extra))
        segments = report["segments"]
        result[name] = {"checkpoint": run["best_checkpoint"], "map@0.5": segments["map@0.5"],
                        "average_map": segments["average_map"], "operating_point": segments["operating_point"],
                        "event_points": run.get("event_points"), "threshold": run.get("threshold"),
                        "timeline_options": report["timeline_options"]}
    done.write_text(json.dumps(result, indent=2, default=str))
    return result


def _trained(record: Path, args: List[str]) -> Dict[str, Any]:
    """train.py's summary of `args` and its wall time, read back from `record` when that run finished."""
    from pipeline.training.cli import train

    if record.is_file():
        return json.loads(record.read_text())
    started = time.perf_counter()
    summary = {**train(args), "seconds": time.perf_counter() - started}
    record.write_text(json.dumps(summary, indent=2, default=str))
    return summary


def summarize(results: Sequence[Dict[str, Any]]) -> List[str]:
    """Markdown rows: per fold and mean, mAP@0.5 and F1 at the operating point, for both trainings."""
    lines = ["| fold | test groups | from event times: mAP@0.5 | F1 | from cut clips: mAP@0.5 | F1 |",
             "|---|---|---|---|---|---|"]
    for r in results:
        cells = []
        for name in ("events", "clips"):
            m = r[name]
            cells += [f"{_get(m, 'map@0.5'):.3f}", f"{_get(m['operating_point']['micro'], 'f1'):.3f}"]
        lines.append(f"| {r['fold']} | {len(r['test_groups'])} | " + " | ".join(cells) + " |")
    return lines


def _get(metrics: Dict[str, Any], key: str) -> float:
    value: Optional[Any] = metrics.get(key)
    return float(value) if value is not None else float("nan")
