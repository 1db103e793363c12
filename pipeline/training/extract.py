"""Fill the feature cache ahead of training (scripts/extract_features.py).

It takes train.py's options (the same config), so the entries it writes are the ones training will
read: the same backbone, preprocessing, decoder and rate. Videos already cached are skipped, so a
stopped run resumes where it was. Started by torchrun (or SLURM) with several processes, each one
embeds its share of the videos (RANK of WORLD_SIZE) on its own GPU when there is one.
"""
from __future__ import annotations

import os
from typing import Any, Dict, List, Optional, Tuple

import torch

from pipeline.data.feature_cache import precompute_features
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
    """Embed every video of the train, val and test splits that the cache lacks (this process's share).

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
    records = list({os.fspath(r.path): r for r in splits.train + splits.val + splits.test}.values())
    mine = [r for i, r in enumerate(records) if i % world == rank]
    before = sum(cache.load(r.path) is not None for r in mine)
    entries, errors = precompute_features(mine, backbone, cache, backend=data.backend, device=device,
                                          num_workers=data.num_workers, progress=progress,
                                          decode_timeout=data.decode_timeout)
    return {
        "cache": str(cache.directory),
        "videos": len(mine),
        "cached_before": before,
        "embedded": sum(entry is not None for entry in entries) - before,
        "unreadable": {os.fspath(mine[i].path): message for i, message in sorted(errors.items())},
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
    return EXIT_SOME_FAILED if summary["unreadable"] else EXIT_OK
