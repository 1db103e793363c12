"""The video side of the toolkit: from files on disk to trained recognizers and labelled videos.

A video travels through the sub-packages in this order (shared/DESIGN.md draws it):

    data/        readers/ (one file per decoder behind one interface) -> sampling.py (which frames) ->
                 transforms.py (the backbone's preprocessing); annotations/ (one file per dataset format),
                 datasets.py (clips for the loaders), feature_cache.py (frozen-backbone features, once per video)
    training/    module.py (the LightningModule), datamodule.py, callbacks.py, cli.py (scripts/train.py)
    inference/   inputs, datasets, predict.py (scripts/predict.py), output table, timelines over long videos
    demo/        the generated demo data sets and the H.264 writer; not needed to train on real data

    atomic_io.py   atomic writes for every output people keep
    benchmark.py   the measurements behind docs/benchmarks.md (scripts/benchmark.py)

The networks themselves (backbones, recurrent heads) are plain PyTorch in the top-level `models`
package, which never imports `pipeline`.
"""
