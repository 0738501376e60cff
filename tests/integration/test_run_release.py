"""`pyrt-runc run` releases the container's process without the exec fifo, unless poststart hooks
have to run first (runc runs them before the process is released)."""
from __future__ import annotations

import os

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


def test_run_releases_the_process_after_poststart(rt, bundle, tmp_path):  # noqa: F811
    shared = tmp_path / "shared"
    shared.mkdir()

    def mutate(cfg):
        cfg["mounts"].append({"destination": "/shared", "type": "bind", "source": str(shared),
                              "options": ["rbind"]})
        # slow on purpose: a process released before poststart finished would find no mark
        cfg["hooks"] = {"poststart": [
            {"path": "/bin/sh", "args": ["sh", "-c", f"sleep 0.3; echo from-poststart > {shared}/mark"]}]}
    bundle.config(["cat", "/shared/mark"], mutate=mutate)
    p = rt("run", "-b", bundle, "c1")
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "from-poststart"
