"""How many loader workers decode by default: one per CPU core this process may use.

Decoding is the slow stage, and every worker decodes with one thread, so a worker per core keeps
all of them busy; on a GPU machine that is what feeds the CNN. Capped, because each worker also
holds a decoder process and its memory. Processes of one job on one machine (DDP ranks) share its
cores: each gets its share.

The cores a process may use are the fewer of its CPU affinity (`taskset`, SLURM's binding, a cpuset)
and its cgroup CPU quota rounded up (`docker --cpus`, Kubernetes' CPU limit, SLURM's cgroup limit):
the machine's core count says neither.
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Optional

MAX_DEFAULT_WORKERS = 16
CGROUP_ROOT = Path("/sys/fs/cgroup")


def available_cores() -> int:
    """CPU cores this process may use: its affinity mask, lowered to its cgroup CPU quota (rounded up)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        cores = os.cpu_count() or 1
    quota = cgroup_cpu_quota()
    return max(1, min(cores, math.ceil(quota))) if quota is not None else max(1, cores)


def cgroup_cpu_quota(root: Path = CGROUP_ROOT, self_cgroup: Path = Path("/proc/self/cgroup")) -> Optional[float]:
    """CPUs' worth of time this process's cgroup may use (quota / period), the tightest of its cgroup and
    those above it, cgroup v2 (`cpu.max`) or v1 (`cpu.cfs_quota_us` / `cpu.cfs_period_us`); None without
    a quota, or where there are no cgroups (not Linux)."""
    try:
        lines = self_cgroup.read_text().splitlines()
    except OSError:
        return None
    limits = []
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        if controllers == "":  # v2: one unified hierarchy (under unified/ where v1 is mounted beside it)
            base, read = (root / "unified" if (root / "unified").is_dir() else root), _quota_v2
        elif "cpu" in controllers.split(","):
            base, read = root / controllers, _quota_v1
            if not base.is_dir():
                base = root / "cpu"
        else:
            continue
        folder = base / path.lstrip("/")
        for directory in (folder, *folder.parents):  # a parent's limit binds its children too
            if directory.is_dir():
                limit = read(directory)
                if limit is not None:
                    limits.append(limit)
            if directory == base:
                break
    return min(limits) if limits else None


def _quota_v2(directory: Path) -> Optional[float]:
    try:
        quota, period = (directory / "cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        return None


def _quota_v1(directory: Path) -> Optional[float]:
    try:
        quota = int((directory / "cpu.cfs_quota_us").read_text())
        period = int((directory / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return quota / period if quota > 0 and period > 0 else None


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
