"""The accuracy ladder: which options each rung runs with, and the table it prints."""
from __future__ import annotations

from pathlib import Path

from pipeline.benchmarks import accuracy as benchmark_accuracy
from pipeline.benchmarks.accuracy import LADDER, Cell, Step, format_markdown, ladder_args


def test_each_rung_keeps_the_rungs_before_it_but_not_the_alternatives():
    ladder = (Step("base", ("--a", "1")), Step("alt", ("--b", "2"), cumulative=False), Step("more", ("--c", "3")))
    assert [args for _, args in ladder_args(ladder)] == [["--a", "1"], ["--a", "1", "--b", "2"],
                                                         ["--a", "1", "--c", "3"]]


def test_the_table_has_a_row_per_rung_and_a_column_per_head():
    cells = [Cell("base", "rnn", 0.5, 0.1, 0.4), Cell("base", "mean", 0.3, 0.05, 0.2),
             Cell("more", "rnn", 0.9, 0.0, 0.9)]
    lines = format_markdown(cells, 3).splitlines()
    assert lines[0].startswith("| step (3-fold test accuracy") and "GRU" in lines[0] and "mean pooling" in lines[0]
    assert lines[2] == "| base | 0.500 ± 0.100 | 0.300 ± 0.050 |" and lines[3] == "| more | 0.900 ± 0.000 |  |"


def test_each_technique_is_measured_alone_on_the_baseline():
    (baseline, base_args), *rest = ladder_args(LADDER)
    assert set(baseline.heads) == {"rnn", "mean", "single"}
    for step, args in rest:
        assert args == [*base_args, *step.adds], step.name


def test_steps_and_heads_choose_the_cells_that_run(monkeypatch, tmp_path):
    ran = []

    def cross_validate(args, folds, out):
        fits = [value for option, value in zip(args, args[1:]) if option == "--model.frame_fit"]
        ran.append((Path(out).name, fits[-1]))  # the last one given wins
        return {"metrics": {"test/acc": {"mean": 0.5, "std": 0.0}, "test/f1_macro": {"mean": 0.5}},
                "folds": [{"test/acc": 0.5}] * folds}

    monkeypatch.setattr(benchmark_accuracy, "cross_validate", cross_validate)
    cells = benchmark_accuracy.run_accuracy_benchmark("data", 3, str(tmp_path), heads=["rnn", "mean"],
                                                      steps=["centre crop", "MOTION WINDOW"])
    assert ran == [("centre-crop-earlier-default-rnn", "crop"), ("centre-crop-earlier-default-mean", "crop"),
                   ("motion-window-rnn", "motion"), ("motion-window-mean", "motion")]
    assert [c.folds for c in cells] == [[0.5] * 3] * 4
