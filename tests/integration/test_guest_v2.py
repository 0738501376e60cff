"""cgroup v2 on a real pure-v2 kernel: the host side of tests/guest.

One qemu guest boots per session (tests/guest/run.py) and runs the tests of tests/guest that the
selected items below name; each host test then reports one guest test's outcome. A guest that
cannot boot (qemu missing, kernel not prepared, timeout) fails every test here with the reason
and the console's tail: never a silent pass, never a skip.

The same boot also runs HOST_SUBSET, a few of this suite's own host tests, in the guest: they pick
their pure-v2 variants there (tests/support/cgroup.py for_layout/controller_dir), so a host test
that only holds on this hybrid VM turns red here, not on a user's v2 machine. (The whole host
cgroup and runtime selection passes in the guest too: `make guest-test T="tests/integration/..."`.)
"""
from __future__ import annotations

import ast
import os

import pytest

from tests.guest import run as guest

GUEST_DIR = os.path.join(guest.REPO, "tests", "guest")
pytestmark = pytest.mark.timeout(guest.DEFAULT_LIMIT + 120)


RUNTIMES = ("runc", "pyrt-runc")   # the guest's `runtime` fixture parameters


def _guest_tests() -> list[str]:
    """'file.py::test' for every test function of tests/guest, read with ast so that nothing of
    the guest tests is imported on the host. A test taking the `runtime` fixture is listed once
    per runtime ('file.py::test[pyrt-runc]'), so a pyrt failure shows apart from runc's run."""
    out = []
    for name in sorted(os.listdir(GUEST_DIR)):
        if not (name.startswith("test_") and name.endswith(".py")):
            continue
        with open(os.path.join(GUEST_DIR, name)) as f:
            tree = ast.parse(f.read())
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test"):
                if "runtime" in [a.arg for a in node.args.args]:
                    out += [f"{name}::{node.name}[{rt}]" for rt in RUNTIMES]
                else:
                    out.append(f"{name}::{node.name}")
    return out


def _matches(nodeid: str, name: str) -> bool:
    """Whether guest NODEID is (a parametrized case of) the host-side NAME."""
    want = f"tests/guest/{name}"
    if name.endswith("]"):                       # one runtime: ...[rt] or ...[rt-<more ids>]
        return nodeid == want or nodeid.startswith(want[:-1] + "-")
    return nodeid == want or nodeid.startswith(want + "[")


GUEST_TESTS = _guest_tests()

# Host tests run in the guest on every suite run: each driver path that differs on a v2 host
# (limits, update, kill, io, OOM, devices by eBPF, exec and init placement, the differential of
# cgroup files against runc with update and pause), about a minute in all under emulation on a
# busy 2-core VM (measured 2026-12-02: ~65 s with a second guest running beside it).
HOST_SUBSET = [
    "tests/integration/test_cgroups_real.py::test_update_changes_live_limits_in_either_direction_v2",
    "tests/integration/test_cgroups_real.py::test_values_the_host_cannot_apply_fail_with_one_line_v2",
    "tests/integration/test_cgroups_real.py::test_kill_all_kills_a_process_tree",
    "tests/integration/test_cgroups_real.py::test_memory_hog_is_oom_killed_and_reported",
    "tests/integration/test_cgroups_real.py::test_io_throttle_and_weight_are_applied_v2",
    "tests/integration/test_cgroups_runc.py::test_runc_and_pyrt_runc_leave_the_same_values",
    "tests/integration/test_exec_cgroup.py::test_exec_placed_from_first_instruction_without_cgroup_procs",
    "tests/integration/test_runtime.py::test_init_starts_in_its_cgroup_everywhere",
    "tests/integration/test_runtime.py::test_config_devices_pass_a_deny_all_device_cgroup",
]


@pytest.fixture(scope="session")
def guest_run(request):
    # Only the guest files whose tests were selected on the host (-k, node ids) boot with us.
    selected = [item for item in request.session.items if hasattr(item, "callspec")]
    wanted = sorted({item.callspec.params["name"].split("::")[0] for item in selected
                     if item.originalname == "test_in_guest"})
    host = [item.callspec.params["nodeid"] for item in selected if item.originalname == "test_host_test_in_guest"]
    files = [os.path.join(GUEST_DIR, f) for f in wanted]
    if not files and not host:
        files = [GUEST_DIR]
    return guest.run(files + [os.path.join(guest.REPO, n) for n in host])


def test_guest_has_tests():
    assert GUEST_TESTS, f"no test functions found in {GUEST_DIR}"


@pytest.mark.parametrize("name", GUEST_TESTS)
def test_in_guest(guest_run, name):
    if guest_run.reason:
        pytest.fail(f"{guest_run.reason}\n{guest_run.tail()}", pytrace=False)
    _report(guest_run, {k: v for k, v in guest_run.results.items() if _matches(k, name)}, name)


def _report(guest_run, mine: dict, what: str):
    if not mine:
        pytest.fail(f"{what} produced no result in the guest (pytest exit {guest_run.rc})\n"
                    f"{guest_run.tail()}", pytrace=False)
    bad = {k: v for k, v in mine.items() if v["outcome"] != "passed"}
    if bad:
        pytest.fail("\n".join(f"{k}: {v['outcome']} in {v['when']}\n{v['longrepr']}"
                              for k, v in bad.items()), pytrace=False)


@pytest.mark.parametrize("nodeid", HOST_SUBSET, ids=[n.split("/")[-1] for n in HOST_SUBSET])
def test_host_test_in_guest(guest_run, nodeid):
    """One of the host's own tests, run on the guest's pure v2 kernel (every parametrized case)."""
    if guest_run.reason:
        pytest.fail(f"{guest_run.reason}\n{guest_run.tail()}", pytrace=False)
    _report(guest_run, {k: v for k, v in guest_run.results.items() if k == nodeid or k.startswith(nodeid + "[")},
            nodeid)


def test_missing_qemu_fails_with_the_reason(monkeypatch):
    """No boot at all: the harness reports why instead of passing or skipping."""
    monkeypatch.setattr(guest, "QEMU", "qemu-system-pyrt-missing")
    r = guest.run()
    assert r.rc == guest.HARNESS_FAILED
    assert "qemu-system-pyrt-missing not found" in r.reason


def test_guest_timeout_fails_and_stops_qemu():
    r = guest.run(timeout=1)
    assert r.rc == guest.HARNESS_FAILED
    assert "timed out after 1 s" in r.reason
    assert "guest console" in r.tail()
    # qemu was killed and reaped: no child process of ours is left.
    from tests.support.leaks import child_pids
    assert not child_pids()


def test_guest_that_keeps_running_is_stopped_at_its_limit():
    """The stall deadline gives a slow guest time; the limit still bounds one that never ends."""
    r = guest.run(timeout=600, limit=1)
    assert r.rc == guest.HARNESS_FAILED
    assert "after its limit of 1 s" in r.reason
    from tests.support.leaks import child_pids
    assert not child_pids()


def test_guest_that_does_not_boot_fails_with_qemus_reason(monkeypatch, tmp_path):
    bogus = str(tmp_path / "no-such-vmlinux")
    real = guest._prepare
    monkeypatch.setattr(guest, "_prepare", lambda: dict(real(), kernel=bogus))
    r = guest.run(timeout=60)
    assert r.rc == guest.HARNESS_FAILED
    assert "did not finish" in r.reason and "no-such-vmlinux" in r.reason
