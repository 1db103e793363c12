"""Training with Lightning: the model's loop, the data's loaders, and the command line.

- module.py: `RecognizerModule`, the LightningModule (backbone + temporal head, loss, optimiser,
  metrics, what a checkpoint stores) and `load_recognizer(checkpoint)` for inference.
- datamodule.py: `VideoDataModule`, annotations -> splits -> clip datasets and loaders; the model
  hands it its preprocessing (and frozen backbone, for the feature cache) via `attach_model`.
- callbacks.py: `LastCheckpoint` (last.ckpt after every epoch, for resuming), `BestCheckpointLink`
  (best.ckpt beside best-epochNN.ckpt), `RandomState`.
- dashboards.py: `Dashboards`, the callback behind TensorBoard's per-validation images, per-class scores,
  PR/ROC, mistake strips, throughput and HPARAMS; dashboard_figures.py draws its figures.
- threshold.py: the two-class operating threshold, chosen on validation, stored in the checkpoint.
- progress.py: what a run prints (a bar per phase on a terminal, a line per epoch in a log file) and the
  third-party noise it filters.
- cli.py: `ActionCLI` (LightningCLI over configs/*.yaml), `train(args)` = fit + test the best
  checkpoint, and `format_summary` for the script's printout.
- extract.py: `extract_features(args)`, the feature cache filled ahead of training with train.py's
  options (scripts/extract_features.py), resumable, each torchrun/SLURM process its share.
- crossval.py: `cross_validate(args, num_folds)`, k-fold cross-validation (scripts/crossval.py): one
  train.py run per fold, every video tested once, metrics' mean and spread, resumable.
"""
