"""linux.resources model, cgroup layout detection and the v1->v2 conversions (no root needed)."""
from __future__ import annotations

import os
import subprocess

import pytest

from pyrt.cgroups import devices, layout
from pyrt.cgroups import v2
from pyrt.errors import CgroupError, ConfigError
from pyrt.spec.resources import DeviceRule, Memory, Resources, parse_cpu_list

FULL = {
    "memory": {"limit": 33554432, "reservation": 1048576, "swap": 67108864, "swappiness": 10,
               "disableOOMKiller": False, "kernelTCP": 4096},
    "cpu": {"shares": 512, "quota": 20000, "period": 100000, "cpus": "0-1", "mems": "0", "idle": 0,
            "realtimeRuntime": 950, "realtimePeriod": 1000},
    "pids": {"limit": 10},
    "blockIO": {"weight": 500, "leafWeight": 300,
                "weightDevice": [{"major": 8, "minor": 0, "weight": 600}],
                "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1048576}],
                "throttleWriteIOPSDevice": [{"major": 8, "minor": 0, "rate": 100}]},
    "hugepageLimits": [{"pageSize": "2MB", "limit": 0}],
    "devices": [{"allow": False, "type": "a", "access": "rwm"}, {"allow": True, "type": "c", "major": 1, "minor": 3,
                                                      "access": "rw"}],
    "network": {"classID": 1048577, "priorities": [{"name": "eth0", "priority": 5}]},
    "unified": {"memory.high": "50000000"},
}


def test_full_resources_round_trip():
    r = Resources.from_dict(FULL)
    assert r.memory.limit == 33554432 and r.memory.kernel_tcp == 4096
    assert r.cpu.realtime_runtime == 950 and r.cpu.cpus == "0-1"
    assert r.block_io.weight_device[0].weight == 600
    assert r.block_io.throttle_write_iops_device[0].rate == 100
    assert r.hugepage_limits[0].page_size == "2MB"
    assert r.devices[1] == DeviceRule(True, "c", 1, 3, "rw")
    assert r.network.priorities == (("eth0", 5),)
    assert Resources.from_dict(r.to_dict()) == r
    assert r.to_dict() == FULL


def test_none_and_empty_are_unset():
    assert Resources.from_dict(None) == Resources()
    assert Resources.from_dict({}).to_dict() == {}


@pytest.mark.parametrize("bad, words", [
    ({"memory": {"limit": "32m"}}, "linux.resources.memory.limit: expected an integer"),
    ({"memory": {"limit": True}}, "memory.limit: expected an integer"),
    ({"memory": {"swappiness": 101}}, "memory.swappiness: 101 is above the maximum 100"),
    ({"memory": {"limit": 100, "swap": 50}}, "memory+swap limit 50 is below the memory limit 100"),
    ({"cpu": {"cpus": "0-"}}, "cpu.cpus: bad list syntax"),
    ({"cpu": {"cpus": "3-1"}}, "cpu.cpus: reversed range"),
    ({"cpu": {"shares": -5}}, "cpu.shares: -5 is below the minimum 0"),
    ({"blockIO": {"weight": 5}}, "blockIO.weight: 5 is below the minimum 10"),
    ({"blockIO": {"throttleReadBpsDevice": [{"major": 8}]}}, "major and minor are required"),
    ({"hugepageLimits": [{"pageSize": "2M", "limit": 1}]}, "pageSize: expected a size like 2MB"),
    ({"devices": [{"allow": True, "type": "x"}]}, "devices[0].type: expected a, c or b"),
    ({"devices": [{"allow": True, "access": "rwx"}]}, "devices[0].access"),
    ({"devices": [{"type": "c"}]}, "devices[0].allow: required"),
    ({"unified": {"../memory.max": "1"}}, "is not a cgroup v2 file name"),
    ({"unified": {"memory.max": 5}}, "expected a string value"),
    ({"memory": []}, "memory: expected an object"),
])
def test_invalid_resources_name_the_field(bad, words):
    with pytest.raises(ConfigError) as e:
        Resources.from_dict(bad)
    assert words in str(e.value)
    assert "\n" not in str(e.value)


def test_merged_lays_only_set_fields_over():
    base = Resources.from_dict({"memory": {"limit": 100, "swap": 200}, "pids": {"limit": 5},
                                "unified": {"a.b": "1"}})
    top = Resources.from_dict({"memory": {"limit": 150}, "unified": {"c.d": "2"}})
    m = base.merged(top)
    assert m.memory == Memory(limit=150, swap=200)
    assert m.pids.limit == 5
    assert m.unified == {"a.b": "1", "c.d": "2"}


def test_cpu_list_parsing():
    assert parse_cpu_list("0-2,5") == {0, 1, 2, 5}
    assert parse_cpu_list("") == set()
    with pytest.raises(ValueError):
        parse_cpu_list("a")


# --- conversions (values as runc 1.1 computes them) ---------------------------------------------

@pytest.mark.parametrize("shares, weight", [(0, 0), (2, 1), (1024, 39), (512, 20), (262144, 10000)])
def test_shares_to_weight(shares, weight):
    assert v2.shares_to_weight(shares) == weight


