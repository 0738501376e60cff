"""The autouse leak check itself (tests/conftest.py, tests/support/leaks.py): a test that leaks a
process, a cgroup, a mount or a container must fail, what it left must be gone afterwards, the next
test must not inherit the failure, and what other runs on the shared host make must not count.

Each case runs a tiny test file in a pytest subprocess (its own session, own reaper) and reads its
outcome; the subprocess session inherits nothing from ours but TMPDIR.
"""
from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import textwrap
import uuid

import pytest

from tests.support import leaks
from tests.support.cgroup import remove_tree
from tests.support.bundle import PYRT_RUNC, REPO

# Runs after each leaking test in the same session: it must pass (no cascade).
_NEXT = """
def test_next_test_is_clean():
    pass
"""


@contextlib.contextmanager
def private_cgroup():
    """A cgroup of its own for the inner session, beneath ours wherever ours is not a hierarchy
    root (here: memory). There, a cgroup beneath a session's own cgroup is attributed to it only
    while no other test session shares that cgroup; this keeps the cases below exact even when
    another session of this workplace runs beside ours."""
    name = f"leak-check-{uuid.uuid4().hex[:8]}"
    made = [os.path.join(own, name) for mnt, own in leaks.cgroup_hierarchies() if own != mnt]
    for d in made:
        os.mkdir(d)
    try:
        yield made
    finally:
        for d in made:
            remove_tree(d)


def inner(tmp_path, body: str, **env) -> tuple[int, str]:
    """Run BODY (test functions) plus _NEXT as one pytest session; (exit code, output)."""
    d = tmp_path / "inner"
    d.mkdir()
    (d / "test_inner.py").write_text(textwrap.dedent(body) + _NEXT)
    with private_cgroup() as cgroups:
        def enter():
            for cg in cgroups:
                with open(os.path.join(cg, "cgroup.procs"), "w") as f:
                    f.write("0")
        p = subprocess.run([sys.executable, "-m", "pytest", "-p", "tests.conftest", "-p", "no:cacheprovider",
                            "-q", "-rA", "test_inner.py"],
                           cwd=d, capture_output=True, text=True, timeout=240, preexec_fn=enter,
                           env={**os.environ, "PYTHONPATH": REPO, "PYRT_LEAKS_SETTLE": "1", **env})
    return p.returncode, p.stdout + p.stderr


def failed_with(out: str, *needles: str) -> None:
    # The leaking test's body passed; its teardown (the check) errs; the next test passes.
    assert "2 passed, 1 error" in out, out
    assert "ERROR at teardown of test_leaks" in out, out
    assert "resources left behind" in out and "(cleaned up)" in out, out
    for n in needles:
        assert n in out, (n, out)
    # The session's reaper found nothing more to kill: the check had cleaned all of it.
    assert "pyrt test reaper: killed" not in out, out


def shared_hierarchy_cgroup() -> str | None:
    """Our own cgroup in a hierarchy where it is the root, shared with every other run (the v1
    hierarchies on this hybrid host); None where every own cgroup is private to us."""
    return next((own for mnt, own in leaks.cgroup_hierarchies() if own == mnt), None)


def gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


def test_an_orphaned_sleeping_process_fails_the_test_and_is_killed(tmp_path):
    pidfile = tmp_path / "pid"
    rc, out = inner(tmp_path, f"""
        import subprocess
        def test_leaks():
            # Backgrounded by a shell that exits: an orphan, as a container's init is.
            subprocess.run(["sh", "-c", "sleep 1000 & echo $! > {pidfile}"], check=True)
    """)
    assert rc == 1, out
    failed_with(out, "processes", "sleep 1000")
    assert gone(int(pidfile.read_text()))


def test_a_child_left_running_fails_the_test_and_is_killed(tmp_path):
    pidfile = tmp_path / "pid"
    rc, out = inner(tmp_path, f"""
        import subprocess
        def test_leaks():
            p = subprocess.Popen(["sleep", "1001"])
            open("{pidfile}", "w").write(str(p.pid))
    """)
    assert rc == 1, out
    failed_with(out, "processes", "sleep 1001")
    assert gone(int(pidfile.read_text()))


def test_a_cgroup_left_behind_fails_the_test_and_is_removed(tmp_path):
    """An empty cgroup laid out as a runtime does (one relative path in every hierarchy, beneath
    our own cgroup): found where our own cgroup is private to us (here: the memory hierarchy),
    and so everywhere."""
    name = f"leaky-{uuid.uuid4().hex[:8]}"
    rc, out = inner(tmp_path, f"""
        import os
        from tests.support import leaks
        def test_leaks():
            for _, own in leaks.cgroup_hierarchies():
                os.makedirs(os.path.join(own, "{name}", "sub"))
    """)
    assert rc == 1, out
    failed_with(out, "cgroups", name)
    left = [own for _, own in leaks.cgroup_hierarchies() if os.path.exists(os.path.join(own, name))]
    assert not left


def test_a_cgroup_holding_a_process_fails_the_test_and_both_go(tmp_path):
    """In a hierarchy we share with other runs (our own cgroup is its root here), a cgroup is ours
    when a process of ours is in it."""
    name = f"leaky-{uuid.uuid4().hex[:8]}"
    pids = shared_hierarchy_cgroup() or leaks.cgroup_hierarchies()[0][1]
    rc, out = inner(tmp_path, f"""
        import os, subprocess
        def test_leaks():
            d = os.path.join("{pids}", "{name}")
            os.mkdir(d)
            p = subprocess.Popen(["sleep", "1002"])
            with open(os.path.join(d, "cgroup.procs"), "w") as f:
                f.write(str(p.pid))
    """)
    assert rc == 1, out
    failed_with(out, "processes", "sleep 1002", "cgroups", name)
    assert not os.path.exists(os.path.join(pids, name))


