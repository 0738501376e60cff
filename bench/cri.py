#!/usr/bin/env python3
"""The kubelet's CRI sequence through containerd 1.6 with runtime handler `pyrt` (pyrt-runc-fast,
with pyrt-runc's resident helper running) beside handler `runc`, and handler `pyrt-plain`
(pyrt-runc alone) for the record, in one run: medians of each call and the ratio to runc.

    .venv/bin/python bench/cri.py [-n 10] [--warmup 1] [--json results.json]

One iteration, per handler: RunPodSandbox, CreateContainer, StartContainer, ContainerStatus,
ContainerStats, ExecSync (`true`) x EXECS, StopContainer (grace 0: KILL), RemoveContainer,
StopPodSandbox, RemovePodSandbox. The handlers alternate, one iteration each in turn, so drift
hits both alike. containerd, CNI and the images are the test suite's private ones
(tests/support/cri.py: a jail with its own cgroup parent and network namespace).

Where the time goes: two more handlers, `runc-traced` and `pyrt-traced`, run the same sequence
with the runtime behind a wrapper that logs each runtime call's verb, wall time and CPU time; for
each CRI call the table splits the time into the runtime's own calls (verbs listed) and the rest
(containerd, the shim, CNI). The wrapper (the system Python without site, which forks, execs the
runtime and waits for it) adds the same few ms to both, outside what it measures; the medians in
the first table come from the plain handlers. CPU time is the runtime process's own plus that of
the children it reaped (pyrt's stage 1; not the container's init, which outlives `create`): the
machine's load moves it far less than wall time.
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from bench.shim_verbs import compile_pyrt  # noqa: E402
from tests.support.cri import EXTRA_HANDLERS, HANDLERS, CriContainerd  # noqa: E402

# the plain handlers: runc, pyrt (pyrt-runc-fast with the resident helper), pyrt-plain (pyrt-runc)
TIMED = {**HANDLERS, **EXTRA_HANDLERS}

CALLS = ["RunPodSandbox", "CreateContainer", "StartContainer", "ContainerStatus", "ContainerStats",
         "ExecSync", "StopContainer", "RemoveContainer", "StopPodSandbox", "RemovePodSandbox"]
SYSTEM_PYTHON = "/usr/bin/python3"
VERBS = {"create", "start", "state", "kill", "delete", "exec", "ps", "update", "pause", "resume",
         "events", "features"}
# Logs "<verb> <start ns> <end ns> <cpu ms>" of each runtime call; forks rather than execs, so it sees
# the end and the child's rusage. Exit status as a shell reports it (128 + signal).
TRACE_WRAPPER = """#!{python} -IS
import os, sys, time
t0 = time.time_ns()
pid = os.fork()
if pid == 0:
    try:
        os.execv({runtime!r}, [{runtime!r}] + sys.argv[1:])
    finally:
        os._exit(127)
_, status, ru = os.wait4(pid, 0)
t1 = time.time_ns()
verb = next((a for a in sys.argv[1:] if a in {verbs!r}), "-")
with open({log!r}, "a") as f:
    f.write(f"{{verb}} {{t0}} {{t1}} {{(ru.ru_utime + ru.ru_stime) * 1e3:.2f}}\\n")
rc = os.waitstatus_to_exitcode(status)
os._exit(rc if rc >= 0 else 128 - rc)
"""


class Sequence:
    """The CRI calls of one pod with one container, timed call by call."""

    def __init__(self, world: CriContainerd, execs: int):
        self.world, self.execs = world, execs

    def once(self, handler: str, i: int) -> dict[str, list[tuple[float, float]]]:
        """CALL -> [(start, end)] in time.time_ns() units, for one iteration under HANDLER."""
        w, cri = self.world, self.world.cri
        spans = collections.defaultdict(list)

        def timed(name, **fields):
            t = time.time_ns()
            r = cri(name, **fields)
            spans[name].append((t, time.time_ns()))
            return r

        config = w.sandbox_config(f"bench-{handler}-{i}")
        os.makedirs(config["log_directory"])
        pod = timed("RunPodSandbox", config=config, runtime_handler=handler).pod_sandbox_id
        ccfg = {"metadata": {"name": "c"}, "image": {"image": w.image}, "command": ["sleep", "300"],
                "log_path": "c.log"}
        cid = timed("CreateContainer", pod_sandbox_id=pod, config=ccfg, sandbox_config=config).container_id
        timed("StartContainer", container_id=cid)
        timed("ContainerStatus", container_id=cid)
        timed("ContainerStats", container_id=cid)
        for _ in range(self.execs):
            r = timed("ExecSync", container_id=cid, cmd=["true"], timeout=30)
            if r.exit_code != 0:
                raise RuntimeError(f"ExecSync true under {handler}: exit {r.exit_code}: {r.stderr!r}")
        timed("StopContainer", container_id=cid, timeout=0)
        timed("RemoveContainer", container_id=cid)
        timed("StopPodSandbox", pod_sandbox_id=pod)
        timed("RemovePodSandbox", pod_sandbox_id=pod)
        w.remove_pod_cgroup(config)
        return spans


def ms(ns: float) -> float:
    return ns / 1e6


def python_floor() -> float:
    """ms of the venv's interpreter doing nothing (-I -S): what every pyrt-runc call pays first."""
    t = time.time_ns()
    subprocess.run([os.path.join(REPO, ".venv", "bin", "python"), "-I", "-S", "-c", "pass"], check=True)
    return ms(time.time_ns() - t)


