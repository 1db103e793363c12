"""Train a CNN + RNN action classifier: `python scripts/train.py [--config configs/x.yaml] [--a.b value ...]`.

With no arguments it trains configs/demo.yaml. See `--help` for every option. An expected failure
(bad annotations, an option value that cannot work, an unreadable or untrusted checkpoint, an
unwritable log folder) ends in one line and its exit status (pipeline/errors.py); add `--debug`
for the traceback.
"""
from pipeline.errors import run_script
from pipeline.training.cli import main

if __name__ == "__main__":
    run_script(main)
