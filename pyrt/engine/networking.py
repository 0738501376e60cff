"""The engine's side of networking: which network namespace a container gets, its endpoints (one
per network, eth0, eth1 ...), its /etc/hosts kept current, `network connect/disconnect`, and
`--network container:X`. pyrt.network knows owners and paths only; this module knows records.

A container on networks has its own namespace pinned at <run_root>/netns/<id> while it runs; that
file existing is what "connected" means here (made and removed under the container's lock), so
`network connect` on a container that is starting either lands in its record before the worker
reads it or in its live namespace. A `container:X` joiner has X's namespace pinned at the same
place: opened through /proc/<pid>/ns/net, then X's pid checked to still be X's init (start time),
so a recycled pid can never hand it another process's namespace, the host's included.
"""
from __future__ import annotations

import contextlib
import fcntl
import os

from pyrt.engine.errors import Conflict, InvalidArgument, NotFound
from pyrt.engine.model import ContainerConfig, ContainerRecord, Endpoint, HostConfig
from pyrt.errors import PyrtError

JOIN = "container:"
ETC_FILES = ("hostname", "hosts", "resolv.conf")
HOSTS_BASE = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"


def on_network(host: HostConfig) -> bool:
    """Its own namespace, joined to networks (possibly none left after disconnects)."""
    return host.network_mode not in ("none", "host") and not host.network_mode.startswith(JOIN)


def joined(host: HostConfig) -> str:
    """The id of the container whose namespace it shares (container:ID), or ""."""
    return host.network_mode[len(JOIN):] if host.network_mode.startswith(JOIN) else ""


def pinned(engine, host: HostConfig) -> bool:
    return on_network(host) or bool(joined(host))


# -- create ----------------------------------------------------------------------------------
def check(engine, config: ContainerConfig, host: HostConfig) -> None:
    """At create, before anything is made: the mode's target exists, flags fit the mode. A joiner's
    record names its target by id and takes its hostname (docker does both)."""
    from pyrt.network import resolvconf
    resolvconf.check(host.dns, host.dns_search, host.dns_options)
    h = config.hostname
    if h and (len(h) > 64 or not h.isprintable() or any(c.isspace() for c in h)):
        # it is a word of peers' /etc/hosts lines, and the kernel takes 64 bytes at most
        raise InvalidArgument(f"invalid --hostname {h!r}: one word of at most 64 characters")
    mode = host.network_mode
    if mode.startswith(JOIN):
        for flag, value in (("--hostname", config.hostname), ("--ip", host.ip), ("--network-alias", host.aliases),
                            ("--dns", host.dns), ("--dns-search", host.dns_search), ("--dns-option", host.dns_options)):
            if value:
                raise InvalidArgument(f"conflicting options: {flag} and the network mode {mode}")
        ref = mode[len(JOIN):]
        if not ref:
            raise InvalidArgument("invalid network mode 'container:': name a container after the colon")
        try:
            target = engine.store.read(engine.store.resolve(ref))
        except NotFound:
            raise NotFound(f"--network {mode}: no such container: {ref}") from None
        host.network_mode = JOIN + target.id
        config.hostname = _hostname(engine, target)
    elif on_network(host):
        engine.networks.get(mode)                    # an unknown network: NotFound, nothing made
        if host.aliases and mode == "bridge":
            raise InvalidArgument("--network-alias is only supported on user-defined networks")
        _check_aliases(host.aliases, "--network-alias")
        if not host.endpoints:
            host.endpoints = [Endpoint(mode, host.ip, list(host.aliases))]
    elif host.ip or host.aliases:
        raise InvalidArgument(f"{'--ip' if host.ip else '--network-alias'} needs a network (it is {mode})")


def _check_aliases(aliases, flag: str) -> None:
    """Names as peers' /etc/hosts holds them: a host name's characters only (no blank, no line)."""
    import re
    for a in aliases:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,252}", a):
            raise InvalidArgument(f"invalid {flag} {a!r}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")


def _owner(engine, rec: ContainerRecord, depth: int = 0) -> ContainerRecord:
    """The container at the end of a container:X chain (its /etc files are the shared ones)."""
    tid = joined(rec.host)
    if not tid or depth > 8:
        return rec
    return _owner(engine, engine.store.read(tid), depth + 1)


def _hostname(engine, target: ContainerRecord) -> str:
    t = _owner(engine, target)
    return t.config.hostname or (os.uname().nodename if t.host.network_mode == "host" else t.id[:12])


