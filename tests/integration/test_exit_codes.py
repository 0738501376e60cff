"""Every exit code of docs/exit-codes.md that pyrt-runc can reach, reached through the real CLI,
with one line on stderr (issue 11 item 1). Errors raised in the container's init travel over the
child channel with their kind: a createContainer hook failing in the init exits 13 like a
prestart hook failing in pyrt-runc itself, not 7.

Codes 9-12 (image, registry, auth, network) belong to the `pyrt` CLI: pyrt-runc never pulls
images or builds networks."""
from __future__ import annotations

import subprocess

import pytest

from tests.support.bundle import PYRT_RUNC, base_config, make_bundle, run


def _rt(root, *args):
    return run([PYRT_RUNC, "--root", root, *args], stdin=subprocess.DEVNULL)


def _one_line(p, code: int, words: str) -> None:
    lines = p.stderr.strip().splitlines()
    assert p.returncode == code, (p.returncode, p.stderr)
    assert len(lines) == 1 and lines[0].startswith("pyrt-runc: ") and words in lines[0], p.stderr
    assert "Traceback" not in p.stderr


@pytest.fixture
def bundle_with(tmp_path, cgroup_parent):
    def make(**edits):
        cfg = base_config(["true"])
        cfg["linux"]["cgroupsPath"] = cgroup_parent
        for key, value in edits.items():
            if key == "resources":
                cfg["linux"]["resources"] = value
            else:
                cfg[key] = value
        return make_bundle(tmp_path / "bundle", cfg)
    return make


def test_1_other_error_names_the_object(runtime_root, tmp_path):
    f = tmp_path / "a-file"
    f.write_text("")
    _one_line(_rt(str(f), "list"), 1, str(f))


def test_2_usage(runtime_root):
    _one_line(_rt(runtime_root, "create"), 2, "")


def test_3_config(runtime_root, bundle_with):
    bundle = bundle_with(process=dict(base_config()["process"], user={"uid": 4294967295, "gid": 0}))
    _one_line(_rt(runtime_root, "run", "--bundle", bundle, "c"), 3, "process.user.uid")


def test_4_not_found(runtime_root):
    _one_line(_rt(runtime_root, "state", "nosuch"), 4, "nosuch")


def test_5_exists(runtime_root, bundle_with):
    bundle = bundle_with()
    assert _rt(runtime_root, "run", "--keep", "--bundle", bundle, "c").returncode == 0
    try:
        _one_line(_rt(runtime_root, "create", "--bundle", bundle, "c"), 5, "already exists")
    finally:
        _rt(runtime_root, "delete", "--force", "c")


def test_6_state(runtime_root, bundle_with):
    bundle = bundle_with()
    assert _rt(runtime_root, "run", "--keep", "--bundle", bundle, "c").returncode == 0
    try:
        _one_line(_rt(runtime_root, "start", "c"), 6, "stopped")
    finally:
        _rt(runtime_root, "delete", "--force", "c")


def test_7_setup_error_from_the_init(runtime_root, bundle_with):
    bundle = bundle_with(process=dict(base_config()["process"], args=["/no/such/program"]))
    _one_line(_rt(runtime_root, "run", "--bundle", bundle, "c"), 7, "/no/such/program")


def test_8_cgroup(runtime_root, bundle_with):
    bundle = bundle_with(resources={"memory": {"limit": 1}})
    _one_line(_rt(runtime_root, "run", "--bundle", bundle, "c"), 8, "memory")


@pytest.mark.parametrize("kind", ["prestart", "createRuntime", "createContainer"])
def test_13_hook_in_the_runtime_or_in_the_init(runtime_root, bundle_with, kind):
    """prestart and createRuntime run in pyrt-runc, createContainer in the container's init:
    the same HookError, the same 13, whichever process it was raised in."""
    bundle = bundle_with(hooks={kind: [{"path": "/bin/false"}]})
    _one_line(_rt(runtime_root, "create", "--bundle", bundle, "c"), 13, f"{kind} hook /bin/false exited with status 1")
    assert _rt(runtime_root, "state", "c").returncode == 4  # nothing left of the failed create


def test_debug_shows_the_cause_behind_the_line(runtime_root, bundle_with):
    """The one line stays one line; --debug also narrates the error's cause, from the child too."""
    bundle = bundle_with(process=dict(base_config()["process"], args=["/no/such/program"]))
    p = _rt(runtime_root, "--debug", "run", "--bundle", bundle, "c")
    assert p.returncode == 7
    assert "the child's error was caused by FileNotFoundError" in p.stderr, p.stderr
    assert p.stderr.strip().splitlines()[-1].startswith("pyrt-runc: exec: \"/no/such/program\"")
