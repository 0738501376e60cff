"""Turning docker-style command-line values into the engine's typed values: sizes, volumes,
mounts, ulimits, env files, times. The CLI's business (the API takes typed values)."""
from __future__ import annotations

import os
import time

from pyrt.engine.errors import InvalidArgument
from pyrt.engine.model import Mount, Ulimit

_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def size(text: str, flag: str) -> int:
    """docker's RAMInBytes: 512, 32m, 1.5g, 10k (binary units; an optional trailing b)."""
    t = text.strip().lower()
    if t.endswith("b") and len(t) > 1 and t[-2] in _UNITS and t[-2] != "b":
        t = t[:-1]
    unit = t[-1] if t and t[-1] in _UNITS else ""
    num = t[:-1] if unit else t
    try:
        value = float(num)
    except ValueError:
        raise InvalidArgument(f"invalid {flag} value {text!r}: use a number with an optional unit (b, k, m, g)") from None
    if value < 0:
        raise InvalidArgument(f"invalid {flag} value {text!r}: it cannot be negative")
    return int(value * _UNITS[unit])


def memory_swap(text: str) -> int:
    return -1 if text.strip() == "-1" else size(text, "--memory-swap")


def cpus(text: str) -> int:
    try:
        value = float(text)
    except ValueError:
        raise InvalidArgument(f"invalid --cpus value {text!r}: use a number such as 0.5 or 2") from None
    if value < 0:
        raise InvalidArgument(f"invalid --cpus value {text!r}: it cannot be negative")
    n = int(round(value * 1e9))
    ncpu = os.cpu_count() or 1
    if n > ncpu * 1_000_000_000:
        raise InvalidArgument(f"invalid --cpus value {text!r}: the host has {ncpu} CPUs")
    return n


def volume(spec: str) -> Mount:
    """-v SOURCE:TARGET[:ro|rw] (SOURCE a host path or a volume name), or -v TARGET (anonymous)."""
    parts = spec.split(":")
    if len(parts) == 1:
        if not parts[0].startswith("/"):
            raise InvalidArgument(f"invalid volume spec {spec!r}: the target must be an absolute path")
        return Mount(type="volume", target=parts[0], source="", anonymous=True)
    if len(parts) > 3 or not parts[0] or not parts[1]:
        raise InvalidArgument(f"invalid volume spec {spec!r}: use SOURCE:TARGET[:ro|rw]")
    src, target = parts[0], parts[1]
    ro = False
    if len(parts) == 3:
        opts = parts[2].split(",")
        for o in opts:
            if o not in ("ro", "rw", "z", "Z"):
                raise InvalidArgument(f"invalid volume option {o!r} in {spec!r}: use ro or rw")
        ro = "ro" in opts
    kind = "bind" if src.startswith("/") or src.startswith(".") else "volume"
    if kind == "bind":
        src = os.path.abspath(src)
    return Mount(type=kind, target=target, source=src, read_only=ro)


def mount(spec: str) -> Mount:
    """--mount type=bind|volume|tmpfs,source=...,target=...[,readonly][,tmpfs-size=..][,tmpfs-mode=..]"""
    fields: dict[str, str] = {}
    for item in spec.split(","):
        k, sep, v = item.partition("=")
        fields[k.strip().lower()] = v if sep else "true"
    kind = fields.pop("type", "volume")
    target = fields.pop("target", None) or fields.pop("destination", None) or fields.pop("dst", None)
    source = fields.pop("source", None) or fields.pop("src", None) or ""
    ro = fields.pop("readonly", fields.pop("ro", "false")) in ("true", "1")
    if not target:
        raise InvalidArgument(f"invalid --mount {spec!r}: target is required")
    opts = []
    if kind == "tmpfs":
        if "tmpfs-size" in fields:
            opts.append(f"size={size(fields.pop('tmpfs-size'), 'tmpfs-size')}")
        if "tmpfs-mode" in fields:
            opts.append(f"mode={fields.pop('tmpfs-mode')}")
    elif kind == "bind":
        if not source:
            raise InvalidArgument(f"invalid --mount {spec!r}: a bind mount needs a source")
        source = os.path.abspath(source)
    elif kind != "volume":
        raise InvalidArgument(f"invalid --mount type {kind!r}: use bind, volume or tmpfs")
    if fields:
        raise InvalidArgument(f"invalid --mount {spec!r}: unknown field {sorted(fields)[0]!r}")
    return Mount(type=kind, target=target, source=source, read_only=ro, options=opts, anonymous=kind == "volume" and not source)