def bundle(engine, rec: ContainerRecord, spec: dict) -> None:
    """At create: leases taken (an --ip conflict is an error now) and config.json's namespace path;
    a joiner's /etc/hostname, hosts and resolv.conf are its target's files (docker shares them)."""
    h = rec.host
    if not pinned(engine, h):
        return
    for ep in h.endpoints:
        engine.networks.allocate(ep.network, rec.id, ep.ip)
    for ns in spec["linux"]["namespaces"]:
        if ns["type"] == "network":
            ns["path"] = engine.netns_path(rec.id)
    if joined(h):
        tdir = engine.store.dir(_owner(engine, rec).id)
        for m in spec["mounts"]:
            name = m["destination"][len("/etc/"):]
            if m["destination"].startswith("/etc/") and name in ETC_FILES:
                m["source"] = os.path.join(tdir, name)


def release(engine, cid: str) -> None:
    """Every lease of CID (rm, a failed create)."""
    for net in engine.networks.networks_of(cid):
        engine.networks.release(net.name, cid)


# -- start and exit (in the monitor's worker) -----------------------------------------------------
@contextlib.contextmanager
def pinning(engine, cid: str):
    """Right before the bundle runs (in the monitor's worker), under the container's lock: its
    namespace made (bare: plug() connects it) or its target's pinned; yields its record, or None
    when it is not on networks of its own (nothing to plug). On failure inside, nothing of it is
    left. The body may create the container in that namespace and have plug() run in another
    process meanwhile (the lock, held here, covers its work)."""
    with engine.store.lock(cid):
        rec = engine.store.read(cid)
        if not pinned(engine, rec.host):
            yield None
            return
        netns = engine.netns_path(cid)
        unplug(engine, cid)       # what a crashed run left
        try:
            if joined(rec.host):
                _pin_target(engine, rec, netns)
                yield None
                return
            engine.networks.make_netns(netns, lo_up=not rec.host.endpoints)
            yield rec
        except BaseException:
            with contextlib.suppress(PyrtError, OSError):
                unplug(engine, cid)
            raise


def plug(engine, rec: ContainerRecord) -> None:
    """REC's endpoints and published ports, in its namespace that pinning() made (its caller holds
    the container's lock)."""
    netns = engine.netns_path(rec.id)
    for ep in rec.host.endpoints:
        engine.networks.attach(ep.network, rec.id, netns, ep.ip)
    publish(engine, rec)


