"""scripts/check_videos.py and pipeline.data.video_check on real files: every file gets a verdict
(ok, too short, lying header, broken, decoder crash or hang), in parallel workers, cached."""
from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import faststart_copy, make_index_video

from pipeline.data.video_check import check_videos
from pipeline.errors import EXIT_BAD_INPUT, EXIT_OK, EXIT_OUTPUT, EXIT_SOME_FAILED, EXIT_USAGE

REPO = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent
FAULTY_ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}


def _cut_with_index_first(source: Path, target: Path, keep: float) -> Path:
    """The first `keep` of a copy of `source` whose mp4 index comes first: the header still counts
    every frame, but only the frames before the cut decode."""
    full = faststart_copy(source, target.with_suffix(".full.mp4"))
    data = full.read_bytes()
    full.unlink()
    target.write_bytes(data[: int(len(data) * keep)])
    return target


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> Path:
    return make_index_video(tmp_path_factory.mktemp("src") / "good.mp4", 30)


@pytest.fixture
def mixed(good, tmp_path) -> Path:
    """A folder of real clips and broken files, one of each verdict."""
    folder = tmp_path / "videos"
    folder.mkdir()
    shutil.copy(good, folder / "good.mp4")
    make_index_video(folder / "short.mp4", 4)
    _cut_with_index_first(make_index_video(tmp_path / "long.mp4", 120), folder / "cut.mp4", keep=0.5)
    data = good.read_bytes()
    (folder / "truncated.mp4").write_bytes(data[: len(data) // 3])  # its index, written last, is cut off
    (folder / "empty.mp4").write_bytes(b"")
    (folder / "notes.mp4").write_text("not a video, just text\n")
    (folder / "abort_notes.mp4").write_text("the test decoder aborts on this name, and no decoder reads it\n")
    shutil.copy(good, folder / "abort_clip.mp4")  # the test decoder aborts; the next decoder reads it
    return folder


def _run(*args: str, cwd: Path, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "scripts" / "check_videos.py"), *args], capture_output=True,
                          text=True, cwd=cwd, timeout=300, env=env)


def _csv(path: Path):
    with open(path, newline="") as handle:
        return {Path(r["path"]).name: r for r in csv.DictReader(handle)}


def test_every_file_gets_its_verdict(mixed, tmp_path):
    listing = tmp_path / "videos.txt"  # a list file, naming one file that is not there
    listing.write_text("".join(f"{p} 0\n" for p in sorted(mixed.iterdir())) + f"{mixed / 'gone.mp4'} 1\n")
    run = _run(str(listing), "--clip-len", "8", "--workers", "2", "--backend", "faulty_readers:AbortingReader",
               "--output", "report.csv", "--cache", "cache.json", "--all", cwd=tmp_path, env=FAULTY_ENV)
    assert run.returncode == EXIT_SOME_FAILED, run.stderr[-3000:]
    rows = _csv(tmp_path / "report.csv")
    assert {name: r["status"] for name, r in rows.items()} == {
        "good.mp4": "ok", "abort_clip.mp4": "ok", "short.mp4": "too_short", "cut.mp4": "header_mismatch",
        "truncated.mp4": "unreadable", "notes.mp4": "unreadable", "empty.mp4": "empty_file",
        "abort_notes.mp4": "decoder_crashed", "gone.mp4": "not_found"}
    ok = rows["good.mp4"]
    assert (ok["frames"], ok["header_frames"], ok["fps"], ok["width"], ok["height"], ok["duration"]) == (
        "30", "30", "25.0", "96", "64", "1.2")
    crashed = rows["abort_clip.mp4"]
    assert crashed["decoder"] != "" and "decoder_crashed" in crashed["reason"] and "read with" in crashed["reason"]
    assert rows["short.mp4"]["frames"] == "4" and "fewer than a clip (8)" in rows["short.mp4"]["reason"]
    cut = rows["cut.mp4"]
    assert cut["header_frames"] == "120" and 8 <= int(cut["frames"]) < 120
    assert "died" in rows["abort_notes.mp4"]["reason"] and rows["abort_notes.mp4"]["frames"] == ""
    for name, row in rows.items():  # the printed table has every file (--all), then the summary
        assert any(line.startswith(row["path"]) and row["status"] in line for line in run.stdout.splitlines()), name
    assert "2 ok of 9 videos (4 usable) -> report.csv" in run.stdout and "  decoder_crashed  1" in run.stdout
    cache = json.loads((tmp_path / "cache.json").read_text())
    assert len(cache["entries"]) == 8, "every verdict is cached but not_found"


