"""The engine's typed objects: what a container was asked to be, and what it is now.

Stored as container.json in the container's directory; `inspect` is a rendering of these.
Names follow docker's where docker has one (Config / HostConfig / State).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from pyrt.network.ports import PortBinding


@dataclass
class Mount:
    """One mount of the container: a bind of a host path, a named volume, or a tmpfs."""
    type: str                    # "bind" | "volume" | "tmpfs"
    target: str
    source: str = ""             # host path (bind) or volume name (volume)
    read_only: bool = False
    options: list[str] = field(default_factory=list)   # tmpfs options (size=, mode=)
    anonymous: bool = False      # a volume made for the image's VOLUME: removed with `rm -v`


@dataclass
class Ulimit:
    name: str                    # "nofile", "nproc" ... (docker's spelling)
    soft: int
    hard: int


@dataclass
class Endpoint:
    """The container on one network (docker's EndpointSettings): eth0, eth1 ... in this order."""
    network: str
    ip: str = ""                 # --ip asked for (the lease holds the address)
    aliases: list[str] = field(default_factory=list)    # --network-alias: more names for peers


@dataclass
class ContainerConfig:
    """What runs: docker's Config."""
    image: str                   # as the user wrote it
    image_id: str = ""
    cmd: list[str] = field(default_factory=list)
    entrypoint: list[str] | None = None      # None: the image's; []: none
    env: list[str] = field(default_factory=list)
    working_dir: str = ""
    user: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    hostname: str = ""
    tty: bool = False
    open_stdin: bool = False
    stop_signal: str = "SIGTERM"
    stop_timeout: int = 10


@dataclass
class HostConfig:
    """How it runs on this host: docker's HostConfig."""
    mounts: list[Mount] = field(default_factory=list)
    read_only: bool = False
    memory: int = 0              # bytes; 0: no limit
    memory_swap: int = 0         # bytes of memory+swap; -1: unlimited swap; 0: unset
    nano_cpus: int = 0           # --cpus * 1e9
    cpu_shares: int = 0
    cpuset_cpus: str = ""
    pids_limit: int = 0
    cap_add: list[str] = field(default_factory=list)
    cap_drop: list[str] = field(default_factory=list)
    privileged: bool = False
    no_new_privileges: bool = False
    seccomp: str = "default"     # "default" | "unconfined" | a path to a profile
    ulimits: list[Ulimit] = field(default_factory=list)
    init: bool = False
    network_mode: str = "none"   # "none" | "host" | "container:ID" | "bridge" | a user network's name
    ip: str = ""                 # --ip: a fixed address on that network
    port_bindings: list[PortBinding] = field(default_factory=list)   # -p
    publish_all_ports: bool = False                                  # -P: the image's exposed ports too
    aliases: list[str] = field(default_factory=list)     # --network-alias on that network
    endpoints: list[Endpoint] = field(default_factory=list)   # the networks it is on (connect adds)
    dns: list[str] = field(default_factory=list)
    dns_search: list[str] = field(default_factory=list)
    dns_options: list[str] = field(default_factory=list)
    auto_remove: bool = False
    log_max_size: int = 0        # bytes; 0: no rotation
    log_max_file: int = 1
    runtime: str = ""            # "": pyrt's own, in-process; else a runc-compatible binary


@dataclass
class ContainerState:
    status: str = "created"      # created | running | paused | exited | removing | dead
    pid: int = 0
    start_time: int = 0          # the init's start time (clock ticks): proves a pid is still ours
    exit_code: int = 0
    oom_killed: bool = False
    error: str = ""
    started_at: str = ""
    finished_at: str = ""
    log_error: str = ""          # why logging stopped (a full disk), shown by inspect


@dataclass
class ContainerRecord:
    id: str
    name: str
    created: str
    config: ContainerConfig
    host: HostConfig
    state: ContainerState = field(default_factory=ContainerState)
    rootfs_kind: str = ""        # "overlay" | "copy"
    restart_count: int = 0

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, d: dict) -> "ContainerRecord":
        host = dict(d["host"])
        host["mounts"] = [Mount(**m) for m in host.get("mounts", [])]
        host["ulimits"] = [Ulimit(**u) for u in host.get("ulimits", [])]
        host["port_bindings"] = [PortBinding(**p) for p in host.get("port_bindings", [])]
        if "endpoints" in host:
            host["endpoints"] = [Endpoint(**e) for e in host["endpoints"]]
        elif host.get("network_mode", "none") not in ("none", "host") and ":" not in host["network_mode"]:
            host["endpoints"] = [Endpoint(host["network_mode"], host.get("ip", ""))]   # a record older than connect
        return cls(id=d["id"], name=d["name"], created=d["created"],
                   config=ContainerConfig(**d["config"]), host=HostConfig(**host),
                   state=ContainerState(**d.get("state", {})), rootfs_kind=d.get("rootfs_kind", ""),
                   restart_count=d.get("restart_count", 0))


@dataclass(frozen=True)
class ImageSummary:
    id: str
    tags: list[str]
    digests: list[str]
    size: int
    created: str | None


@dataclass(frozen=True)
class Volume:
    name: str
    mountpoint: str
    created: str
    labels: dict[str, str]
    anonymous: bool = False


@dataclass(frozen=True)
class ExecResult:
    exit_code: int
    output: bytes = b""


@dataclass(frozen=True)
class Stats:
    id: str
    name: str
    cpu_usage_ns: int
    memory_usage: int
    memory_limit: int
    pids: int


@dataclass(frozen=True)
class LogLine:
    stream: str                  # "stdout" | "stderr"
    time: str                    # RFC 3339 with nanoseconds, UTC
    data: bytes
