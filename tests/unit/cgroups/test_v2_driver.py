"""The cgroup v2 driver against a temporary directory laid out like a v2 tree.

This VM's real cgroup2 tree has no memory/cpu/pids/io/cpuset controllers, so their files
(memory.max, cpu.max, pids.max, io.*, cpuset.*, memory.swap.max, cpu.weight) only exist in the
fake tree of tests/support/fake_cgroup.py; its mkdir fills new dirs with files as the kernel does.
What the real v2 tree does have (cgroup.procs, cgroup.freeze, cgroup.kill) is tested for real in
tests/integration/test_cgroups_real.py.
"""
from __future__ import annotations

import os

import pytest

from pyrt.cgroups import manager as manager_mod
from pyrt.cgroups import open_manager, manager_from_state, v2
from pyrt.errors import CgroupError
from pyrt.spec.resources import Resources
from tests.support.fake_cgroup import FakeV2, read

MiB = 1 << 20


@pytest.fixture
def fake(tmp_path, monkeypatch):
    f = FakeV2(str(tmp_path / "cg"))
    monkeypatch.setattr(manager_mod, "_mkdir", f.mkdir)
    return f


@pytest.fixture
def applied(fake):
    m = open_manager("pod/ctr", "ctr", layout=fake.layout())
    m.apply(4242)
    return m


def test_apply_creates_levels_under_the_delegated_parent_and_places_the_pid(fake, applied):
    m = applied
    assert m.mode == "unified" and m.v1 == {}
    assert m.v2 == os.path.join(fake.parent, "pod", "ctr")
    assert m.created == [os.path.join(fake.parent, "pod"), m.v2]
    assert read(m.v2, "cgroup.procs") == "4242"


