#!/usr/bin/env python3
"""What the escape defences of the init/exec path cost (docs/security.md), measured on their own:
a whole `run` is too noisy on a shared machine to see a fraction of a millisecond.

    .venv/bin/python bench/hardening.py [-n 300]

- steps: stage 1's and the init's added calls (PR_SET_DUMPABLE, close_range twice, two statfs
  checks of /proc, the sealed stub memfd, getcwd), in-process, median of N rounds;
- exec: fork + exec of /bin/true directly vs through the stub in a sealed memfd (the extra
  execve), interleaved, medians of N each.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

from pyrt.linux import hardening


def steps_once() -> float:
    t = time.perf_counter()
    hardening.set_dumpable(False)
    hardening.close_from(1 << 20, [])  # nothing open up there: the syscall's cost alone
    hardening.require_procfs("/proc")
    hardening.require_procfs("/proc")
    stub = hardening.exec_stub()
    os.getcwd()
    hardening.cloexec_from(1 << 20)
    dt = time.perf_counter() - t
    os.close(stub)
    return dt


def fork_exec(via_stub: bool) -> float:
    t = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        try:
            if via_stub:
                os.execve(hardening.exec_stub(), ["-1", "/bin/true", "true"], {})
            os.execve("/bin/true", ["true"], {})
        finally:
            os._exit(127)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=300)
    n = ap.parse_args().n
    dumpable = hardening.dumpable()
    steps = [steps_once() for _ in range(n)]
    hardening.set_dumpable(dumpable)
    direct, stub = [], []
    for _ in range(n):
        direct.append(fork_exec(False))
        stub.append(fork_exec(True))
    ms = lambda xs: statistics.median(xs) * 1000  # noqa: E731
    print(f"added steps (dumpable, close_range x2, statfs x2, stub memfd, getcwd): {ms(steps):.3f} ms")
    print(f"fork+exec /bin/true direct: {ms(direct):.3f} ms, through the stub: {ms(stub):.3f} ms "
          f"(+{ms(stub) - ms(direct):.3f} ms), medians of {n}")
    print(f"load average: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
