"""Memory does not grow with a video's length: caching the features of a long video peaks at about
the memory of caching a short one (both the process that embeds and the decoding child)."""
from __future__ import annotations

import shutil

import pytest

from pipeline.benchmarks.rows import make_test_video
from pipeline.benchmarks.runner import measure_cache_memory


@pytest.mark.slow  # 25-30 s of decoding 1,600 frames; docs/benchmarks.md's memory rows measure the same
def test_caching_a_long_video_peaks_like_a_short_one(tmp_path):
    short = make_test_video(tmp_path / "short.mp4", frames=100, width=320, height=240, fps=25)
    long = make_test_video(tmp_path / "long.mp4", frames=1500, width=320, height=240, fps=25)  # 346 MB as RGB
    small = measure_cache_memory(short, tmp_path / "cache", input_size=64)
    large = measure_cache_memory(long, tmp_path / "cache", input_size=64)
    assert (small["frames"], large["frames"]) == (100, 1500) and not small["errors"] and not large["errors"]
    # Holding the long video's frames at full size would add 346 MB, at crop size 18 MB; its features 4 MB.
    assert large["grown_mb"] - small["grown_mb"] < 64, (small, large)
    assert large["child_peak_mb"] - small["child_peak_mb"] < 64, (small, large)
    assert large["child_peak_mb"] < 400, "the decoding child loads decoders, not torch (0.9 GB when it did)"


@pytest.mark.slow  # a real training run from an empty cache, in a fresh process: about 15 s
def test_the_first_run_benchmark_trains_from_an_empty_cache_and_measures_the_process_tree(tmp_path):
    """The rows behind docs/benchmarks.md's first-run figures: train.py end to end on generated phone-like
    clips, with the memory of the script, its loader workers and their decoding children."""
    from pipeline.benchmarks.cache import first_training_rows, make_phone_set

    records = make_phone_set(tmp_path / "clips", 8, seconds=[1.0] * 8, sizes=[(160, 96), (128, 96)])
    assert [r.label for r in records] == [0, 1] * 4
    out = tmp_path / "run"
    out.mkdir()
    rows = first_training_rows(out, records, extra=["--trainer.max_epochs", "2", "--model.input_size", "64"])
    seconds, rss, pss = rows[:3]
    assert "8 160x96/128x96 clips (6 train, 2 test; 240 frames)" in seconds["what"] and seconds["rate"] > 0
    assert (out / "checkpoints" / "last.ckpt").is_file() and any((out / "cache").iterdir())
    assert sorted(line.split()[1] for line in (out / "test.txt").read_text().splitlines()) == ["0", "1"]
    # The tree holds at least the script itself (torch and Lightning alone take over 200 MB resident).
    assert rss["rate"] > 200 and 0 < pss["rate"] <= rss["rate"]
    if shutil.which("nvidia-smi") is None:
        assert len(rows) == 3, "no GPU busy row without nvidia-smi"


@pytest.mark.slow  # fine-tuning a CNN for 2 epochs on 6 clips: about 30 s
def test_the_fine_tuning_benchmark_trains_the_backbone(tmp_path):
    from pipeline.benchmarks.cache import first_training_rows, make_phone_set
    from pipeline.benchmarks.runner import FINETUNE_ARGS

    records = make_phone_set(tmp_path / "clips", 8, seconds=[1.0] * 8, sizes=[(160, 96)])
    out = tmp_path / "run"
    out.mkdir()
    rows = first_training_rows(out, records, extra=[*FINETUNE_ARGS, "--model.input_size", "64"],
                               group="fine-tuning")
    assert {r["group"] for r in rows} == {"fine-tuning"} and "--model.freeze_backbone false" in rows[0]["what"]
    assert "(fine-tuned)" in (out / "train.log").read_text() and (out / "checkpoints" / "last.ckpt").is_file()
