"""k-fold cross-validation of a training configuration: `python scripts/crossval.py --folds 5 --config X [...]`.

Every video of the dataset is tested once; prints each test metric's mean and spread over the
folds and writes `<output>/crossval.json` (default runs/crossval). Every option other than `--folds`
and `--output` goes to scripts/train.py. A stopped run resumes when started again with the same options.
"""
from pipeline.errors import run_script
from pipeline.training.crossval import main

if __name__ == "__main__":
    run_script(main, lightning_run_info=True)  # a training run says where it trains and its seed
