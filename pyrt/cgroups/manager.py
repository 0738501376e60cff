"""The cgroup Manager: one container's cgroup across every mounted hierarchy.

Each controller is driven where the host runs it: a v1 hierarchy if one is mounted for it, else
the cgroup2 tree if the controller is available there, else the request fails naming the
controller. Process grouping, freeze and kill use the v2 tree whenever it is mounted (its core
files need no controller), so a hybrid host gets cgroup.freeze / cgroup.kill and v1 limits.
"""
from __future__ import annotations

import errno
import os
import time

# the C module behind `signal` (plain ints): signal.py's enums cost ~3 ms of `pyrt-runc` start-up
import _signal as signal

# Only what freeze/thaw/frozen/pids/kill need is imported up front: `pyrt-runc state` reopens
# the manager to tell paused from running and must stay fast. Limits and stats load their modules.
from pyrt import trace
from pyrt.cgroups import freezer, fs
from pyrt.errors import CgroupError, ConfigError, quote

TYPE_CHECKING = False   # typing itself costs ~4 ms of start-up
if TYPE_CHECKING:
    from pyrt.cgroups.layout import Layout
    from pyrt.spec.resources import Resources

# v1 names; the v2 tree calls blkio "io".
_V2_NAME = {"blkio": "io"}
_RMDIR_TIMEOUT = 2.0
# Indirection so unit tests can stand in for the kernel, which fills a new cgroup dir with files.
_mkdir = os.mkdir


def requested(r: Resources) -> set[str]:
    """The controllers (v1 names) a Resources asks something of."""
    out = set()
    m, c, b = r.memory, r.cpu, r.block_io
    if any(v not in (None, 0) for v in (m.limit, m.reservation, m.swap, m.kernel_tcp)) \
            or m.disable_oom_killer or m.swappiness is not None:
        out.add("memory")
    if c.shares or c.quota or c.period or c.burst is not None or c.idle is not None \
            or c.realtime_period or c.realtime_runtime:
        out.add("cpu")
    if c.cpus or c.mems:
        out.add("cpuset")
    if r.pids.limit:
        out.add("pids")
    if b.weight or b.leaf_weight or b.weight_device or b.throttle_read_bps_device \
            or b.throttle_write_bps_device or b.throttle_read_iops_device or b.throttle_write_iops_device:
        out.add("blkio")
    if r.hugepage_limits:
        out.add("hugetlb")
    if r.devices:
        out.add("devices")
    if r.network.class_id is not None:
        out.add("net_cls")
    if r.network.priorities:
        out.add("net_prio")
    return out


