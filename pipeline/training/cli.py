"""Command-line training: LightningCLI over VideoDataModule and VideoClassifierModule.

`train(args)` fits, then tests the best checkpoint, prints the metrics and says where the
logs and checkpoints are. With no `--config` it trains configs/demo.yaml. Trainer defaults
(TensorBoard logger under runs/, best and last checkpoints, learning-rate monitor, what the
terminal shows: pipeline.training.progress) live here, and a config can override any of them.
`--help` shows the values of the `--config` files given (else configs/demo.yaml's) as the defaults.
"""
from __future__ import annotations

import contextlib
import inspect
import json
import re
import sys
import tempfile
import warnings
from argparse import ArgumentError
from pathlib import Path
from typing import Any, Dict, List, Optional

from pytorch_lightning.callbacks import LearningRateMonitor, ModelCheckpoint, ProgressBar
from pytorch_lightning.cli import LightningArgumentParser, LightningCLI
from pytorch_lightning.utilities.exceptions import MisconfigurationException

from pipeline.atomic_io import write_text_atomic
from pipeline.core.checkpoints import load_checkpoint
from pipeline.core.decision import accuracy_rows, format_threshold, operating_point
from pipeline.core.module import VideoClassifierModule
from pipeline.data.annotations import AnnotationError
from pipeline.data.datamodule import DEMO_CONFIG, VideoDataModule, split_config_files
from pipeline.data.readers import FALLBACK_LIST, fallback_summary, format_fallbacks, recording_fallbacks
from pipeline.errors import OutputError, UsageError
from pipeline.inference.timeline import format_event_points
from pipeline.training.callbacks import BestCheckpointLink, LastCheckpoint, RandomState
from pipeline.training.dashboards import Dashboards
from pipeline.training.event_points import EventOperatingPoints
from pipeline.training.progress import RunReport, progress_bar, silence_third_party_noise

LOGGER_EXTRA = "loggers"  # setup.cfg's optional extra with the packages of the non-default loggers
_EXTRA_PACKAGES = {"mlflow"}  # what that extra installs (as mlflow-skinny)
HELP_FLAGS = ("-h", "--help")
DESCRIPTION = ("Train a CNN + RNN video action classifier, then test its best checkpoint. The defaults shown are "
               "the values of the --config files given (configs/demo.yaml without one); options given beside "
               "--help are not applied to them: --print_config shows the whole resolved config.")

TRAINER_DEFAULTS: Dict[str, Any] = {
    "max_epochs": 20,
    "deterministic": True,
    "log_every_n_steps": 10,  # lowered to an epoch's batch count when epochs are shorter (RunReport)
    "enable_model_summary": False,  # RunReport says it in one line; true prints Lightning's table
    "logger": {
        "class_path": "pytorch_lightning.loggers.TensorBoardLogger",
        "init_args": {"save_dir": "runs", "name": "default"},
    },
}