@pytest.mark.parametrize("blkio, io", [(10, 1), (500, 4950), (1000, 10000)])
def test_blkio_weight_to_io_weight(blkio, io):
    assert v2.blkio_weight_to_io_weight(blkio) == io


@pytest.mark.parametrize("swap, mem, out", [
    (None, None, None), (0, 100, None), (-1, 100, -1), (None, -1, -1), (300, 100, 200), (100, 100, 0)])
def test_swap_conversion(swap, mem, out):
    assert v2.swap_max(swap, mem) == out


def test_swap_without_memory_limit_is_refused():
    with pytest.raises(CgroupError, match="without a memory limit"):
        v2.swap_max(300, None)


def test_device_lines():
    assert devices.v1_line(DeviceRule(False)) == "a"
    assert devices.v1_line(DeviceRule(True, "c", 136, None, "rwm")) == "c 136:* rwm"
    rules = devices.effective_rules((DeviceRule(False),))
    assert rules[0] == DeviceRule(False) and DeviceRule(True, "c", 1, 3, "rwm") in rules
    assert devices.effective_rules(()) == ()


# --- layout detection ---------------------------------------------------------------------------

HYBRID_MOUNTINFO = """\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""
HYBRID_CGROUP = """\
9:name=systemd:/user.slice
4:memory:/process_api/abc
2:cpu,cpuacct:/
0::/user.slice
"""


def test_hybrid_layout_and_relative_paths():
    lay = layout.parse(HYBRID_MOUNTINFO, HYBRID_CGROUP)
    assert lay.mode == "hybrid"
    assert set(lay.v1) == {"cpu", "cpuacct", "memory", "name=systemd"}
    assert lay.v1["cpu"] == lay.v1["cpuacct"]
    assert lay.v1["memory"].dir_for("t/c1") == "/sys/fs/cgroup/memory/process_api/abc/t/c1"
    assert lay.v1["cpu"].dir_for("t/c1") == "/sys/fs/cgroup/cpu,cpuacct/t/c1"
    assert lay.v1["memory"].dir_for("/abs/c1") == "/sys/fs/cgroup/memory/abs/c1"
    assert lay.v2.dir_for("t/c1") == "/sys/fs/cgroup/unified/user.slice/t/c1"


def test_unified_layout_inside_a_cgroup_namespace():
    """A cgroup2 mount whose root is a subtree (as inside a container): paths are cut to it."""
    mi = "30 23 0:26 /kubepods/pod1 /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n"
    lay = layout.parse(mi, "0::/kubepods/pod1/ctr\n")
    assert lay.mode == "unified" and not lay.v1
    assert lay.v2.dir_for("x") == "/sys/fs/cgroup/ctr/x"


def test_legacy_layout():
    lay = layout.parse(HYBRID_MOUNTINFO.replace("cgroup2 cgroup2", "tmpfs tmpfs"), HYBRID_CGROUP)
    assert lay.mode == "legacy" and lay.v2 is None


def _fs_type(path: str) -> str:
    r = subprocess.run(["stat", "-f", "-c", "%T", path], capture_output=True, text=True)
    return r.stdout.strip() if r.returncode == 0 else ""


def test_this_hosts_layout_is_detected():
    """The mode systemd (and runc) would name, by the filesystem types statfs(2) reports:
    cgroup2 on /sys/fs/cgroup is unified; tmpfs there with cgroup2 on .../unified is hybrid;
    tmpfs alone is legacy. The v1 controllers are those with their own cgroupfs directory."""
    top = _fs_type("/sys/fs/cgroup")
    if top == "cgroup2fs":
        want, v2_at = "unified", "/sys/fs/cgroup"
    elif _fs_type("/sys/fs/cgroup/unified") == "cgroup2fs":
        want, v2_at = "hybrid", "/sys/fs/cgroup/unified"
    else:
        want, v2_at = "legacy", None
    lay = layout.detect()
    assert lay.mode == want
    assert (lay.v2.mountpoint if lay.v2 else None) == v2_at
    v1_dirs = {d for d in os.listdir("/sys/fs/cgroup") if _fs_type(f"/sys/fs/cgroup/{d}") == "cgroupfs"
               and not os.path.islink(f"/sys/fs/cgroup/{d}")} if want != "unified" else set()
    assert {h.mountpoint for h in lay.v1.values()} == {f"/sys/fs/cgroup/{d}" for d in v1_dirs}


def test_device_nodes_of_the_config_get_allow_rules():
    r = Resources.from_dict({"devices": [{"allow": False, "access": "rwm"}]})
    out = r.allowing_device_nodes([("c", 10, 229), ("u", 4, 1), ("p", 0, 0), ("b", 7, 0)])
    assert out.devices[1:] == (DeviceRule(True, "c", 10, 229, "rwm"), DeviceRule(True, "c", 4, 1, "rwm"),
                               DeviceRule(True, "b", 7, 0, "rwm"))
    assert Resources().allowing_device_nodes([("c", 1, 1)]) == Resources()