class Manager:
    def __init__(self, *, path: str, mode: str, v2_dir: str | None, v2_root: str | None,
                 v2_controllers, v1_dirs: dict[str, str], v1_roots: dict[str, str],
                 created=()):
        self.path = path
        self.mode = mode
        self.v2 = v2_dir
        self.v2_root = v2_root
        self.v2_controllers = set(v2_controllers)
        self.v1 = dict(v1_dirs)
        self.v1_roots = dict(v1_roots)
        self.created = list(created)     # dirs we made, in creation order; destroy removes only these

    # --- where things live -------------------------------------------------------------------

    def _route(self, ctrl: str) -> tuple[str, str] | None:
        if ctrl in self.v1:
            return "v1", self.v1[ctrl]
        if self.v2 and _V2_NAME.get(ctrl, ctrl) in self.v2_controllers:
            return "v2", self.v2
        return None

    def _dirs(self) -> list[tuple[str, str]]:
        """(dir, hierarchy root) of every place the container's cgroup lives, without repeats."""
        seen, out = set(), []
        for ctrl, d in self.v1.items():
            if d not in seen:
                seen.add(d)
                out.append((d, self.v1_roots[ctrl]))
        if self.v2:
            out.append((self.v2, self.v2_root))
        return out

    def _group_dir(self) -> str | None:
        """The dir whose cgroup.procs lists the container's processes."""
        if self.v2:
            return self.v2
        for ctrl in ("freezer", "memory", "pids", "cpu", "devices"):
            if ctrl in self.v1:
                return self.v1[ctrl]
        return next(iter(self.v1.values()), None)

    # --- lifecycle ---------------------------------------------------------------------------

    def _mkdirs(self, target: str, root: str) -> list[str]:
        made = []
        rel = os.path.relpath(target, root)
        cur = root
        for part in rel.split(os.sep):
            cur = os.path.join(cur, part)
            try:
                _mkdir(cur)
                if trace.on:
                    trace.step(f"cgroup: mkdir {cur}")
            except FileExistsError:
                continue
            except OSError as e:
                raise CgroupError(f"cannot create cgroup {cur}: {e.strerror}") from None
            self.created.append(cur)
            made.append(cur)
        return made

    def apply(self, pid: int) -> None:
        """Create the cgroup in every hierarchy and move PID into it."""
        self.create()
        for d, _ in self._dirs():
            fs.write(d, "cgroup.procs", pid)

    def create(self) -> None:
        """Create the cgroup in every hierarchy (a new cpuset gets its parent's cpus and mems)."""
        for d, root in self._dirs():
            made = self._mkdirs(d, root)
            if d == self.v1.get("cpuset") and d != root:
                from pyrt.cgroups import v1
                # every level, top down, not only those made here: a parent another pyrt made a
                # moment ago (parallel `pyrt run -d` under one --cgroup-parent) may not have its
                # cpus and mems yet, and a child copied from it would refuse tasks (ENOSPC).
                # Levels that have them (all above our own cgroup) are only read.
                cur = root
                for part in os.path.relpath(d, root).split(os.sep):
                    cur = os.path.join(cur, part)
                    v1.copy_cpuset_from_parent(cur, os.path.dirname(cur))
                del made

    def v1_dirs(self) -> list[str]:
        """The created cgroup's directory in each v1 hierarchy, once each."""
        return [d for d, _ in self._dirs() if d != self.v2]

    def set(self, r: Resources) -> None:
        """Write every limit R sets; fields left None are left alone (so `update` can reuse it)."""
        wanted = requested(r)
        v2_needed = set()
        plan = []
        for ctrl in sorted(wanted):
            where = self._route(ctrl)
            if where is None:
                if ctrl == "devices" and self.v2:
                    where = ("v2", self.v2)     # the eBPF device filter needs no controller
                    plan.append((ctrl, where))
                    continue
                raise CgroupError(f"{ctrl}: controller is not available on this host",
                                  f"needed for linux.resources ({self.mode} cgroups)")
            plan.append((ctrl, where))
            if where[0] == "v2":
                v2_needed.add(_V2_NAME.get(ctrl, ctrl))
        for key in r.unified:
            ctrl = fs.controller_of(key)
            if not self.v2:
                raise CgroupError(f"{key}: linux.resources.unified needs cgroup v2, this host has only v1")
            if ctrl != "cgroup" and ctrl not in self.v2_controllers:
                where = "runs on cgroup v1 here" if ctrl in self.v1 else "is not available"
                raise CgroupError(f"{key}: controller {ctrl} {where}; cannot set it through unified")
            if ctrl != "cgroup":
                v2_needed.add(ctrl)
        if v2_needed:
            self._enable_v2(v2_needed)
        setters = _setters()
        order = ("cpuset", "cpu", "memory", "pids", "blkio", "hugetlb", "devices", "net_cls", "net_prio")
        for ctrl, (ver, d) in sorted(plan, key=lambda p: order.index(p[0])):
            setters[ctrl][ver](self, d, r)
        if r.unified:
            from pyrt.cgroups import v2
            v2.set_unified(self.v2, r.unified)

    def _enable_v2(self, ctrls: set[str]) -> None:
        """Enable CTRLS in subtree_control from the nearest existing ancestor down to our parent."""
        chain = []
        d = os.path.dirname(self.v2)
        while True:
            chain.append(d)
            if d not in self.created or d == self.v2_root:
                break
            d = os.path.dirname(d)
        for d in reversed(chain):
            have = set(fs.read(d, "cgroup.subtree_control").split())
            if ctrls <= have:
                continue
            if d == self.v2_root:
                # The hierarchy root is the host's, never ours to change.
                raise CgroupError(f"cgroup.subtree_control: {' '.join(sorted(ctrls - have))} not enabled "
                                  f"in the root cgroup {d}", "enable (delegate) it there first")
            from pyrt.cgroups import v2
            v2.enable_in_subtree(d, ctrls)

    def _check_cpuset(self, ver: str, d: str, r: Resources) -> None:
        from pyrt.spec.resources import parse_cpu_list
        parent = os.path.dirname(d)
        for want, ours, v1_file, v2_file in (
                (r.cpu.cpus, "cpuset.cpus", "cpuset.effective_cpus", "cpuset.cpus.effective"),
                (r.cpu.mems, "cpuset.mems", "cpuset.effective_mems", "cpuset.mems.effective")):
            if not want:
                continue
            try:
                avail_text = fs.read(parent, v1_file if ver == "v1" else v2_file)
            except FileNotFoundError:
                continue
            avail = parse_cpu_list(avail_text)
            outside = sorted(parse_cpu_list(want) - avail)
            if outside:
                what = "CPUs" if ours == "cpuset.cpus" else "memory nodes"
                raise CgroupError(f"{ours}: {','.join(map(str, outside))} is outside the host's {what} "
                                  f"{avail_text}")

    def _freezer(self):
        return freezer.choose(self.v2, self.v1)

    def _need_freezer(self):
        f = self._freezer()
        if f is None:
            raise CgroupError("freezer: no freezer controller and no cgroup.freeze on this host")
        return f

    def freeze(self) -> None:
        freeze, _, _, d = self._need_freezer()
        freeze(d)

    def thaw(self) -> None:
        _, thaw, _, d = self._need_freezer()
        thaw(d)

    def frozen(self) -> bool:
        return freezer.is_frozen(self.v2, self.v1)

    def exists(self) -> bool:
        """Whether the container's cgroup (the directory listing its processes) is there."""
        d = self._group_dir()
        return bool(d) and os.path.isdir(d)

    def planned(self) -> dict:
        """to_state(), with `created` listing every directory create() would make now (those
        missing on each path): recorded before the first mkdir, so a runtime killed half-way
        through create() leaves a record of everything it may have made."""
        missing = list(self.created)
        for d, root in self._dirs():
            parts = os.path.relpath(d, root).split(os.sep)
            for i in range(1, len(parts) + 1):
                cur = os.path.join(root, *parts[:i])
                if cur not in missing and not os.path.isdir(cur):
                    missing.append(cur)
        return dict(self.to_state(), created=missing)

    def pids(self) -> list[int]:
        d = self._group_dir()
        return fs.read_procs(d) if d else []

    def kill_all(self, sig: int = signal.SIGKILL) -> None:
        """Signal every process in the cgroup; the group is frozen meanwhile so none escapes by forking."""
        if sig == signal.SIGKILL and self.v2 and fs.exists(self.v2, "cgroup.kill"):
            fs.write(self.v2, "cgroup.kill", 1)
            freezer._wait(lambda: not self.pids(), timeout=_RMDIR_TIMEOUT)
            return
        was_frozen = self.frozen()
        can_freeze = self._freezer() is not None
        if can_freeze and not was_frozen:
            self.freeze()
        try:
            for pid in self.pids():
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
        finally:
            if can_freeze and not was_frozen:
                self.thaw()

    def destroy(self) -> None:
        """Remove every dir we created (leaves first); wait briefly for exiting processes."""
        leaves = {d for d, _ in self._dirs()}
        failed = []
        for d in reversed(self.created):
            if not os.path.isdir(d):
                continue
            try:
                _rmdir(d, wait=d in leaves)
            except OSError as e:
                if d in leaves:
                    failed.append((d, e))
                # An intermediate dir still holding another container's cgroup stays.
        self.created = [d for d in self.created if os.path.isdir(d)]
        if failed:
            d, e = failed[0]
            left = fs.read_procs(d)
            raise CgroupError(f"cannot remove cgroup {d}: {e.strerror}"
                              + (f" (processes still inside: {left})" if left else ""))

    # --- numbers -----------------------------------------------------------------------------

    def stats(self) -> dict:
        from pyrt.cgroups import stats as stats_mod
        out = {}
        cpu = self._route("cpu")
        if (cpu and cpu[0] == "v1") or "cpuacct" in self.v1:
            out["cpu"] = stats_mod.cpu_v1(self.v1.get("cpu"), self.v1.get("cpuacct"))
        elif self.v2:
            out["cpu"] = stats_mod.cpu_v2(self.v2)
        mem = self._route("memory")
        if mem:
            out["memory"] = (stats_mod.memory_v1 if mem[0] == "v1" else stats_mod.memory_v2)(mem[1])
        pids = self._route("pids")
        if pids:
            out["pids"] = stats_mod.pids(pids[1])
        blk = self._route("blkio")
        if blk:
            out["blkio"] = (stats_mod.blkio_v1 if blk[0] == "v1" else stats_mod.io_v2)(blk[1])
        huge = self._route("hugetlb")
        if huge:
            sizes = (stats_mod.hugetlb_v1 if huge[0] == "v1" else stats_mod.hugetlb_v2)(huge[1])
            if sizes:
                out["hugetlb"] = sizes
        return out

    def oom_count(self) -> int:
        mem = self._route("memory")
        if not mem:
            return 0
        if mem[0] == "v1":
            from pyrt.cgroups import v1
            return v1.oom_kill_count(mem[1])
        return fs.read_keyed(mem[1], "memory.events").get("oom_kill", 0)

    def oom_killed(self) -> bool:
        return self.oom_count() > 0

    # --- persistence -------------------------------------------------------------------------

    def to_state(self) -> dict:
        return {"path": self.path, "mode": self.mode, "v2": self.v2, "v2_root": self.v2_root,
                "v2_controllers": sorted(self.v2_controllers), "v1": self.v1,
                "v1_roots": self.v1_roots, "created": self.created}