def run(n: int, warmup: int, execs: int, work: str) -> dict:
    wrappers, logs = {}, {}
    for name, binary in HANDLERS.items():
        logs[name] = os.path.join(work, f"{name}.calls")
        wrappers[f"{name}-traced"] = path = os.path.join(work, f"{name}-traced")
        with open(path, "w") as f:
            f.write(TRACE_WRAPPER.format(python=SYSTEM_PYTHON, runtime=binary, log=logs[name], verbs=VERBS))
        os.chmod(path, 0o755)
    world = CriContainerd({**HANDLERS, **wrappers})
    try:
        world.import_images()
        seq = Sequence(world, execs)
        samples = {h: collections.defaultdict(list) for h in TIMED}
        floor = []
        for i in range(warmup + n):
            for h in TIMED:
                spans = seq.once(h, i)
                if i >= warmup:
                    for call, ss in spans.items():
                        samples[h][call] += [ms(b - a) for a, b in ss]
            floor.append(python_floor())
        # The traced handlers: fewer rounds, only for the split.
        split = {h: collections.defaultdict(lambda: {"total": [], "runtime": [], "verbs": collections.Counter()})
                 for h in HANDLERS}
        verb_ms = {h: collections.defaultdict(list) for h in HANDLERS}
        verb_cpu = {h: collections.defaultdict(list) for h in HANDLERS}
        helper_cpu = collections.defaultdict(list)     # pyrt's verbs run by the helper's forks
        for i in range(max(1, n // 2)):
            for h in HANDLERS:
                open(logs[h], "w").close()
                before = len(world.helper_log())
                spans = seq.once(f"{h}-traced", i)
                for line in world.helper_log()[before:]:     # `served VERB (N ms CPU)`
                    if line.startswith("served ") and line.endswith(" ms CPU)"):
                        verb, cpu = line[len("served "):-len(" ms CPU)")].split(" (")
                        helper_cpu[verb].append(float(cpu))
                with open(logs[h]) as f:
                    rows = [line.split() for line in f]
                rcalls = [(v, int(a), int(b)) for v, a, b, _ in (r for r in rows if len(r) == 4)]
                for v, a, b, cpu in (r for r in rows if len(r) == 4):
                    verb_ms[h][v].append(ms(int(b) - int(a)))
                    verb_cpu[h][v].append(float(cpu))
                for call, ss in spans.items():
                    for a, b in ss:
                        inside = [(v, s, e) for v, s, e in rcalls if s >= a and e <= b]
                        d = split[h][call]
                        d["total"].append(ms(b - a))
                        d["runtime"].append(ms(sum(e - s for _, s, e in inside)))
                        d["verbs"].update(v for v, _, _ in inside)
                        d["n"] = d.get("n", 0) + 1
    finally:
        problems = world.close()
    medians = {h: {c: statistics.median(v) for c, v in s.items()} for h, s in samples.items()}
    where = {h: {c: {"total_ms": statistics.median(d["total"]), "runtime_ms": statistics.median(d["runtime"]),
                     "runtime_calls": {v: k / d["n"] for v, k in sorted(d["verbs"].items())}}
                 for c, d in s.items()} for h, s in split.items()}
    verbs = {h: {v: statistics.median(d) for v, d in sorted(vm.items())} for h, vm in verb_ms.items()}
    verbs_cpu = {h: {v: statistics.median(d) for v, d in sorted(vm.items())} for h, vm in verb_cpu.items()}
    return {"n": n, "execs": execs, "samples": {h: dict(s) for h, s in samples.items()},
            "median_ms": medians, "where": where, "runtime_verb_ms": verbs, "runtime_verb_cpu_ms": verbs_cpu,
            "helper_cpu_ms": {v: statistics.median(c) for v, c in sorted(helper_cpu.items())},
            "python_floor_ms": statistics.median(floor), "left_behind": problems,
            "load": " ".join(f"{x:.1f}" for x in os.getloadavg())}


def report(res: dict) -> str:
    m, w = res["median_ms"], res["where"]
    out = [f"CRI calls through containerd 1.6, median ms of {res['n']} pods per handler "
           f"(ExecSync: {res['n'] * res['execs']} calls)",
           "(pyrt: pyrt-runc-fast with the resident helper; pyrt-plain: pyrt-runc alone)",
           f"{'call':<18}{'runc':>9}{'pyrt':>9}{'x runc':>9}{'pyrt-plain':>12}{'x runc':>9}"]
    total = {h: sum(m[h][c] * (res["execs"] if c == "ExecSync" else 1) for c in CALLS) for h in m}
    for c, row in [(c, {h: m[h][c] for h in m}) for c in CALLS] + [("whole sequence", total)]:
        out.append(f"{c:<18}{row['runc']:>9.1f}{row['pyrt']:>9.1f}{row['pyrt'] / row['runc']:>8.2f}x"
                   f"{row['pyrt-plain']:>12.1f}{row['pyrt-plain'] / row['runc']:>8.2f}x")
    out += ["", "where the time goes (traced handlers): median ms of the call = runtime calls + the rest",
            f"{'call':<18}{'runc: rt + rest':>18}{'pyrt: rt + rest':>18}  runtime calls per CRI call"]
    for c in CALLS:
        cells = []
        for h in ("runc", "pyrt"):
            d = w[h][c]
            cells.append(f"{d['runtime_ms']:>7.1f} + {d['total_ms'] - d['runtime_ms']:>6.1f}")
        verbs = ", ".join(f"{v} x{k:g}" for v, k in w["pyrt"][c]["runtime_calls"].items()) or "-"
        out.append(f"{c:<18}{cells[0]:>18}{cells[1]:>18}  {verbs}")
    v, cpu = res["runtime_verb_ms"], res["runtime_verb_cpu_ms"]
    out += ["", "one runtime call, as the shim makes it (traced; median ms of wall time, then of CPU time)",
            f"{'verb':<10}{'runc':>8}{'pyrt-runc':>10}{'x runc':>8}{'cpu runc':>11}{'pyrt-runc':>10}{'x runc':>8}"]
    helper = res.get("helper_cpu_ms", {})
    for verb in sorted(set(v["runc"]) & set(v["pyrt"])):
        r, p, rc, pc = v["runc"][verb], v["pyrt"][verb], cpu["runc"][verb], cpu["pyrt"][verb]
        pc += helper.get(verb, 0.0)     # the front door's own + the helper's fork that ran it
        out.append(f"{verb:<10}{r:>8.1f}{p:>10.1f}{p / r:>7.2f}x{rc:>11.1f}{pc:>10.1f}{pc / rc if rc else 0:>7.2f}x")
    if helper:
        out.append("(pyrt's CPU of " + ", ".join(f"{k}" for k in helper) + ": pyrt-runc-fast's own plus the "
                   "median CPU of the helper's fork that ran the verb: " +
                   ", ".join(f"{k} {c:.1f} ms" for k, c in helper.items()) + ")")
    out.append(f"(python -I -S -c pass, the interpreter's start-up that every pyrt-runc call pays first: "
               f"{res['python_floor_ms']:.1f} ms; load average {res.get('load', '?')})")
    return "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", type=int, default=10, help="pods per handler (default 10)")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--execs", type=int, default=3, help="ExecSync calls per pod (default 3)")
    ap.add_argument("--json", metavar="FILE", help="write samples and medians to FILE")
    args = ap.parse_args()
    compile_pyrt()
    with tempfile.TemporaryDirectory(prefix="pyrt-bench-cri-") as work:
        res = run(args.n, args.warmup, args.execs, work)
    print(report(res))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1)
    if res["left_behind"]:
        print(f"bench/cri.py: left behind: {res['left_behind']}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
