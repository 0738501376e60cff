"""What pyrt-runc's children share: the Launch record fixed before fork(), the namespace tables,
the imports done while the host's Python library is still reachable, and how an error travels back.

pyrt-runc (the parent, pyrt.runtime.create) forks stage 1 (pyrt.runtime.stage1: namespaces),
which forks the init (pyrt.runtime.init: the container's ordered set-up, or an exec'd process).
Any error in either child travels to the parent as its kind (the PyrtError class) and one line
over the socket (report); the parent raises the same class, so exit codes survive the trip.
"""
from __future__ import annotations

from pyrt.errors import PyrtError, RuntimeSetupError
from pyrt.record import Record, field
from pyrt.runtime import channel

# namespace type in config.json -> (clone flag name, /proc/<pid>/ns name)
NAMESPACES = {
    "user": ("CLONE_NEWUSER", "user"), "pid": ("CLONE_NEWPID", "pid"), "network": ("CLONE_NEWNET", "net"),
    "ipc": ("CLONE_NEWIPC", "ipc"), "uts": ("CLONE_NEWUTS", "uts"), "mount": ("CLONE_NEWNS", "mnt"),
    "cgroup": ("CLONE_NEWCGROUP", "cgroup"), "time": ("CLONE_NEWTIME", "time"),
}
# Join order: the user namespace first (it owns the others), the mount namespace last.
JOIN_ORDER = ("user", "pid", "network", "ipc", "uts", "cgroup", "time", "mount")


class Launch(Record, frozen=False):
    """Everything the children need, fixed before fork()."""
    container_id: str
    spec: object                       # pyrt.spec.config.Spec
    process: object                    # pyrt.spec.config.Process (the spec's, or exec's)
    join: list = field(default_factory=list)   # [(ns type, path)] to setns into
    new: list = field(default_factory=list)    # ns types to create
    fifo_fd: int = -1                  # O_PATH fd of exec.fifo (create; none when `run` starts at once)
    console_socket: str | None = None
    console_conn: object = None        # connected to console_socket by the parent (host path)
    console_back: object = None        # foreground terminal: the parent's end of console_conn
    console_master: int = -1           # ... and the pty master it received there
    no_pivot: bool = False
    preserve_fds: int = 0
    exec_mode: bool = False            # pyrt-runc exec: join everything, no rootfs work
    # create, when stage 1 stays in the host's user and mount namespaces: stage 1 places the init
    # in its cgroup itself (pyrt.cgroups.placement), from the directories the parent sends ("cgroup").
    placed_by_stage1: bool = False
    # exec: the container's cgroup directories {"v1": [...], "v2": dir or None} (from state.json),
    # for stage 1 to place the exec'd process in the same way; None: the parent moves it.
    cgroup: dict | None = None
    close_fds: list = field(default_factory=list)  # the parent's fds the children must not keep
    # Whether setgroups(2) is denied in the user namespace the process ends up in: read by stage
    # 1 from the host's procfs, never from the container's /proc, which may be a fake.
    setgroups_denied: bool = False


def describe(e: BaseException) -> str:
    """One line for the user from any error raised in a child."""
    if isinstance(e, PyrtError):
        return e.message
    if isinstance(e, OSError):
        msg = e.strerror or str(e)
        return f"{msg}: {e.filename}" if e.filename else msg
    return f"{type(e).__name__}: {e}"


def report(sock, e: BaseException) -> None:
    """The error, its kind and its cause to the parent (channel.error_from rebuilds it)."""
    kind = type(e).__name__ if isinstance(e, PyrtError) else RuntimeSetupError.__name__
    cause = e.__cause__ or e.__context__
    try:
        channel.send(sock, "error", kind=kind, message=describe(e), hint=getattr(e, "hint", None),
                     cause=f"{type(cause).__name__}: {cause}" if cause is not None else None)
    except OSError:
        pass


def must_preload_early(launch: Launch) -> bool:
    """Joining a mount or user namespace (always so for exec) may hide the host's Python
    library from stage 1 on; otherwise it stays reachable until pivot_root."""
    return launch.exec_mode or any(t in ("mount", "user") for t, _ in launch.join)


def preload(spec, process, exec_mode: bool) -> None:
    """Import every module the init needs while the host's Python library is still reachable
    (a joined mount namespace or pivot_root takes it away)."""
    import fcntl  # noqa: F401
    from pyrt.linux import capabilities, hardening  # noqa: F401
    if not any(e.startswith("HOME=") for e in process.env):
        from pyrt.linux import paths  # noqa: F401  (HOME from the container's passwd: init._home_of)
    from pyrt.runtime import hooks  # noqa: F401
    # exec sets up no rootfs and no loopback: rootfs and netdev (~1.5 M instructions on the
    # critical path of every ExecSync) only for the init, or for an exec's console
    if not exec_mode:
        from pyrt.cgroups import layout  # noqa: F401  (rootfs.own_cgroups; exec never calls it)
        from pyrt.runtime import rootfs  # noqa: F401
        if "network" in (ns.type for ns in spec.linux.namespaces):
            from pyrt.linux import netdev  # noqa: F401
    if process.rlimits:
        import resource  # noqa: F401
    if spec.hooks:
        import subprocess  # noqa: F401
    if process.terminal:
        from pyrt.runtime import console, rootfs  # noqa: F401,F811
    if process.apparmor_profile or process.selinux_label:
        from pyrt.linux import lsm  # noqa: F401
    if getattr(spec.linux, "seccomp", None) is not None:
        from pyrt.linux import seccomp  # noqa: F401
