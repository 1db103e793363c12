"""Groups (`data.group_by`): the clips of one source stay on one side of every split, fold and carve."""
from __future__ import annotations

import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from pipeline.data.annotations import (
    AnnotationError,
    AnnotationWarning,
    VideoRecord,
    build_splits,
    kfold_split,
    read_list_file,
    stratified_split,
)


def touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x00\x00\x01fake")
    return path


def random_layout(rng: np.random.Generator) -> tuple[list[VideoRecord], dict[Path, str]]:
    """Records of 2-4 classes in 1-25 groups of 1-12 clips; a group holds one class or several."""
    records, groups = [], {}
    classes = int(rng.integers(2, 5))
    for g in range(int(rng.integers(1, 26))):
        labels = rng.choice(classes, size=int(rng.integers(1, classes + 1)), replace=False)
        for i in range(int(rng.integers(1, 13))):
            path = Path(f"/d/g{g:02d}_{i:02d}.mp4")
            records.append(VideoRecord(path, int(labels[i % len(labels)])))
            groups[path] = f"g{g}"
    return records, groups


def sides(parts: list[list[VideoRecord]], groups: dict[Path, str]) -> dict[str, set[int]]:
    """The splits each group has videos in."""
    seen: dict[str, set[int]] = {}
    for index, part in enumerate(parts):
        for r in part:
            seen.setdefault(groups[r.path], set()).add(index)
    return seen


@pytest.mark.parametrize("seed", range(40))
def test_a_group_is_never_on_two_sides(seed):
    """Property over random layouts, fractions, fold counts and seeds: every split and fold keeps each
    group whole, holds every record once, and a non-zero split is served when there are groups enough."""
    rng = np.random.default_rng(seed)
    records, groups = random_layout(rng)
    key = lambda r: groups[r.path]  # noqa: E731
    fractions = rng.dirichlet([1.0, 1.0, 1.0]) * (rng.random(3) > 0.2)
    fractions = fractions / fractions.sum() if fractions.sum() else np.array([1.0, 0.0, 0.0])
    parts = stratified_split(records, fractions.tolist(), seed, key)
    assert sorted(r.path for p in parts for r in p) == sorted(r.path for r in records)
    assert all(len(found) == 1 for found in sides(parts, groups).values())
    if len(set(groups.values())) >= 3:
        assert all(parts[i] for i, f in enumerate(fractions) if f > 0)
    folds = int(rng.integers(2, 6))
    held = [kfold_split(records, folds, fold, seed, key) for fold in range(folds)]
    for rest, out in held:
        assert not {key(r) for r in rest} & {key(r) for r in out}
        assert len(rest) + len(out) == len(records)
    assert sorted(r.path for _, out in held for r in out) == sorted(r.path for r in records)  # each once


def test_groups_across_classes_are_dealt_whole_and_balanced():
    """Sources cut into clips of both classes (a video with fights and calm stretches): whole sources
    go to each fold, and the folds' class counts stay near a fifth of each class."""
    rng = np.random.default_rng(0)
    records, groups = [], {}
    for g in range(40):
        for i in range(int(rng.integers(2, 9))):
            path = Path(f"/d/s{g:02d}_{i}.mp4")
            records.append(VideoRecord(path, i % 2))
            groups[path] = f"s{g}"
    key = lambda r: groups[r.path]  # noqa: E731
    totals = Counter(r.label for r in records)
    for fold in range(5):
        rest, out = kfold_split(records, 5, fold, 3, key)
        assert not {key(r) for r in rest} & {key(r) for r in out}
        counts = Counter(r.label for r in out)
        assert all(abs(counts[c] - n / 5) <= 5 for c, n in totals.items())
    assert [kfold_split(records, 5, f, 3, key)[1] for f in range(5)] == \
        [kfold_split(list(reversed(records)), 5, f, 3, key)[1] for f in range(5)]  # order-independent


def test_groups_of_one_class_keep_the_class_by_class_split():
    """When every group holds one class, a seed names the same split as before groups spanned classes."""
    records = [VideoRecord(Path(f"/d/c{c}/p{i // 2}_{i}.mp4"), c) for c in range(2) for i in range(10)]
    key = lambda r: f"{r.label}/{r.path.stem.split('_')[0]}"  # noqa: E731
    parts = stratified_split(records, [0.6, 0.2, 0.2], 0, key)
    assert all(len(found) == 1 for found in sides(parts, {r.path: key(r) for r in records}).values())
    assert [len(p) for p in parts] == [12, 4, 4]


def fight_like(tmp_path: Path) -> tuple[Path, Path]:
    """A CSV list (path,label,source) of 12 sources, each cut into clips of both classes."""
    rows = ["path,label,source"]
    for s in range(12):
        for i, label in enumerate(("fight", "calm", "fight")):
            touch(tmp_path / label / f"s{s}_{i}.mp4")
            rows.append(f"{label}/s{s}_{i}.mp4,{label},src{s}")
    lst = tmp_path / "list.csv"
    lst.write_text("\n".join(rows) + "\n")
    return tmp_path, lst


