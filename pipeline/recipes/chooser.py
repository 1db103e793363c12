"""scripts/choose_recipe.py: choose a recipe on the user's own videos by grouped cross-validation, then
train it on all of them.

`choose_recipe(train_args, ...)` reads the user's config and flags as train.py would, builds each
candidate's config (candidates.py) and scores it on the same k folds `scripts/crossval.py` deals
(groups of `data.group_by` held out whole; a given test list is kept out of the search), one head
trained per fold on cached features in this process (head_fit.py), within a time budget
(search.py). It keeps the simplest candidate within noise of the best (choice.py), trains it with
train.py on every searched video (validation carved as train.py does; a given test list is its
test split), and writes into `out`:

    recipe.yaml    the chosen config, as train.py takes it (--config)
    best.ckpt      that run's best checkpoint (scripts/evaluate.py, scripts/predict.py load it)
    report.md      the table, the folds, the choice and why, the chosen recipe's per-class scores
                   and confusion over the folds
    trials.json    every finished trial (a stopped search resumes from it), candidates/*.yaml, and
                   final-<candidate>/ (the final training's logs and checkpoints)

The budget bounds the search; each fit's features are cached once, whatever the budget.
"""
from __future__ import annotations

import argparse
import contextlib
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Set, Tuple

import torch

from models.backbones import TRAINABLE_BN_DEFAULT, check_trainable_stages
from models.preprocessing import WINDOW_FITS
from pipeline.atomic_io import write_text_atomic
from pipeline.data.datamodule import VideoDataModule
from pipeline.errors import UsageError
from pipeline.recipes.candidates import Candidate, candidate_names, select_candidates
from pipeline.recipes.choice import Choice, Row, choose
from pipeline.recipes.configs import dump_config, load_config, split_train_args, with_overrides
from pipeline.recipes.head_fit import FoldResult, Schedule, fit_head, seeded_module
from pipeline.recipes.report import format_table, write_report
from pipeline.recipes.search import Budget, SearchLog, TrialStore, search
from pipeline.training.cli import DEMO_CONFIG, parse_config, train
from pipeline.training.crossval import record_options

DEFAULT_OUT = "runs/recipe"
DEFAULT_BUDGET_MINUTES = 15.0
DEFAULT_FOLDS = 5
DEFAULT_CACHE_FRAMES = 32
OWN_OPTIONS = ("data.num_folds", "data.fold", "ckpt_path", "trainer.logger", "checkpoint.dirpath")


@dataclass
class Recipe:
    """A candidate's config: the YAML document train.py reads, and the options it resolves to."""

    candidate: Candidate
    document: Dict[str, Any]
    model: Dict[str, Any]
    data: Dict[str, Any]
    schedule: Schedule

    @property
    def name(self) -> str:
        return self.candidate.name

    @property
    def trained_stages(self) -> int:
        """How many of the CNN's last stages it fine-tunes (model.trainable_stages; 0: the CNN frozen)."""
        return int(self.model.get("trainable_stages") or 0)

    def complexity(self, head_params: int) -> Tuple[float, ...]:
        """What makes a recipe simpler (choice.py): CNN passes a frame, CNN stages trained, a motion window, head
        size, clip length."""
        return (2 if self.model.get("rgb_diff") else 1, self.trained_stages,
                1 if self.model.get("frame_fit") in WINDOW_FITS else 0, head_params, self.data.get("clip_len", 0))

    def unusable(self) -> str:
        """Why this recipe cannot train on the user's config ("" when it can): CNN stages asked of a backbone
        that has none defined, or more than it has, or beside the motion stream."""
        if not self.trained_stages:
            return ""
        if self.model.get("rgb_diff"):
            return (f"model.trainable_stages {self.trained_stages} with model.rgb_diff true: the motion stream is not "
                    "cached as maps of the frozen stages")
        try:
            check_trainable_stages(str(self.model.get("backbone")), self.trained_stages,
                                   bool(self.model.get("freeze_backbone", True)),
                                   str(self.model.get("trainable_bn") or TRAINABLE_BN_DEFAULT))
        except ValueError as exc:
            return str(exc)
        return ""