# Slow (make test-all): the default suite must stay under 10 minutes on 2 cores;
# reading a config's data section is the data module's
# own code, tested in tests/test_configs.py.
@pytest.mark.slow
def test_a_config_data_section_and_its_clip_length(good, tmp_path):
    root = tmp_path / "clips"
    for label in ("wave", "run"):
        for i in range(3):
            (root / label).mkdir(parents=True, exist_ok=True)
            shutil.copy(good, root / label / f"{label}{i}.mp4")
    make_index_video(root / "run" / "brief.mp4", 10)
    config = tmp_path / "config.yaml"
    config.write_text(f"data:\n  root: {root}\n  format: folders\n  clip_len: 12\n  val_fraction: 0.0\n"
                      "  test_fraction: 0.0\n")
    run = _run("--config", str(config), "--no-cache", "--workers", "0", cwd=tmp_path)
    assert run.returncode == EXIT_SOME_FAILED, run.stderr[-3000:]
    rows = _csv(tmp_path / "video_check.csv")
    assert len(rows) == 7 and rows["brief.mp4"]["status"] == "too_short"
    assert "fewer than a clip (12)" in run.stdout and "wave0.mp4" not in run.stdout, "the table lists problems only"
    shorter = _run("--config", str(config), "--no-cache", "--clip-len", "10", "--no-progress", cwd=tmp_path)
    assert shorter.returncode == EXIT_OK and {r["status"] for r in _csv(tmp_path / "video_check.csv").values()} == {
        "ok"}


def test_verdicts_are_cached_until_the_file_changes(good, tmp_path):
    video = Path(shutil.copy(good, tmp_path / "clip.mp4"))
    cache = tmp_path / "cache.json"
    (first,) = check_videos([video], "pyav", clip_len=8, cache_path=cache)
    assert first.status == "ok" and first.frames == 30
    data = json.loads(cache.read_text())
    (entry,) = data["entries"].values()
    entry["check"].update(status="unreadable", reason="as the cache says")  # prove the cache is what answers
    cache.write_text(json.dumps(data))
    (cached,) = check_videos([os.path.join(tmp_path, ".", "clip.mp4")], "pyav", clip_len=8, cache_path=cache)
    assert (cached.status, cached.reason) == ("unreadable", "as the cache says"), "same file, another spelling"
    (other_decoder,) = check_videos([video], "opencv", clip_len=8, cache_path=cache)
    assert other_decoder.status == "ok", "a verdict holds for the decoder that gave it"
    os.utime(video, ns=(video.stat().st_atime_ns, video.stat().st_mtime_ns + 10**9))
    (fresh,) = check_videos([video], "pyav", clip_len=8, cache_path=cache)
    assert fresh.status == "ok", "a changed file is checked again"
    (again,) = check_videos([video], "pyav", clip_len=40, cache_path=cache)
    assert again.status == "too_short", "the clip length applies to cached verdicts too"


def test_a_hanging_decoder_times_out_on_its_file_only(good, tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(TESTS))
    (tmp_path / "hang_notes.mp4").write_text("the test decoder hangs on this name\n")
    clip = shutil.copy(good, tmp_path / "clip.mp4")
    hung, fine = check_videos([tmp_path / "hang_notes.mp4", clip], "faulty_readers:HangingReader", clip_len=8,
                              timeout=2, cache_path=tmp_path / "cache.json")
    assert hung.status == "decoder_timeout" and "2 s" in hung.reason
    assert fine.status == "ok" and fine.frames == 30
    entries = json.loads((tmp_path / "cache.json").read_text())["entries"]
    assert len(entries) == 1, "a timeout is not cached: with more time the file may pass"


@pytest.mark.slow  # several script starts; other scripts' wrong-use tests stay in the default suite
def test_wrong_use_is_one_line(mixed, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    cases = [
        ([], EXIT_USAGE, "give the videos"),
        ([str(mixed), "--clip", "4"], EXIT_USAGE, "unrecognized arguments: --clip"),
        ([str(empty)], EXIT_BAD_INPUT, "no videos"),
        ([str(mixed), "--output", str(mixed / "good.mp4" / "report.csv")], EXIT_OUTPUT, "is a file"),
    ]
    for args, status, words in cases:
        run = _run(*args, "--no-cache", cwd=tmp_path)
        assert run.returncode == status and words in run.stderr and "Traceback" not in run.stderr, (args, run.stderr)
    assert not (tmp_path / "video_check.csv").exists()
