"""Shared fixtures for every test package.

- runtime_root: a fresh --root for pyrt-runc / runc, checked empty at the end.
- cgroup_parent: a relative cgroupsPath prefix unique to the test; it lands beneath this
  process's own cgroup in every hierarchy and must be gone when the test ends.
- leak_check: autouse for integration tests; fails a test that leaves mounts, netns or links.
"""
from __future__ import annotations

import itertools
import os

import pytest

from tests.support import cgroup, leaks

_counter = itertools.count()


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
def leak_check(request):
    if "integration" not in str(request.node.fspath):
        yield
        return
    before = leaks.snapshot()
    yield
    left = leaks.diff(before, leaks.snapshot())
    assert not left, f"resources left behind: {left}"
