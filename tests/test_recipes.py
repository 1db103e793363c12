"""The recipe search (scripts/choose_recipe.py): successive halving within a budget, the simplest candidate
within noise of the best, and end to end on generated clips where only the order of frames tells the
classes apart, so the recurrent head must be chosen over mean pooling."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from pipeline.core.checkpoints import load_classifier_module
from pipeline.demo import generate_direction_dataset
from pipeline.errors import UsageError
from pipeline.recipes.candidates import CANDIDATES, select_candidates
from pipeline.recipes.choice import Row, choose
from pipeline.recipes.chooser import choose_recipe
from pipeline.recipes.configs import load_config, split_train_args, with_overrides
from pipeline.recipes.head_fit import FoldResult
from pipeline.recipes.search import Budget, SearchLog, TrialStore, rungs, search
from pipeline.training.cli import parse_config


def fake_runs(scores: dict, seconds: float = 10.0):
    """A run(name, fold) that returns fixed accuracies and durations, and the trials it was asked for."""
    asked = []

    def run(name: str, fold: int) -> FoldResult:
        asked.append((name, fold))
        return FoldResult({"test/acc": scores[name][fold]}, 1, 1, 1, seconds)
    return run, asked


def test_successive_halving_keeps_the_better_half_and_the_config(tmp_path):
    scores = {"config": [0.5] * 5, "a": [0.9] * 5, "b": [0.8] * 5, "c": [0.6] * 5, "d": [0.7] * 5}
    run, asked = fake_runs(scores)
    store = TrialStore(tmp_path / "trials.json")
    search(list(scores), 5, run, store, Budget(10_000), SearchLog())
    assert rungs(5) == [2, 5] and rungs(3) == [3]
    first = {(n, f) for n in scores for f in (0, 1)}
    assert set(asked[:10]) == first and asked[:5] == [(n, 0) for n in scores]  # fold by fold, in list order
    second = asked[10:10 + 4 * 3]
    assert {n for n, _ in second} == {"a", "b", "d", "config"}  # the better half, and the config
    assert set(asked[10 + 12:]) == {("c", f) for f in (2, 3, 4)}  # time left: the dropped ones complete
    assert len(asked) == len(set(asked)) == 25
    again = TrialStore(tmp_path / "trials.json")  # finished trials are stored and read back
    assert again.folds_of("a")[3].metrics == {"test/acc": 0.9}


def test_the_budget_stops_the_search_before_a_trial_that_would_not_fit(tmp_path):
    scores = {name: [0.5] * 5 for name in ("config", "a", "b")}
    run, asked = fake_runs(scores, seconds=60.0)
    log = SearchLog()
    budget = Budget(150.0)
    store = TrialStore(tmp_path / "trials.json")
    search(list(scores), 5, run, store, budget, log)
    assert asked == [("config", 0), ("a", 0)] and budget.spent == 120.0  # a third minute would pass 150 s
    assert log.stopped_by_budget and "search stopped" in log.lines[-1]
    assert "2 of 3 candidates go through the rungs; b only with time left" in log.lines[1]
    run, asked = fake_runs(scores, seconds=60.0)  # run again with more time: it goes on where it stopped
    search(list(scores), 5, run, store, Budget(600.0), SearchLog())
    assert asked[:2] == [("config", 1), ("a", 1)] and ("config", 0) not in asked


def test_a_costly_candidate_that_no_longer_fits_stops_alone_and_the_cheaper_ones_go_on(tmp_path):
    scores = {"config": [0.5] * 5, "costly": [0.9] * 5, "a": [0.8] * 5}
    seconds = {"config": 5.0, "costly": 60.0, "a": 5.0}  # a fine-tuning candidate beside two heads
    asked = []

    def run(name: str, fold: int) -> FoldResult:
        asked.append((name, fold))
        return FoldResult({"test/acc": scores[name][fold]}, 1, 1, 1, seconds[name])
    log = SearchLog()
    search(list(scores), 5, run, TrialStore(tmp_path / "trials.json"), Budget(200.0), log)
    assert [f for n, f in asked if n == "costly"] == [0, 1]  # a third 60-s trial would pass 200 s
    assert [f for n, f in asked if n == "a"] == [0, 1, 2, 3, 4] and [f for n, f in asked if n == "config"] == [
        0, 1, 2, 3, 4]
    assert any("(costly, fold 2, about 60 s) does not fit: costly stops here" in line for line in log.lines)
    assert log.stopped_by_budget and log.lines[-1] == "search stopped by the budget before finishing costly"


def test_the_simplest_candidate_within_noise_of_the_best_is_chosen():
    rows = [Row.of(name, {f: FoldResult({"test/acc": v}, 1, 1, 1, 1.0) for f, v in enumerate(values)})
            for name, values in (("big", [0.80, 0.70, 0.90, 0.75, 0.85]),
                                 ("small", [0.79, 0.74, 0.86, 0.77, 0.82]),
                                 ("poor", [0.60, 0.50, 0.70, 0.55, 0.65]))]
    simpler = {"big": (1, 0, 2_000_000, 16), "small": (1, 0, 1_000, 16), "poor": (1, 0, 10, 16)}
    choice = choose(rows, simpler)
    assert choice.best == "big" and choice.chosen == "small" and "poor" not in choice.within
    assert "simplest" in choice.why
    assert choose(rows, {"big": (1,), "small": (2,), "poor": (0,)}).chosen == "big"
    partial = rows + [Row.of("late", {0: FoldResult({"test/acc": 1.0}, 1, 1, 1, 1.0)})]
    assert choose(partial, simpler).best == "big"  # a candidate with fewer folds than the others does not compete
    ahead = [rows[0], Row.of("cut", {f: FoldResult({"test/acc": 0.95}, 1, 1, 1, 1.0) for f in range(4)})]
    choice = choose(ahead, simpler)  # a budget that stopped with "big" a fold ahead: compared on four folds
    assert (choice.best, choice.folds) == ("cut", 4)


def test_a_candidate_is_the_users_config_with_a_few_options_changed(tmp_path):
    configs, options = split_train_args(["--config", "configs/list.yaml", "--data.root=/videos", "--data.clip_len",
                                         "8", "--data.test_list", "null", "--model.bidirectional", "true"])
    assert configs == ["configs/list.yaml"]
    base = load_config(configs, options)
    assert base["data"]["root"] == "/videos" and base["data"]["clip_len"] == 8 and base["data"]["test_list"] is None
    assert base["model"]["bidirectional"] is True and base["trainer"]["max_epochs"] == 30  # the file's own values
    changed = with_overrides(base, {"model.frame_fit": "spotlight", "data.cache_max_frames": 32})
    assert changed["model"]["frame_fit"] == "spotlight" and changed["model"]["cell"] == "lstm"
    assert "frame_fit" not in base["model"]
    assert [c.name for c in select_candidates(["mean-pool", "config"])] == ["config", "mean-pool"]
    assert CANDIDATES[0].name == "config" and not CANDIDATES[0].overrides
    with pytest.raises(ValueError, match="unknown candidate 'best'"):
        select_candidates(["best"])
    with pytest.raises(UsageError, match="needs a value"):
        split_train_args(["--data.root"])


@pytest.fixture(scope="module")
def direction(tmp_path_factory) -> Path:
    """An order-only task: a ball crossing left to right, or the same frames reversed."""
    return generate_direction_dataset(tmp_path_factory.mktemp("recipes") / "direction", n_train=60, n_val=0,
                                      n_test=0, size=96, num_frames=16, seed=3)


def write_config(folder: Path) -> Path:
    config = {
        "seed_everything": 0,
        "trainer": {"max_epochs": 25, "enable_progress_bar": False},
        # As tests/test_order.py: a 3x3 feature grid keeps where the ball is, which global pooling loses.
        "model": {"backbone": "efficientnet_lite0", "input_size": 96, "spatial_grid": 3, "cell": "gru",
                  "hidden_size": 64, "lr": 0.003, "dropout": 0.1, "backbone_precision": "fp32"},
        "data": {"format": "folders", "clip_len": 16, "batch_size": 8, "num_workers": 0, "val_fraction": 0.25,
                 "cache_dir": str(folder / "cache")},
    }
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.slow  # six trials and two final trainings on 60 clips: a few minutes on 2 cores
def test_the_recurrent_head_is_chosen_where_only_order_tells(direction, tmp_path):
    """A budget that allows one trial still gives every output; run again with time, the search resumes
    and picks the GRU over mean pooling, whose recipe.yaml train.py takes."""
    args = ["--config", str(write_config(tmp_path)), "--data.root", str(direction)]
    out = tmp_path / "search"
    first = choose_recipe(args, str(out), budget_minutes=1e-4, num_folds=3, candidates=["config", "mean-pool"],
                          cache_frames=None)
    trials = json.loads((out / "trials.json").read_text())
    assert list(trials) == ["config|0"], "a tiny budget runs the first trial and stops"
    assert {p.name for p in out.iterdir()} >= {"recipe.yaml", "best.ckpt", "report.md"}
    assert "stopped by the budget" in (out / "report.md").read_text() and first["chosen"] == "config"

    second = choose_recipe(args, str(out), budget_minutes=30, num_folds=3, candidates=["config", "mean-pool"],
                           cache_frames=None)
    trials = json.loads((out / "trials.json").read_text())
    assert set(trials) == {f"{n}|{f}" for n in ("config", "mean-pool") for f in range(3)}
    rows = {row.name: row for row in second["rows"]}
    assert second["chosen"] == "config", second["why"]
    assert second["held_out"] is False  # no test list given: no held-out figure is claimed
    assert rows["config"].mean > rows["mean-pool"].mean + 0.2, (rows["config"].folds, rows["mean-pool"].folds)
    recipe = out / "recipe.yaml"
    config = parse_config(["--config", str(recipe)])
    assert config.model.cell == "gru" and config.data.root == str(direction)
    assert "Chosen by scripts/choose_recipe.py" in recipe.read_text()
    model = load_classifier_module(str(out / "best.ckpt"))
    assert model.hparams.cell == "gru" and model.class_names == ["left_to_right", "right_to_left"]
    report = (out / "report.md").read_text()
    assert "| **config** |" in report and "true \\ predicted" in report
    with pytest.raises(UsageError, match="other options"):
        choose_recipe(args, str(out), num_folds=4, candidates=["config", "mean-pool"], cache_frames=None)
