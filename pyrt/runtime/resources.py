"""Runtime verbs that drive an existing container's cgroup: pause, resume, update, events.

Each loads the container, checks its live status under the container lock, and calls the cgroup
Manager recorded in state.json at create time.
"""
from __future__ import annotations

import json
import re
import sys
import time

from pyrt.errors import CgroupError, ConfigError, StateError, UsageError
from pyrt.runtime.container import Container
from pyrt.runtime.state import Status
from pyrt.spec.resources import Resources


def _manager(c: Container):
    mgr = c.cgroup_manager()
    if mgr is None:
        raise CgroupError(f"container {c.id!r} has no cgroup")
    return mgr


class _Op:
    """`with _Op(root, id, "pause", "can_pause") as mgr:` - loads the container, takes its lock,
    refuses a status the verb does not allow, and yields its cgroup Manager."""

    def __init__(self, root: str, container_id: str, verb: str, allowed: str):
        self.c = Container.load(root, container_id)
        self.verb, self.allowed = verb, allowed
        self.lock = self.c.lock()

    def __enter__(self):
        self.lock.__enter__()
        try:
            status = self.c.status()
            mgr = _manager(self.c)
            if not getattr(status, self.allowed)():
                raise StateError(f"cannot {self.verb} a container that is {status.value}")
            return mgr
        except BaseException:
            self.lock.__exit__(None, None, None)
            raise

    def __exit__(self, *exc):
        self.lock.__exit__(*exc)


def pause(root: str, container_id: str) -> None:
    with _Op(root, container_id, "pause", "can_pause") as mgr:
        mgr.freeze()


def resume(root: str, container_id: str) -> None:
    with _Op(root, container_id, "resume", "can_resume") as mgr:
        mgr.thaw()


def update(root: str, container_id: str, resources: Resources) -> None:
    """Write the fields RESOURCES sets to the live cgroup; the rest stays as it is."""
    with _Op(root, container_id, "update", "can_update") as mgr:
        mgr.set(resources)


def oom_killed(root: str, container_id: str) -> bool:
    """Whether the kernel OOM-killed a process of the container (for OOMKilled / exit 137).
    Ask before `delete`, which removes the cgroup and its counters."""
    return _manager(Container.load(root, container_id)).oom_killed()


def stats_event(root: str, container_id: str) -> dict:
    c = Container.load(root, container_id)
    return _stats_event(c)


def _stats_event(c: Container) -> dict:
    return {"type": "stats", "id": c.id, "data": _manager(c).stats()}


def events(root: str, container_id: str, interval: float = 5.0, out=None,
           poll: float = 0.1) -> None:
    """Print a stats event every INTERVAL seconds and an oom event whenever the kernel OOM-kills a
    process of the container, one JSON object a line (as runc), until the container stops."""
    out = out or sys.stdout
    c = Container.load(root, container_id)
    if c.status() is Status.STOPPED:
        raise StateError(f"container {container_id!r} is not running")
    mgr = _manager(c)
    ooms = mgr.oom_count()
    next_stats = time.monotonic()
    import gc
    gc.enable()  # pyrt-runc's main() disables it for short calls; this one runs until stopped
    while True:
        now = time.monotonic()
        if now >= next_stats:
            _emit(out, _stats_event(c))
            next_stats = now + interval
        count = mgr.oom_count()
        if count > ooms:
            ooms = count
            _emit(out, {"type": "oom", "id": c.id})
        if c.status() is Status.STOPPED:
            return
        time.sleep(min(poll, max(0.0, next_stats - time.monotonic())))


def _emit(out, event: dict) -> None:
    out.write(json.dumps(event, separators=(",", ":")) + "\n")
    out.flush()


_SIZE = re.compile(r"^(-?\d+)\s*([kmgtp]?)i?b?$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


def parse_size(flag: str, text: str) -> int:
    """'32m', '1G', '1048576' or '-1' -> bytes (binary units, as runc's --memory)."""
    m = _SIZE.match(text.strip())
    if not m:
        raise UsageError(f"{flag}: invalid size {text!r} (use bytes or a k/m/g suffix)")
    n = int(m.group(1))
    return n if n == -1 else n * _UNITS[m.group(2).lower()]


def resources_from_update_args(resources_file: str | None = None, *, memory=None, memory_swap=None,
                               memory_reservation=None, kernel_memory=None, cpu_shares=None,
                               cpu_quota=None, cpu_period=None, cpu_rt_period=None,
                               cpu_rt_runtime=None, cpuset_cpus=None, cpuset_mems=None,
                               pids_limit=None, blkio_weight=None, stdin=None) -> Resources:
    """`update`'s -r file (or '-' for stdin), or else its flags, validated as config."""
    d: dict = {}
    flags = (memory, memory_swap, memory_reservation, kernel_memory, cpu_shares, cpu_quota, cpu_period,
             cpu_rt_period, cpu_rt_runtime, cpuset_cpus, cpuset_mems, pids_limit, blkio_weight)
    if resources_file and any(f is not None for f in flags):
        # runc silently ignores the flags then; refusing says what will happen.
        raise UsageError("--resources cannot be combined with other update flags")
    if resources_file:
        try:
            if resources_file == "-":
                d = json.load(stdin or sys.stdin)
            else:
                with open(resources_file) as f:
                    d = json.load(f)
        except OSError as e:
            raise UsageError(f"--resources: cannot read {resources_file}: {e.strerror}") from None
        except ValueError as e:
            raise ConfigError(f"{resources_file}: not valid JSON: {e}") from None
        if not isinstance(d, dict):
            raise ConfigError(f"{resources_file}: expected a JSON object of linux.resources")
    mem = dict(d.get("memory") or {})
    cpu = dict(d.get("cpu") or {})
    for key, flag, value in (("limit", "--memory", memory), ("swap", "--memory-swap", memory_swap),
                             ("reservation", "--memory-reservation", memory_reservation),
                             ("kernel", "--kernel-memory", kernel_memory)):
        if value is not None:
            mem[key] = parse_size(flag, value)
    for key, value in (("shares", cpu_shares), ("quota", cpu_quota), ("period", cpu_period),
                       ("realtimePeriod", cpu_rt_period), ("realtimeRuntime", cpu_rt_runtime),
                       ("cpus", cpuset_cpus), ("mems", cpuset_mems)):
        if value is not None:
            cpu[key] = value
    if mem:
        d["memory"] = mem
    if cpu:
        d["cpu"] = cpu
    if pids_limit is not None:
        d["pids"] = {**(d.get("pids") or {}), "limit": pids_limit}
    if blkio_weight is not None:
        d["blockIO"] = {**(d.get("blockIO") or {}), "weight": blkio_weight}
    return Resources.from_dict(d, path="resources")


_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h)?$")
_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, None: 1}


def parse_interval(text: str) -> float:
    """A Go-style duration as runc's --interval takes it: '5s', '500ms', '1m' (bare: seconds)."""
    m = _DURATION.match(text.strip())
    if not m or float(m.group(1)) <= 0:
        raise UsageError(f"--interval: invalid duration {text!r} (e.g. 5s, 500ms)")
    return float(m.group(1)) * _SECONDS[m.group(2)]
