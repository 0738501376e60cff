#!/usr/bin/env python3
"""pyrt-runc vs runc vs crun: the same busybox /bin/true bundle, N iterations each of
`run` and of `create` + `start` + `delete`, medians and ratios against runc.

    .venv/bin/python bench/runtime.py [-n 30] [--json results.json] [--only pyrt-runc,runc]
    .venv/bin/python bench/runtime.py --profile     # where pyrt-runc's time goes

Fairness notes, printed with the table:
- every runtime is timed the same way: wall time of the whole CLI call(s), spawned from here;
- runc and pyrt-runc run interleaved, one iteration each in turn, so drift hits both alike;
- crun refuses this VM's hybrid cgroups, so it runs in a private mount namespace (unshare -m)
  where an empty file hides /sys/fs/cgroup/unified/cgroup.controllers, never the host's view.
  It also runs with --cgroup-manager=disabled: crun maps a cgroupsPath to the same absolute
  path in every hierarchy (relative ones from the hierarchy root), and on this machine that
  would create cgroups outside our own. runc and pyrt-runc get a relative cgroupsPath,
  which lands beneath our own cgroup; so crun does less work than the other two.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUNTIMES = {
    "pyrt-runc": os.path.join(REPO, ".venv", "bin", "pyrt-runc"),
    "runc": shutil.which("runc") or "/usr/sbin/runc",
    "crun": shutil.which("crun") or "/usr/bin/crun",
}
CALL_TIMEOUT = 30
HIDDEN = "/sys/fs/cgroup/unified/cgroup.controllers"


def _call(argv, log) -> float:
    """Seconds the command took; raises on a non-zero exit or a hang. stderr goes to the
    file LOG, not a pipe: after `create` the container keeps the runtime's stdio open."""
    log.seek(0)
    log.truncate()
    # A blocking wait(): subprocess.run(timeout=...) polls with doubling sleeps on Python 3.11,
    # which rounds every sample up to ~15.5/31.5/63.5 ms. A timer kills a hung call instead.
    t = time.perf_counter()
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log)
    watchdog = threading.Timer(CALL_TIMEOUT, p.kill)
    watchdog.start()
    try:
        p.wait()
    finally:
        watchdog.cancel()
    dt = time.perf_counter() - t
    if p.returncode != 0:
        log.seek(0)
        raise RuntimeError(f"{' '.join(argv)}: exit {p.returncode}: {log.read().decode().strip()[-300:]}")
    return dt


class Runtime:
    def __init__(self, name: str, work: str, rootfs: str, spec: dict):
        self.name, self.binary = name, RUNTIMES[name]
        self.root = os.path.join(work, name, "state")
        self.bundle = os.path.join(work, name, "bundle")
        os.makedirs(self.root)
        os.makedirs(self.bundle)
        self.log = open(os.path.join(work, name, "stderr"), "w+b")
        cfg = json.loads(json.dumps(spec))
        cfg["root"]["path"] = rootfs  # one rootfs for all: the default spec mounts it read-only
        if name == "crun":
            self.flags = ["--cgroup-manager=disabled"]
        else:
            self.flags = []
            # Relative: beneath this process's own cgroup in every hierarchy (runc semantics).
            cfg["linux"]["cgroupsPath"] = f"pyrt-bench-{os.getpid()}-{name}"
        with open(os.path.join(self.bundle, "config.json"), "w") as f:
            json.dump(cfg, f)
        self.samples = {"run": [], "create_start_delete": [], "create": [], "start": [], "delete": []}
        self.error: str | None = None
        self.n = 0

    def _argv(self, *args):
        return [self.binary, "--root", self.root, *self.flags, *args]

    def _id(self):
        self.n += 1
        return f"bench-{os.getpid()}-{self.n}"

    def once(self, record: bool = True) -> None:
        if self.error:
            return
        try:
            cid = self._id()
            dt_run = _call(self._argv("run", "--bundle", self.bundle, cid), self.log)
            cid = self._id()
            t = time.perf_counter()
            steps = [_call(self._argv("create", "--bundle", self.bundle, cid), self.log),
                     _call(self._argv("start", cid), self.log),
                     # /bin/true may still be running: --force, as a caller that does not wait would.
                     _call(self._argv("delete", "--force", cid), self.log)]
            dt_csd = time.perf_counter() - t
        except (RuntimeError, subprocess.TimeoutExpired) as e:
            self.error = str(e)[:400]
            self.cleanup()
            return
        if record:
            self.samples["run"].append(dt_run)
            self.samples["create_start_delete"].append(dt_csd)
            for k, v in zip(("create", "start", "delete"), steps):
                self.samples[k].append(v)

    def cleanup(self) -> None:
        """Remove whatever a failed iteration left (containers of this bench only, by id)."""
        for cid in os.listdir(self.root):
            subprocess.run(self._argv("delete", "--force", cid), capture_output=True, timeout=CALL_TIMEOUT)

    def result(self) -> dict:
        out = {"error": self.error}
        for k, v in self.samples.items():
            out[k] = [round(x * 1000, 3) for x in v]
            out[f"median_{k}_ms"] = round(statistics.median(v) * 1000, 2) if v else None
        return out