class ActionCLI(LightningCLI):
    """LightningCLI with best/last checkpoints, class names and sampling linked from data to model."""

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        # Best and last checkpoints by default; every option stays settable (--checkpoint.monitor ...).
        parser.add_lightning_class_args(ModelCheckpoint, "checkpoint")
        parser.set_defaults(
            {
                "checkpoint.monitor": "val/acc",
                "checkpoint.mode": "max",
                "checkpoint.save_last": False,  # LastCheckpoint writes last.ckpt after every epoch
                "checkpoint.filename": "best-epoch{epoch:02d}",
                "checkpoint.auto_insert_metric_name": False,
            }
        )
        parser.link_arguments("data.class_names", "model.class_names", apply_on="instantiate")
        parser.link_arguments("data.sampling", "model.sampling", apply_on="instantiate")
        parser.add_argument("--ckpt_path", type=Optional[str], default=None,
                            help="resume an interrupted run from this checkpoint (e.g. .../checkpoints/last.ckpt)")
        parser.add_argument("--trust_checkpoint", type=bool, default=False,
                            help="load a --ckpt_path that holds more than plain data (refused by default: loading "
                                 "it can run code); only for a checkpoint whose origin you trust")
        parser.add_argument("--skip_test", type=bool, default=False, help="fit only; do not test the best checkpoint")

    def before_instantiate_classes(self) -> None:
        # A resumed run's checkpoint is checked (as plain data only) before anything is built.
        if self.config.get("ckpt_path"):
            load_checkpoint(self.config.ckpt_path, trust=bool(self.config.get("trust_checkpoint")),
                            trust_flag="--trust_checkpoint true")

    def instantiate_classes(self) -> None:
        # Data and model check their options when built, before any video is read: a value that
        # cannot work is a usage error (exit 2); annotation problems stay input errors (exit 4).
        try:
            super().instantiate_classes()
        except AnnotationError:
            raise
        except (ValueError, MisconfigurationException) as exc:
            if getattr(exc, "exit_code", None) is not None:
                raise
            raise UsageError(missing_logger_package(str(exc)) or str(exc)) from exc

    def after_instantiate_classes(self) -> None:
        _check_writable(self.trainer)

    def _instantiate_trainer(self, config: Dict[str, Any], callbacks: List[Any]) -> Any:
        # The progress display suits where stdout goes, unless the config chose one or turned it off.
        given = [*callbacks, *(config.get("callbacks") or [])]
        if config.get("enable_progress_bar") is not False and not any(isinstance(c, ProgressBar) for c in given):
            callbacks = [*callbacks, progress_bar()]
        return super()._instantiate_trainer(config, callbacks)

    # With subcommands (run=True), each one first hands the model's preprocessing to the data.
    def before_fit(self) -> None:
        _attach_model(self.datamodule, self.model)

    def before_validate(self) -> None:
        _attach_model(self.datamodule, self.model)

    def before_test(self) -> None:
        _attach_model(self.datamodule, self.model)


def _attach_model(data: VideoDataModule, model: VideoClassifierModule) -> None:
    """Give the data module the model's preprocessing and, when it is frozen, its backbone for the cache."""
    data.attach_model(model.preprocessing, model.frozen_backbone)


def missing_logger_package(message: str) -> Optional[str]:
    """One line for an error whose text says a logger's optional package is missing (Lightning's
    "Requirement 'wandb>=0.12.10' not met"), naming what to install; None for any other error."""
    found = re.search(r"Requirement '([A-Za-z0-9_.\-]+)([^']*)' not met", message)
    if not found:
        return None
    package = found.group(1)
    logger = re.search(r"class_path '([\w.]+)'", message)
    who = f"the logger {logger.group(1)}" if logger else "a logger in the config"
    hint = (f"pip install 'rnn-action-recognition[{LOGGER_EXTRA}]' (or pip install -e '.[{LOGGER_EXTRA}]')"
            if package in _EXTRA_PACKAGES else f"pip install '{package}{found.group(2)}'")
    return f"{who} needs the package {package}, which is not installed: {hint}"


def _check_writable(trainer: Any) -> None:
    """OutputError, before any work, when the logs or checkpoints cannot be written where they would go."""
    folders = [getattr(logger, "save_dir", None) for logger in trainer.loggers]
    folders += [getattr(cb, "dirpath", None) for cb in trainer.checkpoint_callbacks]
    if not trainer.loggers:
        folders.append(trainer.default_root_dir)
    for folder in dict.fromkeys(Path(f) for f in folders if f):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            tempfile.TemporaryFile(dir=folder).close()
        except OSError as exc:
            raise OutputError(f"{folder}: logs and checkpoints cannot be written here "
                              f"({exc.strerror or exc}); choose another folder "
                              "(--trainer.logger.init_args.save_dir, --checkpoint.dirpath)") from exc


def build_cli(args: Optional[List[str]] = None) -> ActionCLI:
    """The CLI with model, data and trainer built from `args` (configs/demo.yaml when no --config)."""
    args = list(sys.argv[1:] if args is None else args)
    silence_third_party_noise()
    configs, rest = split_config_files(args)
    defaults = None
    if set(HELP_FLAGS) & set(args):  # help shows the configs' values: jsonargparse's default config files
        defaults, args = configs or [str(DEMO_CONFIG)], rest
    elif not configs:
        args = ["--config", str(DEMO_CONFIG), *args]
    with warnings.catch_warnings():
        # We pass sys.argv on ourselves (to prepend the demo config); Lightning warns about that.
        warnings.filterwarnings("ignore", message=".*args parameter is intended to run from within Python.*")
        try:
            return _make_cli(args, defaults)
        except ArgumentError as exc:  # the parser's message, without its usage text
            raise UsageError(f"{' '.join(str(exc).split())} (see --help)") from exc


