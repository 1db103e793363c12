"""scripts/extract_features.py fills the cache that train.py then reads: the same entries, skipped
when present, unreadable videos named with exit status 3."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from pipeline.demo import generate_direction_dataset
from pipeline.errors import EXIT_SOME_FAILED
from pipeline.training.cli import train
from pipeline.training.extract import extract_features

REPO = Path(__file__).resolve().parents[1]


def test_extracted_features_are_the_ones_training_reads(tmp_path, capsys):
    data = generate_direction_dataset(tmp_path / "data", n_train=4, n_val=2, n_test=2, size=64, num_frames=8, seed=4)
    broken = data / "train" / "left_to_right" / "broken.mp4"
    broken.write_bytes(b"not a video " * 50)
    cache = tmp_path / "cache"
    args = [f"--data.root={data}", "--data.clip_len=4", "--data.num_workers=0", f"--data.cache_dir={cache}",
            "--data.cache_max_frames=6", "--model.input_size=64", "--model.hidden_size=16",
            "--trainer.max_epochs=1", "--trainer.enable_progress_bar=false",
            f"--trainer.logger.init_args.save_dir={tmp_path / 'runs'}"]
    script = [sys.executable, str(REPO / "scripts" / "extract_features.py"), *args]
    env = {**os.environ, "PYTHONPATH": str(REPO)}

    first = subprocess.run(script, capture_output=True, text=True, cwd=REPO, env=env, timeout=300)
    assert first.returncode == EXIT_SOME_FAILED, first.stderr[-2000:]
    assert "9 videos, 0 already cached, 8 embedded now, 1 unreadable" in first.stdout
    assert "broken.mp4" in first.stdout
    entries = {p: p.stat().st_mtime_ns for p in cache.rglob("*.npy")}
    assert len(entries) == 8 and all("max6" in p.parent.name for p in entries)

    again = extract_features(args, progress=False)  # resumed: nothing left to embed
    assert (again["videos"], again["cached_before"], again["embedded"]) == (9, 8, 0)
    assert list(again["unreadable"]) == [str(broken)]

    capsys.readouterr()
    summary = train(args)
    table = capsys.readouterr().out  # the split table is shown, not only logged
    assert "2 classes, 9 videos (train 5, val 2, test 2)" in table and "left_to_right" in table
    assert summary["skipped_videos"] == [str(broken)] or str(broken) in " ".join(summary["skipped_videos"])
    assert {p: p.stat().st_mtime_ns for p in cache.rglob("*.npy")} == entries, "training embedded nothing anew"
