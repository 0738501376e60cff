"""`pyrt-runc` verbs that drive a container's cgroup: pause, resume, update, events.

Registered by pyrt.cli.pyrt_runc from COMMANDS. Arguments in, calls to pyrt.runtime.resources out.
"""
from __future__ import annotations

import json

import click


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
    from pyrt.runtime import resources
    resources.pause(_root(ctx), container_id)


@click.command()
@click.argument("container_id", metavar="CONTAINER_ID")
@click.pass_context
def resume(ctx, container_id):
    """Resume all processes of a paused container."""
    from pyrt.runtime import resources
    resources.resume(_root(ctx), container_id)


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
    from pyrt.runtime import resources
    if l3_cache_schema is not None or mem_bw_schema is not None:
        from pyrt.errors import CgroupError
        raise CgroupError("intel_rdt: Intel RDT (resctrl) is not supported by pyrt-runc")
    r = resources.resources_from_update_args(resources_file, **flags)
    resources.update(_root(ctx), container_id, r)


@click.command()
@click.argument("container_id", metavar="CONTAINER_ID")
@click.option("--interval", default="5s", help="Seconds between stats events (e.g. 5s, 500ms).")
@click.option("--stats", "stats_only", is_flag=True, help="Print one stats event and exit.")
@click.pass_context
def events(ctx, container_id, interval, stats_only):
    """Print container events (stats, oom) as JSON lines."""
    from pyrt.runtime import resources
    if stats_only:
        click.echo(json.dumps(resources.stats_event(_root(ctx), container_id), separators=(",", ":")))
        return
    resources.events(_root(ctx), container_id, resources.parse_interval(interval))


COMMANDS = [pause, resume, update, events]