def _pin_target(engine, rec: ContainerRecord, netns: str) -> None:
    from pyrt.linux import proc
    from pyrt.network import links
    tid = joined(rec.host)
    try:
        target = engine.refresh(engine.store.read(tid))
    except NotFound:
        raise NotFound(f"cannot join the network of container {tid[:12]}: it no longer exists") from None
    s = target.state

    def refuse():
        return Conflict(f"cannot join network of a non running container: {target.name}",
                        f"start {target.name} first")
    if s.status not in ("running", "paused") or s.pid <= 0:
        raise refuse()
    try:
        fd = os.open(f"/proc/{s.pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        raise refuse() from None
    try:
        if not proc.alive(s.pid, s.start_time):     # the pid was recycled after the record was read
            raise refuse()
        links.pin_netns(fd, netns)
    finally:
        os.close(fd)


def down(engine, cid: str) -> None:
    """After the container exits (or a start failed): its veths and namespace; peers' hosts."""
    with engine.store.lock(cid):
        try:
            rec = engine.store.read(cid)
        except NotFound:
            return
        if not pinned(engine, rec.host):
            return
        unplug(engine, cid)
    refresh_hosts(engine, [ep.network for ep in rec.host.endpoints])


def publish(engine, rec: ContainerRecord) -> None:
    """-p / -P: the container's ports DNATed to its address on its first network (pyrt.network.ports)."""
    h = rec.host
    if not (h.port_bindings or h.publish_all_ports) or not h.endpoints:
        return
    from pyrt.network import ports
    exposed = engine.images.config(engine.images.get(rec.config.image_id)).exposed_ports if h.publish_all_ports else ()
    net = engine.networks.get(h.endpoints[0].network)
    ports.publish(engine.run_root, rec.id, net.bridge, net.subnet, engine.networks.address_of(net.name, rec.id),
                  ports.effective(h.port_bindings, h.publish_all_ports, exposed))


def unplug(engine, cid: str) -> None:
    """Its published ports (their rules name its address), then its veths and namespace pin."""
    from pyrt.network import ports
    ports.unpublish(engine.run_root, cid)
    engine.networks.disconnect(cid, engine.netns_path(cid))


# -- /etc/hosts --------------------------------------------------------------------------------------
@contextlib.contextmanager
def _hosts_lock(engine):
    fd = os.open(os.path.join(engine.networks.root, "hosts.lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def refresh_hosts(engine, networks, also=()) -> None:
    """/etc/hosts of every connected container on NETWORKS (and of the containers ALSO): its own
    entries and those of its connected peers, by name, hostname and aliases on that network (docker's
    embedded DNS answers these; a hosts file kept current does here). Serialised, and run after
    the change it reflects, so the last of two concurrent refreshes sees both changes."""
    networks = set(networks)
    if not networks and not also:
        return
    with _hosts_lock(engine):
        records: dict[str, ContainerRecord] = {}
        members: dict[str, list[tuple[str, str]]] = {}       # network -> [(address, owner)]
        for net in engine.networks.list():
            for addr, owner in sorted(engine.networks.leases(net.name).items()):
                if owner not in records:
                    with contextlib.suppress(PyrtError, OSError, ValueError, KeyError, TypeError):
                        records[owner] = engine.store.read(owner)
                if owner in records and os.path.exists(engine.netns_path(owner)):
                    members.setdefault(net.name, []).append((addr, owner))
        todo = {o for n in networks for _a, o in members.get(n, ())} | set(also)
        for cid in todo:
            rec = records.get(cid)
            if rec is None or not os.path.exists(engine.netns_path(cid)):
                continue
            lines = []
            for ep in rec.host.endpoints:
                for addr, owner in members.get(ep.network, ()):
                    lines.append((addr, _names(records[owner], ep.network)))
            with contextlib.suppress(OSError):
                write_hosts(engine.store.dir(cid), lines)


def _names(rec: ContainerRecord, network: str) -> list[str]:
    out = [rec.name, rec.config.hostname or rec.id[:12]]
    for ep in rec.host.endpoints:
        if ep.network == network:
            out += ep.aliases
    return list(dict.fromkeys(n for n in out if n))


def write_hosts(cdir: str, entries) -> None:
    """CDIR/hosts with (address, names) lines, rewritten in place: the container sees it through a
    bind mount of this very inode (a rename would not reach it). Never truncated first: a program
    reading it meanwhile sees the old lines, or the old with new ones after them (a peer came, the
    usual change), not an empty file."""
    data = (HOSTS_BASE + "".join(f"{a}\t{' '.join(names)}\n" for a, names in entries)).encode()
    fd = os.open(os.path.join(cdir, "hosts"), os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    try:
        old = os.pread(fd, 1 << 20, 0)
        if data.startswith(old):
            os.pwrite(fd, data[len(old):], len(old))
        else:
            os.pwrite(fd, data, 0)
            os.ftruncate(fd, len(data))
    finally:
        os.close(fd)


# -- network connect / disconnect --------------------------------------------------------------------
def connect(engine, ref: str, network: str, ip: str = "", aliases=()) -> None:
    """docker network connect: a running container gets a further interface now, a stopped one
    at its next start; the lease is taken now either way."""
    net = engine.networks.get(network)
    cid = engine.store.resolve(ref)
    aliases = list(aliases)
    if aliases and net.name == "bridge":
        raise InvalidArgument("--alias is only supported on user-defined networks")
    _check_aliases(aliases, "--alias")
    with engine.store.updating(cid) as rec:
        if not on_network(rec.host):
            raise Conflict(f"container {rec.name} uses network mode {rec.host.network_mode}: "
                           "it cannot be connected to a network")
        if any(ep.network == net.name for ep in rec.host.endpoints):
            raise Conflict(f"container {rec.name} is already connected to network {net.name}")
        netns = engine.netns_path(cid)
        engine.networks.allocate(net.name, cid, ip)
        try:
            if os.path.exists(netns):
                engine.networks.attach(net.name, cid, netns, ip)
        except BaseException:
            engine.networks.release(net.name, cid)
            raise
        rec.host.endpoints.append(Endpoint(net.name, ip, aliases))
    refresh_hosts(engine, [net.name])


def disconnect(engine, ref: str, network: str, force: bool = False) -> None:
    """docker network disconnect: the interface goes now if it runs, the lease is given back.
    FORCE: no error when it is not connected (what is left of it is removed all the same)."""
    net = engine.networks.get(network)
    cid = engine.store.resolve(ref)
    with engine.store.updating(cid) as rec:
        was = [ep for ep in rec.host.endpoints if ep.network == net.name]
        if not was and not force:
            raise Conflict(f"container {rec.name} is not connected to network {net.name}")
        if rec.host.endpoints[:1] == was[:1] and was:       # its published ports DNAT to this address
            from pyrt.network import ports
            ports.unpublish(engine.run_root, cid)
        rec.host.endpoints = [ep for ep in rec.host.endpoints if ep.network != net.name]
        engine.networks.detach(net.name, cid)
        engine.networks.release(net.name, cid)
    refresh_hosts(engine, [net.name], also=[cid])


def users(engine, network: str) -> list[str]:
    return engine._names_where(lambda rec: any(ep.network == network for ep in rec.host.endpoints))