_SETTERS: dict = {}


def _setters() -> dict:
    """controller -> {"v1": fn, "v2": fn}, each fn(manager, dir, resources); built on first use."""
    if not _SETTERS:
        _SETTERS.update(_build_setters())
    return _SETTERS


def _build_setters() -> dict:
    from pyrt.cgroups import devfilter, devices, v1, v2

    def cpuset(ver):
        def set_(m: Manager, d: str, r: Resources) -> None:
            m._check_cpuset(ver, d, r)
            (v1.set_cpuset if ver == "v1" else v2.set_cpuset)(d, r.cpu)
        return set_

    def no_v2(ctrl):
        def fail(m, d, r):
            raise CgroupError(f"{ctrl}: there is no cgroup v2 equivalent")
        return fail

    return {
        "cpuset": {"v1": cpuset("v1"), "v2": cpuset("v2")},
        "cpu": {"v1": lambda m, d, r: v1.set_cpu(d, r.cpu), "v2": lambda m, d, r: v2.set_cpu(d, r.cpu)},
        "memory": {"v1": lambda m, d, r: v1.set_memory(d, r.memory),
                   "v2": lambda m, d, r: v2.set_memory(d, r.memory)},
        "pids": {"v1": lambda m, d, r: v1.set_pids(d, r.pids), "v2": lambda m, d, r: v2.set_pids(d, r.pids)},
        "blkio": {"v1": lambda m, d, r: v1.set_blkio(d, r.block_io),
                  "v2": lambda m, d, r: v2.set_io(d, r.block_io)},
        "hugetlb": {"v1": lambda m, d, r: v1.set_hugetlb(d, r.hugepage_limits),
                    "v2": lambda m, d, r: v2.set_hugetlb(d, r.hugepage_limits)},
        "devices": {"v1": lambda m, d, r: v1.set_devices(d, devices.effective_rules(r.devices)),
                    "v2": lambda m, d, r: devfilter.apply(d, devices.effective_rules(r.devices))},
        "net_cls": {"v1": lambda m, d, r: v1.set_net_cls(d, r.network), "v2": no_v2("net_cls")},
        "net_prio": {"v1": lambda m, d, r: v1.set_net_prio(d, r.network), "v2": no_v2("net_prio")},
    }