def test_group_by_a_column_of_a_csv_list(tmp_path):
    root, lst = fight_like(tmp_path)
    records = read_list_file(lst, root)
    assert len(records) == 36 and records[0].path.parent.name in ("fight", "calm")
    splits = build_splits("list", root, train_list=lst, group_by="source", val_fraction=0.2, test_fraction=0.2)
    source = lambda r: r.path.stem.split("_")[0]  # noqa: E731
    parts = [splits.train, splits.val, splits.test]
    assert all(len(found) == 1 for found in sides(parts, {r.path: source(r) for p in parts for r in p}).values())
    assert splits.group_key(splits.train[0]) == f"src{source(splits.train[0])[1:]}"
    table = splits.summary().splitlines()
    groups_row = [int(v) for v in table[-1].split()[1:]]
    assert table[-1].startswith("groups") and sum(groups_row) == 12 and all(groups_row)
    for fold in range(3):
        folded = build_splits("list", root, train_list=lst, group_by="source", num_folds=3, fold=fold)
        parts = [folded.train, folded.val, folded.test]
        assert all(len(f) == 1 for f in sides(parts, {r.path: source(r) for p in parts for r in p}).values())


def test_a_list_with_a_group_column_but_no_group_by_is_warned_about(tmp_path):
    root, lst = fight_like(tmp_path)
    with pytest.warns(AnnotationWarning, match=r"column\(s\) source .*--data.group_by source"):
        build_splits("list", root, train_list=lst, val_fraction=0.2, test_fraction=0.2)
    with warnings.catch_warnings():
        warnings.simplefilter("error", AnnotationWarning)  # named: nothing to warn about
        build_splits("list", root, train_list=lst, group_by="source", val_fraction=0.2, test_fraction=0.2)


def test_group_by_a_pattern_on_the_path(tmp_path):
    for person in range(6):
        for c in ("sit", "stand"):
            for take in range(2):
                touch(tmp_path / c / f"person{person}_{c}_{take}.avi")
    splits = build_splits("folders", tmp_path, group_by=r"^[^/]+/(person\d+)_", val_fraction=0.2, test_fraction=0.2)
    person = lambda r: r.path.name.split("_")[0]  # noqa: E731
    parts = [splits.train, splits.val, splits.test]
    assert all(len(f) == 1 for f in sides(parts, {r.path: person(r) for p in parts for r in p}).values())
    assert splits.group_key(splits.train[0]) == person(splits.train[0])
    touch(tmp_path / "sit" / "stranger.avi")
    with pytest.warns(AnnotationWarning, match="does not match 1 of 25 video paths.*stranger.avi"):
        build_splits("folders", tmp_path, group_by=r"(person\d+)_")


def test_group_by_mistakes_are_named(tmp_path):
    root, lst = fight_like(tmp_path)
    with pytest.raises(AnnotationError, match=r"matches none of the 36 video paths.*other columns: source"):
        build_splits("list", root, train_list=lst, group_by=r"(camera\d+)")
    with pytest.raises(AnnotationError, match="needs a group"):
        build_splits("list", root, train_list=lst, group_by="sauce")
    with pytest.raises(AnnotationError, match=r"nor a regular expression.*other columns: source"):
        build_splits("list", root, train_list=lst, group_by="(unclosed")


def test_given_splits_that_share_a_group_are_warned_about(tmp_path):
    root, lst = fight_like(tmp_path)
    rows = lst.read_text().splitlines()
    train = tmp_path / "train.csv"
    test = tmp_path / "test.csv"
    train.write_text("\n".join(rows[:-2]) + "\n")
    test.write_text("\n".join([rows[0], *rows[-2:]]) + "\n")  # the last source has a clip in train too
    with pytest.warns(AnnotationWarning, match=r"1 group\(s\) have videos in both the train and the test split"):
        build_splits("list", root, train_list=train, test_list=test, group_by="source")


def test_a_malformed_table_row_is_named(tmp_path):
    root, lst = fight_like(tmp_path)
    lst.write_text(lst.read_text() + "calm/s0_1.mp4,calm\n")
    with pytest.raises(AnnotationError, match=r"list.csv:38: malformed row .* 3 columns path,label,source"):
        read_list_file(lst, root)


def test_the_data_module_and_train_py_take_group_by(tmp_path):
    from pipeline.data.datamodule import VideoDataModule
    from pipeline.training.cli import parse_config

    root, lst = fight_like(tmp_path)
    data = VideoDataModule(root=str(root), format="list", train_list=str(lst), group_by="source", num_folds=4,
                           fold=1, val_fraction=0.25)
    parts = [data.splits.train, data.splits.val, data.splits.test]
    source = {r.path: r.path.stem.split("_")[0] for p in parts for r in p}
    assert all(len(f) == 1 for f in sides(parts, source).values())
    assert data.splits.summary().splitlines()[-1].startswith("groups")
    config = parse_config(["--data.root", str(root), "--data.format", "list", "--data.train_list", str(lst),
                           "--data.group_by", "source"])
    assert config.data.group_by == "source"
