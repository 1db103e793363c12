"""Training with Lightning: the command line, the callbacks, what a run prints, feature extraction and
cross-validation. The model (pipeline.core.module.VideoClassifierModule) and the loader
(pipeline.data.datamodule.VideoDataModule) live outside, shared with inference, evaluation and export.

- cli.py: `ActionCLI` (LightningCLI over configs/*.yaml), `train(args)` = fit + test the best
  checkpoint, `format_summary` for the script's printout, and `missing_logger_package` (Lightning's
  error text about a logger's missing package, as one line naming what to install).
- callbacks.py: `LastCheckpoint` (last.ckpt after every epoch, for resuming), `BestCheckpointLink`
  (best.ckpt beside best-epochNN.ckpt), `RandomState` and `kept_random_state` (the random generators
  kept in checkpoints, and left as they were by work that draws from them).
- dashboards.py: `Dashboards`, the callback behind TensorBoard's per-validation images, per-class scores,
  PR/ROC, mistake strips, throughput and HPARAMS (its numbers from pipeline.core.metrics, its figures
  from pipeline.core.figures).
- progress.py: what a run prints (a bar per phase on a terminal, a line per epoch in a log file) and the
  third-party noise it filters.
- extract.py: `extract_features(args)`, the feature cache filled ahead of training with train.py's
  options (scripts/extract_features.py), resumable, each torchrun/SLURM process its share.
- crossval.py: `cross_validate(args, num_folds)`, k-fold cross-validation (scripts/crossval.py): one
  train.py run per fold, every video tested once, metrics' mean and spread, resumable.
"""
