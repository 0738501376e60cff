"""`pyrt run` without click: its plain spellings are read here from the RUN table (pyrt.cli.argtable),
and run's work is shared with the click command of pyrt.cli.pyrt_engine, which imports it.

Why: `pyrt run --rm IMAGE true` is a short client of the monitor; importing click (~20 ms idle,
50+ ms on a loaded machine) was the largest part of its own start-up. Anything the table does not
read exactly as click would (help, clustered short flags, `-e=X`, negative numbers, a value that
looks like a flag, options click gained but the table did not) is left to click: pyrt.cli.pyrt
calls plain_run() first and falls back on None. tests/unit/cli/test_pyrt_run_fastpath.py checks
that both parsers give the same values for the spellings the table reads.
"""
from __future__ import annotations

import functools
import os
import signal
import sys

from pyrt.cli.argtable import Cmd, Opt, bind, split_globals
from pyrt.errors import PyrtError, UsageError

class DockerExit(PyrtError):
    """A PyrtError re-raised with docker's exit code for pyrt's own failures (125)."""
    exit_code = 125


def docker_errors(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except PyrtError as e:
            if e.exit_code in (125, 126, 127):
                raise
            raise DockerExit(e.message, e.hint) from e
    return wrapper


# The group's options, as pyrt.cli.pyrt_commands declares them (click reads the env var when the
# flag is absent and the variable is not empty).
GLOBALS = [Opt(("--root",), "root"), Opt(("--run-root",), "run_root"), Opt(("--cgroup-parent",), "cgroup_parent")]
GLOBAL_DEFAULTS = {"root": ("PYRT_ROOT", "/var/lib/pyrt"), "run_root": ("PYRT_RUN_ROOT", "/run/pyrt"),
                   "cgroup_parent": ("PYRT_CGROUP_PARENT", "/pyrt")}

# run's flags, as pyrt_engine._create_options declares them for click (same dests and defaults).
RUN = Cmd("run", "", [
    Opt(("--name",), "name", default=""),
    Opt(("-e", "--env"), "env", "multi", ()),
    Opt(("--env-file",), "env_file", "multi", ()),
    Opt(("-w", "--workdir"), "workdir", default=""),
    Opt(("-u", "--user"), "user", default=""),
    Opt(("--entrypoint",), "entrypoint"),
    Opt(("-h", "--hostname"), "hostname", default=""),
    Opt(("-v", "--volume"), "volumes", "multi", ()),
    Opt(("--mount",), "mounts", "multi", ()),
    Opt(("--tmpfs",), "tmpfs", "multi", ()),
    Opt(("--read-only",), "read_only", "flag", False),
    Opt(("-m", "--memory"), "memory"),
    Opt(("--memory-swap",), "memory_swap"),
    Opt(("--cpus",), "cpus"),
    Opt(("--cpu-shares", "-c"), "cpu_shares", "int", 0),
    Opt(("--cpuset-cpus",), "cpuset_cpus", default=""),
    Opt(("--pids-limit",), "pids_limit", "int", 0),
    Opt(("--cap-add",), "cap_add", "multi", ()),
    Opt(("--cap-drop",), "cap_drop", "multi", ()),
    Opt(("--privileged",), "privileged", "flag", False),
    Opt(("--security-opt",), "security_opt", "multi", ()),
    Opt(("--ulimit",), "ulimits", "multi", ()),
    Opt(("--init",), "init", "flag", False),
    Opt(("--stop-signal",), "stop_signal", default=""),
    Opt(("--stop-timeout",), "stop_timeout", "int"),
    Opt(("-l", "--label"), "labels", "multi", ()),
    Opt(("--log-opt",), "log_opts", "multi", ()),
    Opt(("--pull",), "pull", default="missing"),
    Opt(("--platform",), "platform"),
    Opt(("--runtime",), "runtime", default=""),
    Opt(("--network", "--net"), "network"),          # None: the client's default (PYRT_NETWORK, else bridge)
    Opt(("--ip",), "ip", default=""),
    Opt(("-p", "--publish"), "publish", "multi", ()),
    Opt(("-P", "--publish-all"), "publish_all", "flag", False),
    Opt(("--network-alias",), "network_aliases", "multi", ()),
    Opt(("--dns",), "dns", "multi", ()),
    Opt(("--dns-search",), "dns_search", "multi", ()),
    Opt(("--dns-option",), "dns_options", "multi", ()),
    Opt(("-i", "--interactive"), "interactive", "flag", False),
    Opt(("-t", "--tty"), "tty", "flag", False),
    Opt(("--rm",), "auto_remove", "flag", False),
    Opt(("-q", "--quiet"), "quiet", "flag", False),
    Opt(("-d", "--detach"), "detach", "flag", False),
], [("image", True)], rest="command", interspersed=False)


def plain_run(argv: list[str]) -> tuple[dict, bool, dict] | None:
    """(globals, detach, run's values) if ARGV is a `run` spelled plainly; None: let click read it."""
    try:
        g, rest = split_globals(GLOBALS, argv, "pyrt", strict=True)
        if rest[:1] != ["run"]:
            return None
        p = bind(RUN, rest[1:], strict=True)
    except UsageError:
        return None
    for k, (var, default) in GLOBAL_DEFAULTS.items():
        g[k] = g[k] or os.environ.get(var) or default
    return g, p.pop("detach"), p


def _serve_monitor(*args, **kwargs) -> None:
    from pyrt.engine import monitor
    monitor.serve(*args, **kwargs)


def client_for(obj: dict):
    from pyrt.engine import client_monitor
    from pyrt.engine.client import Client
    client_monitor.fork_spawn = _serve_monitor    # a short CLI process: the monitor is forked from it
    return Client(root=obj["root"], run_root=obj.get("run_root"), cgroup_parent=obj.get("cgroup_parent"))


def options(p: dict) -> dict:
    """create()/run() keyword arguments from the parsed flags."""
    from pyrt.cli import engine_args as A
    mounts = [A.volume(v) for v in p["volumes"]] + [A.mount(m) for m in p["mounts"]] + [A.tmpfs(t) for t in p["tmpfs"]]
    max_size, max_file = A.log_opts(p["log_opts"])
    runtime = p["runtime"]
    if runtime and "/" not in runtime:
        import shutil
        runtime = shutil.which(runtime) or runtime
    entry = None if p["entrypoint"] is None else ([p["entrypoint"]] if p["entrypoint"] else [])
    return dict(
        name=p["name"], entrypoint=entry,
        environment=A.env_files(p["env_file"]) + list(p["env"]), working_dir=p["workdir"], user=p["user"],
        hostname=p["hostname"], labels=A.labels(p["labels"]), tty=p["tty"], stdin_open=p["interactive"],
        mounts=mounts, read_only=p["read_only"],
        mem_limit=A.size(p["memory"], "--memory") if p["memory"] else 0,
        memswap_limit=A.memory_swap(p["memory_swap"]) if p["memory_swap"] else 0,
        nano_cpus=A.cpus(p["cpus"]) if p["cpus"] else 0, cpu_shares=p["cpu_shares"],
        cpuset_cpus=p["cpuset_cpus"], pids_limit=p["pids_limit"], cap_add=p["cap_add"],
        cap_drop=p["cap_drop"], privileged=p["privileged"], security_opt=p["security_opt"],
        ulimits=[A.ulimit(u) for u in p["ulimits"]], init=p["init"], network_mode=p["network"], ip=p["ip"],
        ports=A.publish(p["publish"]), publish_all_ports=p["publish_all"],
        network_aliases=p["network_aliases"], dns=p["dns"], dns_search=p["dns_search"], dns_opt=p["dns_options"],
        auto_remove=p["auto_remove"], log_max_size=max_size, log_max_file=max_file, runtime=runtime,
        stop_signal=p["stop_signal"], stop_timeout=p["stop_timeout"], pull=p["pull"], platform=p["platform"])


def progress(p: dict):
    from pyrt.cli import pull_progress as progress
    return progress.for_stream(p["quiet"])


class LazyProgress:
    """The pull progress display, built only if a pull happens (its imports cost every run)."""

    def __init__(self, p: dict):
        self.p, self.real = p, None

    def __getattr__(self, name):
        if self.real is None:
            self.real = progress(self.p)
        return getattr(self.real, name)


def exit_now(code: int) -> None:
    _flush()
    sys.exit(code)


def _flush() -> None:
    for f in (sys.stdout, sys.stderr):
        if f is not None:       # None: the fd was closed when we started
            f.flush()


def _leave(code: int) -> None:
    """`run` is done: exit with CODE once the output is flushed, skipping the interpreter's
    teardown (~10 ms; the container is recorded, nothing is left to write). Only here: other
    verbs' callers unwind through sys.exit (finally blocks that still print)."""
    _flush()
    os._exit(code)


DETACH_KEYS = b"\x10\x11"     # docker's ctrl-p ctrl-q


def detach_keys(spec: str) -> bytes:
    """docker's --detach-keys: "ctrl-p,ctrl-q" -> b"\\x10\\x11" (ctrl-a..z, ctrl-@ [ \\ ] ^ _, or a
    plain character); "" turns detaching off."""
    out = bytearray()
    for key in filter(None, spec.split(",")):
        k = key.strip().lower()
        if k.startswith("ctrl-") and len(k) == 6 and (k[5].isalpha() or k[5] in "@[\\]^_"):
            out.append(ord(k[5].upper()) & 0x1F)
        elif len(k) == 1:
            out.append(ord(k))
        else:
            raise UsageError(f"invalid detach key {key!r}: use ctrl-<letter> or one character")
    return bytes(out)


class _Keys:
    """Watches what the user types for the detach sequence; holds back a partial match."""

    def __init__(self, keys: bytes):
        self.keys, self.held = keys, b""

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        """(what to send on, whether the sequence is complete)."""
        if not self.keys:
            return data, False
        out = bytearray()
        for b in data:
            if b == self.keys[len(self.held)]:
                self.held += bytes([b])
                if self.held == self.keys:
                    return bytes(out), True
                continue
            out += self.held
            self.held = b""
            if b == self.keys[0]:
                self.held = bytes([b])
            else:
                out.append(b)
        return bytes(out), False


def stream(eng, cid: str, att, interactive: bool, tty: bool, sig_proxy: bool = True,
           keys: bytes = DETACH_KEYS) -> int:
    """Relay an attached container: its output to ours, our stdin to it, signals (or, with a
    terminal, the window size) to it; its exit code, or 125 when the monitor vanished. With a
    terminal, KEYS typed detach (0, the container runs on); without SIG_PROXY, Ctrl-C detaches."""
    import socket
    restore = None
    detached = []       # a flag (threading is imported only for -i)

    def detach(*_):
        detached.append(True)
        try:
            att.sock.shutdown(socket.SHUT_RDWR)     # ends the frames loop below
        except OSError:
            pass
    if tty and os.isatty(0):
        import termios
        import tty as tty_mod
        restore = termios.tcgetattr(0)
        tty_mod.setraw(0, termios.TCSANOW)     # not TCSAFLUSH: what was typed already goes to the container

        def winch(*_):
            try:
                size = os.get_terminal_size(0)
                att.resize(size.lines, size.columns)
            except OSError:
                pass
        signal.signal(signal.SIGWINCH, winch)
        winch()
    elif not tty and sig_proxy:
        def forward(signum, _frame):
            try:
                eng.kill(cid, signum)
            except PyrtError:
                pass
        for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2):
            signal.signal(s, forward)
    elif not tty:
        signal.signal(signal.SIGINT, detach)
    if interactive:
        watch = _Keys(keys if tty else b"")
        import threading

        def pump():
            try:
                while True:
                    data = os.read(0, 65536)
                    if not data:
                        break
                    data, done = watch.feed(data)
                    if data:
                        att.send_stdin(data)
                    if done:
                        detach()
                        return
                att.close_stdin()
            except OSError:
                pass
        threading.Thread(target=pump, daemon=True).start()
    out, err = (f.buffer if f is not None else open(os.devnull, "wb") for f in (sys.stdout, sys.stderr))
    code = 125
    try:
        for kind, data in att.frames():
            if kind == "stdout":
                out.write(data)
                out.flush()
            elif kind == "stderr":
                err.write(data)
                err.flush()
            else:
                code = 125 if data is None else data
    except OSError:
        if not detached:
            raise
    finally:
        if restore is not None:
            import termios
            termios.tcsetattr(0, termios.TCSADRAIN, restore)
        att.close()
    return 0 if detached else code


@docker_errors
def run_container(obj: dict, detach: bool, p: dict) -> None:
    """`pyrt run`, for both parsers: OBJ the group's values, P run's (click's names)."""
    client = client_for(obj)
    cid, att = client.containers.run_attached(p["image"], list(p["command"]), attach=not detach,
                                              stdin=p["interactive"], progress=LazyProgress(p), **options(p))
    if detach:
        sys.stdout.write(cid + "\n")
        _leave(0)
    _leave(stream(client.engine, cid, att, p["interactive"], p["tty"]))