def schedule_of(config: Any) -> Schedule:
    """The head's schedule from a resolved train.py config: epochs or steps, the checkpoint's monitor,
    an EarlyStopping callback among the trainer's callbacks, the seed."""
    trainer = config.trainer
    early = None
    for callback in trainer.get("callbacks") or []:
        if str(callback.get("class_path", "")).endswith("EarlyStopping"):
            args = callback.get("init_args") or {}
            early = {"monitor": args.get("monitor"), "mode": args.get("mode", "min"),
                     "patience": int(args.get("patience", 3)), "min_delta": float(args.get("min_delta", 0.0))}
    return Schedule(max_epochs=trainer.get("max_epochs") if trainer.get("max_epochs") is not None else -1,
                    max_steps=trainer.get("max_steps") if trainer.get("max_steps") is not None else -1,
                    monitor=config.checkpoint.monitor, mode=config.checkpoint.mode, early_stopping=early,
                    seed=int(config.seed_everything or 0))


def resolve(candidate: Candidate, base: Dict[str, Any], folder: Path) -> Recipe:
    """The candidate applied to the user's config, written to `folder/<name>.yaml` and resolved as train.py would."""
    document = with_overrides(base, candidate.overrides)
    path = folder / f"{candidate.name}.yaml"
    write_text_atomic(path, dump_config(document, f"candidate {candidate.name}: {candidate.what}"))
    config = parse_config(["--config", str(path)])
    model = {k: v for k, v in config.model.as_dict().items() if k not in ("class_names", "sampling")}
    data = config.data.as_dict()
    return Recipe(candidate, document, model, data, schedule_of(config))


class FoldRunner:
    """Runs one trial (candidate, fold): the head trained on cached features, the time of caching left out."""

    def __init__(self, recipes: Dict[str, Recipe], num_folds: int):
        self.recipes, self.num_folds = recipes, num_folds
        self.warm: Set[Tuple[Any, ...]] = set()
        self.head_params: Dict[str, int] = {}

    def data(self, recipe: Recipe, fold: int) -> VideoDataModule:
        """The fold's data as `scripts/crossval.py --folds k` deals it, a given test list left out."""
        return VideoDataModule(**{**recipe.data, "num_folds": self.num_folds, "fold": fold, "test_list": None})

    def __call__(self, name: str, fold: int) -> FoldResult:
        with one_thread(not self.recipes[name].trained_stages):  # CNN stages train faster on every core
            return self._run(name, fold)

    def _run(self, name: str, fold: int) -> FoldResult:
        recipe = self.recipes[name]
        start = time.perf_counter()
        data = self.data(recipe, fold)
        module = seeded_module(recipe.schedule.seed, class_names=data.class_names, sampling=data.sampling,
                               **recipe.model)
        if module.frozen_backbone is None:
            raise UsageError(f"candidate {name}: the recipe search trains heads on cached features (or the CNN's "
                             "top stages on cached maps), so it needs model.freeze_backbone true")
        self.head_params[name] = sum(p.numel() for p in module.model.head.parameters())
        data.attach_model(module.preprocessing, module.frozen_backbone)
        key = (str(data.feature_cache().directory), tuple(data.cache_views), bool(recipe.model.get("rgb_diff")))
        caching = 0.0
        if key not in self.warm:  # every searched video is in the fold's three splits: one pass caches them all
            before = time.perf_counter()
            data.setup("fit")
            data.setup("test")
            caching = time.perf_counter() - before
            self.warm.add(key)
        result = fit_head(module, data, recipe.schedule)
        result.seconds = time.perf_counter() - start - caching
        return result


@contextlib.contextmanager
def one_thread(enabled: bool = True) -> Iterator[None]:
    """Torch on one thread while a small head trains: its steps are too small to share between threads, and
    on a busy machine threads that wait for each other cost far more than they give (a bidirectional GRU's
    step measured 25x slower on two threads than on one, with other work on both cores). `enabled` False:
    threads unchanged (convolutions of CNN stages that train do share well)."""
    if not enabled:
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _check_own_options(options: Sequence[Tuple[str, str]]) -> None:
    clash = [f"--{k}" for k, _ in options if k.startswith(OWN_OPTIONS)]
    if clash:
        raise UsageError(f"{', '.join(clash)}: the recipe search sets these itself (use --out to choose where "
                         "its runs go)")