def build_bundle_parts(work: str) -> tuple[str, dict]:
    rootfs = os.path.join(work, "rootfs")
    subprocess.run([os.path.join(REPO, "rootfs-tools", "busybox-rootfs.sh"), rootfs], check=True)
    os.chmod(rootfs, 0o755)
    with tempfile.TemporaryDirectory() as d:
        subprocess.run([RUNTIMES["runc"], "spec"], cwd=d, check=True)
        with open(os.path.join(d, "config.json")) as f:
            spec = json.load(f)
    spec["process"]["terminal"] = False
    spec["process"]["args"] = ["/bin/true"]
    return rootfs, spec


def python_floor(n: int) -> float:
    """Median ms of the venv's interpreter doing nothing (-I -S): what any Python CLI pays."""
    py = os.path.join(REPO, ".venv", "bin", "python")
    with tempfile.TemporaryFile() as log:
        return round(statistics.median(_call([py, "-I", "-S", "-c", "pass"], log) for _ in range(n)) * 1000, 2)


def measure(names: list[str], n: int, warmup: int, work: str) -> dict:
    rootfs, spec = build_bundle_parts(work)
    rts = [Runtime(name, work, rootfs, spec) for name in names]
    for i in range(warmup + n):
        for rt in rts:  # interleaved
            rt.once(record=i >= warmup)
    return {rt.name: rt.result() for rt in rts}


def measure_crun_isolated(n: int, warmup: int, work: str) -> dict:
    """crun in a private mount namespace with cgroup.controllers hidden (see the docstring)."""
    argv = ["unshare", "-m", "--propagation", "private", sys.executable, os.path.abspath(__file__),
            "--inner-crun", "-n", str(n), "--warmup", str(warmup), "--work", work]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=CALL_TIMEOUT * 4 * (n + warmup))
    if p.returncode != 0:
        return {"crun": {"error": p.stderr.strip()[-400:], "run": [], "create_start_delete": [],
                         "median_run_ms": None, "median_create_start_delete_ms": None}}
    return json.loads(p.stdout)


def inner_crun(n: int, warmup: int, work: str) -> None:
    empty = os.path.join(work, "empty")
    open(empty, "w").close()
    subprocess.run(["mount", "--bind", empty, HIDDEN], check=True)
    json.dump(measure(["crun"], n, warmup, os.path.join(work, "crun-ns")), sys.stdout)


# cProfile around the pyrt-runc script. Its main() ends in os._exit (no interpreter teardown),
# which would skip writing the profile: in this process only, os._exit becomes SystemExit.
_PROFILE_MAIN = """
import cProfile, os, sys
out, script = sys.argv[1], sys.argv[2]
sys.argv = sys.argv[2:]
me, real_exit = os.getpid(), os._exit
def _exit(rc):
    if os.getpid() == me:
        raise SystemExit(rc)
    real_exit(rc)
os._exit = _exit
prof = cProfile.Profile()
prof.enable()
try:
    exec(compile(open(script).read(), script, "exec"), {"__name__": "__main__"})
except SystemExit:
    pass
prof.disable()
prof.dump_stats(out)
"""


