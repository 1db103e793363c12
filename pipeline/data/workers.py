"""How many loader workers decode by default: one per CPU core this process may use.

Decoding is the slow stage, and every worker decodes with one thread, so a worker per core keeps
all of them busy; on a GPU machine that is what feeds the CNN. Capped, because each worker also
holds a decoder process and its memory. Processes of one job on one machine (DDP ranks) share its
cores: each gets its share.
"""
from __future__ import annotations

import os
from typing import Any, Optional

MAX_DEFAULT_WORKERS = 16


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask, e.g. a SLURM or container limit)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def processes_per_node() -> int:
    """Processes of this job on this machine: torchrun's LOCAL_WORLD_SIZE, else SLURM's tasks per node, else 1."""
    for name in ("LOCAL_WORLD_SIZE", "SLURM_NTASKS_PER_NODE"):
        value = os.environ.get(name, "")
        if value.isdigit() and int(value) > 0:
            return int(value)
    return 1


def note_processes_per_node(trainer: Any) -> None:
    """Under a DDP run that Lightning launched itself (which, unlike torchrun, does not say how many
    processes share the machine), set LOCAL_WORLD_SIZE to the trainer's devices per machine, so that
    this process and its loader workers take their share of the cores, not all of them each."""
    if "LOCAL_WORLD_SIZE" not in os.environ and trainer is not None and getattr(trainer, "world_size", 1) > 1:
        os.environ["LOCAL_WORLD_SIZE"] = str(max(1, int(trainer.num_devices)))


def resolve_num_workers(num_workers: Optional[int]) -> int:
    """`num_workers` itself, or for None one worker per core of this process's share of the machine (at
    most MAX_DEFAULT_WORKERS, at least 1)."""
    if num_workers is None:
        return max(1, min(available_cores() // processes_per_node(), MAX_DEFAULT_WORKERS))
    if int(num_workers) != num_workers or num_workers < 0:
        raise ValueError(f"num_workers must be 0 or more (or null: one per CPU core), got {num_workers!r}")
    return int(num_workers)