class _ParseOnlyCLI(ActionCLI):
    """The CLI that parses and checks the arguments and builds nothing (parse_config)."""

    def before_instantiate_classes(self) -> None:
        pass

    def instantiate_classes(self) -> None:
        pass

    def after_instantiate_classes(self) -> None:
        pass


def parse_config(args: List[str]) -> Any:
    """train.py's resolved configuration of `args` (a jsonargparse Namespace: model, data, trainer,
    checkpoint, seed_everything), with configs/demo.yaml when no --config; nothing is built or read."""
    args = list(args)
    if not split_config_files(args)[0]:
        args = ["--config", str(DEMO_CONFIG), *args]
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*args parameter is intended to run from within Python.*")
        try:
            return _make_cli(args, cli_class=_ParseOnlyCLI).config
        except ArgumentError as exc:
            raise UsageError(f"{' '.join(str(exc).split())} (see --help)") from exc


def _make_cli(args: List[str], default_configs: Optional[List[str]] = None,
              cli_class: type = ActionCLI) -> ActionCLI:
    """The CLI over `args`; with `default_configs` (for --help) their values are the parser's defaults."""
    for path in default_configs or []:
        if not Path(path).is_file():
            raise UsageError(f"{path}: config file not found")
    parser_kwargs: Dict[str, Any] = {"description": DESCRIPTION, "allow_abbrev": False, "exit_on_error": False}
    if default_configs:
        parser_kwargs["default_config_files"] = list(default_configs)
    return cli_class(
        VideoClassifierModule,
        VideoDataModule,
        run=False,
        args=args,
        seed_everything_default=0,
        trainer_defaults={
            **TRAINER_DEFAULTS,
            "callbacks": [LearningRateMonitor(logging_interval="epoch"), LastCheckpoint(), BestCheckpointLink(),
                          RandomState(), RunReport(), Dashboards(), EventOperatingPoints()],
        },
        save_config_kwargs={"overwrite": True},
        # No abbreviations (a mistyped --model.cel must not be taken as --model.cell); errors are raised,
        # not printed with the whole usage, and end as one line (pipeline.errors.run_script).
        parser_kwargs=parser_kwargs,
    )


def train(args: Optional[List[str]] = None) -> Dict[str, Any]:
    """Fit, test the best checkpoint, write test_metrics.json beside the logs; returns a summary.

    Under DDP every process runs this and gets the same summary (metrics are synced across
    processes and each test video counts once); only global rank 0 writes test_metrics.json.
    """
    cli = build_cli(args)
    trainer, model, data = cli.trainer, cli.model, cli.datamodule
    _attach_model(data, model)
    _resume_in_place(trainer, cli.config.get("ckpt_path"))
    fallbacks: Any = contextlib.nullcontext()
    if trainer.is_global_zero:
        print(f"dataset {data.root}: {data.splits.summary()}", flush=True)
        print(format_destinations(trainer), flush=True)
        if trainer.log_dir:  # the workers and the DDP ranks Lightning starts list their fallbacks there too
            fallbacks = recording_fallbacks(Path(trainer.log_dir) / FALLBACK_LIST,
                                            fresh=not cli.config.get("ckpt_path"))
    with fallbacks:
        return _fit_and_test(cli)


