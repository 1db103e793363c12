"""The Python API (`from pipeline import Recognizer`): the README's example runs; predict_many gives the
rows predict.py writes, timeline the files predict.py --timeline writes; an unreadable video is named;
the model is loaded once and never by running code from the checkpoint; `import pipeline` stays cheap."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from conftest import make_index_video

from pipeline import Recognizer, UnreadableVideoError
from pipeline.core.checkpoints import UnsafeCheckpointError
from pipeline.core.module import VideoClassifierModule
from pipeline.data.datamodule import VideoDataModule
from pipeline.demo import generate_direction_dataset
from pipeline.errors import InputError
from pipeline.inference import PredictOptions, TimelineOptions, predict

REPO = Path(__file__).resolve().parents[1]
API_HEADING = "## Python API"


@pytest.fixture(scope="module")
def direction(tmp_path_factory) -> Path:
    return generate_direction_dataset(tmp_path_factory.mktemp("direction") / "data", n_train=4, n_val=2, n_test=2,
                                      size=64, num_frames=8, seed=3)


@pytest.fixture(scope="module")
def checkpoint(direction, tmp_path_factory) -> Path:
    """A small real checkpoint (one epoch): these tests are about plumbing, not accuracy."""
    tmp = tmp_path_factory.mktemp("model")
    pl.seed_everything(0, workers=True)
    data = VideoDataModule(root=str(direction), clip_len=6, batch_size=4, num_workers=0, cache_features=False)
    model = VideoClassifierModule(class_names=data.class_names, sampling=data.sampling, input_size=64, hidden_size=16)
    data.attach_model(model.preprocessing, model.frozen_backbone)
    trainer = pl.Trainer(max_epochs=1, logger=False, enable_progress_bar=False, enable_checkpointing=False,
                         default_root_dir=str(tmp))
    trainer.fit(model, datamodule=data)
    trainer.save_checkpoint(tmp / "model.ckpt")
    return tmp / "model.ckpt"


@pytest.fixture(scope="module")
def rec(checkpoint) -> Recognizer:
    return Recognizer.from_checkpoint(checkpoint, device="cpu", num_workers=0, batch_size=2)


@pytest.fixture(scope="module")
def videos(direction, tmp_path_factory) -> Path:
    """Real clips, a 4-second video, and two files no decoder can read."""
    folder = tmp_path_factory.mktemp("videos")
    for clip in sorted(direction.rglob("*.mp4"))[:4]:
        shutil.copy(clip, folder / clip.name)
    make_index_video(folder / "long.mp4", 100)
    data = (folder / "long.mp4").read_bytes()
    (folder / "broken").mkdir()
    (folder / "broken" / "truncated.mp4").write_bytes(data[: len(data) // 3])
    (folder / "broken" / "notes.mp4").write_text("not a video\n")
    return folder


def api_example() -> str:
    """The ```python block under the README's "Python API" heading."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert API_HEADING in readme, f"README: no {API_HEADING!r} section"
    block = re.search(r"```python\n(.*?)```", readme.split(API_HEADING, 1)[1], re.S)
    assert block, f"README: no ```python block under {API_HEADING!r}"
    return block.group(1)


def test_the_readme_api_example_runs(checkpoint, videos, tmp_path, monkeypatch, capsys):
    """The example, verbatim, in a folder that has the files it names."""
    weights = tmp_path / "runs" / "demo" / "version_0" / "checkpoints" / "best.ckpt"
    weights.parent.mkdir(parents=True)
    weights.symlink_to(checkpoint)
    shutil.copy(sorted(videos.glob("test_*.mp4"))[0], tmp_path / "clip.mp4")
    shutil.copytree(videos, tmp_path / "videos")
    shutil.copy(videos / "long.mp4", tmp_path / "match.mp4")
    monkeypatch.chdir(tmp_path)
    exec(compile(api_example(), "README: Python API", "exec"), {"__name__": "__api_example__"})
    printed = capsys.readouterr().out
    assert re.search(r"^(left_to_right|right_to_left) ", printed, re.M), printed
    assert "notes.mp4 unreadable" in printed, "an unreadable video gets its row"
    assert {p.name for p in (tmp_path / "match_timeline").iterdir()} == {
        "match.windows.csv", "match.events.csv", "match.png"}


