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
