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


def _guest_tests() -> list[str]:
    """'file.py::test' (or 'file.py::Class::test') for every test function of tests/guest, read
    with ast so that nothing of the guest tests is imported on the host."""
    out = []
    for name in sorted(os.listdir(GUEST_DIR)):
        if not (name.startswith("test_") and name.endswith(".py")):
            continue
        with open(os.path.join(GUEST_DIR, name)) as f:
            tree = ast.parse(f.read())
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test"):
                out.append(f"{name}::{node.name}")
            elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
                out += [f"{name}::{node.name}::{m.name}" for m in node.body
                        if isinstance(m, ast.FunctionDef) and m.name.startswith("test")]
    return out


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
    prefix = f"tests/guest/{name}"
    mine = {k: v for k, v in guest_run.results.items() if k == prefix or k.startswith(prefix + "[")}
    if not mine:
        pytest.fail(f"{prefix} produced no result in the guest (pytest exit {guest_run.rc})\n"
                    f"{guest_run.tail()}", pytrace=False)
    bad = {k: v for k, v in mine.items() if v["outcome"] != "passed"}
    if bad:
        pytest.fail("\n".join(f"{k}: {v['outcome']} in {v['when']}\n{v['longrepr']}"
                              for k, v in bad.items()), pytrace=False)
