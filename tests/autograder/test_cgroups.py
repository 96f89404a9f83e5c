"""What the sandbox writes into its cgroups, and the grader's side (SandboxGroup), on a fake cgroup tree:
cgroup v1 (separate cpu and cpuacct hierarchies, as on this machine) and v2 (one hierarchy delegating
cpu, pids and memory), whichever the machine running the tests has. The real hierarchy is exercised by
test_hostile_class.py and test_redteam_more.py."""
from __future__ import annotations

import os

import pytest

from autograder import isolation


def _tree(tmp_path, kind: str) -> dict:
    bases = {}
    for ctrl in (("pids", "memory", "cpu", "cpuacct") if kind == "v1" else ("unified",)):
        bases[ctrl] = str(tmp_path / ctrl)
        os.makedirs(bases[ctrl])
    return bases


def _fake_controllers(d: str, kind: str) -> None:
    """The interface files a real cgroup folder shows as soon as it is created (here: before)."""
    os.makedirs(d, exist_ok=True)
    if kind == "v2":
        open(os.path.join(d, "cpu.weight"), "w").close()


@pytest.mark.parametrize("kind", ["v1", "v2"])
def test_join_writes_limits_and_puts_the_notebook_in_its_own_heavy_group(tmp_path, monkeypatch, kind):
    bases = _tree(tmp_path, kind)
    monkeypatch.setattr(isolation, "_cgroup_bases", lambda: bases)
    name = f"{isolation.CGROUP_PREFIX}{os.getpid()}"
    for base in bases.values():
        _fake_controllers(os.path.join(base, name), kind)
    limits = {"procs": 64, "memory_mb": 100, "disk_mb": 20, "cpus": 1.0}
    assert isolation.join_cgroup(limits) is None

    def read(ctrl, *parts):
        with open(os.path.join(bases[ctrl], name, *parts)) as fh:
            return fh.read()

    me = str(os.getpid())
    if kind == "v1":
        assert read("pids", "pids.max") == "64" and read("memory", "memory.limit_in_bytes") == str(120 * 2**20)
        assert read("cpu", "cpu.cfs_quota_us") == "100000" and read("cpu", "cpu.cfs_period_us") == "100000"
        assert read("cpu", "cpu.shares") == "1024"
        assert int(read("cpu", "notebook", "cpu.shares")) > 1000 * int(read("cpu", "spawned", "cpu.shares"))
        assert read("cpu", "notebook", "cgroup.procs") == me and read("cpuacct", "cgroup.procs") == me
        assert not os.path.exists(os.path.join(bases["cpu"], name, "cgroup.procs"))
    else:
        assert read("unified", "pids.max") == "64" and read("unified", "memory.max") == str(120 * 2**20)
        assert read("unified", "cpu.max") == "100000 100000" and read("unified", "cpu.weight") == "100"
        assert read("unified", "cgroup.subtree_control") == "+cpu"
        assert int(read("unified", "notebook", "cpu.weight")) >= 1000 * int(read("unified", "spawned", "cpu.weight"))
        assert read("unified", "notebook", "cgroup.procs") == me
        assert not os.path.exists(os.path.join(bases["unified"], name, "cgroup.procs"))


@pytest.mark.parametrize("kind", ["v1", "v2"])
def test_grader_side_reads_cpu_time_and_moves_what_the_notebook_started(tmp_path, monkeypatch, kind):
    bases = _tree(tmp_path, kind)
    monkeypatch.setattr(isolation, "_cgroup_bases", lambda: bases)
    pid = 4242
    name = f"{isolation.CGROUP_PREFIX}{pid}"
    group = isolation.SandboxGroup(pid)
    assert group.cpu_seconds() is None          # not created yet
    split = os.path.join(bases["cpu" if kind == "v1" else "unified"], name)
    for sub in ("notebook", "spawned"):
        os.makedirs(os.path.join(split, sub))
    with open(os.path.join(split, "notebook", "cgroup.procs"), "w") as fh:
        fh.write(f"{pid}\n5000\n5001\n")
    if kind == "v1":
        with open(os.path.join(split, "notebook", "tasks"), "w") as fh:
            fh.write(f"{pid}\n5002\n")
        os.makedirs(os.path.join(bases["cpuacct"], name))
        with open(os.path.join(bases["cpuacct"], name, "cpuacct.usage"), "w") as fh:
            fh.write("2500000000\n")
    else:
        with open(os.path.join(split, "cpu.stat"), "w") as fh:
            fh.write("usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\n")
    assert group.cpu_seconds() == pytest.approx(2.5)
    assert group.demote_spawned() == (3 if kind == "v1" else 2)
    with open(os.path.join(split, "spawned", "cgroup.procs")) as fh:
        assert fh.read() == "5001"                # (a real cgroup.procs takes one pid per write)
