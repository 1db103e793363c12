"""How many loader workers decode by default: one per CPU core this process may use.

Decoding is the slow stage, and every worker decodes with one thread, so a worker per core keeps
all of them busy; on a GPU machine that is what feeds the CNN. Capped, because each worker also
holds a decoder process and its memory.
"""
from __future__ import annotations

import os
from typing import Optional

MAX_DEFAULT_WORKERS = 16


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask, e.g. a SLURM or container limit)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def resolve_num_workers(num_workers: Optional[int]) -> int:
    """`num_workers` itself, or for None one worker per available core (at most MAX_DEFAULT_WORKERS)."""
    if num_workers is None:
        return min(available_cores(), MAX_DEFAULT_WORKERS)
    if int(num_workers) != num_workers or num_workers < 0:
        raise ValueError(f"num_workers must be 0 or more (or null: one per CPU core), got {num_workers!r}")
    return int(num_workers)