def _fit_and_test(cli: ActionCLI) -> Dict[str, Any]:
    trainer, model, data = cli.trainer, cli.model, cli.datamodule
    trusted = bool(cli.config.get("trust_checkpoint"))  # else the checkpoint loads as plain data only
    trainer.fit(model, datamodule=data, ckpt_path=cli.config.get("ckpt_path"),
                **_weights_only(trainer.fit, not trusted))
    best = next((cb.best_model_path for cb in trainer.checkpoint_callbacks if isinstance(cb, ModelCheckpoint)), "")
    last = next((cb.path(trainer) for cb in trainer.callbacks if isinstance(cb, LastCheckpoint)), None)
    summary: Dict[str, Any] = {
        "log_dir": trainer.log_dir,  # collective under DDP: asked on every rank
        "best_checkpoint": best,
        "last_checkpoint": str(last) if last is not None and last.is_file() else "",
    }
    if not cli.config.get("skip_test") and data.splits.test:
        results = trainer.test(model, datamodule=data, ckpt_path=best or None, verbose=False,  # main prints them
                               **_weights_only(trainer.test, True))
        summary.update(test_summary(trainer.lightning_module, results[0] if results else {}))
    if data.window_counts:  # trained from event times: the windows, the imbalance, the operating points
        summary["windows"] = dict(data.window_counts)
        points = trainer.lightning_module.event_points if summary.get("test_metrics") else model.event_points
        if points:
            summary["event_points"] = points
    summary["skipped_videos"] = _all_ranks(model.skipped_videos)
    summary["decoder_fallbacks"] = fallback_summary()
    summary["global_rank"] = trainer.global_rank
    if trainer.is_global_zero and summary["log_dir"]:
        kept = {key: value for key, value in summary.items() if key != "global_rank"}
        _write_json(Path(summary["log_dir"]) / "test_metrics.json", kept)
    return summary


def test_summary(tested: Any, metrics: Dict[str, float]) -> Dict[str, Any]:
    """The summary's test part from the tested module and its test metrics: the metrics (those of the most
    probable class), the confusion matrix of the checkpoint's decision (its operating threshold when it has
    one, chosen on validation) and, with a threshold, the accuracy of each rule."""
    summary: Dict[str, Any] = {"test_metrics": dict(metrics)}
    matrix = tested.test_confusion_result
    if matrix is not None:
        summary["confusion_matrix"] = {"classes": tested.class_names, "rows_true_cols_predicted": matrix.tolist()}
    threshold = getattr(tested, "threshold", None)
    if threshold:  # the best checkpoint's (two classes)
        summary["threshold"] = threshold
    if operating_point(tested.class_names, threshold) and matrix is not None and "test/acc" in metrics:
        total = int(matrix.sum())
        summary["accuracy"] = {"most_probable_class": float(metrics["test/acc"]),
                               "at_threshold": float(matrix.trace()) / total if total else 0.0}
    return summary


def checkpoint_dir(trainer: Any) -> Optional[Path]:
    """Where the best checkpoints will go, resolved before fit as Lightning's ModelCheckpoint resolves it."""
    best = next((cb for cb in trainer.checkpoint_callbacks if isinstance(cb, ModelCheckpoint)), None)
    if best is None:
        return None
    if best.dirpath:
        return Path(best.dirpath)
    if not trainer.loggers:
        return Path(trainer.default_root_dir) / "checkpoints"
    logger = trainer.loggers[0]
    version = logger.version if isinstance(logger.version, str) else f"version_{logger.version}"
    return Path(logger.save_dir or trainer.default_root_dir) / str(logger.name) / version / "checkpoints"


def format_destinations(trainer: Any) -> str:
    """Where this run's logs and checkpoints go, said before it starts."""
    lines = []
    if trainer.loggers and trainer.log_dir:
        log_dir = Path(trainer.log_dir)
        lines.append(f"logs: {log_dir}  (view: tensorboard --logdir {log_dir.parent.parent})")
    folder = checkpoint_dir(trainer)
    if folder is not None:
        monitor = next(cb.monitor for cb in trainer.checkpoint_callbacks if isinstance(cb, ModelCheckpoint))
        kept = f"the best by {monitor}" if monitor else "the latest"
        lines.append(f"checkpoints: {folder}  ({kept}; last.ckpt to resume from)")
    return "\n".join(lines)


def _weights_only(method: Any, value: bool) -> Dict[str, bool]:
    """`weights_only=value` for a Trainer method that takes it (Lightning >= 2.6), else nothing."""
    return {"weights_only": value} if "weights_only" in inspect.signature(method).parameters else {}