def test_set_writes_converted_values(fake, applied):
    m = applied
    m.set(Resources.from_dict({
        "memory": {"limit": 32 * MiB, "swap": 96 * MiB, "reservation": 8 * MiB},
        "cpu": {"shares": 1024, "quota": 20000, "period": 100000, "cpus": "1", "mems": "0"},
        "pids": {"limit": 10},
        "blockIO": {"weight": 500, "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1024}]},
        "hugepageLimits": [{"pageSize": "2MB", "limit": 4 * MiB}],
    }))
    assert read(m.v2, "memory.max") == str(32 * MiB)
    assert read(m.v2, "memory.swap.max") == str(64 * MiB)     # memory+swap minus memory
    assert read(m.v2, "memory.low") == str(8 * MiB)
    assert read(m.v2, "cpu.weight") == "39"                   # runc 1.1's shares->weight
    assert read(m.v2, "cpu.max") == "20000 100000"
    assert read(m.v2, "cpuset.cpus") == "1" and read(m.v2, "cpuset.mems") == "0"
    assert read(m.v2, "pids.max") == "10"
    assert read(m.v2, "io.weight") == "default 4950"
    assert read(m.v2, "io.max") == "8:0 rbps=1024"
    assert read(m.v2, "hugetlb.2MB.max") == str(4 * MiB)
    # Controllers were enabled from the delegated parent down to the container's parent.
    for d in (fake.parent, os.path.dirname(m.v2)):
        assert set(read(d, "cgroup.subtree_control").split()) == \
            {"+cpu", "+cpuset", "+hugetlb", "+io", "+memory", "+pids"}
    assert read(m.v2, "cgroup.subtree_control") == ""    # never in the leaf (no internal processes)


def test_unset_fields_are_left_alone(fake, applied):
    m = applied
    m.set(Resources.from_dict({"pids": {"limit": 10}}))
    m.set(Resources.from_dict({"memory": {"limit": -1}}))
    assert read(m.v2, "pids.max") == "10"
    assert read(m.v2, "memory.max") == "max"
    assert read(m.v2, "memory.swap.max") == "max"
    assert read(m.v2, "cpu.max") == "max 100000"


def test_quota_without_period_and_unlimited_quota(fake, applied):
    applied.set(Resources.from_dict({"cpu": {"quota": 50000}}))
    assert read(applied.v2, "cpu.max") == "50000"
    applied.set(Resources.from_dict({"cpu": {"quota": -1, "period": 200000}}))
    assert read(applied.v2, "cpu.max") == "max 200000"


def test_bfq_weight_takes_the_v1_scale(fake, applied):
    with open(os.path.join(applied.v2, "io.bfq.weight"), "w") as f:
        f.write("default 100")
    applied.set(Resources.from_dict({"blockIO": {"weight": 500,
                                                 "weightDevice": [{"major": 8, "minor": 0, "weight": 300}]}}))
    assert read(applied.v2, "io.bfq.weight") == "8:0 300"     # last write: the device weight


def test_bfq_default_weight_update_rewrites_kept_device_weights(fake, applied):
    """Fake v2 dir (this VM has no io controller in v2): Linux 6.1 drops per-device BFQ weights
    when the default is written, so the driver writes the existing ones back afterwards. A temp
    file only keeps the last write: that must be the kept device line, not the default."""
    with open(os.path.join(applied.v2, "io.bfq.weight"), "w") as f:
        f.write("default 100\n7:0 200\n")
    applied.set(Resources.from_dict({"blockIO": {"weight": 100}}))
    assert read(applied.v2, "io.bfq.weight") == "7:0 200"


def test_unified_keys_are_written_raw(fake, applied):
    applied.set(Resources.from_dict({"memory": {"limit": 64 * MiB},
                                     "unified": {"memory.high": "50000000", "memory.max": "70000000"}}))
    assert read(applied.v2, "memory.high") == "50000000"
    assert read(applied.v2, "memory.max") == "70000000"      # unified wins over memory.limit


def test_unified_key_of_a_missing_controller_fails(fake, applied):
    with pytest.raises(CgroupError, match="rdma.max: controller rdma is not available"):
        applied.set(Resources.from_dict({"unified": {"rdma.max": "mlx4_0 hca_handle=2"}}))


def test_cpuset_outside_the_hosts_cpus_fails_naming_file_and_value(fake, applied):
    with pytest.raises(CgroupError) as e:
        applied.set(Resources.from_dict({"cpu": {"cpus": "7"}}))
    assert str(e.value) == "cpuset.cpus: 7 is outside the host's CPUs 0-1"
    with pytest.raises(CgroupError, match="cpuset.mems: 1,2 is outside the host's memory nodes 0"):
        applied.set(Resources.from_dict({"cpu": {"mems": "1-2"}}))


def test_missing_controller_file_names_controller(tmp_path, monkeypatch):
    f = FakeV2(str(tmp_path / "cg"), omit=("memory.swap.max",))
    monkeypatch.setattr(manager_mod, "_mkdir", f.mkdir)
    m = open_manager("ctr", "ctr", layout=f.layout())
    m.apply(1)
    with pytest.raises(CgroupError, match="memory.swap.max: swap limit .* no swap accounting"):
        m.set(Resources.from_dict({"memory": {"limit": MiB, "swap": 2 * MiB}}))
    with pytest.raises(CgroupError, match="cpu.max.burst: the cpu controller here has no cpu.max.burst"):
        os.unlink(os.path.join(m.v2, "cpu.max.burst"))
        m.set(Resources.from_dict({"cpu": {"burst": 1000}}))


def test_controller_not_offered_by_the_parent_is_refused(tmp_path, monkeypatch):
    f = FakeV2(str(tmp_path / "cg"))
    with open(os.path.join(f.parent, "cgroup.controllers"), "w") as fh:
        fh.write("cpu memory")
    monkeypatch.setattr(manager_mod, "_mkdir", f.mkdir)
    m = open_manager("ctr", "ctr", layout=f.layout())
    m.apply(1)
    with pytest.raises(CgroupError, match="pids: controller is not available on this host"):
        m.set(Resources.from_dict({"pids": {"limit": 5}}))


def test_the_hierarchy_root_subtree_control_is_never_written(tmp_path, monkeypatch):
    f = FakeV2(str(tmp_path / "cg"))
    monkeypatch.setattr(manager_mod, "_mkdir", f.mkdir)
    lay = f.layout()
    from pyrt.cgroups.layout import Hierarchy, Layout
    lay = Layout("unified", Hierarchy(f.root, "/", "/"), {})
    m = open_manager("ctr", "ctr", layout=lay)
    m.apply(1)
    with pytest.raises(CgroupError, match="not enabled in the root cgroup"):
        m.set(Resources.from_dict({"pids": {"limit": 5}}))
    assert read(f.root, "cgroup.subtree_control") == ""


def test_realtime_cpu_is_refused_on_v2(fake, applied):
    with pytest.raises(CgroupError, match="realtime"):
        applied.set(Resources.from_dict({"cpu": {"realtimeRuntime": 1000}}))


def test_device_rules_go_to_the_ebpf_filter_on_v2(fake, applied, monkeypatch):
    """The eBPF load itself is tested on the real kernel (test_cgroups_real.py); here: the
    manager hands it the container's v2 dir and the rules with runc's always-allowed ones."""
    from pyrt.cgroups import devfilter
    calls = []
    monkeypatch.setattr(devfilter, "apply", lambda d, rules: calls.append((d, rules)))
    applied.set(Resources.from_dict({"devices": [{"allow": False, "access": "rwm"}]}))
    [(d, rules)] = calls
    assert d == applied.v2
    assert rules[0].allow is False and rules[0].type == "a" and len(rules) == 12


def test_stats_and_oom_from_v2_files(fake, applied):
    d = applied.v2
    for name, text in {"memory.current": "1000", "memory.max": "4096", "memory.peak": "2000",
                       "memory.swap.current": "10", "memory.stat": "anon 600\nfile 400",
                       "memory.events": "low 0\nhigh 0\nmax 7\noom 1\noom_kill 1",
                       "cpu.stat": "usage_usec 5\nuser_usec 3\nsystem_usec 2\nnr_periods 4\n"
                                   "nr_throttled 1\nthrottled_usec 9",
                       "pids.current": "3", "pids.max": "max",
                       "io.stat": "8:0 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=0 dios=0",
                       "hugetlb.2MB.current": "4194304", "hugetlb.2MB.events": "max 2",
                       "hugetlb.2MB.rsvd.max": "max"}.items():
        with open(os.path.join(d, name), "w") as f:
            f.write(text)
    s = applied.stats()
    assert s["memory"]["usage"] == {"usage": 1000, "max": 2000, "failcnt": 7, "limit": 4096}
    assert s["memory"]["swap"]["usage"] == 1010 and s["memory"]["cache"] == 400
    assert s["cpu"]["usage"] == {"total": 5000, "kernel": 2000, "user": 3000}
    assert s["cpu"]["throttling"] == {"periods": 4, "throttled_periods": 1, "throttled_time": 9000}
    assert s["pids"] == {"current": 3, "limit": 0}
    assert {"major": 8, "minor": 0, "op": "Write", "value": 20} in s["blkio"]["ioServiceBytesRecursive"]
    assert s["hugetlb"] == {"2MB": {"usage": 4194304, "max": 0, "failcnt": 2}}
    assert applied.oom_killed() and applied.oom_count() == 1


def test_state_round_trip(fake, applied):
    again = manager_from_state(applied.to_state())
    assert again.to_state() == applied.to_state()
    assert again.created == applied.created


def test_enable_in_subtree_writes_only_missing(tmp_path):
    d = str(tmp_path)
    with open(os.path.join(d, "cgroup.subtree_control"), "w") as f:
        f.write("cpu memory")
    v2.enable_in_subtree(d, {"cpu", "pids"})
    assert read(d, "cgroup.subtree_control") == "+pids"


def test_dotdot_in_cgroups_path_is_refused(fake):
    from pyrt.errors import ConfigError
    with pytest.raises(ConfigError, match="must not contain '..'"):
        open_manager("../escape", "x", layout=fake.layout())
