"""cgroup v1 controllers: each function takes its controller's cgroup directory and one part of
the model. Write order and read-back checks follow runc 1.1, so both leave the same values."""
from __future__ import annotations


from pyrt.cgroups import devices, fs
from pyrt.cgroups.common import set_cpuset, set_pids  # noqa: F401 (part of this driver)
from pyrt.errors import CgroupError
from pyrt.spec.resources import CPU, BlockIO, DeviceRule, HugepageLimit, Memory, Network

LIMIT = "memory.limit_in_bytes"
MEMSW = "memory.memsw.limit_in_bytes"


def set_memory(cgdir: str, m: Memory) -> None:
    limit, swap = m.limit or 0, m.swap or 0
    has_memsw = fs.exists(cgdir, MEMSW)
    if limit == -1 and swap == 0 and has_memsw:
        swap = -1   # "unlimited memory" with no swap named: unlimited memory+swap too
    if swap and not has_memsw:
        if swap != -1:
            raise CgroupError(f"{MEMSW}: memory+swap limit {swap} requested but the kernel has no "
                              "swap accounting")
        swap = 0
    # memory.limit must stay <= memsw.limit at every step: raise memsw first when growing.
    swap_first = False
    if limit and swap:
        current = fs.read_int(cgdir, LIMIT)
        swap_first = swap == -1 or current < swap
    if swap_first:
        fs.write(cgdir, MEMSW, swap)
    if limit:
        fs.write(cgdir, LIMIT, limit)
    if swap and not swap_first:
        fs.write(cgdir, MEMSW, swap)
    if m.reservation:
        fs.write(cgdir, "memory.soft_limit_in_bytes", m.reservation)
    if m.kernel:
        fs.debug("memory.kernel is deprecated by the kernel; ignored (as runc 1.1)")
    if m.kernel_tcp:
        fs.write(cgdir, "memory.kmem.tcp.limit_in_bytes", m.kernel_tcp)
    if m.disable_oom_killer:
        fs.write(cgdir, "memory.oom_control", 1)
    if m.swappiness is not None:
        fs.write(cgdir, "memory.swappiness", m.swappiness)


def set_cpu(cgdir: str, c: CPU) -> None:
    if c.shares:
        fs.write(cgdir, "cpu.shares", c.shares)
        # The kernel clamps silently; read back to refuse an out-of-range value instead.
        got = fs.read_int(cgdir, "cpu.shares")
        if got != c.shares:
            bound = "maximum" if c.shares > got else "minimum"
            raise CgroupError(f"cpu.shares: {c.shares} is out of range (the {bound} is {got})")
    pending_period = False
    if c.period:
        try:
            fs.write(cgdir, "cpu.cfs_period_us", c.period)
        except CgroupError:
            # A shorter period can be refused until the quota is lowered: retry after the quota.
            if not c.quota:
                raise
            pending_period = True
    if c.quota:
        fs.write(cgdir, "cpu.cfs_quota_us", c.quota)
        if pending_period:
            fs.write(cgdir, "cpu.cfs_period_us", c.period)
    if c.burst is not None:
        fs.write(cgdir, "cpu.cfs_burst_us", c.burst)
    if c.idle is not None:
        fs.write(cgdir, "cpu.idle", c.idle)
    if c.realtime_period:
        fs.write(cgdir, "cpu.rt_period_us", c.realtime_period)
    if c.realtime_runtime:
        fs.write(cgdir, "cpu.rt_runtime_us", c.realtime_runtime)



def set_blkio(cgdir: str, b: BlockIO) -> None:
    # Kernels with BFQ and without CFQ have only the blkio.bfq.* weight files.
    prefix = "blkio." if fs.exists(cgdir, "blkio.weight") else "blkio.bfq."
    if b.weight:
        fs.write(cgdir, prefix + "weight", b.weight)
    if b.leaf_weight:
        fs.write(cgdir, "blkio.leaf_weight", b.leaf_weight)
    for d in b.weight_device:
        if d.weight:
            fs.write(cgdir, prefix + "weight_device", f"{d.major}:{d.minor} {d.weight}")
        if d.leaf_weight:
            fs.write(cgdir, "blkio.leaf_weight_device", f"{d.major}:{d.minor} {d.leaf_weight}")
    for name, devs in (("read_bps_device", b.throttle_read_bps_device),
                       ("write_bps_device", b.throttle_write_bps_device),
                       ("read_iops_device", b.throttle_read_iops_device),
                       ("write_iops_device", b.throttle_write_iops_device)):
        for d in devs:
            fs.write(cgdir, "blkio.throttle." + name, f"{d.major}:{d.minor} {d.rate}")


def set_hugetlb(cgdir: str, limits: tuple[HugepageLimit, ...]) -> None:
    for h in limits:
        fs.write(cgdir, f"hugetlb.{h.page_size}.limit_in_bytes", h.limit)


def set_devices(cgdir: str, rules: tuple[DeviceRule, ...]) -> None:
    for rule in rules:
        fs.write(cgdir, "devices.allow" if rule.allow else "devices.deny", devices.v1_line(rule))


def set_net_cls(cgdir: str, n: Network) -> None:
    if n.class_id is not None:
        fs.write(cgdir, "net_cls.classid", n.class_id)


def set_net_prio(cgdir: str, n: Network) -> None:
    for name, prio in n.priorities:
        fs.write(cgdir, "net_prio.ifpriomap", f"{name} {prio}")


def copy_cpuset_from_parent(cgdir: str, parent: str) -> None:
    """A new v1 cpuset starts empty and cannot take tasks: inherit the parent's cpus and mems."""
    for name in ("cpuset.cpus", "cpuset.mems"):
        if not fs.read(cgdir, name):
            fs.write(cgdir, name, fs.read(parent, name))


def oom_kill_count(cgdir: str) -> int:
    return fs.read_keyed(cgdir, "memory.oom_control").get("oom_kill", 0)
