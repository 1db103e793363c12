"""k-fold cross-validation: train and test once per fold, then the mean and spread of each metric.

On a tiny dataset one test split of a few clips a class says little: accuracy moves in steps of
several percent and depends on which clips were drawn. `cross_validate` pools every video of the
dataset, deals them into k stratified folds (`data.num_folds`, `data.fold`; see
pipeline.data.annotations.kfold_split), and for each fold trains with `train` (validation carved
from the other folds, as usual) and tests on the held-out fold, so every video is tested exactly
once. Each fold is an ordinary run in `<out>/fold<i>/` (TensorBoard logs, checkpoints,
test_metrics.json). A stopped cross-validation resumes: finished folds are read back, an
interrupted one resumes from its last.ckpt. `<out>/crossval.json` holds per-fold metrics, their
mean and standard deviation, and the confusion matrix summed over folds.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np

from pipeline.atomic_io import write_text_atomic
from pipeline.errors import UsageError
from pipeline.training.cli import train

DEFAULT_OUT = "runs/crossval"
OWN_OPTIONS = ("--data.num_folds", "--data.fold", "--ckpt_path", "--trainer.logger")


def fold_args(args: List[str], num_folds: int, fold: int, out: Path) -> List[str]:
    """train.py's arguments for one fold: the user's, the fold, and its run folder `<out>/fold<i>`."""
    run_dir = out / f"fold{fold}"
    extra = [
        "--data.num_folds", str(num_folds), "--data.fold", str(fold),
        "--trainer.logger", "pytorch_lightning.loggers.TensorBoardLogger",
        "--trainer.logger.init_args.save_dir", str(out),
        "--trainer.logger.init_args.name", "",
        "--trainer.logger.init_args.version", run_dir.name,
    ]
    last = run_dir / "checkpoints" / "last.ckpt"
    if last.is_file():  # an interrupted fold goes on where it stopped
        extra += ["--ckpt_path", str(last)]
    return [*args, *extra]


def _check_args(args: List[str], num_folds: int, out: Path) -> None:
    """Refuse options the folds set themselves, and an `out` that holds another cross-validation."""
    clash = [a for a in args if a.split("=")[0].startswith(OWN_OPTIONS)]
    if clash:
        raise UsageError(f"{', '.join(clash)}: cross-validation sets these itself "
                         "(use --output to choose where runs go)")
    if num_folds < 2:
        raise UsageError(f"--folds must be at least 2, got {num_folds}")
    record_options(out / "crossval_args.json", {"folds": num_folds, "args": list(args)},
                   "a cross-validation run", "resume it with the same options, or choose another --output")



def record_options(recorded: Path, wanted: Dict[str, Any], what: str, hint: str) -> None:
    """Record the options of a run that resumes in `recorded.parent`, or refuse to go on when that folder
    holds `what` with other options (`hint` says what to do instead)."""
    if recorded.is_file():
        if json.loads(recorded.read_text()) != wanted:
            raise UsageError(f"{recorded.parent}: holds {what} with other options ({recorded}); {hint}")
    else:
        recorded.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(recorded, json.dumps(wanted, indent=2))

def _finished(run_dir: Path) -> Optional[Dict[str, Any]]:
    """The summary of a fold that has finished (its test_metrics.json with test metrics), else None."""
    path = run_dir / "test_metrics.json"
    if not path.is_file():
        return None
    summary = json.loads(path.read_text())
    return summary if summary.get("test_metrics") else None


def cross_validate(args: List[str], num_folds: int, out: str = DEFAULT_OUT) -> Dict[str, Any]:
    """Train and test each of `num_folds` folds with train.py's `args`; write and return the report."""
    out_dir = Path(out)
    _check_args(args, num_folds, out_dir)
    folds: List[Dict[str, Any]] = []
    for fold in range(num_folds):
        run_dir = out_dir / f"fold{fold}"
        summary = _finished(run_dir)
        if summary is None:
            summary = train(fold_args(args, num_folds, fold, out_dir))
            if not summary.get("test_metrics"):
                raise UsageError(f"fold {fold} has no test videos: use fewer folds than the smallest class has videos")
        else:
            print(f"fold {fold}: finished before, read from {run_dir / 'test_metrics.json'}", flush=True)
        folds.append(summary)
    report = summarize_folds(folds)
    report["out"] = str(out_dir)
    write_text_atomic(out_dir / "crossval.json", json.dumps(report, indent=2))
    return report


def summarize_folds(folds: List[Dict[str, Any]]) -> Dict[str, Any]:
    """Per-fold test metrics, their mean and standard deviation (over folds, ddof=1), and the confusion
    matrix summed over folds (every video once), from `train` summaries."""
    names = sorted(set().union(*(f["test_metrics"] for f in folds)))
    per_fold = [{k: float(f["test_metrics"][k]) for k in names if k in f["test_metrics"]} for f in folds]
    metrics = {}
    for name in names:
        values = np.asarray([m[name] for m in per_fold if name in m])
        spread = float(values.std(ddof=1)) if len(values) > 1 else 0.0
        metrics[name] = {"mean": float(values.mean()), "std": spread}
    report: Dict[str, Any] = {"num_folds": len(folds), "metrics": metrics, "folds": per_fold,
                              "runs": [f.get("log_dir", "") for f in folds]}
    matrices = [f["confusion_matrix"] for f in folds if f.get("confusion_matrix")]
    if matrices and len(matrices) == len(folds):
        total = np.sum([m["rows_true_cols_predicted"] for m in matrices], axis=0)
        report["confusion_matrix"] = {"classes": matrices[0]["classes"], "rows_true_cols_predicted": total.tolist()}
        report["pooled_accuracy"] = float(np.trace(total) / max(1, total.sum()))
    return report


def format_report(report: Dict[str, Any]) -> str:
    """The report as the text scripts/crossval.py prints."""
    lines = [f"{report['num_folds']}-fold cross-validation (mean ± std over folds):"]
    for name, value in report["metrics"].items():
        per_fold = " ".join(f"{m[name]:.3f}" for m in report["folds"] if name in m)
        lines.append(f"  {name:<22} {value['mean']:.4f} ± {value['std']:.4f}   folds: {per_fold}")
    if "pooled_accuracy" in report:
        lines.append(f"  every video tested once: accuracy {report['pooled_accuracy']:.4f}")
    lines.append(f"report: {Path(report['out']) / 'crossval.json'}  runs: {report['out']}/fold*/")
    return "\n".join(lines)


def main(args: List[str]) -> int:
    """scripts/crossval.py: `--folds K [--output DIR]`, every other option goes to train.py."""
    import argparse

    parser = argparse.ArgumentParser(
        description="k-fold cross-validation of a train.py configuration: every video is tested once; "
                    "prints each test metric's mean and spread over folds. Other options go to train.py.",
        allow_abbrev=False)
    parser.add_argument("--folds", type=int, default=5, help="number of folds (default 5)")
    parser.add_argument("--output", "--out", dest="output", default=DEFAULT_OUT,
                        help=f"where the fold runs and the report go (default {DEFAULT_OUT}; --out: its old name, "
                             "accepted in this release)")
    known, rest = parser.parse_known_args(args)
    report = cross_validate(rest, known.folds, known.output)
    print(format_report(report), flush=True)
    return 0