def train_chosen(recipe: Recipe, recipe_path: Path, out: Path) -> Dict[str, Any]:
    """Train the chosen recipe with train.py on every searched video (a given test list is its test split)
    in `out/final-<candidate>`, resuming that candidate's interrupted (or finished) run; returns train.py's
    summary."""
    run_dir = out / f"final-{recipe.name}"
    args = ["--config", str(recipe_path),
            "--trainer.logger", "pytorch_lightning.loggers.TensorBoardLogger",
            "--trainer.logger.init_args.save_dir", str(out),
            "--trainer.logger.init_args.name", "",
            "--trainer.logger.init_args.version", run_dir.name]
    if not recipe.data.get("test_list"):
        args += ["--data.test_fraction", "0"]
    last = run_dir / "checkpoints" / "last.ckpt"
    if last.is_file():
        args += ["--ckpt_path", str(last)]
    with one_thread(not recipe.trained_stages):  # a head on cached features, as in the search
        return train(args)


def choose_recipe(train_args: List[str], out: str = DEFAULT_OUT, budget_minutes: float = DEFAULT_BUDGET_MINUTES,
                  num_folds: int = DEFAULT_FOLDS, candidates: Optional[Sequence[str]] = None,
                  cache_frames: Optional[int] = DEFAULT_CACHE_FRAMES) -> Dict[str, Any]:
    """Search, choose, train the choice; write recipe.yaml, best.ckpt and report.md into `out`; returns a summary."""
    if num_folds < 2:
        raise UsageError(f"--folds must be at least 2, got {num_folds}")
    if budget_minutes <= 0:
        raise UsageError(f"--budget must be a positive number of minutes, got {budget_minutes}")
    try:
        chosen_candidates = select_candidates(candidates)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    configs, options = split_train_args(train_args)
    _check_own_options(options)
    base = load_config(configs or [str(DEMO_CONFIG)], options)
    if cache_frames is not None:
        base = with_overrides(base, {"data.cache_max_frames": cache_frames})
    out_dir = Path(out)
    record_options(out_dir / "choose_args.json",
                   {"train_args": list(train_args), "folds": num_folds,
                    "candidates": [c.name for c in chosen_candidates], "cache_frames": cache_frames},
                   "a recipe search", "run it again with the same options (a larger --budget continues it), or "
                   "choose another --out")
    folder = out_dir / "candidates"
    recipes = {c.name: resolve(c, base, folder) for c in chosen_candidates}
    store = TrialStore(out_dir / "trials.json")
    log = SearchLog()
    for name, recipe in list(recipes.items()):
        why = recipe.unusable()
        if why and candidates:  # named by the user: say why it cannot run
            raise UsageError(f"candidate {name}: {why}")
        if why:
            log.say(f"candidate {name} left out: {why}")
            del recipes[name]
    budget = Budget(budget_minutes * 60)
    runner = FoldRunner(recipes, num_folds)
    started = time.perf_counter()
    log.say(f"recipe search: {len(recipes)} candidates, {num_folds} grouped folds, budget {budget_minutes:g} min")
    search(list(recipes), num_folds, runner, store, budget, log)
    rows = [Row.of(name, store.folds_of(name)) for name in recipes]
    head_params = _head_params(runner, recipes, store)
    choice = choose(rows, {n: recipes[n].complexity(head_params.get(n, 0)) for n in recipes})
    chosen = recipes[choice.chosen]
    print(format_table(rows, recipes, choice), flush=True)
    recipe_path = out_dir / "recipe.yaml"
    write_text_atomic(recipe_path, dump_config(chosen.document, _recipe_header(choice, rows, num_folds)))
    summary = train_chosen(chosen, recipe_path, out_dir)
    best = Path(summary.get("best_checkpoint") or summary.get("last_checkpoint") or "")
    if not best.is_file():
        raise RuntimeError(f"the final training left no checkpoint ({summary.get('log_dir')})")
    shutil.copyfile(best, out_dir / "best.ckpt")
    report = out_dir / "report.md"
    class_names = runner.data(chosen, 0).class_names
    write_text_atomic(report, write_report(rows, recipes, choice, store, log, summary, num_folds, class_names,
                                           search_minutes=budget.spent / 60,
                                           wall_minutes=(time.perf_counter() - started) / 60,
                                           budget_minutes=budget_minutes))
    return {"chosen": choice.chosen, "why": choice.why, "recipe": str(recipe_path),
            "checkpoint": str(out_dir / "best.ckpt"), "report": str(report), "rows": rows, "final": summary,
            "held_out": bool(chosen.data.get("test_list"))}


