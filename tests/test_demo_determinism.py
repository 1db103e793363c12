"""The demo data is reproducible: a seed gives the same files twice on one machine, and the same frames
whichever SIMD code OpenCV picks for the CPU (the frames of the old renderer changed with it)."""
from __future__ import annotations

import hashlib
import inspect
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict

import cv2
import numpy as np

from pipeline.demo import GENERATOR_VERSION, generate_direction_dataset, generate_football_dataset
from pipeline.demo.drawing import blend, shift_frame
from pipeline.demo.reference import REFERENCE_PATH, compare_with_reference, write_reference

SMALL = {"n_train": 4, "n_val": 2, "n_test": 2, "size": 64, "num_frames": 16, "seed": 7}

# Renders a football and a direction clip and prints the SHA-256 of their frames.
_RENDER_DIGEST = """
import hashlib
import numpy as np
from pipeline.demo import render_direction_clip, render_football_clip
digest = hashlib.sha256()
for seed in (0, 1):
    digest.update(render_football_clip("no_goal", np.random.default_rng(seed), size=96, num_frames=12).tobytes())
    digest.update(render_direction_clip("left_to_right", np.random.default_rng(seed), size=96, num_frames=8).tobytes())
print(digest.hexdigest())
"""


def _file_digests(root: Path) -> Dict[str, str]:
    return {path.relative_to(root).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(root.rglob("*")) if path.is_file()}


def _render_digest(env_extra: Dict[str, str]) -> str:
    env = {**os.environ, **env_extra}
    run = subprocess.run([sys.executable, "-c", _RENDER_DIGEST], capture_output=True, text=True, env=env,
                         timeout=300, check=True)
    return run.stdout.strip()


def test_a_demo_set_generated_twice_is_byte_identical(tmp_path):
    first = generate_football_dataset(tmp_path / "a", **SMALL)
    second = generate_football_dataset(tmp_path / "b", **SMALL)
    digests = _file_digests(first)
    assert len(digests) == 9  # 8 clips and the manifest
    assert digests == _file_digests(second)

    direction = {**SMALL, "num_frames": 8}
    assert _file_digests(generate_direction_dataset(tmp_path / "c", **direction)) == _file_digests(
        generate_direction_dataset(tmp_path / "d", **direction))


def test_frames_do_not_depend_on_opencv_simd():
    # OPENCV_CPU_DISABLE is read when cv2 loads, hence a child process. On a CPU without these extensions (or
    # not x86) both runs take the same code and the test checks nothing more than the first one does.
    baseline = _render_digest({})
    scalar = _render_digest({"OPENCV_CPU_DISABLE": "AVX512_SKX,AVX2,FMA3,AVX,FP16,POPCNT,SSE4_2,SSE4_1,SSSE3"})
    assert scalar == baseline


def test_blend_and_shift_agree_with_cv2():
    rng = np.random.default_rng(0)
    top, bottom = (rng.integers(0, 256, (20, 30, 3), dtype=np.uint8) for _ in range(2))
    expected = cv2.addWeighted(top, 0.3, bottom, 0.7, 0)
    assert np.abs(blend(top, 0.3, bottom).astype(int) - expected).max() <= 1
    for dx, dy in ((2.25, -1.5), (-3.03125, 0.5), (0.0, 4.0)):  # multiples of 1/32, where cv2 does not round
        matrix = np.float32([[1, 0, dx], [0, 1, dy]])
        expected = cv2.warpAffine(top, matrix, (30, 20), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
        # Off by one where a sum falls on a rounding tie; a shift the wrong way would be off by far more.
        assert np.abs(shift_frame(top, dx, dy).astype(int) - expected).max() <= 1, (dx, dy)


def test_the_reference_is_for_the_default_set_of_this_generator():
    params = json.loads(REFERENCE_PATH.read_text())["params"]
    defaults = {name: p.default for name, p in inspect.signature(generate_football_dataset).parameters.items()
                if p.default is not inspect.Parameter.empty and name != "force"}
    assert params["generator_version"] == GENERATOR_VERSION, "remake demo_checksums.json (pipeline/demo/reference.py)"
    assert {key: params[key] for key in defaults} == defaults


def test_a_set_is_compared_with_its_reference(tmp_path):
    out = generate_football_dataset(tmp_path / "set", **SMALL)
    reference = write_reference(out, tmp_path / "reference.json")
    assert "those of the reference" in compare_with_reference(out, reference)

    other = generate_football_dataset(tmp_path / "other", **{**SMALL, "seed": SMALL["seed"] + 1})
    shutil.copy(other / "test" / "goal" / "test_goal_0000.mp4", out / "test" / "goal" / "test_goal_0000.mp4")
    note = compare_with_reference(out, reference)
    assert note.startswith("note: 1 of 8 clips differ") and "may differ" in note
    assert compare_with_reference(other, reference) is None  # other parameters: nothing to compare
