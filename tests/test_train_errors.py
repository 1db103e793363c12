"""scripts/train.py ends every expected failure in one line on stderr with its own exit status
(pipeline/errors.py), before any video is touched; `--debug` shows the traceback. On tiny generated videos.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

import pytest

from pipeline.demo import generate_direction_dataset
from pipeline.errors import EXIT_BAD_INPUT, EXIT_OUTPUT, EXIT_USAGE, run_script
from pipeline.training.cli import main

REPO = Path(__file__).resolve().parents[1]
GOOD_LINES = ["train/left_to_right/train_left_to_right_0000.mp4 left_to_right",
              "train/right_to_left/train_right_to_left_0000.mp4 right_to_left"]
VAL_VIDEO = "val/left_to_right/val_left_to_right_0000.mp4"


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("train_errors") / "data"
    return generate_direction_dataset(root, n_train=2, n_val=2, n_test=2, size=64, num_frames=8, seed=1)


def _list(tmp: Path, *extra: str) -> str:
    path = tmp / "train.txt"
    path.write_text("\n".join([*GOOD_LINES, *extra]) + "\n")
    return str(path)


def _classes(tmp: Path, *names: str) -> str:
    path = tmp / "classes.txt"
    path.write_text("\n".join(names) + "\n")
    return str(path)


def _args(data: Path, tmp: Path, *args: str) -> List[str]:
    return [f"--data.root={data}", "--model.input_size=64", "--model.hidden_size=16", "--data.num_workers=0",
            f"--data.cache_dir={tmp / 'cache'}", "--trainer.max_epochs=1", "--trainer.limit_train_batches=1",
            "--trainer.enable_progress_bar=false", f"--trainer.logger.init_args.save_dir={tmp / 'runs'}", *args]


def _run(data: Path, tmp: Path, *args: str) -> Tuple[int, str]:
    """The exit status and stderr of `python scripts/train.py ...`."""
    done = subprocess.run([sys.executable, "scripts/train.py", *_args(data, tmp, *args)], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    return done.returncode, done.stderr


def _run_in_process(data: Path, tmp: Path, capfd: Any, *args: str) -> Tuple[int, str]:
    """The same as `_run` through the script's own two lines, without starting Python again."""
    with pytest.raises(SystemExit) as ended:
        run_script(main, _args(data, tmp, *args))
    return ended.value.code, capfd.readouterr().err


def _error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, stderr[-3000:]
    assert "Traceback" not in stderr, stderr[-3000:]
    return lines[0]


LIST = "--data.format=list"
CASES: Dict[str, Callable[[Path], tuple]] = {
    # name: tmp -> (extra args, exit status, text the error line must hold)
    "malformed_list_line": lambda t: ([LIST, f"--data.train_list={_list(t, 'just_a_path.mp4')}"],
                                      EXIT_BAD_INPUT, "train.txt:3: malformed line"),
    "unknown_label": lambda t: ([LIST, f"--data.train_list={_list(t, f'{VAL_VIDEO} jump')}",
                                 f"--data.class_list={_classes(t, 'left_to_right', 'right_to_left')}"],
                                EXIT_BAD_INPUT, "train.txt:3: unknown label 'jump'"),
    "missing_video": lambda t: ([LIST, f"--data.train_list={_list(t, 'train/left_to_right/gone.mp4 left_to_right')}"],
                                EXIT_BAD_INPUT, "train.txt:3: video file not found"),
    "missing_list_file": lambda t: ([LIST, f"--data.train_list={t / 'nowhere.txt'}"],
                                    EXIT_BAD_INPUT, "nowhere.txt: list file not found"),
    "empty_class": lambda t: ([LIST, f"--data.train_list={_list(t)}",
                               f"--data.class_list={_classes(t, 'left_to_right', 'right_to_left', 'kick')}"],
                              EXIT_BAD_INPUT, "class 'kick' has no videos"),
    "missing_dataset_folder": lambda t: ([f"--data.root={t / 'no_data'}"], EXIT_BAD_INPUT, "no_data: dataset folder"),
    "clip_len_0": lambda t: (["--data.clip_len=0"], EXIT_USAGE, "clip_len must be a positive integer, got 0"),
    "unknown_cell": lambda t: (["--model.cell=lsmt"], EXIT_USAGE, "unknown cell 'lsmt'"),
    "unknown_readout": lambda t: (["--model.readout=first"], EXIT_USAGE, "unknown readout 'first'"),
    "unknown_backbone": lambda t: (["--model.backbone=vgg"], EXIT_USAGE, "unknown backbone 'vgg'"),
    "abbreviated_option": lambda t: (["--model.cel=gru", "--data.clip_len=0"], EXIT_USAGE, "--model.cel"),
    "wrong_type": lambda t: (["--data.clip_len=many"], EXIT_USAGE, '"data.clip_len"'),
    "corrupt_checkpoint": lambda t: ([f"--ckpt_path={_write(t / 'last.ckpt', 'not a checkpoint')}"],
                                     EXIT_BAD_INPUT, "last.ckpt: not a readable checkpoint"),
    "unwritable_log_dir": lambda t: ([f"--trainer.logger.init_args.save_dir={_write(t / 'a_file', 'x')}/runs"],
                                     EXIT_OUTPUT, "a_file/runs: logs and checkpoints cannot be written"),
}


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


# One case of each exit status runs the real script in a new process; the others go through the
# same entry point (run_script(main)) in this process, which saves a Python start-up each.
IN_NEW_PROCESS = {"malformed_list_line", "clip_len_0", "unwritable_log_dir"}


@pytest.mark.parametrize("case", list(CASES))
def test_an_expected_failure_ends_in_one_line_with_its_exit_status(data, tmp_path, capfd, case):
    args, status, text = CASES[case](tmp_path)
    if case in IN_NEW_PROCESS:
        code, stderr = _run(data, tmp_path, *args)
    else:
        code, stderr = _run_in_process(data, tmp_path, capfd, *args)
    assert code == status, stderr[-3000:]
    assert text in _error_line(stderr)
    assert not (tmp_path / "cache").exists(), "no video was touched"
    if status != EXIT_OUTPUT:
        assert not (tmp_path / "runs").exists(), "nothing was started"


def test_debug_shows_the_traceback(data, tmp_path):
    code, stderr = _run(data, tmp_path, "--model.cell=lsmt", "--debug")
    assert code == EXIT_USAGE
    assert "Traceback" in stderr and "unknown cell 'lsmt'" in stderr

