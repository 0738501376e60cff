"""Smaller runtime operations behind `ps`, `exec` and `features`."""
from __future__ import annotations

import os

from pyrt.errors import ConfigError, UsageError


def container_pids(ctr) -> list[int]:
    """Pids in the container's cgroup (host pids), or just its init when it has no cgroup. A
    stopped container lists what its cgroup still holds, often nothing (runc answers `[]`, exit
    0; containerd's shim asks it for Pids)."""
    mgr = ctr.cgroup_manager()
    if mgr is not None and mgr.exists():
        return sorted(mgr.pids())
    return [ctr.state.pid] if ctr.init_alive() else []


def ps_table(pids: list[int], ps_args: list[str]) -> str:
    """ps(1) output keeping the header and the rows whose PID column is one of PIDS (runc's way)."""
    import subprocess  # here only: with locale and re it costs `exec` (this module's other user) ~5-40 ms
    out = subprocess.run(["ps", *ps_args], capture_output=True, text=True)
    if out.returncode != 0:
        raise UsageError(f"ps {' '.join(ps_args)}: {out.stderr.strip()}")
    lines = out.stdout.splitlines()
    if not lines:
        return ""
    header = lines[0].split()
    if "PID" not in header:
        raise UsageError("ps output has no PID column")
    col = header.index("PID")
    keep = [lines[0]]
    wanted = set(pids)
    for line in lines[1:]:
        fields = line.split()
        if len(fields) > col and fields[col].isdigit() and int(fields[col]) in wanted:
            keep.append(line)
    return "\n".join(keep) + "\n"


def exec_process_spec(root: str, container_id: str, *, process_json=None, args=(), tty=False, cwd=None,
                      env=(), user=None, additional_gids=(), caps=(), no_new_privs=False):
    """(the Process to exec, the bundle's config it came from or None): process.json as given, or
    the container's own process with the flags applied (runc reads the bundle's config.json for
    the defaults). exec_process takes that config, rather than parse config.json a second time."""
    from pyrt.runtime.container import Container
    from pyrt.spec.config import Process, User, load_bundle, load_process
    from pyrt.record import replace
    if process_json:
        return load_process(process_json), None
    if not args:
        raise UsageError("exec: a command to run is required (or --process)")
    ctr = Container.load(root, container_id)
    spec = load_bundle(ctr.state.bundle)
    base = spec.process
    if base is None:
        raise ConfigError("process: the container's config.json has none to start from")
    u = base.user
    if user:
        uid, _, gid = user.partition(":")
        try:
            ids = {"uid": int(uid), "gid": int(gid) if gid else 0}
        except ValueError:
            raise UsageError(f"--user {user!r}: expected numeric uid[:gid]") from None
        # through the config parser: the same 0-2147483647 range as config.json's
        u = replace(User.from_dict(dict(ids, additionalGids=list(additional_gids)), "exec --user"),
                    umask=base.user.umask)
    elif additional_gids:
        u = replace(u, additional_gids=User.from_dict({"additionalGids": list(additional_gids)},
                                                      "exec --additional-gids").additional_gids)
    envd = base.env_dict()
    for e in env:
        k, sep, v = e.partition("=")
        if not sep:
            raise UsageError(f"--env {e!r}: expected NAME=value")
        envd[k] = v
    capabilities = base.capabilities
    if caps:
        from pyrt.spec.capabilities import Capabilities
        # Bounding, effective and permitted only: an inheritable (and so ambient) capability
        # would survive the exec of a file with inheritable file capabilities (CVE-2022-29162).
        # Ambient only where process.capabilities already has inheritable ones (runc's rule).
        grown = ("bounding", "effective", "permitted") + (("ambient",) if base.capabilities and
                                                         base.capabilities.inheritable else ())
        extra = Capabilities.from_dict({k: list(caps) for k in grown})
        cur = capabilities or Capabilities.from_dict(None)
        capabilities = replace(cur, **{k: getattr(cur, k) | getattr(extra, k) for k in grown})
    return replace(
        base, args=tuple(args), terminal=tty, cwd=cwd or base.cwd, user=u,
        env=tuple(f"{k}={v}" for k, v in envd.items()), capabilities=capabilities,
        no_new_privileges=base.no_new_privileges or no_new_privs), spec


def features() -> dict:
    """The runtime-spec features document: what config.json may ask of pyrt-runc."""
    from pyrt.linux import lsm
    from pyrt.spec import config as c
    from pyrt.spec import hooks, mountflags
    out = {
        "ociVersionMin": "1.0.0",
        "ociVersionMax": "1.1.0",
        "hooks": list(hooks.KINDS),
        "mountOptions": sorted(mountflags.OPTIONS),
        "linux": {
            "namespaces": list(c.NAMESPACE_TYPES),
            "cgroup": {"v1": True, "v2": True, "systemd": False, "systemdUser": False},
            # what this host can apply (pyrt.linux.lsm); mountLabel is refused everywhere
            "apparmor": {"enabled": lsm.apparmor_enabled()},
            "selinux": {"enabled": lsm.selinux_enabled()},
            "intelRdt": {"enabled": False},
        },
        "annotations": {"org.opencontainers.runtime-spec.features.runtime": "pyrt-runc"},
    }
    try:
        from pyrt.linux.capabilities import CAP_NAMES, last_cap
        out["linux"]["capabilities"] = [CAP_NAMES[n] for n in range(last_cap() + 1) if n in CAP_NAMES]
    except ImportError:
        pass
    try:
        from pyrt.linux import seccomp
        out["linux"]["seccomp"] = seccomp.features()
    except (ImportError, AttributeError):
        out["linux"]["seccomp"] = {"enabled": True}
    return out
