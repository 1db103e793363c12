"""Training with Lightning: the model's loop, the data's loaders, and the command line.

- module.py: `RecognizerModule`, the LightningModule (backbone + temporal head, loss, optimiser,
  metrics, what a checkpoint stores) and `load_recognizer(checkpoint)` for inference.
- datamodule.py: `VideoDataModule`, annotations -> splits -> clip datasets and loaders; the model
  hands it its preprocessing (and frozen backbone, for the feature cache) via `attach_model`.
- callbacks.py: `LastCheckpoint`, last.ckpt written atomically after every epoch (for resuming).
- cli.py: `ActionCLI` (LightningCLI over configs/*.yaml), `train(args)` = fit + test the best
  checkpoint, and `format_summary` for the script's printout.
- extract.py: `extract_features(args)`, the feature cache filled ahead of training with train.py's
  options (scripts/extract_features.py), resumable, each torchrun/SLURM process its share.
- crossval.py: `cross_validate(args, num_folds)`, k-fold cross-validation (scripts/crossval.py): one
  train.py run per fold, every video tested once, metrics' mean and spread, resumable.
"""
