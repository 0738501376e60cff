"""An OCI bundle from a container record and its image's config: what docker would run.

The defaults are docker's: its 14 capabilities, masked and read-only /proc and /sys paths, a fresh
/dev with the standard devices only, and --privileged as docker defines it (every capability, no
masks, every device allowed, /sys writable). The result is a plain runtime-spec config.json, so
any runc-compatible runtime can run it (`--runtime runc|crun`).
"""
from __future__ import annotations

import os

from pyrt.engine import users
from pyrt.engine.errors import InvalidArgument
from pyrt.engine.model import ContainerRecord

# docker's default capability set (moby oci/caps/defaults.go)
DEFAULT_CAPS = ("CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
                "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
                "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE")
MASKED_PATHS = ("/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware",
                "/sys/devices/virtual/powercap")
READONLY_PATHS = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")
DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# What docker's device cgroup lets a container use: mknod of anything, the standard char devices.
_DEVICE_RULES = [
    {"allow": False, "access": "rwm"},
    {"allow": True, "type": "c", "access": "m"},
    {"allow": True, "type": "b", "access": "m"},
    *({"allow": True, "type": "c", "major": 1, "minor": n, "access": "rwm"} for n in (3, 5, 7, 8, 9)),
    *({"allow": True, "type": "c", "major": 5, "minor": n, "access": "rwm"} for n in (0, 1, 2)),
    {"allow": True, "type": "c", "major": 136, "access": "rwm"},
    {"allow": True, "type": "c", "major": 10, "minor": 200, "access": "rwm"},
]
ULIMITS = {"core": "RLIMIT_CORE", "cpu": "RLIMIT_CPU", "data": "RLIMIT_DATA", "fsize": "RLIMIT_FSIZE",
           "locks": "RLIMIT_LOCKS", "memlock": "RLIMIT_MEMLOCK", "msgqueue": "RLIMIT_MSGQUEUE",
           "nice": "RLIMIT_NICE", "nofile": "RLIMIT_NOFILE", "nproc": "RLIMIT_NPROC", "rss": "RLIMIT_RSS",
           "rtprio": "RLIMIT_RTPRIO", "rttime": "RLIMIT_RTTIME", "sigpending": "RLIMIT_SIGPENDING",
           "stack": "RLIMIT_STACK", "as": "RLIMIT_AS"}
INIT_PATH = "/dev/init"      # where --init's binary is bound (docker: /sbin/docker-init)


def command(rec: ContainerRecord, image_cfg) -> list[str]:
    """docker's rule: ENTRYPOINT + CMD; --entrypoint replaces the first and drops the image's CMD."""
    c = rec.config
    if c.entrypoint is not None:
        entry = list(c.entrypoint)
        cmd = list(c.cmd)
    else:
        entry = list(image_cfg.entrypoint)
        cmd = list(c.cmd) if c.cmd else list(image_cfg.cmd)
    args = entry + cmd
    if not args:
        raise InvalidArgument("no command specified", "the image has no CMD or ENTRYPOINT: give one")
    return args


def environment(rec: ContainerRecord, image_cfg, hostname: str) -> list[str]:
    env: dict[str, str] = {}
    for e in (*image_cfg.env, f"HOSTNAME={hostname}", *rec.config.env):
        k, sep, v = e.partition("=")
        env[k] = v if sep else os.environ.get(k, "")
    env.setdefault("PATH", DEFAULT_PATH.split("=", 1)[1])
    if rec.config.tty:
        env.setdefault("TERM", "xterm")
    return [f"{k}={v}" for k, v in env.items()]


def capabilities(rec: ContainerRecord) -> list[str]:
    from pyrt.linux.capabilities import bounding_set
    from pyrt.spec.capabilities import CAP_NAMES
    # "all" is all that pyrt itself may give: its own bounding set (a host's root may lack some)
    own = bounding_set()
    known = [name for i, name in enumerate(CAP_NAMES) if i in own]
    if rec.host.privileged:
        return list(known)
    # docker's order: --cap-drop ALL empties the set and --cap-add fills it again; otherwise
    # additions then removals (a cap both added and dropped stays dropped)
    adds = [_cap_name(n) for n in rec.host.cap_add]
    drops = [_cap_name(n) for n in rec.host.cap_drop]
    caps = [] if "ALL" in drops else list(DEFAULT_CAPS)
    for n in adds:
        if n == "ALL":
            caps = list(known)
        elif n not in caps:
            caps.append(n)
    if "ALL" not in drops:
        caps = [c for c in caps if c not in drops]
    return caps


