"""Lifecycle points where pyrt-runc follows the runtime-spec rather than runc 1.1.5 (issue 10,
items 3-5), each checked for real; where a caller needs runc's behaviour it is kept and pinned
(see test_runc_answers.py: delete of a created container, for containerd's shim)."""
from __future__ import annotations

import json
import os

from tests.integration.test_run_release import poststart_hook
from tests.integration.test_runtime import bundle, one_line_error, rt, state_of  # noqa: F401
from tests.support.bundle import RUNC, run


def test_poststart_runs_in_start_after_the_process_is_executed(rt, bundle, tmp_path):  # noqa: F811
    """Not at create (runc 1.1 runs it there, status `created`): during start, once the process
    has been executed, with status `running`; start returns after it."""
    seen = tmp_path / "seen"
    bundle.config(["sleep", "60"], mutate=lambda c: c.update(hooks={"poststart": [poststart_hook(seen)]}))
    assert rt("create", "-b", bundle, "c1").returncode == 0
    assert not seen.exists()
    assert rt("start", "c1").returncode == 0
    assert json.loads(seen.read_text()) == {"status": "running", "cmd": ["sleep", "60"]}
    assert state_of(rt, "c1")["status"] == "running"
    assert rt("delete", "--force", "c1").returncode == 0


def test_failing_poststart_warns_and_the_container_keeps_running(rt, bundle):  # noqa: F811
    bundle.config(["sleep", "60"], mutate=lambda c: c.update(hooks={"poststart": [
        {"path": "/bin/sh", "args": ["sh", "-c", "echo hook-broke >&2; exit 3"]}]}))
    assert rt("create", "-b", bundle, "c1").returncode == 0
    p = rt("start", "c1")
    assert p.returncode == 0, p.stderr
    assert p.stderr.strip().splitlines() == [
        "pyrt-runc: warning: poststart hook /bin/sh exited with status 3: hook-broke"]
    assert state_of(rt, "c1")["status"] == "running"
    assert rt("delete", "--force", "c1").returncode == 0


def test_delete_without_force_refuses_a_running_container(rt, bundle):  # noqa: F811
    bundle.config(["sleep", "60"])
    assert rt("run", "-d", "-b", bundle, "c1").returncode == 0
    assert "running" in one_line_error(rt("delete", "c1"), 6)
    assert state_of(rt, "c1")["status"] == "running"
    assert rt("delete", "--force", "c1").returncode == 0


def test_process_is_optional_at_create_and_start_refuses(rt, bundle, tmp_path):  # noqa: F811
    """config.md: process is REQUIRED only if start is called. runc 1.1 refuses at create
    (`process property must not be empty`)."""
    bundle.config(mutate=lambda c: c.pop("process"))
    p = rt("create", "-b", bundle, "c1")
    assert p.returncode == 0, p.stderr
    s = state_of(rt, "c1")
    assert s["status"] == "created" and s["pid"] > 0
    line = one_line_error(rt("start", "c1"), 3)
    assert "process" in line and "nothing to start" in line, line
    assert state_of(rt, "c1")["status"] == "created"
    # the init holds the container's namespaces: a process can still be run in them
    proc = tmp_path / "process.json"
    proc.write_text(json.dumps({"args": ["/bin/hostname"], "cwd": "/", "user": {"uid": 0, "gid": 0},
                                "env": ["PATH=/bin"]}))
    p = rt("exec", "--process", str(proc), "c1")
    assert p.returncode == 0 and p.stdout.strip() == "runc", p.stderr
    assert rt("delete", "c1").returncode == 0
    assert os.listdir(rt.root) == []
    ref = run([RUNC, "--root", str(tmp_path / "runc"), "create", "-b", bundle, "r1"])
    assert ref.returncode == 1 and "process property must not be empty" in ref.stderr
