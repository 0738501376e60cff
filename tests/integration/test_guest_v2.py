"""cgroup v2 on a real pure-v2 kernel: the host side of tests/guest.

One qemu guest boots per session (tests/guest/run.py) and runs the tests of tests/guest that the
selected items below name; each host test then reports one guest test's outcome. A guest that
cannot boot (qemu missing, kernel not prepared, timeout) fails every test here with the reason
and the console's tail: never a silent pass, never a skip.
"""
from __future__ import annotations

import ast
import os

import pytest

from tests.guest import run as guest

GUEST_DIR = os.path.join(guest.REPO, "tests", "guest")
pytestmark = pytest.mark.timeout(guest.DEFAULT_TIMEOUT + 120)


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


@pytest.fixture(scope="session")
def guest_run(request):
    # Only the guest files whose tests were selected on the host (-k, node ids) boot with us.
    wanted = sorted({item.callspec.params["name"].split("::")[0] for item in request.session.items
                     if item.originalname == "test_in_guest" and hasattr(item, "callspec")})
    files = [os.path.join(GUEST_DIR, f) for f in wanted] or [GUEST_DIR]
    return guest.run(files)


def test_guest_has_tests():
    assert GUEST_TESTS, f"no test functions found in {GUEST_DIR}"


@pytest.mark.parametrize("name", GUEST_TESTS)
def test_in_guest(guest_run, name):
    if guest_run.reason:
        pytest.fail(f"{guest_run.reason}\n{guest_run.tail()}", pytrace=False)
    mine = {k: v for k, v in guest_run.results.items() if _matches(k, name)}
    if not mine:
        pytest.fail(f"{name} produced no result in the guest (pytest exit {guest_run.rc})\n"
                    f"{guest_run.tail()}", pytrace=False)
    bad = {k: v for k, v in mine.items() if v["outcome"] != "passed"}
    if bad:
        pytest.fail("\n".join(f"{k}: {v['outcome']} in {v['when']}\n{v['longrepr']}"
                              for k, v in bad.items()), pytrace=False)


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


def test_guest_that_does_not_boot_fails_with_qemus_reason(monkeypatch, tmp_path):
    bogus = str(tmp_path / "no-such-vmlinux")
    real = guest._prepare
    monkeypatch.setattr(guest, "_prepare", lambda: dict(real(), kernel=bogus))
    r = guest.run(timeout=60)
    assert r.rc == guest.HARNESS_FAILED
    assert "did not finish" in r.reason and "no-such-vmlinux" in r.reason
