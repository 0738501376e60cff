"""The OCI linux.resources model: frozen records (pyrt.record), parsed and validated once at the edge.

Every field is optional: None means "not set", so the same model serves `create` (the whole
config) and `update` (only the fields the user named). JSON keys follow the runtime-spec
(camelCase); attribute names are snake_case.
"""
from __future__ import annotations

from pyrt.errors import ConfigError
from pyrt.spec import fields
from pyrt.record import Record, field, field_names, is_record, replace

_where, _obj, _int, _bool, _str, _list = (fields.where, fields.obj, fields.integer, fields.boolean,
                                          fields.string, fields.array)


_PATTERNS: dict = {}


def _matches(pattern: str, text: str) -> bool:
    """re.match with the pattern compiled on first use: `re` (and the `enum` it imports) costs
    ~3 ms of start-up, and most configs never reach these checks."""
    rx = _PATTERNS.get(pattern)
    if rx is None:
        import re
        rx = _PATTERNS[pattern] = re.compile(pattern)
    return rx.match(text) is not None


_CPULIST = r"^\s*$|^\d+(-\d+)?(,\d+(-\d+)?)*$"


def parse_cpu_list(text: str) -> set[int]:
    """'0-2,5' -> {0, 1, 2, 5}; raises ValueError on bad syntax or a reversed range."""
    text = text.strip()
    if not _matches(_CPULIST, text):
        raise ValueError(f"bad list syntax {text!r}")
    out: set[int] = set()
    for part in filter(None, text.split(",")):
        lo, _, hi = part.partition("-")
        a, b = int(lo), int(hi or lo)
        if b < a:
            raise ValueError(f"reversed range {part!r}")
        out.update(range(a, b + 1))
    return out


def _cpulist(d: dict, key: str, path: str) -> str | None:
    v = _str(d, key, path)
    if v is not None:
        try:
            parse_cpu_list(v)
        except ValueError as e:
            raise ConfigError(f"{_where(path, key)}: {e}") from None
    return v


class _Model(Record):
    """to_dict() back to runtime-spec JSON, omitting unset fields."""

    _json: dict[str, str] = {}

    def to_dict(self) -> dict:
        out = {}
        for name in field_names(self):
            v = getattr(self, name)
            if v is None or v == () or v == {}:
                continue
            key = self._json.get(name, name)
            if isinstance(v, tuple):
                v = [x.to_dict() if isinstance(x, _Model) else x for x in v]
            elif isinstance(v, _Model):
                v = v.to_dict()
                if not v:
                    continue
            out[key] = v
        return out


class Memory(_Model):
    limit: int | None = None
    reservation: int | None = None
    swap: int | None = None           # memory+swap, as in cgroup v1 (runtime-spec semantics)
    kernel: int | None = None         # deprecated by the kernel; accepted, not applied
    kernel_tcp: int | None = None
    swappiness: int | None = None
    disable_oom_killer: bool | None = None
    use_hierarchy: bool | None = None
    check_before_update: bool | None = None

    _json = {"kernel_tcp": "kernelTCP", "disable_oom_killer": "disableOOMKiller",
             "use_hierarchy": "useHierarchy", "check_before_update": "checkBeforeUpdate"}

    @classmethod
    def from_dict(cls, d, path="memory") -> Memory:
        d = _obj(d, path)
        m = cls(
            limit=_int(d, "limit", path, lo=-1),
            reservation=_int(d, "reservation", path, lo=-1),
            swap=_int(d, "swap", path, lo=-1),
            kernel=_int(d, "kernel", path, lo=-1),
            kernel_tcp=_int(d, "kernelTCP", path, lo=-1),
            swappiness=_int(d, "swappiness", path, lo=0, hi=100),
            disable_oom_killer=_bool(d, "disableOOMKiller", path),
            use_hierarchy=_bool(d, "useHierarchy", path),
            check_before_update=_bool(d, "checkBeforeUpdate", path),
        )
        if m.limit not in (None, -1) and m.swap not in (None, 0, -1) and m.swap < m.limit:
            raise ConfigError(f"{path}.swap: memory+swap limit {m.swap} is below the memory limit {m.limit}")
        return m


class CPU(_Model):
    shares: int | None = None
    quota: int | None = None
    burst: int | None = None
    period: int | None = None
    realtime_runtime: int | None = None
    realtime_period: int | None = None
    cpus: str | None = None
    mems: str | None = None
    idle: int | None = None

    _json = {"realtime_runtime": "realtimeRuntime", "realtime_period": "realtimePeriod"}

    @classmethod
    def from_dict(cls, d, path="cpu") -> CPU:
        d = _obj(d, path)
        return cls(
            shares=_int(d, "shares", path, lo=0),
            quota=_int(d, "quota", path, lo=-1),
            burst=_int(d, "burst", path, lo=0),
            period=_int(d, "period", path, lo=0),
            realtime_runtime=_int(d, "realtimeRuntime", path, lo=-1),
            realtime_period=_int(d, "realtimePeriod", path, lo=0),
            cpus=_cpulist(d, "cpus", path),
            mems=_cpulist(d, "mems", path),
            idle=_int(d, "idle", path, lo=0, hi=1),
        )