def _resume_in_place(trainer: Any, ckpt_path: Optional[str]) -> None:
    """A run resumed from a checkpoint in its own run folder (<save_dir>/<name>/version_N/checkpoints/)
    goes on logging and checkpointing in that folder: one run, one TensorBoard curve, and the best
    checkpoint and score so far still count (ModelCheckpoint forgets the score when its folder changes)."""
    if not ckpt_path or Path(ckpt_path).resolve().parent.name != "checkpoints":
        return
    run_dir = Path(ckpt_path).resolve().parent.parent
    for logger in trainer.loggers:
        unpinned = getattr(logger, "_version", "") is None and getattr(logger, "sub_dir", None) is None
        if unpinned and Path(logger.root_dir).resolve() == run_dir.parent:
            logger._version = run_dir.name  # Lightning's loggers read it as the version folder's name
            # ModelCheckpoint would warn that this folder is not empty: here that is the point.
            folder = re.escape(f"{run_dir.parent.name}/{run_dir.name}/checkpoints")
            warnings.filterwarnings("ignore", message=f"Checkpoint directory (.*/)?{folder} exists and is not empty")


def _all_ranks(items: List[str]) -> List[str]:
    """The union of every process's `items` (in rank order, each once); the items themselves outside DDP."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return list(items)
    gathered: List[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, list(items))
    return list(dict.fromkeys(item for rank_items in gathered for item in rank_items))


def main(args: Optional[List[str]] = None) -> int:
    """scripts/train.py: train, then print the summary once (the process of global rank 0 prints it)."""
    summary = train(args)
    if summary.get("global_rank", 0) == 0:
        print(format_summary(summary), flush=True)
    return 0


def _write_json(path: Path, data: Dict[str, Any]) -> None:
    write_text_atomic(path, json.dumps(data, indent=2))


def format_summary(summary: Dict[str, Any]) -> str:
    """`train`'s summary as the text the script prints: metrics, confusion matrix, where things are."""
    lines = []
    for key, value in sorted(summary.get("test_metrics", {}).items()):
        lines.append(f"  {key:<22} {value:.4f}")
    confusion, accuracy = summary.get("confusion_matrix"), summary.get("accuracy")
    if confusion and accuracy:
        lines += [f"  {label}: {value:.4f}" for label, value in
                  accuracy_rows(accuracy["most_probable_class"], accuracy["at_threshold"], confusion["classes"],
                                summary.get("threshold"))]
    if confusion:
        names = confusion["classes"]
        width = max(len(n) for n in names) + 2
        decided = " at the operating threshold" if operating_point(names, summary.get("threshold")) else ""
        lines.append(f"  confusion matrix (rows: true, columns: predicted{decided})")
        lines.append(" " * (width + 2) + "".join(f"{n:>{width}}" for n in names))
        for name, row in zip(names, confusion["rows_true_cols_predicted"]):
            lines.append(f"  {name:<{width}}" + "".join(f"{int(v):>{width}}" for v in row))
    if summary.get("threshold"):
        lines.append(f"  {format_threshold(summary['threshold'])}")
    if summary.get("skipped_videos"):
        lines.append(f"  skipped unreadable videos: {len(summary['skipped_videos'])}")
    if lines:
        lines.insert(0, "test metrics (windows):" if summary.get("windows") else "test metrics:")
    train_windows = summary.get("windows", {}).get("train")
    if train_windows:
        events = {k: v for k, v in train_windows["windows"].items() if k != "background"}
        lines.append(f"training windows: {', '.join(f'{k} {v}' for k, v in events.items())} event windows every "
                     f"epoch; background {train_windows['windows'].get('background', 0)} windows "
                     f"({100 * train_windows['background_share']:.0f}% of all), "
                     f"{train_windows['background_per_epoch']} of them drawn afresh each epoch")
    lines += format_event_points(summary.get("event_points"))
    if summary.get("decoder_fallbacks"):
        lines.append(format_fallbacks(summary["decoder_fallbacks"]))
    lines.append(f"best checkpoint: {summary['best_checkpoint']}")
    lines.append(f"last checkpoint: {summary['last_checkpoint']} (resume with --ckpt_path)")
    lines.append(f"logs: {summary['log_dir']}  (view: tensorboard --logdir {Path(summary['log_dir']).parent.parent})")
    return "\n".join(lines)
