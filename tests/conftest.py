"""Shared fixtures for every test package.

- runtime_root: a fresh --root for pyrt-runc / runc, checked empty at the end.
- cgroup_parent: a relative cgroupsPath prefix unique to the test; it lands beneath this
  process's own cgroup in every hierarchy and must be gone when the test ends.
- leak_check: autouse for every test; fails a test that leaves processes, cgroups, mounts, netns,
  links or runtime state dirs behind, or makes pyrt's bridge or nftables table in the VM's own
  network namespace, and cleans them so one leak does not cascade. What counts
  as the run's (the host is shared with other runs) is explained in tests/support/leaks.py.
"""
from __future__ import annotations

import itertools
import os
import shutil
import tempfile

import pytest

from tests.support import cgroup, leaks, reaper

_counter = itertools.count()
_run: leaks.Run | None = None
_foreign: dict[str, set[str]] = {}


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    """The run's reaper: a child subreaper above the session (tests/support/reaper.py)."""
    reaper.install()


def pytest_sessionstart(session):
    """The run's own temp dir, and who the run is for the leak check."""
    global _run
    config = session.config
    # pytest's basetemp first (it stays in /tmp/pytest-of-*), then TMPDIR for everything else the
    # run and its subprocesses make, so their mounts and state can be told from other runs'.
    basetemp = str(config._tmp_path_factory.getbasetemp())
    # Short: podman refuses a runroot longer than 50 characters, and its dir is made in here.
    session_tmp = tempfile.mkdtemp(prefix=f"pt{os.getpid():x}-")
    os.chmod(session_tmp, 0o755)
    os.environ["TMPDIR"] = session_tmp
    # The engine's built-in default network is bridge (pyrt0 and NAT in the caller's namespace):
    # every engine of the run, in this process and in every pyrt it starts, defaults to none, so
    # nothing touches the VM's own network namespace. Bridge tests run inside a namespace of their
    # own (tests/support/network.py), where the built-in default is tested too.
    os.environ["PYRT_NETWORK"] = "none"
    tempfile.tempdir = session_tmp
    _run = leaks.Run([session_tmp, basetemp, os.path.dirname(os.path.dirname(os.path.abspath(__file__)))])


def pytest_unconfigure(config):
    if _run is None:
        return
    session_tmp = _run.paths[0]
    # Never rm -r through a mount: only when nothing is mounted beneath it.
    if not any(leaks._under(mp, session_tmp) or mp == session_tmp for mp in leaks.mountpoints()):
        shutil.rmtree(session_tmp, ignore_errors=True)


def pytest_terminal_summary(terminalreporter):
    if _foreign:
        terminalreporter.write_sep("-", "leak check: appeared during tests, not this run's (ignored)")
        for kind, items in sorted(_foreign.items()):
            terminalreporter.write_line(f"{kind}: {len(items)} e.g. {sorted(items)[:5]}")


@pytest.fixture
def runtime_root(tmp_path):
    root = tmp_path / "state"
    root.mkdir()
    yield str(root)
    left = [d for d in os.listdir(root)]
    assert not left, f"state left behind in --root: {left}"


@pytest.fixture
def cgroup_parent():
    rel = f"pyrt-test-{os.getpid()}-{next(_counter)}"
    yield rel
    left = cgroup.existing(rel)
    for d in left:
        cgroup.remove_tree(d)
    assert not left, f"cgroups left behind: {left}"


@pytest.fixture(autouse=True)
def leak_check():
    before = leaks.snapshot(_run)
    yield
    left, foreign, undo = leaks.check(_run, before)
    for kind, items in foreign.items():
        _foreign.setdefault(kind, set()).update(items)
    if left:
        failed = leaks.clean(_run, undo)
        detail = "; ".join(f"{k}: {v}" for k, v in left.items())
        tail = f" (could not undo: {failed})" if failed else " (cleaned up)"
        pytest.fail(f"resources left behind: {detail}{tail}", pytrace=False)