def _cap_name(name: str) -> str:
    from pyrt.spec.capabilities import CAP_NUMBERS
    n = name.upper()
    if n == "ALL":
        return n
    if not n.startswith("CAP_"):
        n = "CAP_" + n
    if n not in CAP_NUMBERS:
        raise InvalidArgument(f"unknown capability: {name!r}")
    return n


def _mount(dest: str, typ: str, src: str, *opts: str) -> dict:
    return {"destination": dest, "type": typ, "source": src, "options": list(opts)}


def mounts(rec: ContainerRecord, cdir: str, volume_path) -> list[dict]:
    h = rec.host
    sys_opts = ("nosuid", "noexec", "nodev") + (() if h.privileged else ("ro",))
    out = [
        _mount("/proc", "proc", "proc", "nosuid", "noexec", "nodev"),
        _mount("/dev", "tmpfs", "tmpfs", "nosuid", "strictatime", "mode=755", "size=65536k"),
        _mount("/dev/pts", "devpts", "devpts", "nosuid", "noexec", "newinstance", "ptmxmode=0666",
               "mode=0620", "gid=5"),
        _mount("/sys", "sysfs", "sysfs", *sys_opts),
        _mount("/sys/fs/cgroup", "cgroup", "cgroup", "nosuid", "noexec", "nodev", "relatime",
               "rw" if h.privileged else "ro"),
        _mount("/dev/mqueue", "mqueue", "mqueue", "nosuid", "noexec", "nodev"),
        _mount("/dev/shm", "tmpfs", "shm", "nosuid", "noexec", "nodev", "mode=1777", "size=65536k"),
    ]
    for name in ("hostname", "hosts", "resolv.conf"):
        out.append(_mount(f"/etc/{name}", "bind", os.path.join(cdir, name), "rbind", "rprivate",
                          "ro" if h.read_only else "rw"))
    if h.init:
        out.append(_mount(INIT_PATH, "bind", init_binary(), "bind", "ro", "nosuid", "nodev"))
    for m in h.mounts:
        rw = "ro" if m.read_only else "rw"
        if m.type == "bind":
            out.append(_mount(m.target, "bind", m.source, "rbind", "rprivate", rw))
        elif m.type == "volume":
            out.append(_mount(m.target, "bind", volume_path(m.source), "rbind", "rprivate", rw))
        elif m.type == "tmpfs":
            out.append(_mount(m.target, "tmpfs", "tmpfs", "nosuid", "nodev", "noexec", rw, *m.options))
        else:
            raise InvalidArgument(f"unknown mount type {m.type!r}")
    return out


def init_binary() -> str:
    """A tiny init for --init: tini (Debian's tini package), statically linked so that it runs in
    any image. It reaps zombies and forwards signals to the command, as docker-init does."""
    for p in ("/usr/bin/tini-static", "/usr/bin/tini"):
        if os.path.exists(p):
            return p
    raise InvalidArgument("--init needs tini (apt install tini)")


def resources(rec: ContainerRecord) -> dict:
    h = rec.host
    r: dict = {"devices": [{"allow": True, "access": "rwm"}] if h.privileged else list(_DEVICE_RULES)}
    mem: dict = {}
    if h.memory:
        mem["limit"] = h.memory
        if h.memory_swap:
            mem["swap"] = h.memory_swap
        else:
            mem["swap"] = 2 * h.memory       # docker: swap as large as the memory limit
    elif h.memory_swap:
        raise InvalidArgument("--memory-swap needs --memory as well")
    if mem:
        r["memory"] = mem
    cpu: dict = {}
    if h.nano_cpus:
        cpu["period"] = 100000
        cpu["quota"] = h.nano_cpus * 100000 // 1_000_000_000
    if h.cpu_shares:
        cpu["shares"] = h.cpu_shares
    if h.cpuset_cpus:
        cpu["cpus"] = h.cpuset_cpus
    if cpu:
        r["cpu"] = cpu
    if h.pids_limit:
        r["pids"] = {"limit": h.pids_limit}
    return r