def tmpfs(spec: str) -> Mount:
    """--tmpfs TARGET[:options] (size=64m,mode=1777...)."""
    target, _, opts = spec.partition(":")
    if not target.startswith("/"):
        raise InvalidArgument(f"invalid --tmpfs {spec!r}: the target must be an absolute path")
    return Mount(type="tmpfs", target=target, options=[o for o in opts.split(",") if o])


def publish(specs) -> list:
    """-p SPEC...: pyrt.network.ports.PortBinding values (the grammar is the API's too)."""
    from pyrt.network import ports
    return [b for s in specs for b in ports.parse(s)]


def ulimit(spec: str) -> Ulimit:
    from pyrt.engine.bundle import ULIMITS
    name, sep, values = spec.partition("=")
    if not sep or name not in ULIMITS:
        raise InvalidArgument(f"invalid --ulimit {spec!r}: use NAME=SOFT[:HARD] with NAME one of {', '.join(sorted(ULIMITS))}")
    soft, _, hard = values.partition(":")
    try:
        s = -1 if soft == "-1" else int(soft)
        h = s if not hard else (-1 if hard == "-1" else int(hard))
    except ValueError:
        raise InvalidArgument(f"invalid --ulimit {spec!r}: limits are whole numbers") from None
    s = (1 << 64) - 1 if s < 0 else s
    h = (1 << 64) - 1 if h < 0 else h
    if s > h:
        raise InvalidArgument(f"invalid --ulimit {spec!r}: the soft limit exceeds the hard one")
    return Ulimit(name=name, soft=s, hard=h)


def env_files(paths) -> list[str]:
    out = []
    for p in paths:
        try:
            with open(p) as f:
                for line in f:
                    line = line.strip()
                    if line and not line.startswith("#"):
                        out.append(line)
        except OSError as e:
            raise InvalidArgument(f"--env-file {p}: {e.strerror}") from None
    return out


def labels(items) -> dict[str, str]:
    out = {}
    for item in items:
        k, _, v = item.partition("=")
        if not k:
            raise InvalidArgument(f"invalid label {item!r}: use KEY=VALUE")
        out[k] = v
    return out


def log_opts(items) -> tuple[int, int]:
    max_size, max_file = 0, 1
    for item in items:
        k, sep, v = item.partition("=")
        if k == "max-size" and sep:
            max_size = size(v, "--log-opt max-size")
        elif k == "max-file" and sep and v.isdigit() and int(v) >= 1:
            max_file = int(v)
        else:
            raise InvalidArgument(f"invalid --log-opt {item!r}: use max-size=SIZE or max-file=N")
    return max_size, max_file


def timestamp(text: str | None) -> str | None:
    """--since/--until: RFC 3339, a unix time, or a duration before now (10m, 1h30m, 45s)."""
    if text is None:
        return None
    t = text.strip()
    try:
        secs = float(t)
        return _rfc(secs)
    except ValueError:
        pass
    total, num = 0.0, ""
    units = {"h": 3600, "m": 60, "s": 1}
    for ch in t:
        if ch.isdigit() or ch == ".":
            num += ch
        elif ch in units and num:
            total += float(num) * units[ch]
            num = ""
        else:
            total = -1
            break
    if total >= 0 and not num:
        return _rfc(time.time() - total)
    if len(t) >= 10 and t[4] == "-":
        return t if t.endswith("Z") else t + ("Z" if "T" in t else "T00:00:00Z")
    raise InvalidArgument(f"invalid time {text!r}: use RFC 3339, a unix time or a duration such as 10m")


def _rfc(secs: float) -> str:
    whole = int(secs)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{int((secs - whole) * 1e9):09d}Z"
