"""Runtime verbs that drive an existing container's cgroup: pause, resume, update, events, stats
and the OOM verdict.

Each loads the container, checks its live status under the container lock, and calls the cgroup
Manager recorded in state.json at create time. (Named for what every verb here goes through, the
container's cgroup; it was runtime/resources.py, a second `resources` beside spec/resources.py,
the config's linux.resources model.)
"""
from __future__ import annotations

import json
import sys
import time

from pyrt.errors import CgroupError, StateError
from pyrt.runtime.container import Container
from pyrt.runtime.state import Status


def _manager(c: Container):
    mgr = c.cgroup_manager()
    if mgr is None:
        raise CgroupError(f"container {c.id!r} has no cgroup")
    return mgr


class _Op:
    """`with _Op(root, id, "pause") as mgr:` - loads the container, takes its lock (refusing a
    status the verb does not allow: Container.transition), and yields its cgroup Manager."""

    def __init__(self, root: str, container_id: str, verb: str):
        self.c = Container.load(root, container_id)
        self.transition = self.c.transition(verb)

    def __enter__(self):
        mgr = _manager(self.c)  # from state.json: no lock needed; "no cgroup" comes first
        self.transition.__enter__()
        return mgr

    def __exit__(self, *exc):
        self.transition.__exit__(*exc)


def pause(root: str, container_id: str) -> None:
    with _Op(root, container_id, "pause") as mgr:
        mgr.freeze()


def resume(root: str, container_id: str) -> None:
    with _Op(root, container_id, "resume") as mgr:
        mgr.thaw()


def update(root: str, container_id: str, resources) -> None:
    """Write the fields RESOURCES (pyrt.spec.resources.Resources) sets to the live cgroup; the
    rest stays as it is."""
    with _Op(root, container_id, "update") as mgr:
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