def profile(n: int, work: str) -> None:
    """Where pyrt-runc's `run` spends its time: import costs (python -X importtime, median of N
    runs, top-level and first-level modules) and the functions cProfile sees (one run)."""
    import cProfile  # noqa: F401  (fail early if missing)
    import pstats
    import re
    rootfs, spec = build_bundle_parts(work)
    rt = Runtime("pyrt-runc", work, rootfs, spec)
    py = os.path.join(REPO, ".venv", "bin", "python")
    costs: dict[str, list[int]] = {}
    for _ in range(n):
        p = subprocess.run([py, "-X", "importtime", rt.binary, *rt._argv("run", "--bundle", rt.bundle, rt._id())[1:]],
                           capture_output=True, text=True, timeout=CALL_TIMEOUT)
        for line in p.stderr.splitlines():
            m = re.match(r"import time:\s+\d+ \|\s+(\d+) \|( *)(\S+)", line)
            if m and len(m.group(2)) <= 3:
                costs.setdefault(m.group(3), []).append(int(m.group(1)))
    print(f"imports during `pyrt-runc run` (cumulative, median of {n} runs):")
    for t, mod in sorted(((statistics.median(v), k) for k, v in costs.items()), reverse=True)[:15]:
        print(f"  {t / 1000:7.2f} ms  {mod}")
    out = os.path.join(work, "run.prof")
    p = subprocess.run([py, "-c", _PROFILE_MAIN, out, rt.binary, *rt._argv("run", "--bundle", rt.bundle, rt._id())[1:]],
                       capture_output=True, text=True, timeout=CALL_TIMEOUT)
    if not os.path.exists(out):
        print(f"cProfile run failed: {p.stderr.strip()[-500:]}")
        return
    print("cProfile of one `pyrt-runc run`, by own time:")
    pstats.Stats(out, stream=sys.stdout).sort_stats("tottime").print_stats(15)


def table(results: dict) -> str:
    ref = results.get("runc", {})
    lines = [f"{'runtime':<12}{'run ms':>10}{'x runc':>9}{'c+s+d ms':>12}{'x runc':>9}"
             f"   (create / start / delete ms)"]
    for name, r in results.items():
        cells = [f"{name:<12}"]
        for k, w in (("median_run_ms", 10), ("median_create_start_delete_ms", 12)):
            v, base = r.get(k), ref.get(k)
            cells.append(f"{v:>{w}.2f}" if v is not None else f"{'-':>{w}}")
            cells.append(f"{v / base:>9.2f}" if v and base else f"{'-':>9}")
        steps = [r.get(f"median_{k}_ms") for k in ("create", "start", "delete")]
        if all(x is not None for x in steps):
            cells.append("   (" + " / ".join(f"{x:.1f}" for x in steps) + ")")
        lines.append("".join(cells) + (f"   FAILED: {r['error']}" if r.get("error") else ""))
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", type=int, default=30, help="iterations per runtime and mode (default 30)")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--json", metavar="FILE", help="write all samples and medians to FILE")
    ap.add_argument("--only", default="pyrt-runc,runc,crun", help="comma-separated runtimes")
    ap.add_argument("--profile", action="store_true", help="profile pyrt-runc run instead of comparing")
    ap.add_argument("--inner-crun", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--work", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.inner_crun:
        inner_crun(a.n, a.warmup, a.work)
        return 0
    names = [x for x in a.only.split(",") if x]
    work = tempfile.mkdtemp(prefix="pyrt-bench-")
    if a.profile:
        try:
            profile(min(a.n, 10), work)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return 0
    try:
        results = measure([x for x in names if x != "crun"], a.n, a.warmup, work)
        if "crun" in names:
            results.update(measure_crun_isolated(a.n, a.warmup, work))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results = {k: results[k] for k in names if k in results}
    print(f"busybox /bin/true bundle, {a.n} iterations (+{a.warmup} warm-up), medians:")
    print(table(results))
    floor = python_floor(a.n)
    print(f"python -I -S -c pass: {floor:.2f} ms (the floor under any pyrt-runc call; "
          f"create+start+delete is three calls: {3 * floor:.2f} ms before any work)")
    print("crun: private mount ns with cgroup.controllers hidden, --cgroup-manager=disabled (no cgroup work)")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"n": a.n, "warmup": a.warmup, "python_floor_ms": floor, "results": results}, f, indent=1)
    return 1 if any(r.get("error") for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
