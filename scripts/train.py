"""Train a CNN + RNN action classifier: `python scripts/train.py [--config configs/x.yaml] [--a.b value ...]`.

With no arguments it trains configs/demo.yaml. See `--help` for every option (with `--config X`, the
defaults it shows are X's values). It prints the split table, where logs and checkpoints go, then progress:
bars on a terminal, one plain line per epoch when the output goes to a file or a pipe (see
pipeline/training/progress.py), and the test metrics at the end. An expected failure
(bad annotations, an option value that cannot work, an unreadable or untrusted checkpoint, an
unwritable log folder) ends in one line and its exit status (pipeline/errors.py); add `--debug`
for the traceback.
"""
from pipeline.errors import run_script
from pipeline.training.cli import main

if __name__ == "__main__":
    run_script(main, lightning_run_info=True)  # a training run says where it trains and its seed