def test_predict_many_gives_the_rows_predict_py_writes(rec, checkpoint, videos, tmp_path):
    output = tmp_path / "preds.jsonl"
    predict(PredictOptions(str(checkpoint), [str(videos)], str(output), batch_size=2, num_workers=0, device="cpu",
                           progress=False))
    written = [json.loads(line) for line in output.read_text().splitlines()]
    rows = rec.predict_many([str(videos)])
    assert json.loads(json.dumps(rows)) == written, "the same rows, columns and values, in the same order"
    assert [r["status"] for r in rows].count("ok") == 5 and len(rows) == 7
    assert {Path(r["path"]).name: r["status"] for r in rows if r["status"] != "ok"} == {
        "truncated.mp4": "unreadable", "notes.mp4": "unreadable"}

    row = next(r for r in rows if r["status"] == "ok" and r["num_frames"] == 8)
    one = rec.predict(row["path"])
    assert one.path == row["path"] and one.label == row["label"] and one.frame_indices == row["frame_indices"]
    assert len(one.frame_indices) == 1 and len(one.frame_indices[0]) == 6, "one clip of the checkpoint's 6 frames"
    # Alone rather than in a batch of two: the same numbers up to float rounding.
    assert one.probabilities == pytest.approx({c: row[f"prob_{c}"] for c in rec.class_names}, abs=1e-6)
    assert sum(one.probabilities.values()) == pytest.approx(1.0, abs=1e-5)
    assert (one.num_frames, one.fps, one.duration, one.decoder) == (8, 25.0, 0.32, row["decoder"])
    assert one.decode_seconds > 0 and one.model_seconds > 0


def test_timeline_is_what_predict_py_timeline_writes(rec, checkpoint, videos, tmp_path):
    long = str(videos / "long.mp4")
    output = tmp_path / "preds.jsonl"
    predict(PredictOptions(str(checkpoint), [long], str(output), num_workers=0, device="cpu", progress=False,
                           timeline=TimelineOptions(window=1.0, stride=0.5, threshold=0.4)))
    timeline = rec.timeline(long, window=1.0, stride=0.5, threshold=0.4)
    windows = len(timeline.times)
    assert windows == timeline.row["clips"] >= 7 and timeline.probabilities.shape == (windows, 2)
    assert np.allclose(timeline.probabilities.sum(axis=1), 1.0, atol=1e-5)
    assert json.loads(json.dumps(timeline.row)) == json.loads(output.read_text()), "the video's row"
    files = timeline.write(tmp_path / "api")
    for kind in ("windows", "events"):
        expected = (tmp_path / "preds_timeline" / f"long.{kind}.csv").read_text()
        assert Path(files[kind]).read_text() == expected, kind
    assert timeline.events, "threshold 0.4 of two classes: some class is always above it"


def test_an_unreadable_video_is_named(rec, videos):
    broken = videos / "broken" / "truncated.mp4"
    with pytest.raises(UnreadableVideoError, match=re.escape(str(broken)) + r": cannot be read \(unreadable\)"):
        rec.predict(broken)
    with pytest.raises(UnreadableVideoError, match="notes.mp4"):
        rec.timeline(videos / "broken" / "notes.mp4")
    with pytest.raises(InputError, match="no such file"):
        rec.predict(videos / "missing.mp4")


def test_the_model_is_loaded_once(checkpoint, videos, tmp_path):
    """After loading, the checkpoint file is not needed: no call reads it again."""
    moved = tmp_path / "moved.ckpt"
    shutil.copy(checkpoint, moved)
    rec = Recognizer.from_checkpoint(moved, device="cpu", num_workers=0)
    moved.unlink()
    assert rec.predict(sorted(videos.glob("*.mp4"))[0]).label in rec.class_names
    assert len(rec.predict_many([str(videos)])) == 7


def test_a_checkpoint_that_would_run_code_is_refused(checkpoint, tmp_path):
    marker = tmp_path / "ran"
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    state["hyper_parameters"]["note"] = _RunsCode(marker)
    crafted = tmp_path / "crafted.ckpt"
    torch.save(state, crafted)
    with pytest.raises(UnsafeCheckpointError, match="trust"):
        Recognizer.from_checkpoint(crafted, device="cpu")
    assert not marker.exists()


class _RunsCode:
    """Unpickling it creates a file (what a malicious checkpoint could do instead)."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.mkdir, (str(self.marker),)


def test_import_pipeline_is_cheap_and_check_videos_does_not_import_lightning():
    code = ("import sys, runpy; import pipeline; cheap = 'torch' not in sys.modules; "
            "sys.argv = ['check_videos.py', '--help']\n"
            "try: runpy.run_path('scripts/check_videos.py', run_name='__main__')\n"
            "except SystemExit: pass\n"
            "print(cheap, 'pytorch_lightning' in sys.modules, 'models' in sys.modules)")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(REPO)})
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.split()[-3:] == ["True", "False", "False"], run.stdout
