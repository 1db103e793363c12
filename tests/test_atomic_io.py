"""Kept outputs are written atomically, and a planted symlink cannot redirect the write."""
from __future__ import annotations

import os
import stat

import pytest

from pipeline.atomic_io import atomic_path, write_csv_atomic, write_text_atomic


def _leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if ".tmp" in p.name)


def test_planted_symlinks_do_not_redirect_the_write(tmp_path):
    shared, outside = tmp_path / "shared", tmp_path / "outside"
    shared.mkdir()
    outside.mkdir()
    victim = outside / "victim.txt"
    victim.write_text("untouched")
    # Every name the old code could have used, and a few more, point outside the output folder.
    for name in (f".preds.{os.getpid()}.tmp.csv", ".preds.tmp.csv", f".preds.{os.getpid() + 1}.tmp.csv"):
        (shared / name).symlink_to(victim)

    write_csv_atomic(shared / "preds.csv", ["path", "label"], [["a.mp4", "goal"]])

    assert victim.read_text() == "untouched"
    assert (shared / "preds.csv").read_text().splitlines() == ["path,label", "a.mp4,goal"]
    assert not (shared / "preds.csv").is_symlink()


def test_the_temporary_name_is_unpredictable_and_created_exclusively(tmp_path):
    names = []
    for _ in range(3):
        with atomic_path(tmp_path / "out.json") as tmp:
            assert tmp.parent == tmp_path and tmp.name.endswith(".json")
            assert tmp.is_file() and not tmp.is_symlink()  # it exists before we write: created by us
            names.append(tmp.name)
            tmp.write_text("{}")
    assert len(set(names)) == 3


def test_a_failed_write_keeps_the_old_file_and_leaves_nothing_behind(tmp_path):
    target = tmp_path / "settings.json"
    write_text_atomic(target, "old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert _leftovers(tmp_path) == []


def test_new_files_get_the_permissions_a_plain_open_gives(tmp_path):
    write_text_atomic(tmp_path / "report.txt", "x")
    (tmp_path / "plain.txt").write_text("x")
    mode = stat.S_IMODE((tmp_path / "report.txt").stat().st_mode)
    assert mode == stat.S_IMODE((tmp_path / "plain.txt").stat().st_mode)  # not mkstemp's private 0o600
