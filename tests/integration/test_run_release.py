"""`pyrt-runc run` releases the container's process without the exec fifo, unless poststart hooks
must run after it has been executed (the fifo tells `start` when that is)."""
from __future__ import annotations

import json
import os
import sys

from tests.integration.test_runtime import bundle, rt  # noqa: F401 (fixtures)


def test_run_needs_no_exec_fifo(rt, bundle, tmp_path):  # noqa: F811
    seen = tmp_path / "seen"

    def mutate(cfg):
        # before pivot_root the init still sees the host's paths, our state dir among them
        cfg["hooks"] = {"createContainer": [
            {"path": "/bin/sh", "args": ["sh", "-c", f"ls -a {rt.root}/c1 > {seen}"]}]}
    bundle.config(["true"], mutate=mutate)
    p = rt("run", "-b", bundle, "c1")
    assert p.returncode == 0, p.stderr
    assert "state.json" in seen.read_text().split()
    assert "exec.fifo" not in seen.read_text().split()
    assert os.listdir(rt.root) == []


# A poststart hook: records the status it was given and the command line of the state's pid.
POSTSTART = """import json, sys
s = json.load(sys.stdin)
with open("/proc/%d/cmdline" % s["pid"], "rb") as f:
    cmd = f.read().split(b"\\0")[:-1]
with open(sys.argv[1], "w") as f:
    json.dump({"status": s["status"], "cmd": [c.decode() for c in cmd]}, f)
"""


def poststart_hook(out) -> dict:
    return {"path": sys.executable, "args": ["python3", "-c", POSTSTART, str(out)]}


def test_run_runs_poststart_after_the_process_is_executed(rt, bundle, tmp_path):  # noqa: F811
    """runtime-spec lifecycle step 11: poststart runs once the user's process has been executed,
    with status `running`, and `run` (its start half) waits for it."""
    seen = tmp_path / "seen"
    bundle.config(["sleep", "1"], mutate=lambda c: c.update(hooks={"poststart": [poststart_hook(seen)]}))
    p = rt("run", "-b", bundle, "c1")
    assert p.returncode == 0, p.stderr
    assert json.loads(seen.read_text()) == {"status": "running", "cmd": ["sleep", "1"]}
