#!/usr/bin/env python3
"""`pyrt run` vs podman (with crun and with runc): the same busybox image, one run of each
tool in turn per round, medians and ratios.

    .venv/bin/python bench/engine.py [-n 15] [--many 50] [--rounds 2] [--only pyrt,podman-crun,podman-runc]
                                     [--also ../main]     # another checkout beside, as pyrt-base

Cases:
  cold     `run --rm busybox true`, no network (--network none), with no pyrt monitor running
           for the run root (the monitor leaves a second after its last container: this is a
           first `run` after a pause). podman has no daemon: each of its runs is a cold one.
  warm     the same with a monitor running (a `sleep` container of each tool is kept up
           meanwhile, podman's too, so both run beside one container)
  many     --many x `run -d busybox sleep 300`, then one `rm -f` of them all (seconds per container)
  monitor  with --many containers running: PSS and RSS of pyrt's monitor per container, against
           podman's conmon per container (one conmon each)

podman runs with a private root, runroot and tmpdir, the cgroupfs manager and --network none,
inside the test suite's cgroup jail (tests/support/cgjail.py, an nsenter per command), so nothing
of the host's is touched; its storage driver is vfs (as in the test suite: this VM's /tmp overlay
is refused in the jail's mount namespace), which for a 2 MB busybox costs it little. pyrt runs
with a private --root/--run-root and a relative cgroup parent beneath our own cgroup. Targets
(issue 12): run <= 0.5x podman+crun, many <= 0.7x, monitor PSS <= 2x conmon's.
"""
from __future__ import annotations

import argparse
import compileall
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from tests.support.engine import build_busybox_tar, monitor_pids  # noqa: E402

class PyrtTool:
    prefix: list[str] = []     # e.g. nsenter --net=PATH: pyrt (and its monitor) in that network namespace

    def __init__(self, work: str, tar: str, repo: str = REPO, name: str = "pyrt"):
        """pyrt from REPO (its .venv/bin/pyrt): this checkout, or another one to compare with."""
        self.name = name
        self.pyrt = os.path.join(repo, ".venv", "bin", "pyrt")
        # an installed pyrt has its bytecode; a worktree run with PYTHONDONTWRITEBYTECODE may not
        compileall.compile_dir(os.path.join(repo, "pyrt"), quiet=1)
        self.dir = os.path.join(work, name)
        os.makedirs(self.dir)
        conf = os.path.join(self.dir, "registries.conf")
        open(conf, "w").close()
        self.cg = f"pyrt-bench-{os.getpid()}-{name}"
        self.env = dict(os.environ, PYRT_ROOT=os.path.join(self.dir, "root"),
                        PYRT_RUN_ROOT=os.path.join(self.dir, "run"), PYRT_CGROUP_PARENT=self.cg,
                        CONTAINERS_REGISTRIES_CONF=conf)
        self.call("import", tar, "busybox:latest")
        self.image = "busybox"

    def call(self, *args, check=True):
        p = subprocess.run([*self.prefix, self.pyrt, *args], env=self.env, capture_output=True, text=True)
        if check and p.returncode != 0:
            raise RuntimeError(f"pyrt {' '.join(args)}: {p.stderr.strip()}")
        return p

    def monitor_pids(self) -> list[int]:
        return monitor_pids(self.env["PYRT_RUN_ROOT"])

    def per_container_memory(self, n: int) -> tuple[float, float]:
        pids = self.monitor_pids()
        return sum(_pss(p) for p in pids) / n, sum(_rss(p) for p in pids) / n

    def close(self):
        left = self.call("ps", "-aq", check=False).stdout.split()
        if left:
            self.call("rm", "-f", *left, check=False)
        deadline = time.monotonic() + 10
        while self.monitor_pids() and time.monotonic() < deadline:
            time.sleep(0.05)
        for hier in os.listdir("/sys/fs/cgroup"):
            for base in _own_cgroup_dirs():
                d = os.path.join(base, self.cg)
                if os.path.isdir(d):
                    try:
                        os.rmdir(d)
                    except OSError:
                        pass
            break
        shutil.rmtree(self.dir, ignore_errors=True)


class PodmanTool:
    def __init__(self, work: str, runtime: str, net: bool = False):
        from tests.support.podman import Podman
        self.name = f"podman-{runtime}"
        self.runtime = shutil.which(runtime)
        self.podman = Podman(f"bench-{runtime}", net=net)    # NET: in a network namespace of its own
        self.podman.import_busybox()
        self.image = self.podman.image

    def call(self, *args, check=True):
        p = self.podman(*args, runtime=self.runtime, timeout=300)
        if check and p.returncode != 0:
            raise RuntimeError(f"{self.name} {' '.join(args)}: {p.stderr.strip()}")
        return p

    def per_container_memory(self, n: int) -> tuple[float, float]:
        pids = [p for p in _pids() if _cmdline(p).split(b"\0")[0].endswith(b"conmon")
                and self.podman.dir.encode() in _cmdline(p)]
        return sum(_pss(p) for p in pids) / max(n, 1), sum(_rss(p) for p in pids) / max(n, 1)

    def close(self):
        self.podman.close()