def generate(rec: ContainerRecord, image_cfg, cdir: str, cgroup_parent: str, volume_path) -> dict:
    """config.json for REC, whose rootfs is CDIR/rootfs (mounted)."""
    c, h = rec.config, rec.host
    rootfs = os.path.join(cdir, "rootfs")
    hostname = c.hostname or (os.uname().nodename if h.network_mode == "host" else rec.id[:12])
    uid, gid, extra_gids, home = users.resolve(rootfs, c.user or image_cfg.user)
    args = command(rec, image_cfg)
    if h.init:
        args = [INIT_PATH, "--", *args]
    caps = capabilities(rec)
    process = {
        "terminal": c.tty,
        "user": {"uid": uid, "gid": gid, **({"additionalGids": extra_gids} if extra_gids else {})},
        "args": args,
        "env": users.home_env(environment(rec, image_cfg, hostname), home),
        "cwd": c.working_dir or image_cfg.working_dir or "/",
        "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
        "noNewPrivileges": h.no_new_privileges,
    }
    if h.ulimits:
        process["rlimits"] = [{"type": ULIMITS[u.name], "soft": u.soft, "hard": u.hard} for u in h.ulimits]
    namespaces = [{"type": t} for t in ("pid", "ipc", "uts", "mount", "cgroup")]
    if h.network_mode != "host":
        namespaces.append({"type": "network"})
    linux: dict = {
        "namespaces": namespaces,
        "cgroupsPath": f"{cgroup_parent.rstrip('/')}/{rec.id}" if cgroup_parent else rec.id,
        "resources": resources(rec),
    }
    if not h.privileged:
        linux["maskedPaths"] = list(MASKED_PATHS)
        linux["readonlyPaths"] = list(READONLY_PATHS)
        seccomp = seccomp_profile(h.seccomp, caps)
        if seccomp is not None:
            linux["seccomp"] = seccomp
    return {
        "ociVersion": "1.0.2",
        "process": process,
        "root": {"path": "rootfs", "readonly": h.read_only},
        "hostname": hostname,
        "mounts": mounts(rec, cdir, volume_path),
        "linux": linux,
        "annotations": {"io.pyrt.name": rec.name, **{f"label.{k}": v for k, v in c.labels.items()}},
    }


def seccomp_profile(which: str, caps=()) -> dict | None:
    """None for unconfined; a profile from a file; pyrt's default (docker's allow-list) otherwise."""
    if which == "unconfined":
        return None
    import json
    if which == "default":
        from pyrt.engine import seccomp_default
        return seccomp_default.profile(caps)
    try:
        with open(which) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        raise InvalidArgument(f"--security-opt seccomp={which}: cannot read the profile: {e}") from None


def etc_files(rec: ContainerRecord, cdir: str, hostname: str) -> None:
    """/etc/hostname, /etc/hosts and /etc/resolv.conf of the container, bind-mounted from CDIR, as
    docker writes them: with --network host the host's hosts and resolv.conf; otherwise localhost
    and its own name (pyrt.engine.networking adds its peers) and the host's resolvers that it can
    reach (pyrt.network.resolvconf)."""
    from pyrt.engine.networking import HOSTS_BASE
    from pyrt.network import resolvconf
    h = rec.host
    host_net = h.network_mode == "host"
    with open(os.path.join(cdir, "hostname"), "w") as f:
        f.write(hostname + "\n")
    hosts = ""
    if host_net:
        try:
            with open("/etc/hosts") as f:
                hosts = f.read()
        except OSError:
            pass
    with open(os.path.join(cdir, "hosts"), "w") as f:
        f.write(hosts or HOSTS_BASE + f"127.0.1.1\t{hostname}\n")
    with open(os.path.join(cdir, "resolv.conf"), "w") as f:
        f.write(resolvconf.render(resolvconf.host_text(host_net), host_net, h.dns, h.dns_search, h.dns_options))