def test_a_mount_left_behind_fails_the_test_and_is_unmounted(tmp_path):
    rc, out = inner(tmp_path, """
        import subprocess
        def test_leaks(tmp_path):
            (tmp_path / "m").mkdir()
            subprocess.run(["mount", "-t", "tmpfs", "leaky", str(tmp_path / "m")], check=True)
    """)
    assert rc == 1, out
    failed_with(out, "mounts", "/m")
    assert not [line for line in leaks.mounts() if line.split()[4].endswith("/test_leaks0/m")]


@pytest.fixture
def default_root():
    """These tests use pyrt-runc's default --root: removed again when the test made it (and only
    when empty: never another's state)."""
    made = not os.path.exists("/run/pyrt-runc")
    yield
    if made:
        with contextlib.suppress(OSError):
            os.rmdir("/run/pyrt-runc")


def test_a_container_never_deleted_fails_the_test_and_is_cleaned(tmp_path, default_root):
    """The real thing: `pyrt-runc create` with the default --root and cgroupsPath, no delete. Its
    init (waiting to be started), its cgroups and its state dir are all found and undone."""
    cid = f"leaky-{uuid.uuid4().hex[:8]}"
    rc, out = inner(tmp_path, f"""
        import subprocess
        from tests.support.bundle import base_config, make_bundle
        def test_leaks(tmp_path):
            b = make_bundle(tmp_path / "bundle", base_config(["sleep", "1003"]))
            subprocess.run(["{PYRT_RUNC}", "create", "-b", b, "{cid}"], check=True,
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    """)
    assert rc == 1, out
    failed_with(out, "processes", "cgroups", f"pyrt/{cid}", "state dirs", f"/run/pyrt-runc/{cid}")
    assert not os.path.exists(f"/run/pyrt-runc/{cid}")
    assert not [own for _, own in leaks.cgroup_hierarchies() if os.path.exists(os.path.join(own, "pyrt", cid))]


def test_a_test_that_cleans_up_passes(tmp_path, default_root):
    cid = f"tidy-{uuid.uuid4().hex[:8]}"
    rc, out = inner(tmp_path, f"""
        import subprocess
        from tests.support.bundle import make_bundle
        def test_tidy(tmp_path):
            b = make_bundle(tmp_path / "bundle")
            subprocess.run(["{PYRT_RUNC}", "run", "-b", b, "{cid}"], check=True, stdin=subprocess.DEVNULL)
            (tmp_path / "m").mkdir()
            subprocess.run(["mount", "-t", "tmpfs", "tidy", str(tmp_path / "m")], check=True)
            subprocess.run(["umount", str(tmp_path / "m")], check=True)
            p = subprocess.Popen(["sleep", "1"])
            p.kill()
            p.wait()
    """)
    assert rc == 0, out
    assert "2 passed" in out and "resources left behind" not in out, out


def test_what_other_runs_make_does_not_fail_ours(tmp_path):
    """Stand-ins for another worktree's run on the shared host: a mount outside our run's paths
    and an empty cgroup in a hierarchy whose root we share. Neither is this run's, so neither fails
    it (the session summary lists them); we remove both ourselves."""
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    shared = shared_hierarchy_cgroup()
    cg = shared and os.path.join(shared, f"other-run-{uuid.uuid4().hex[:8]}")
    try:
        rc, out = inner(tmp_path, f"""
            import os, subprocess
            def test_other_runs_things_appear():
                subprocess.run(["mount", "-t", "tmpfs", "foreign", "{foreign}"], check=True)
                if {cg!r}:
                    os.mkdir({cg!r})
        """)
        assert rc == 0, out
        assert "2 passed" in out and "resources left behind" not in out, out
        assert "not this run's" in out and str(foreign) in out, out
    finally:
        subprocess.run(["umount", str(foreign)], capture_output=True)
        if cg and os.path.isdir(cg):
            os.rmdir(cg)


def test_the_session_reaper_kills_what_a_session_leaves():
    """A process left past the last test (here by a session-scoped fixture that never stops it)
    is killed when the session ends, and named."""
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, "test_s.py"), "w") as f:
            f.write(textwrap.dedent("""
                import subprocess, pytest
                @pytest.fixture(scope="session")
                def daemon():
                    p = subprocess.Popen(["sh", "-c", "sleep 1004 & echo $!"], stdout=subprocess.PIPE)
                    return p.stdout.readline().decode()
                def test_uses_daemon(daemon):
                    open("pid", "w").write(daemon)
            """))
        p = subprocess.run([sys.executable, "-m", "pytest", "-p", "tests.conftest", "-p", "no:cacheprovider",
                            "-q", "test_s.py"], cwd=d, capture_output=True, text=True, timeout=120,
                           env={**os.environ, "PYTHONPATH": REPO})
        pid = int(open(os.path.join(d, "pid")).read())
    assert "pyrt test reaper: killed 1 process(es)" in p.stderr and "sleep 1004" in p.stderr, p.stderr
    assert gone(pid)
    # The session's outcome is kept: its one test passed.
    assert p.returncode == 0, p.stdout + p.stderr
