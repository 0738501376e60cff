"""`pyrt-runc` verbs that drive a container's cgroup: pause, resume, update, events.

Registered by pyrt.cli.pyrt_runc from COMMANDS. Arguments in (update's sizes and resources file,
events' interval: read here, as runc's flags are), calls to pyrt.runtime.cgroup_ops out.
"""
from __future__ import annotations

import json
import re
import sys

import click

from pyrt.errors import ConfigError, UsageError


def _root(ctx: click.Context) -> str:
    """--root from the pyrt-runc group (its ctx.obj carries it as .root)."""
    obj = ctx.obj
    root = getattr(obj, "root", None) or (obj.get("root") if isinstance(obj, dict) else None)
    if root:
        return root
    from pyrt.runtime.state import DEFAULT_ROOT
    return DEFAULT_ROOT


@click.command()
@click.argument("container_id", metavar="CONTAINER_ID")
@click.pass_context
def pause(ctx, container_id):
    """Suspend all processes of a container (freeze its cgroup)."""
    from pyrt.runtime import cgroup_ops
    cgroup_ops.pause(_root(ctx), container_id)


@click.command()
@click.argument("container_id", metavar="CONTAINER_ID")
@click.pass_context
def resume(ctx, container_id):
    """Resume all processes of a paused container."""
    from pyrt.runtime import cgroup_ops
    cgroup_ops.resume(_root(ctx), container_id)


@click.command()
@click.argument("container_id", metavar="CONTAINER_ID")
@click.option("-r", "--resources", "resources_file", default=None,
              help="JSON file of linux.resources to apply, or '-' for stdin.")
@click.option("--memory", default=None, help="Memory limit (bytes, or with k/m/g suffix).")
@click.option("--memory-swap", default=None, help="Total memory+swap limit; -1 for unlimited.")
@click.option("--memory-reservation", default=None, help="Memory soft limit.")
@click.option("--kernel-memory", default=None, help="Kernel memory limit (deprecated, ignored).")
@click.option("--cpu-share", "--cpu-shares", "cpu_shares", type=int, default=None,
              help="CPU shares (relative weight).")
@click.option("--cpu-quota", type=int, default=None, help="CPU CFS quota in microseconds.")
@click.option("--cpu-period", type=int, default=None, help="CPU CFS period in microseconds.")
@click.option("--cpu-rt-period", type=int, default=None, help="CPU realtime period in microseconds.")
@click.option("--cpu-rt-runtime", type=int, default=None, help="CPU realtime runtime in microseconds.")
@click.option("--cpuset-cpus", default=None, help="CPUs to run on (0-3, 0,1).")
@click.option("--cpuset-mems", default=None, help="Memory nodes to use (0-3, 0,1).")
@click.option("--pids-limit", type=int, default=None, help="Maximum number of pids; -1 for unlimited.")
@click.option("--blkio-weight", type=int, default=None, help="Block IO weight (10-1000).")
@click.option("--l3-cache-schema", default=None, help="Intel RDT L3 schema (not supported).")
@click.option("--mem-bw-schema", default=None, help="Intel RDT memory bandwidth schema (not supported).")
@click.pass_context
def update(ctx, container_id, resources_file, l3_cache_schema, mem_bw_schema, **flags):
    """Update a running container's resource limits."""
    from pyrt.runtime import cgroup_ops
    if l3_cache_schema is not None or mem_bw_schema is not None:
        from pyrt.errors import CgroupError
        raise CgroupError("intel_rdt: Intel RDT (resctrl) is not supported by pyrt-runc")
    r = resources_from_update_args(resources_file, **flags)
    cgroup_ops.update(_root(ctx), container_id, r)


@click.command()
@click.argument("container_id", metavar="CONTAINER_ID")
@click.option("--interval", default="5s", help="Seconds between stats events (e.g. 5s, 500ms).")
@click.option("--stats", "stats_only", is_flag=True, help="Print one stats event and exit.")
@click.pass_context
def events(ctx, container_id, interval, stats_only):
    """Print container events (stats, oom) as JSON lines."""
    from pyrt.runtime import cgroup_ops
    if stats_only:
        click.echo(json.dumps(cgroup_ops.stats_event(_root(ctx), container_id), separators=(",", ":")))
        return
    cgroup_ops.events(_root(ctx), container_id, parse_interval(interval))


COMMANDS = [pause, resume, update, events]


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
                               pids_limit=None, blkio_weight=None, stdin=None):
    """`update`'s -r file (or '-' for stdin), or else its flags, validated as config: a
    pyrt.spec.resources.Resources."""
    from pyrt.spec.resources import Resources
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