class Pids(_Model):
    limit: int | None = None   # 0: unset, negative: unlimited (runc's reading of the spec)

    @classmethod
    def from_dict(cls, d, path="pids") -> Pids:
        d = _obj(d, path)
        return cls(limit=_int(d, "limit", path))


class WeightDevice(_Model):
    major: int
    minor: int
    weight: int | None = None
    leaf_weight: int | None = None

    _json = {"leaf_weight": "leafWeight"}

    @classmethod
    def from_dict(cls, d, path) -> WeightDevice:
        d = _obj(d, path)
        major, minor = _device_numbers(d, path)
        return cls(major, minor, _int(d, "weight", path, lo=10, hi=1000),
                   _int(d, "leafWeight", path, lo=10, hi=1000))


class ThrottleDevice(_Model):
    major: int
    minor: int
    rate: int

    @classmethod
    def from_dict(cls, d, path) -> ThrottleDevice:
        d = _obj(d, path)
        major, minor = _device_numbers(d, path)
        rate = _int(d, "rate", path, lo=0)
        if rate is None:
            raise ConfigError(f"{path}.rate: required")
        return cls(major, minor, rate)


def _device_numbers(d: dict, path: str) -> tuple[int, int]:
    major, minor = _int(d, "major", path, lo=0), _int(d, "minor", path, lo=0)
    if major is None or minor is None:
        raise ConfigError(f"{path}: major and minor are required")
    return major, minor


class BlockIO(_Model):
    weight: int | None = None
    leaf_weight: int | None = None
    weight_device: tuple[WeightDevice, ...] = ()
    throttle_read_bps_device: tuple[ThrottleDevice, ...] = ()
    throttle_write_bps_device: tuple[ThrottleDevice, ...] = ()
    throttle_read_iops_device: tuple[ThrottleDevice, ...] = ()
    throttle_write_iops_device: tuple[ThrottleDevice, ...] = ()

    _json = {"leaf_weight": "leafWeight", "weight_device": "weightDevice",
             "throttle_read_bps_device": "throttleReadBpsDevice",
             "throttle_write_bps_device": "throttleWriteBpsDevice",
             "throttle_read_iops_device": "throttleReadIOPSDevice",
             "throttle_write_iops_device": "throttleWriteIOPSDevice"}

    @classmethod
    def from_dict(cls, d, path="blockIO") -> BlockIO:
        d = _obj(d, path)

        def throttles(key):
            return tuple(ThrottleDevice.from_dict(x, f"{path}.{key}[{i}]")
                         for i, x in enumerate(_list(d, key, path)))

        return cls(
            weight=_int(d, "weight", path, lo=10, hi=1000),
            leaf_weight=_int(d, "leafWeight", path, lo=10, hi=1000),
            weight_device=tuple(WeightDevice.from_dict(x, f"{path}.weightDevice[{i}]")
                                for i, x in enumerate(_list(d, "weightDevice", path))),
            throttle_read_bps_device=throttles("throttleReadBpsDevice"),
            throttle_write_bps_device=throttles("throttleWriteBpsDevice"),
            throttle_read_iops_device=throttles("throttleReadIOPSDevice"),
            throttle_write_iops_device=throttles("throttleWriteIOPSDevice"),
        )


_PAGE_SIZE = r"^(\d+)(KB|MB|GB|TB|PB)$"


class HugepageLimit(_Model):
    page_size: str
    limit: int

    _json = {"page_size": "pageSize"}

    @classmethod
    def from_dict(cls, d, path) -> HugepageLimit:
        d = _obj(d, path)
        size = _str(d, "pageSize", path)
        if size is None or not _matches(_PAGE_SIZE, size):
            raise ConfigError(f"{path}.pageSize: expected a size like 2MB or 1GB, got {size!r}")
        limit = _int(d, "limit", path, lo=0)
        if limit is None:
            raise ConfigError(f"{path}.limit: required")
        return cls(size, limit)