def _pids():
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def _cmdline(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read()
    except OSError:
        return b""


def _smaps(pid: int, key: str) -> float:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) / 1024      # MiB
    except OSError:
        pass
    return 0.0


def _pss(pid):
    return _smaps(pid, "Pss")


def _rss(pid):
    return _smaps(pid, "Rss")


def _own_cgroup_dirs():
    out = []
    with open("/proc/self/cgroup") as f:
        for line in f:
            _, ctrls, path = line.rstrip("\n").split(":", 2)
            name = ctrls.split(",")[0].replace("name=", "") if ctrls else "unified"
            base = os.path.join("/sys/fs/cgroup", name)
            if os.path.isdir(base):
                out.append(base + path)
    return out


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def run_once(t) -> float:
    return timed(lambda: t.call("run", "--rm", "--network", "none", t.image, "true"))


def sleeper(t) -> str:
    return t.call("run", "-d", "--network", "none", t.image, "sleep", "300").stdout.split()[-1]


def remove(t, ids) -> None:
    t.call("rm", "-f", *ids) if isinstance(t, PyrtTool) else t.call("rm", "-f", "-t", "0", *ids)


def wait_cold(t) -> None:
    """pyrt: until no monitor runs for its run root (it leaves a second after its last container)."""
    deadline = time.monotonic() + 30
    while isinstance(t, PyrtTool) and t.monitor_pids():
        if time.monotonic() > deadline:
            raise RuntimeError("the pyrt monitor did not leave")
        time.sleep(0.05)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=15)
    ap.add_argument("--many", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=2, help="rounds of the many case")
    ap.add_argument("--only", default="pyrt,podman-crun,podman-runc")
    ap.add_argument("--also", metavar="CHECKOUT", help="another pyrt checkout (with its .venv) measured "
                    "beside, as pyrt-base: main, to see what a branch changes")
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="pyrt-bench-engine-")
    tar = build_busybox_tar(work)
    names = a.only.split(",")
    tools = []
    load0 = os.getloadavg()
    try:
        for n in names:
            tools.append(PyrtTool(work, tar) if n == "pyrt" else PodmanTool(work, n.split("-", 1)[1]))
        if a.also:
            tools.insert(1, PyrtTool(work, tar, os.path.abspath(a.also), "pyrt-base"))
        cases = ("cold", "warm", "many", "pss", "rss")
        res = {t.name: {c: [] for c in cases} for t in tools}
        for t in tools:        # warm-up: first-use costs (podman's storage, page cache) are not measured
            run_once(t)
        for _ in range(a.n):   # cold: one run of each tool in turn
            for t in tools:
                wait_cold(t)
                res[t.name]["cold"].append(run_once(t))
        keep = {t.name: sleeper(t) for t in tools}
        try:
            for _ in range(a.n):
                for t in tools:
                    res[t.name]["warm"].append(run_once(t))
        finally:
            for t in tools:
                remove(t, [keep[t.name]])
        for _ in range(a.rounds):
            for t in tools:
                ids = []

                def start_many():
                    for _ in range(a.many):
                        ids.append(sleeper(t))
                dt = timed(start_many)
                pss, rss = t.per_container_memory(a.many)
                dt += timed(lambda: remove(t, ids))
                res[t.name]["many"].append(dt / a.many)
                res[t.name]["pss"].append(pss)
                res[t.name]["rss"].append(rss)
        ref = "podman-crun" if "podman-crun" in res else names[0]
        med = {k: {m: statistics.median(v[m]) for m in v} for k, v in res.items()}
        load1 = os.getloadavg()
        print(f"{'tool':<13}{'cold run ms':>12}{'x':>6}{'warm run ms':>13}{'x':>6}{'run -d+rm ms/ctr':>18}{'x':>6}"
              f"{'PSS MiB/ctr':>13}{'x':>6}{'RSS MiB/ctr':>13}")
        for k, m in med.items():
            r = med[ref]
            print(f"{k:<13}{m['cold'] * 1000:>12.0f}{m['cold'] / r['cold']:>6.2f}"
                  f"{m['warm'] * 1000:>13.0f}{m['warm'] / r['warm']:>6.2f}"
                  f"{m['many'] * 1000:>18.0f}{m['many'] / r['many']:>6.2f}"
                  f"{m['pss']:>13.3f}{m['pss'] / r['pss']:>6.2f}{m['rss']:>13.3f}")
        print(f"(ratios to {ref}; medians of n={a.n} runs per case and {a.rounds} rounds of {a.many}; "
              f"load average {load0[0]:.2f} {load0[1]:.2f} at the start, {load1[0]:.2f} {load1[1]:.2f} at the end; "
              f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})")
    finally:
        for t in tools:
            t.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
