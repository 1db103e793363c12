"""Fill the feature cache ahead of training (scripts/extract_features.py).

It takes train.py's options (the same config), so the entries it writes are the ones training will
read: the same backbone, preprocessing, decoder and rate, and the spatial views of `data.cache_views`
for the training videos (validation and test videos are only ever read plain). Videos already cached
are skipped (a video that lacks only a newly listed view is decoded again for that view alone), so a
stopped run resumes where it was. Started by torchrun (or SLURM) with several processes, each one
embeds its share of the videos (RANK of WORLD_SIZE) on its own GPU when there is one.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import torch

from pipeline.data.feature_cache import precompute_features
from pipeline.data.readers import FALLBACK_LIST, fallback_summary, format_fallbacks, recording_fallbacks
from pipeline.data.views import DEFAULT_VIEWS
from pipeline.errors import EXIT_OK, EXIT_SOME_FAILED, UsageError
from pipeline.training.cli import build_cli


def process_shard(device_type: str) -> Tuple[int, int, torch.device]:
    """(rank, world size, device) of this process, from torchrun's or SLURM's environment; the device is
    of the type the trainer would train on (so that the cache is keyed as training will read it)."""
    rank = int(os.environ.get("RANK", os.environ.get("SLURM_PROCID", 0)))
    world = int(os.environ.get("WORLD_SIZE", os.environ.get("SLURM_NTASKS", 1)))
    if device_type == "cuda":
        local = int(os.environ.get("LOCAL_RANK", os.environ.get("SLURM_LOCALID", 0)))
        return rank, world, torch.device("cuda", local % torch.cuda.device_count())
    return rank, world, torch.device(device_type)


def extract_features(args: Optional[List[str]] = None, progress: bool = True) -> Dict[str, Any]:
    """Embed every video of the train, val and test splits that the cache lacks (this process's share),
    the training videos under each of `data.cache_views`.

    Returns {"cache": folder, "videos": in all, "cached_before": already there, "embedded": written now,
    "unreadable": {path: why}}.
    """
    cli = build_cli(args)
    model, data = cli.model, cli.datamodule
    backbone = model.frozen_backbone
    if backbone is None or not data.cache_features:
        raise UsageError("nothing to cache: features are cached only with a frozen backbone "
                         "(model.freeze_backbone true) and data.cache_features true")
    data.attach_model(model.preprocessing, backbone)
    rank, world, device = process_shard(cli.trainer.strategy.root_device.type)
    cache = data.feature_cache(device)
    splits = data.splits
    train = {os.fspath(r.path) for r in splits.train}
    records = list({os.fspath(r.path): r for r in splits.train + splits.val + splits.test}.values())
    mine = [r for i, r in enumerate(records) if i % world == rank]
    groups = [([r for r in mine if os.fspath(r.path) in train], data.cache_views),
              ([r for r in mine if os.fspath(r.path) not in train], DEFAULT_VIEWS)]
    before = sum(cache.load(r.path, views) is not None for group, views in groups for r in group)
    embedded, errors = 0, {}
    # One list per process of this run (each shard its own file in the cache's folder).
    listing = Path(cache.directory) / (FALLBACK_LIST if world == 1 else f"rank{rank}.{FALLBACK_LIST}")
    with recording_fallbacks(listing):
        for group, views in groups:
            entries, failed = precompute_features(group, backbone, cache, backend=data.backend, device=device,
                                                  num_workers=data.num_workers, progress=progress,
                                                  decode_timeout=data.decode_timeout, views=views)
            embedded += sum(entry is not None for entry in entries)
            errors.update({os.fspath(group[i].path): message for i, message in failed.items()})
        fallbacks = fallback_summary()
    return {
        "cache": str(cache.directory),
        "videos": len(mine),
        "cached_before": before,
        "embedded": embedded - before,
        "unreadable": dict(sorted(errors.items())),
        "decoder_fallbacks": fallbacks,
        "rank": rank,
        "world_size": world,
    }


def main(args: Optional[List[str]] = None) -> int:
    """scripts/extract_features.py: fill the cache, print what was done; exit 3 when videos were unreadable."""
    summary = extract_features(args)
    shard = f" (process {summary['rank']} of {summary['world_size']})" if summary["world_size"] > 1 else ""
    print(f"feature cache {summary['cache']}{shard}: {summary['videos']} videos, {summary['cached_before']} "
          f"already cached, {summary['embedded']} embedded now, {len(summary['unreadable'])} unreadable", flush=True)
    for message in summary["unreadable"].values():
        print(f"  unreadable: {message}", flush=True)
    if summary["decoder_fallbacks"]:
        print(f"  {format_fallbacks(summary['decoder_fallbacks'])}", flush=True)
    return EXIT_SOME_FAILED if summary["unreadable"] else EXIT_OK
