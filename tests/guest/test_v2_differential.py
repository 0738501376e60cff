"""Differential: the same config.json under runc and pyrt-runc leaves the same values in the
cgroup v2 files, at create and after the same `update -r`.

Both containers are created side by side (not started) under one parent cgroup, then every
control file the config touches is read from both cgroups and compared.
"""
from __future__ import annotations

import json

from tests.guest.ctr import Container, config, read

MiB = 1 << 20
FILES = ["memory.max", "memory.low", "memory.high", "memory.swap.max", "pids.max", "cpu.max",
         "cpu.weight", "cpuset.cpus", "cpuset.mems", "io.bfq.weight", "io.max", "io.weight"]


def _resources(major: int, minor: int) -> dict:
    dev = {"major": major, "minor": minor}
    return {
        "memory": {"limit": 96 * MiB, "reservation": 16 * MiB, "swap": 160 * MiB},
        "cpu": {"shares": 512, "quota": 50000, "period": 200000, "cpus": "0-1", "mems": "0"},
        "pids": {"limit": 42},
        "blockIO": {"weight": 700,
                    "weightDevice": [dict(dev, weight=200)],
                    "throttleReadBpsDevice": [dict(dev, rate=2 * MiB)],
                    "throttleWriteBpsDevice": [dict(dev, rate=MiB)],
                    "throttleReadIOPSDevice": [dict(dev, rate=300)],
                    "throttleWriteIOPSDevice": [dict(dev, rate=150)]},
        "unified": {"memory.high": str(80 * MiB)},
    }


def _files(c: Container) -> dict[str, str]:
    return {name: read(c.cgroup, name) for name in FILES}


def _same(ctrs: dict, when: str) -> dict[str, str]:
    runc, pyrt = _files(ctrs["runc"]), _files(ctrs["pyrt-runc"])
    diff = [f"{k}: runc {runc[k]!r}, pyrt-runc {pyrt[k]!r}" for k in FILES if runc[k] != pyrt[k]]
    assert not diff, f"cgroup files differ {when}:\n" + "\n".join(diff)
    return runc


def test_same_config_same_cgroup_files(tmp_path, v2_parent, loop_device):
    res = _resources(*loop_device)
    ctrs = {}
    try:
        for rt in ("runc", "pyrt-runc"):
            ctrs[rt] = Container(rt, tmp_path, config(["sleep", "600"], res, f"{v2_parent}/{rt}"))
            ctrs[rt].create()
        runc = _same(ctrs, "after create")
        # The values really are the config's, not two runtimes agreeing on defaults.
        assert runc["pids.max"] == "42" and runc["cpu.max"] == "50000 200000"

        new = {"memory": {"limit": 64 * MiB, "swap": 64 * MiB}, "cpu": {"shares": 4096},
               "pids": {"limit": 17}, "blockIO": {"weight": 100}}
        for c in ctrs.values():
            c.cmd("update", "-r", "-", c.id, check=True, input=json.dumps(new))
        runc = _same(ctrs, "after update -r " + json.dumps(new))
        assert runc["pids.max"] == "17" and runc["memory.swap.max"] == "0"
    finally:
        for c in ctrs.values():
            c.delete()
