"""Each isolation step, narrated as it happens: `pyrt-runc --debug` prints one line per step.

pyrt is also for learning how a container is made. With --debug a student sees which namespaces
are made or joined, every mount and where it lands, each cgroup directory and the value written
into each control file, how the process gives up privileges, and what it finally execs. The lines
come from the few places where pyrt talks to the kernel (pyrt.linux.syscalls, the cgroup file
layer, the init's credential and device steps), so nothing is narrated that did not happen.

Off by default and nearly free then: callers test `trace.on` before building a message.
"""

on = False
who = "pyrt-runc"   # the process speaking: pyrt-runc, stage 1, init (the container's), exec


def step(what: str) -> None:
    import logging  # only ever loaded with --debug
    logging.getLogger("pyrt.step").debug(f"[{who}] {what}")


def flags(value: int, names: dict) -> str:
    """'MS_NOSUID|MS_NODEV' for VALUE, from NAMES (name -> bit; multi-bit names are skipped)."""
    out = []
    for name, bit in sorted(names.items(), key=lambda kv: kv[1]):
        if bit and bit & (bit - 1) == 0 and value & bit:
            out.append(name)
            value &= ~bit
    if value:
        out.append(hex(value))
    return "|".join(out) or "0"
