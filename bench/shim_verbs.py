#!/usr/bin/env python3
"""Each runtime verb as containerd's runc shim calls it, pyrt-runc beside runc, interleaved in one
run: medians of wall time and of CPU time (the verb's process and the children it reaped).

    .venv/bin/python bench/shim_verbs.py [-n 10] [--also NAME=/path/to/pyrt-runc ...]

Per round and runtime, on a fresh busybox container (`sleep`): create, start, state, exec
(`true`, --detach, as ExecSync), kill 9, then once the init is gone kill --all 9, delete and
delete --force: the calls of StartContainer, ExecSync and StopContainer (docs/kubernetes.md), with
the shim's global flags (--root, --log, --log-format json). No containerd here, so the numbers are
the runtime's alone; CPU time is what the machine's load moves least. --also adds another build
(e.g. main's .venv/bin/pyrt-runc) to compare before and after in the same run.
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
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from tests.support.bundle import PYRT_RUNC, RUNC, base_config, make_bundle  # noqa: E402

def compile_pyrt() -> None:
    """Fresh .pyc files for pyrt, as `make install` leaves them: with PYTHONDONTWRITEBYTECODE set
    (as on these VMs) a module edited since would be compiled again on every call (a module like
    pyrt/runtime/launch.py costs ~10 M instructions), and the bench would measure the compiler."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", os.path.join(REPO, "pyrt")],
                   check=True, stdout=subprocess.DEVNULL)


VERBS = ["create", "start", "state", "exec", "kill 9", "kill --all 9", "delete", "delete --force"]


def call(argv: list[str], err) -> tuple[float, float]:
    """(wall ms, CPU ms) of ARGV; stderr to the file ERR (the container keeps create's stdio)."""
    err.seek(0)
    err.truncate()
    t = time.perf_counter()
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    wall = (time.perf_counter() - t) * 1e3
    if p.returncode != 0:
        err.seek(0)
        raise RuntimeError(f"{' '.join(argv)}: exit {p.returncode}: {err.read().decode()[-300:]}")
    return wall, (ru.ru_utime + ru.ru_stime) * 1e3


class Runtime:
    def __init__(self, name: str, binary: str, work: str, process: str):
        self.name, self.binary, self.process = name, binary, process
        self.root = os.path.join(work, f"root-{name}")
        self.bundle = os.path.join(work, f"bundle-{name}")
        cfg = base_config(["/bin/sleep", "300"])
        cfg["linux"]["cgroupsPath"] = f"pyrt-bench-verbs-{os.getpid()}-{name}"
        make_bundle(self.bundle, cfg)
        self.samples: dict[str, list[tuple[float, float]]] = {v: [] for v in VERBS}

    def argv(self, *args: str) -> list[str]:
        return [self.binary, "--root", self.root, "--log", os.path.join(self.bundle, "log.json"),
                "--log-format", "json", *args]

    def state(self, cid: str) -> str:
        out = subprocess.run(self.argv("state", cid), capture_output=True, text=True, timeout=30).stdout
        return json.loads(out)["status"] if out else ""

    def round(self, cid: str, err) -> None:
        b = self.bundle
        steps = [("create", ("create", "--bundle", b, "--pid-file", f"{b}/init.pid", cid)),
                 ("start", ("start", cid)), ("state", ("state", cid)),
                 ("exec", ("exec", "--process", self.process, "--detach", "--pid-file", f"{b}/exec.pid", cid)),
                 ("kill 9", ("kill", cid, "9"))]
        for verb, args in steps:
            self.samples[verb].append(call(self.argv(*args), err))
        deadline = time.monotonic() + 30
        while self.state(cid) != "stopped":
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name}: {cid} did not stop after kill 9")
            time.sleep(0.01)
        for verb, args in [("kill --all 9", ("kill", "--all", cid, "9")), ("delete", ("delete", cid)),
                           ("delete --force", ("delete", "--force", cid))]:
            self.samples[verb].append(call(self.argv(*args), err))

    def cleanup(self) -> None:
        for cid in os.listdir(self.root) if os.path.isdir(self.root) else []:
            subprocess.run(self.argv("delete", "--force", cid), capture_output=True, timeout=30)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", type=int, default=10, help="rounds (default 10)")
    ap.add_argument("--also", action="append", default=[], metavar="NAME=PATH", help="another runtime")
    args = ap.parse_args()
    compile_pyrt()
    binaries = {"runc": RUNC, "pyrt-runc": PYRT_RUNC}
    binaries.update(a.split("=", 1) for a in args.also)
    work = tempfile.mkdtemp(prefix="pyrt-bench-verbs-")
    runtimes = []
    try:
        process = os.path.join(work, "process.json")
        with open(process, "w") as f:
            json.dump({**base_config(["true"])["process"], "args": ["true"]}, f)
        runtimes = [Runtime(n, b, work, process) for n, b in binaries.items()]
        with open(os.path.join(work, "err"), "w+b") as err:
            for i in range(args.n):
                for rt in runtimes:
                    rt.round(f"v{i}", err)
    finally:
        for rt in runtimes:
            rt.cleanup()
        shutil.rmtree(work, ignore_errors=True)
    ref = runtimes[0]
    head = f"{'verb':<16}" + "".join(f"{rt.name + ' wall':>20}{'cpu':>7}" for rt in runtimes)
    print(f"runtime verbs as the shim calls them, medians of {args.n} (ms; x = ratio to runc)\n{head}")
    for verb in VERBS:
        rw = statistics.median(s[0] for s in ref.samples[verb])
        rc = statistics.median(s[1] for s in ref.samples[verb])
        row = f"{verb:<16}"
        for rt in runtimes:
            w = statistics.median(s[0] for s in rt.samples[verb])
            c = statistics.median(s[1] for s in rt.samples[verb])
            row += f"{w:>11.1f} {w / rw:>5.2f}x {c:>6.1f} {c / rc:>4.2f}x" if rt is not ref else f"{w:>20.1f}{c:>7.1f}"
        print(row)
    print("load average: " + " ".join(f"{x:.1f}" for x in os.getloadavg()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
