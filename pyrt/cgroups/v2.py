"""cgroup v2 controllers: each function takes the cgroup directory and one part of the model.

Conversions from the runtime-spec's v1-shaped values follow runc 1.1 (the runc installed here),
so the same config leaves the same files under both runtimes.
"""
from __future__ import annotations


from pyrt.cgroups import fs
from pyrt.cgroups.common import set_cpuset, set_pids  # noqa: F401 (part of this driver)
from pyrt.errors import CgroupError
from pyrt.spec.resources import CPU, BlockIO, HugepageLimit, Memory


def shares_to_weight(shares: int) -> int:
    """cpu.shares [2, 262144] -> cpu.weight [1, 10000], linearly (runc 1.1)."""
    if shares == 0:
        return 0
    return 1 + ((shares - 2) * 9999) // 262142


def blkio_weight_to_io_weight(weight: int) -> int:
    """blkio.weight [10, 1000] -> io.weight [1, 10000], linearly (runc)."""
    if weight == 0:
        return 0
    return 1 + (weight - 10) * 9999 // 990


def swap_max(memory_swap: int | None, memory: int | None) -> int | None:
    """The runtime-spec's memory+swap -> memory.swap.max (swap alone). None: leave alone; -1: max."""
    swap = memory_swap or 0        # 0 means unset, as in runc
    mem = memory or 0
    if mem == -1 and swap == 0:
        # v1 compatibility: "unlimited memory" with no swap named means unlimited swap too.
        return -1
    if swap in (0, -1):
        return None if swap == 0 else -1
    if mem in (0, -1):
        raise CgroupError(f"memory.swap.max: cannot set swap ({swap}) without a memory limit")
    if swap < mem:
        raise CgroupError(f"memory.swap.max: memory+swap {swap} is below the memory limit {mem}")
    return swap - mem


def _max(v: int) -> str:
    return "max" if v == -1 else str(v)


def set_memory(cgdir: str, m: Memory) -> None:
    # swap first: runc's order, so a lowered memory.max never meets a stale swap limit
    swap = swap_max(m.swap, m.limit)
    if swap is not None:
        if fs.exists(cgdir, "memory.swap.max"):
            fs.write(cgdir, "memory.swap.max", _max(swap))
        elif swap not in (-1, 0):
            # Without swap accounting "unlimited" and "none" already hold (runc ignores them too).
            raise CgroupError(f"memory.swap.max: swap limit {swap} requested but the kernel has no "
                              "swap accounting")
    if m.limit not in (None, 0):
        fs.write(cgdir, "memory.max", _max(m.limit))
    if m.reservation not in (None, 0):
        fs.write(cgdir, "memory.low", _max(m.reservation))
    if m.disable_oom_killer:
        fs.debug("memory.disableOOMKiller has no cgroup v2 equivalent; ignored (as runc)")
    if m.swappiness is not None:
        fs.debug("memory.swappiness has no cgroup v2 equivalent; ignored (as runc)")
    if m.kernel or m.kernel_tcp:
        fs.debug("memory.kernel/kernelTCP are not supported on cgroup v2; ignored (as runc)")


def set_cpu(cgdir: str, c: CPU) -> None:
    if c.realtime_runtime or c.realtime_period:
        raise CgroupError("cpu.rt_runtime_us: realtime cpu limits are not supported on cgroup v2")
    if c.idle is not None:
        fs.write(cgdir, "cpu.idle", c.idle)
    if c.shares:
        fs.write(cgdir, "cpu.weight", shares_to_weight(c.shares))
    if c.quota or c.period:
        quota = "max" if not c.quota or c.quota < 0 else str(c.quota)
        fs.write(cgdir, "cpu.max", f"{quota} {c.period}" if c.period else quota)
    if c.burst is not None:
        fs.write(cgdir, "cpu.max.burst", c.burst)



def set_io(cgdir: str, b: BlockIO) -> None:
    # BFQ takes the v1 scale as is; the generic io.weight needs converting.
    bfq = fs.exists(cgdir, "io.bfq.weight")
    if b.weight:
        if bfq:
            # On Linux 6.1, writing the default BFQ weight drops every per-device weight; put back
            # the ones this call does not set, so `update` of the default keeps them (as runc,
            # which re-applies all stored resources).
            given = {f"{d.major}:{d.minor}" for d in b.weight_device}
            kept = [line for line in fs.read(cgdir, "io.bfq.weight").splitlines()
                    if not line.startswith("default") and line.split()[0] not in given]
            fs.write(cgdir, "io.bfq.weight", b.weight)
            for line in kept:
                fs.write(cgdir, "io.bfq.weight", line)
        else:
            fs.write(cgdir, "io.weight", f"default {blkio_weight_to_io_weight(b.weight)}")
    for d in b.weight_device:
        if d.weight:
            if bfq:
                fs.write(cgdir, "io.bfq.weight", f"{d.major}:{d.minor} {d.weight}")
            else:
                fs.write(cgdir, "io.weight", f"{d.major}:{d.minor} {blkio_weight_to_io_weight(d.weight)}")
    if b.leaf_weight or any(d.leaf_weight for d in b.weight_device):
        fs.debug("blockIO.leafWeight has no cgroup v2 equivalent; ignored (as runc)")
    for key, devs in (("rbps", b.throttle_read_bps_device), ("wbps", b.throttle_write_bps_device),
                      ("riops", b.throttle_read_iops_device), ("wiops", b.throttle_write_iops_device)):
        for d in devs:
            fs.write(cgdir, "io.max", f"{d.major}:{d.minor} {key}={d.rate if d.rate else 'max'}")


def set_hugetlb(cgdir: str, limits: tuple[HugepageLimit, ...]) -> None:
    for h in limits:
        fs.write(cgdir, f"hugetlb.{h.page_size}.max", h.limit)


def set_unified(cgdir: str, unified: dict) -> None:
    """linux.resources.unified: raw "file": "value" pairs, written last so they win."""
    for name, value in unified.items():
        if "/" in name:
            raise CgroupError(f"{name}: not a cgroup file name")
        fs.write(cgdir, name, value)


def enabled_controllers(cgdir: str) -> set[str]:
    try:
        return set(fs.read(cgdir, "cgroup.controllers").split())
    except FileNotFoundError:
        return set()


def enable_in_subtree(cgdir: str, controllers: set[str]) -> None:
    """Make CONTROLLERS available to CGDIR's children (cgroup.subtree_control)."""
    try:
        have = set(fs.read(cgdir, "cgroup.subtree_control").split())
    except FileNotFoundError:
        return
    missing = sorted(controllers - have)
    if missing:
        fs.write(cgdir, "cgroup.subtree_control", " ".join("+" + c for c in missing))


def is_populated(cgdir: str) -> bool:
    return fs.read_keyed(cgdir, "cgroup.events").get("populated", 0) == 1
