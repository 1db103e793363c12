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


def _cgroup(tmp_path, self_cgroup: str, files: dict):
    for name, text in files.items():
        path = tmp_path / "fs" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (tmp_path / "self").write_text(self_cgroup)
    return tmp_path / "fs", tmp_path / "self"


def test_a_cgroup_cpu_quota_lowers_the_cores(tmp_path, monkeypatch):
    """A container limited to 1.5 CPUs (docker --cpus 1.5, a Kubernetes limit) on a 16-core machine: two
    workers, not sixteen; v1 and v2 both read, a parent's limit binds, no quota means the affinity."""
    from pipeline.data import workers

    v2 = _cgroup(tmp_path / "v2", "0::/kubepods/pod1/box\n",
                 {"kubepods/pod1/box/cpu.max": "max 100000\n", "kubepods/pod1/cpu.max": "150000 100000\n",
                  "kubepods/cpu.max": "max 100000\n"})
    assert workers.cgroup_cpu_quota(*v2) == pytest.approx(1.5)
    v1 = _cgroup(tmp_path / "v1", "5:cpuacct,cpu:/slurm/job7\n4:memory:/slurm/job7\n",
                 {"cpuacct,cpu/slurm/job7/cpu.cfs_quota_us": "300000\n",
                  "cpuacct,cpu/slurm/job7/cpu.cfs_period_us": "100000\n"})
    assert workers.cgroup_cpu_quota(*v1) == pytest.approx(3.0)
    unlimited = _cgroup(tmp_path / "none", "1:cpu:/\n",
                        {"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"})
    assert workers.cgroup_cpu_quota(*unlimited) is None
    assert workers.cgroup_cpu_quota(tmp_path / "fs", tmp_path / "absent") is None  # not Linux

    monkeypatch.setattr(workers.os, "sched_getaffinity", lambda pid: set(range(16)))
    monkeypatch.setattr(workers, "cgroup_cpu_quota", lambda: 1.5)
    for name in ("LOCAL_WORLD_SIZE", "SLURM_NTASKS_PER_NODE"):
        monkeypatch.delenv(name, raising=False)
    assert workers.available_cores() == 2 and workers.resolve_num_workers(None) == 2
    monkeypatch.setattr(workers, "cgroup_cpu_quota", lambda: 0.2)
    assert workers.available_cores() == 1
    monkeypatch.setattr(workers, "cgroup_cpu_quota", lambda: None)
    assert workers.available_cores() == 16