class DeviceRule(_Model):
    allow: bool
    type: str = "a"             # a (all), c, b
    major: int | None = None    # None: any (*)
    minor: int | None = None
    access: str = "rwm"

    @classmethod
    def from_dict(cls, d, path) -> DeviceRule:
        d = _obj(d, path)
        allow = _bool(d, "allow", path)
        if allow is None:
            raise ConfigError(f"{path}.allow: required")
        typ = _str(d, "type", path) or "a"
        if typ not in ("a", "c", "b"):
            raise ConfigError(f"{path}.type: expected a, c or b, got {typ!r}")
        access = _str(d, "access", path)
        access = "rwm" if access is None or access == "" else access
        if not set(access) <= set("rwm"):
            raise ConfigError(f"{path}.access: expected letters from rwm, got {access!r}")
        major, minor = _int(d, "major", path), _int(d, "minor", path)
        # runc: -1 means "any", like an absent number.
        return cls(allow, typ, None if major in (None, -1) else major,
                   None if minor in (None, -1) else minor, access)


class Network(_Model):
    class_id: int | None = None
    priorities: tuple[tuple[str, int], ...] = ()

    _json = {"class_id": "classID"}

    @classmethod
    def from_dict(cls, d, path="network") -> Network:
        d = _obj(d, path)
        prios = []
        for i, p in enumerate(_list(d, "priorities", path)):
            p = _obj(p, f"{path}.priorities[{i}]")
            name, prio = _str(p, "name", path), _int(p, "priority", path, lo=0)
            if not name or prio is None:
                raise ConfigError(f"{path}.priorities[{i}]: name and priority are required")
            prios.append((name, prio))
        return cls(_int(d, "classID", path, lo=0), tuple(prios))

    def to_dict(self) -> dict:
        out = {}
        if self.class_id is not None:
            out["classID"] = self.class_id
        if self.priorities:
            out["priorities"] = [{"name": n, "priority": p} for n, p in self.priorities]
        return out


_UNIFIED_KEY = r"^[a-z0-9_]+\.[A-Za-z0-9_.]+$"


class Resources(_Model):
    memory: Memory = field(default_factory=Memory)
    cpu: CPU = field(default_factory=CPU)
    pids: Pids = field(default_factory=Pids)
    block_io: BlockIO = field(default_factory=BlockIO)
    hugepage_limits: tuple[HugepageLimit, ...] = ()
    devices: tuple[DeviceRule, ...] = ()
    network: Network = field(default_factory=Network)
    unified: dict = field(default_factory=dict)   # raw cgroup v2 "file": "value"

    _json = {"block_io": "blockIO", "hugepage_limits": "hugepageLimits"}

    @classmethod
    def from_dict(cls, d: dict | None, path: str = "linux.resources") -> Resources:
        d = _obj(d, path)
        unified = _obj(d.get("unified"), f"{path}.unified")
        for k, v in unified.items():
            if not _matches(_UNIFIED_KEY, k) or ".." in k:
                raise ConfigError(f"{path}.unified: {k!r} is not a cgroup v2 file name")
            if not isinstance(v, str):
                raise ConfigError(f"{path}.unified.{k}: expected a string value, got {v!r}")
        return cls(
            memory=Memory.from_dict(d.get("memory"), f"{path}.memory"),
            cpu=CPU.from_dict(d.get("cpu"), f"{path}.cpu"),
            pids=Pids.from_dict(d.get("pids"), f"{path}.pids"),
            block_io=BlockIO.from_dict(d.get("blockIO"), f"{path}.blockIO"),
            hugepage_limits=tuple(HugepageLimit.from_dict(x, f"{path}.hugepageLimits[{i}]")
                                  for i, x in enumerate(_list(d, "hugepageLimits", path))),
            devices=tuple(DeviceRule.from_dict(x, f"{path}.devices[{i}]")
                          for i, x in enumerate(_list(d, "devices", path))),
            network=Network.from_dict(d.get("network"), f"{path}.network"),
            unified=dict(unified),
        )

    def merged(self, other: Resources) -> Resources:
        """SELF with every field OTHER sets laid over it (what `update` persists)."""
        def lay(base, top):
            if not is_record(base):
                return top if top not in (None, (), {}) else base
            return replace(base, **{
                name: lay(getattr(base, name), getattr(top, name)) for name in field_names(base)})
        out = lay(self, other)
        return replace(out, unified={**self.unified, **other.unified})

    def allowing_device_nodes(self, nodes) -> Resources:
        """SELF plus an rwm allow rule for each (type, major, minor) device node of the config's
        linux.devices, as runc adds them, so a deny-all rule does not lock out the config's own
        devices. Types other than c/u/b (fifos) need no rule."""
        extra = tuple(DeviceRule(True, "c" if t == "u" else t, major, minor, "rwm")
                      for t, major, minor in nodes if t in ("c", "u", "b"))
        return replace(self, devices=self.devices + extra) if self.devices else self
