"""`inspect` documents close to docker's, and `ps --filter` matching."""
from __future__ import annotations

import os

from pyrt.engine.model import ContainerRecord
from pyrt.errors import PyrtError


def container(engine, rec: ContainerRecord) -> dict:
    c, h, s = rec.config, rec.host, rec.state
    cdir = engine.store.dir(rec.id)
    return {
        "Id": rec.id,
        "Name": "/" + rec.name,
        "Created": rec.created,
        "Path": (c.entrypoint or [""])[0] if c.entrypoint else (c.cmd[0] if c.cmd else ""),
        "Args": c.cmd,
        "State": {
            "Status": s.status, "Running": s.status in ("running", "paused"), "Paused": s.status == "paused",
            "Restarting": False, "OOMKilled": s.oom_killed, "Dead": s.status == "dead",
            "Pid": s.pid if s.status in ("running", "paused") else 0, "ExitCode": s.exit_code,
            "Error": s.error, "StartedAt": s.started_at or "0001-01-01T00:00:00Z",
            "FinishedAt": s.finished_at or "0001-01-01T00:00:00Z", "LogError": s.log_error,
        },
        "Image": "sha256:" + c.image_id.split(":")[-1] if c.image_id else "",
        "LogPath": os.path.join(cdir, f"{rec.id}-json.log"),
        "HostnamePath": os.path.join(cdir, "hostname"),
        "HostsPath": os.path.join(cdir, "hosts"),
        "ResolvConfPath": os.path.join(cdir, "resolv.conf"),
        "RestartCount": rec.restart_count,
        "Driver": rec.rootfs_kind,
        "Config": {
            "Hostname": c.hostname or rec.id[:12], "User": c.user, "Tty": c.tty, "OpenStdin": c.open_stdin,
            "Env": c.env, "Cmd": c.cmd, "Entrypoint": c.entrypoint, "Image": c.image,
            "WorkingDir": c.working_dir, "Labels": c.labels, "StopSignal": c.stop_signal,
            "StopTimeout": c.stop_timeout,
        },
        "HostConfig": {
            "NetworkMode": h.network_mode, "Dns": h.dns, "DnsSearch": h.dns_search, "DnsOptions": h.dns_options,
            "AutoRemove": h.auto_remove, "ReadonlyRootfs": h.read_only,
            "Memory": h.memory, "MemorySwap": h.memory_swap, "NanoCpus": h.nano_cpus, "CpuShares": h.cpu_shares,
            "CpusetCpus": h.cpuset_cpus, "PidsLimit": h.pids_limit or None, "CapAdd": h.cap_add,
            "CapDrop": h.cap_drop, "Privileged": h.privileged, "Init": h.init,
            "SecurityOpt": (["no-new-privileges"] if h.no_new_privileges else [])
            + ([f"seccomp={h.seccomp}"] if h.seccomp != "default" else []),
            "Ulimits": [{"Name": u.name, "Soft": u.soft, "Hard": u.hard} for u in h.ulimits],
            "LogConfig": {"Type": "json-file", "Config": {
                **({"max-size": str(h.log_max_size)} if h.log_max_size else {}),
                **({"max-file": str(h.log_max_file)} if h.log_max_file > 1 else {})}},
            "Runtime": h.runtime or "pyrt",
            "PortBindings": port_map(h.port_bindings, requested=True),
            "PublishAllPorts": h.publish_all_ports,
        },
        "Mounts": [{"Type": m.type, "Name": m.source if m.type == "volume" else "",
                    "Source": engine.volumes.path(m.source) if m.type == "volume" else m.source,
                    "Destination": m.target, "RW": not m.read_only} for m in h.mounts],
        "NetworkSettings": _network_settings(engine, rec),
    }


def _network_settings(engine, rec: ContainerRecord) -> dict:
    """docker's NetworkSettings: one entry per network it is on; the first one's address on top."""
    mode = rec.host.network_mode
    if mode in ("none", "host") or mode.startswith("container:"):
        return {"Networks": {} if mode.startswith("container:") else {mode: {}}, "Ports": {}, "IPAddress": "",
                "Gateway": "", "SandboxKey": ""}
    nets = {}
    for ep in rec.host.endpoints:
        try:
            net = engine.networks.get(ep.network)
        except (PyrtError, OSError, ValueError):   # an unreadable network record: what the container says
            nets[ep.network] = {"Aliases": ep.aliases}
            continue
        addr = engine.networks.address_of(ep.network, rec.id)
        nets[ep.network] = {"NetworkID": net.id, "IPAddress": addr, "IPPrefixLen": net.prefixlen if addr else 0,
                            "Gateway": net.gateway if addr else "", "Aliases": ep.aliases}
    first = next(iter(nets.values()), {})
    return {"Networks": nets, "Ports": port_map(published(engine, rec)), "IPAddress": first.get("IPAddress", ""),
            "Gateway": first.get("Gateway", ""), "SandboxKey": engine.netns_path(rec.id)}


def published(engine, rec: ContainerRecord) -> list:
    """The PortBindings published for REC (host ports resolved); none unless it runs."""
    if rec.state.status not in ("running", "paused") or not (rec.host.port_bindings or rec.host.publish_all_ports):
        return []
    from pyrt.network import ports
    return ports.published(engine.run_root).get(rec.id, [])


def port_map(bindings, requested: bool = False) -> dict:
    """docker's {"80/tcp": [{"HostIp": ..., "HostPort": ...}]}; REQUESTED (HostConfig.PortBindings):
    as asked, "" for any address or a free port."""
    out: dict = {}
    for b in bindings:
        ip = b.host_ip or ("" if requested else "0.0.0.0")
        port = str(b.host_port) if b.host_port or not requested else ""
        out.setdefault(b.key, []).append({"HostIp": ip, "HostPort": port})
    return out


def matches(rec: ContainerRecord, filters: dict) -> bool:
    """docker's ps filters: name= (substring), status=, label=key or key=value, id= (prefix)."""
    for key, want in filters.items():
        values = want if isinstance(want, (list, tuple)) else [want]
        if key == "name":
            ok = any(v.lstrip("/") in rec.name for v in values)
        elif key == "status":
            ok = rec.state.status in values
        elif key == "id":
            ok = any(rec.id.startswith(v) for v in values)
        elif key == "label":
            ok = True
            for v in values:
                k, sep, val = v.partition("=")
                ok = ok and k in rec.config.labels and (not sep or rec.config.labels[k] == val)
        elif key == "ancestor":
            ok = any(v in (rec.config.image, rec.config.image_id) for v in values)
        else:
            from pyrt.engine.errors import InvalidArgument
            raise InvalidArgument(f"invalid filter {key!r}: use name, status, label, id or ancestor")
        if not ok:
            return False
    return True