def _rmdir(d: str, wait: bool) -> None:
    deadline = time.monotonic() + (_RMDIR_TIMEOUT if wait else 0)
    delay = 0.001
    while True:
        try:
            os.rmdir(d)
            if trace.on:
                trace.step(f"cgroup: rmdir {d}")
            return
        except FileNotFoundError:
            return
        except OSError as e:
            # EBUSY: processes still exiting (or child cgroups); worth a short wait for a leaf.
            if e.errno != errno.EBUSY or time.monotonic() >= deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


def _check_path(cgroups_path: str) -> None:
    if "\0" in cgroups_path:
        raise ConfigError("linux.cgroupsPath: contains a NUL character")
    if any(part == ".." for part in cgroups_path.split("/")):
        raise ConfigError(f"linux.cgroupsPath: {quote(cgroups_path)} must not contain '..'")


def open_manager(cgroups_path: str | None, container_id: str, layout: Layout | None = None) -> Manager:
    """Resolve CGROUPS_PATH (None: "pyrt/<id>", relative) on this host's layout; creates nothing."""
    from pyrt.cgroups import layout as layout_mod, v2
    path = cgroups_path or f"pyrt/{container_id}"
    _check_path(path)
    lay = layout or layout_mod.detect()
    v1_dirs, v1_roots = {}, {}
    for ctrl, h in lay.v1.items():
        d = h.dir_for(path)
        if os.path.normpath(d) == os.path.normpath(h.mountpoint):
            raise CgroupError(f"cgroupsPath {path!r} names the root of the {ctrl} hierarchy")
        name = ctrl.removeprefix("name=")
        v1_dirs[name], v1_roots[name] = d, h.mountpoint
    v2_dir = v2_root = None
    v2_ctrls: set[str] = set()
    if lay.v2:
        v2_dir, v2_root = lay.v2.dir_for(path), lay.v2.mountpoint
        if os.path.normpath(v2_dir) == os.path.normpath(v2_root):
            raise CgroupError(f"cgroupsPath {path!r} names the root of the cgroup2 hierarchy")
        # What a new cgroup can get: the nearest existing ancestor's cgroup.controllers.
        d = v2_dir
        while not os.path.isdir(d) and d != v2_root:
            d = os.path.dirname(d)
        v2_ctrls = v2.enabled_controllers(d)
    if not v1_dirs and not v2_dir:
        raise CgroupError("no cgroup hierarchy is mounted")
    return Manager(path=path, mode=lay.mode, v2_dir=v2_dir, v2_root=v2_root, v2_controllers=v2_ctrls,
                   v1_dirs=v1_dirs, v1_roots=v1_roots)


def manager_from_state(d: dict) -> Manager:
    return Manager(path=d["path"], mode=d["mode"], v2_dir=d.get("v2"), v2_root=d.get("v2_root"),
                   v2_controllers=d.get("v2_controllers", ()), v1_dirs=d.get("v1", {}),
                   v1_roots=d.get("v1_roots", {}), created=d.get("created", ()))
