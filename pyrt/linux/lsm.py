"""Linux security modules for the container's process: AppArmor profiles and SELinux labels.

The runtime-spec says an unsupported value MUST be an error, so nothing here is ever silently
ignored: a profile or label the host cannot apply is refused before anything is set up, and
`features` reports what the host has. Applying one is a write to the init's own
/proc/self/attr/<lsm>/exec (or the older attr/exec): the kernel switches at the next execve,
which is the exec stub's (pyrt.runtime.init._execve); the stub then execs the program under the
profile, which must therefore allow executing it (docker-default does: `file,`).
"""
from __future__ import annotations

import os

APPARMOR_ENABLED = "/sys/module/apparmor/parameters/enabled"
SELINUX_ENFORCE = "/sys/fs/selinux/enforce"


def apparmor_enabled() -> bool:
    try:
        with open(APPARMOR_ENABLED) as f:
            return f.read().strip() == "Y"
    except OSError:
        return False


def selinux_enabled() -> bool:
    return os.path.exists(SELINUX_ENFORCE)


def refusal(apparmor_profile: str, selinux_label: str, mount_label: str) -> tuple[str, str] | None:
    """(config field, reason) when the host cannot apply what is asked; None when it can."""
    if apparmor_profile and not apparmor_enabled():
        return "process.apparmorProfile", f"{apparmor_profile!r}: AppArmor is not enabled on this host"
    if selinux_label and not selinux_enabled():
        return "process.selinuxLabel", f"{selinux_label!r}: SELinux is not enabled on this host"
    if mount_label:
        # labelling mounts (context= on every mount) is not implemented: refused on any host
        why = "SELinux is not enabled on this host" if not selinux_enabled() else "mount labels are not supported"
        return "linux.mountLabel", f"{mount_label!r}: {why}"
    return None


def exec_attr(lsm: str, attr_dir: str = "/proc/self/attr") -> str:
    """The file that sets LSM's label for the next execve: attr/<lsm>/exec where the kernel has
    per-module directories (5.1+ for AppArmor), attr/exec otherwise."""
    per_module = os.path.join(attr_dir, lsm, "exec")
    return per_module if os.path.exists(per_module) else os.path.join(attr_dir, "exec")


def set_exec_label(lsm: str, label: str, attr_dir: str = "/proc/self/attr") -> str:
    """Ask LSM to put the next execve under LABEL (AppArmor: a profile name). Returns the file
    written; OSError names it on failure."""
    path = exec_attr(lsm, attr_dir)
    text = f"exec {label}" if lsm == "apparmor" else label
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, text.encode())
    except OSError as e:
        raise OSError(e.errno, e.strerror, path) from e
    finally:
        os.close(fd)
    return path