def _head_params(runner: FoldRunner, recipes: Dict[str, Recipe], store: TrialStore) -> Dict[str, int]:
    """Each scored candidate's head size: from this session's trials, else built for the count."""
    sizes = dict(runner.head_params)
    for name, recipe in recipes.items():
        if name not in sizes and store.folds_of(name):
            data = runner.data(recipe, 0)
            module = seeded_module(recipe.schedule.seed, class_names=data.class_names, sampling=data.sampling,
                                   **{**recipe.model, "weights": "none"})
            sizes[name] = sum(p.numel() for p in module.model.head.parameters())
    return sizes


def _recipe_header(choice: Choice, rows: Sequence[Row], num_folds: int) -> str:
    row = next(r for r in rows if r.name == choice.chosen)
    return (f"Chosen by scripts/choose_recipe.py: candidate {choice.chosen}, test accuracy {row.mean:.3f} ± "
            f"{row.std:.3f} over {len(row.folds)} of {num_folds} grouped folds.\n{choice.why}.\n"
            "Train it again with: python scripts/train.py --config <this file>")


def main(args: List[str]) -> int:
    """scripts/choose_recipe.py: its own options; every other option goes to train.py."""
    parser = argparse.ArgumentParser(
        description="Choose a training recipe on your own videos: grouped k-fold cross-validation of a short list "
                    "of candidates (frame fit, head, clip length, readout, regularisation, a motion stream; mean "
                    "pooling and one frame as references) within a time budget, then train the simplest candidate "
                    "within noise of the best on all the videos. Other options (--config, --data.*) go to train.py.",
        allow_abbrev=False)
    parser.add_argument("--budget", type=float, default=DEFAULT_BUDGET_MINUTES,
                        help="minutes the search may take, feature caching excluded "
                             f"(default {DEFAULT_BUDGET_MINUTES:g})")
    parser.add_argument("--folds", type=int, default=DEFAULT_FOLDS,
                        help=f"cross-validation folds (default {DEFAULT_FOLDS})")
    parser.add_argument("--output", "--out", dest="out", default=DEFAULT_OUT,
                        help=f"where recipe.yaml, best.ckpt, report.md and the runs go (default {DEFAULT_OUT})")
    parser.add_argument("--candidates", nargs="+", metavar="NAME", default=None,
                        help=f"search only these candidates (default all: {', '.join(candidate_names())})")
    parser.add_argument("--cache-frames", type=int, default=DEFAULT_CACHE_FRAMES,
                        help="frames a video the feature cache embeds, written into recipe.yaml as "
                             f"data.cache_max_frames (default {DEFAULT_CACHE_FRAMES})")
    known, rest = parser.parse_known_args(args)
    result = choose_recipe(rest, known.out, known.budget, known.folds, known.candidates, known.cache_frames)
    print(f"chosen: {result['chosen']}: {result['why']}\nrecipe: {result['recipe']}\ncheckpoint: "
          f"{result['checkpoint']}\nreport: {result['report']}", flush=True)
    tested = result["final"].get("test_metrics") or {}
    if "test/acc" in tested:
        where = ("the given test list, never searched" if result["held_out"]
                 else "a test split among the searched videos")
        print(f"test accuracy of the chosen recipe on {where}: {tested['test/acc']:.3f}", flush=True)
    return 0
