"""Loader workers default to one per CPU core the process may use."""
from __future__ import annotations

import pytest


def test_loader_workers_default_to_the_cores_available(monkeypatch):
    from pipeline.data import workers

    monkeypatch.setattr(workers.os, "sched_getaffinity", lambda pid: set(range(6)))
    assert workers.resolve_num_workers(None) == 6 and workers.resolve_num_workers(0) == 0
    monkeypatch.setattr(workers.os, "sched_getaffinity", lambda pid: set(range(64)))
    assert workers.resolve_num_workers(None) == workers.MAX_DEFAULT_WORKERS
    with pytest.raises(ValueError, match="num_workers"):
        workers.resolve_num_workers(-1)


def test_processes_of_one_machine_share_its_cores(monkeypatch):
    from types import SimpleNamespace

    from pipeline.data import frame_stream, workers

    monkeypatch.setattr(workers.os, "sched_getaffinity", lambda pid: set(range(16)))
    for name in ("LOCAL_WORLD_SIZE", "SLURM_NTASKS_PER_NODE"):
        monkeypatch.delenv(name, raising=False)
    workers.note_processes_per_node(SimpleNamespace(world_size=1, num_devices=1))  # one process: nothing to share
    assert workers.resolve_num_workers(None) == 16 and frame_stream.decoder_threads() == 16
    # Lightning's own DDP launcher sets no LOCAL_WORLD_SIZE: the trainer's devices per machine say it
    workers.note_processes_per_node(SimpleNamespace(world_size=8, num_devices=4))
    assert workers.os.environ["LOCAL_WORLD_SIZE"] == "4"
    assert workers.resolve_num_workers(None) == 4 and frame_stream.decoder_threads() == 4
    monkeypatch.delenv("LOCAL_WORLD_SIZE")
    monkeypatch.setenv("SLURM_NTASKS_PER_NODE", "8")  # srun without torchrun
    assert workers.resolve_num_workers(None) == 2
    monkeypatch.setattr(workers.os, "sched_getaffinity", lambda pid: set(range(4)))
    assert workers.resolve_num_workers(None) == 1  # never none
