"""The monitor's start-up and warm path (issue 12 performance): the CLI forks it and hands it its
first connection, racing CLIs end with one monitor and every run served, a warm monitor has
loaded what its children import. Behaviour only: the timings are bench/engine.py's."""
from __future__ import annotations

import json
import os
import subprocess
import sys

pytest_plugins = ["tests.support.engine_fixtures"]     # busybox_tar, eng
from tests.support.bundle import PYRT, REPO
from tests.support.engine import until


def _ping(eng) -> dict:
    """The monitor's answer to a ping, asked from a separate process (as any client would)."""
    code = ("import json, sys; from pyrt.engine import client_monitor as cm; "
            "print(json.dumps(cm.request(*sys.argv[1:4], {'op': 'ping'})))")
    p = subprocess.run([sys.executable, "-c", code, eng.root, eng.run_root, eng.cgroup_parent],
                       capture_output=True, text=True, timeout=60, cwd=REPO, env=eng.env)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def test_a_cold_run_forks_the_monitor_which_keeps_none_of_the_clis_files(eng):
    """No monitor runs: `run` starts one as a fork of itself. The caller's pipes (our capture of
    the CLI's stdout and stderr) are not held by it, or this subprocess.run would never return."""
    assert eng.monitor_pids() == []
    cid = eng.ok("run", "-d", "busybox", "sleep", "300", timeout=60).strip()
    [mon] = eng.monitor_pids()
    with open(f"/proc/{mon}/cmdline", "rb") as f:
        assert f.read().startswith(b"pyrt-monitor /")     # what it is, not the CLI's command
    # what it holds: stdin and stdout on /dev/null, stderr on its log, the lock, sockets, and
    # the container's two output pipes and its log; none of the CLI's files
    targets = [os.readlink(f"/proc/{mon}/fd/{fd}") for fd in ("0", "1", "2")]
    assert targets == ["/dev/null", "/dev/null", os.path.join(eng.run_root, "monitor.log")]
    others = [os.readlink(f"/proc/{mon}/fd/{fd}") for fd in os.listdir(f"/proc/{mon}/fd") if int(fd) > 2]
    assert len([t for t in others if t.startswith("pipe:")]) == 2, others
    assert not [t for t in others if not t.startswith(("pipe:", "socket:", "anon_inode:", eng.root, eng.run_root))]
    assert eng.ok("exec", cid, "echo", "alive") == "alive\n"
    eng.ok("rm", "-f", cid)
    assert eng.wait_monitor_gone()


def _close_stdin_and_stdout():
    os.close(0)
    os.close(1)


def test_a_cold_run_with_its_stdin_and_stdout_closed(eng):
    """A caller that closed fds 0 and 1 (`pyrt run ... <&- >&-`): the monitor's connection lands
    on one of them in the CLI; the forked monitor must not take it for stdio and replace it."""
    assert eng.monitor_pids() == []
    p = subprocess.run([PYRT, "run", "--rm", "busybox", "sh", "-c", "echo ok >&2; exit 3"], env=eng.env,
                       stderr=subprocess.PIPE, text=True, timeout=120, preexec_fn=_close_stdin_and_stdout)
    assert (p.returncode, p.stderr) == (3, "ok\n")
    assert eng.wait_monitor_gone()


def test_cold_runs_at_once_share_one_monitor_and_all_finish(eng):
    """Several `run --rm` with no monitor running: each may start one; the losers of the lock
    race leave and their clients ask the winner. Every run gives its own output and code."""
    n = 5
    procs = [subprocess.Popen([PYRT, "run", "--rm", "busybox", "sh", "-c", f"echo run{i}; exit {i}"],
                              env=eng.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(n)]
    got = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        got.append((p.returncode, out, err))
    assert got == [(i, f"run{i}\n", "") for i in range(n)]
    assert eng.container_dirs() == []
    assert len(eng.monitor_pids()) <= 1
    assert eng.wait_monitor_gone()


def test_a_warm_monitors_children_import_nothing_it_has_not_loaded(eng):
    """The monitor preloads what a worker (create + start) and a cleanup child import, and
    loads whatever a child still had to import: `ping` lists those gaps; there are none for a
    run --rm, a run -d and its rm -f."""
    keeper = eng.ok("run", "-d", "busybox", "sleep", "300").strip()     # keeps the monitor up
    try:
        assert eng.pyrt("run", "--rm", "busybox", "true").returncode == 0
        cid = eng.ok("run", "-d", "busybox", "sleep", "300").strip()
        eng.ok("rm", "-f", cid)
        reply = _ping(eng)
        with open(f"/proc/{reply['pid']}/maps") as f:
            maps = f.read()
    finally:
        eng.ok("rm", "-f", keeper)
    assert reply["ok"], reply
    assert reply["late_imports"] == [], f"add to pyrt.engine.monitor.PRELOAD: {reply['late_imports']}"
    # nor more than they need: a run hashes nothing (hashlib and OpenSSL cost ~3 ms of the preload)
    assert "_hashlib" not in maps and "libcrypto" not in maps


def test_a_spawned_monitor_that_cannot_start_is_reported(eng):
    """A run root the monitor cannot use: one line naming its log, exit 125, nothing left."""
    os.makedirs(eng.run_root, exist_ok=True)
    lock = os.path.join(eng.run_root, "monitor.lock")
    os.mkdir(lock)          # open(O_RDWR) of a directory fails: every started monitor dies at once
    try:
        p = eng.pyrt("run", "--rm", "busybox", "true", timeout=120)
    finally:
        os.rmdir(lock)
    assert p.returncode == 125 and len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert "monitor" in p.stderr
    until(lambda: eng.container_dirs() == [], what="the failed run's directory to go")


# what `pyrt run` itself (the client of a warm monitor) never needs: the monitor's worker does the
# work. click (~20 ms), secrets (hashlib, OpenSSL), shutil (lzma, bz2), threading (only for -i), subprocess; the image
# store, the runtime and the C extension are the worker's business.
RUN_NEVER = {"click", "secrets", "hashlib", "hmac", "random", "shutil", "threading", "subprocess", "tarfile", "pyrt._cext",
             "pyrt.image.store", "pyrt.runtime.create", "pyrt.runtime.init", "pyrt.spec.config",
             "pyrt.engine.bundle", "pyrt.cgroups.manager"}


def test_run_imports_only_what_a_client_needs(eng):
    keeper = eng.ok("run", "-d", "busybox", "sleep", "300").strip()
    p = subprocess.run([sys.executable, "-S", "-X", "importtime", PYRT, "run", "--rm", "busybox", "true"],
                       capture_output=True, text=True, timeout=60, env=eng.env)
    eng.ok("rm", "-f", keeper)
    assert p.returncode == 0, p.stderr[-500:]
    mods = {line.rsplit("|", 1)[1].strip() for line in p.stderr.splitlines()
            if line.startswith("import time:") and "|" in line}
    assert "pyrt.engine.client_monitor" in mods      # the probe sees run's imports at all
    assert not mods & RUN_NEVER, sorted(mods & RUN_NEVER)
