"""pyrt-runc: runc's command line over pyrt.runtime. Arguments in, calls out, errors to exit codes.

Why two parsers: importing click costs ~20-35 ms here, more than runc's whole `run` (~22 ms).
So every verb's flags are defined ONCE, in the COMMANDS table below; a tiny parser reads that
table for normal calls, and click commands are generated from the same table only for --help
and for verbs other parts of pyrt contribute as click commands (pause/resume/update/events in
pyrt.cli.runc_cgroups). Runtime modules are imported inside each handler, for the same reason.
"""
from __future__ import annotations

import os
import sys

from pyrt.errors import PyrtError, UsageError

PROG = "pyrt-runc"
DEFAULT_ROOT = "/run/pyrt-runc"


class Opt:
    """One flag: KIND is flag | str | int | multi (repeatable str) | multi_int | choice."""
    __slots__ = ("names", "dest", "kind", "default", "help", "choices")

    def __init__(self, names, dest, kind="str", default=None, help="", choices=()):
        self.names, self.dest, self.kind, self.default = names, dest, kind, default
        self.help, self.choices = help, choices


class Cmd:
    """A verb: its flags, positional arguments (name, required), an optional REST list
    (everything after the positionals) and the handler called with the parsed values."""
    __slots__ = ("name", "help", "opts", "args", "rest", "handler", "interspersed")

    def __init__(self, name, help, opts, args, handler, rest=None, interspersed=True):
        self.name, self.help, self.opts, self.args = name, help, opts, args
        self.handler, self.rest, self.interspersed = handler, rest, interspersed


class Globals:
    """Values of the global flags; runc_cgroups' click commands read .root from ctx.obj."""

    def __init__(self, root, log=None, log_format="text", debug=False, systemd_cgroup=False,
                 rootless="auto", criu=None):
        self.root = os.path.abspath(root)
        self.log, self.log_format, self.debug = log, log_format, debug
        if systemd_cgroup:
            raise UsageError("--systemd-cgroup is not supported: pyrt-runc drives cgroupfs directly")
        if debug:
            _enable_debug(self)


GLOBAL_OPTS = [
    Opt(("--root",), "root", default=DEFAULT_ROOT, help="state directory"),
    Opt(("--log",), "log", help="log file (errors are also written here)"),
    Opt(("--log-format",), "log_format", "choice", "text", "log format", ("text", "json")),
    Opt(("--debug",), "debug", "flag", False, "debug notes on stderr (and in --log)"),
    Opt(("--systemd-cgroup",), "systemd_cgroup", "flag", False, "use systemd for cgroups (not supported)"),
    Opt(("--rootless",), "rootless", default="auto", help="ignored: pyrt-runc detects what it can do"),
    Opt(("--criu",), "criu", help="ignored (no checkpoint/restore)"),
]

CREATE_OPTS = [
    Opt(("--bundle", "-b"), "bundle", default=".", help="bundle directory (default: current directory)"),
    Opt(("--pid-file",), "pid_file", help="write the init's pid here"),
    Opt(("--console-socket",), "console_socket", help="unix socket receiving the pty master"),
    Opt(("--no-pivot",), "no_pivot", "flag", False, "chroot instead of pivot_root"),
    Opt(("--no-new-keyring",), "no_new_keyring", "flag", False, "accepted for compatibility"),
    Opt(("--preserve-fds",), "preserve_fds", "int", 0, "pass fds 3..3+N-1 to the container"),
]


# --- handlers ---------------------------------------------------------------------------------------
def _print_json(obj, indent=None) -> None:
    from pyrt.spec import jsonio
    sys.stdout.write(jsonio.dumps(obj, indent=indent) + "\n")


def _load(g, container_id):
    from pyrt.runtime.container import Container
    return Container.load(g.root, container_id)


def h_create(g, container_id, bundle, pid_file, console_socket, no_pivot, no_new_keyring, preserve_fds):
    from pyrt.runtime.create import create
    create(g.root, container_id, bundle, pid_file=pid_file, console_socket=console_socket,
           no_pivot=no_pivot, preserve_fds=preserve_fds)


def h_run(g, container_id, bundle, pid_file, console_socket, no_pivot, no_new_keyring, preserve_fds,
          detach, keep):
    from pyrt.runtime.create import run
    return run(g.root, container_id, bundle, detach=detach, keep=keep, pid_file=pid_file,
               console_socket=console_socket, no_pivot=no_pivot, preserve_fds=preserve_fds)


def h_start(g, container_id):
    _load(g, container_id).start()


def h_state(g, container_id):
    _print_json(_load(g, container_id).oci_state(), indent=2)


def h_kill(g, container_id, signal, all_):
    from pyrt.linux.signals import parse_signal
    sig = parse_signal(signal or "SIGTERM")
    _load(g, container_id).kill(sig, all_processes=all_)


def h_delete(g, container_id, force):
    from pyrt.errors import NotFoundError
    try:
        ctr = _load(g, container_id)
    except NotFoundError:
        if force:
            return  # runc: delete --force of a missing container succeeds
        raise
    ctr.delete(force=force)


def h_list(g, fmt, quiet):
    from pyrt.runtime.container import list_containers
    ctrs = [c.oci_state() for c in list_containers(g.root)]
    if quiet:
        for c in ctrs:
            print(c["id"])
    elif fmt == "json":
        _print_json(ctrs)
    else:
        print(f"{'ID':<20} {'PID':<8} {'STATUS':<10} {'BUNDLE':<40} {'CREATED':<32} OWNER")
        for c in ctrs:
            print(f"{c['id']:<20} {c['pid']:<8} {c['status']:<10} {c['bundle']:<40} "
                  f"{c['created']:<32} {c.get('owner') or 'root'}")


def h_ps(g, container_id, fmt, ps_args):
    from pyrt.runtime.ops import container_pids, ps_table
    pids = container_pids(_load(g, container_id))
    if fmt == "json":
        _print_json(pids)
    else:
        sys.stdout.write(ps_table(pids, list(ps_args) or ["-ef"]))


def h_exec(g, container_id, command, process_json, tty, cwd, env, user, additional_gids, cap, no_new_privs,
           detach, pid_file, console_socket, preserve_fds):
    from pyrt.runtime.create import exec_process
    from pyrt.runtime.ops import exec_process_spec
    process = exec_process_spec(g.root, container_id, process_json=process_json, args=list(command), tty=tty,
                                cwd=cwd, env=list(env), user=user, additional_gids=list(additional_gids),
                                caps=list(cap), no_new_privs=no_new_privs)
    return exec_process(g.root, container_id, process, detach=detach, pid_file=pid_file,
                        console_socket=console_socket, preserve_fds=preserve_fds)


def h_features(g):
    from pyrt.runtime.ops import features
    _print_json(features(), indent=2)


def h_spec(g, bundle, rootless):
    import json

    from pyrt.errors import ExistsError
    from pyrt.spec.defaults import default_config
    path = os.path.join(bundle, "config.json")
    if os.path.exists(path):
        raise ExistsError(f"{path} already exists")
    with open(path, "w") as f:
        json.dump(default_config(rootless), f, indent=2)


COMMANDS = {c.name: c for c in [
    Cmd("create", "Create a container; its process waits for `start`.", CREATE_OPTS,
        [("container_id", True)], h_create),
    Cmd("run", "Create and start a container, wait for it, exit with its status.", CREATE_OPTS + [
        Opt(("--detach", "-d"), "detach", "flag", False, "do not wait for the container"),
        Opt(("--keep",), "keep", "flag", False, "do not delete the container after it exits"),
    ], [("container_id", True)], h_run),
    Cmd("start", "Start a created container.", [], [("container_id", True)], h_start),
    Cmd("state", "Print the container's state as JSON.", [], [("container_id", True)], h_state),
    Cmd("kill", "Send a signal (name or number, default SIGTERM) to the container's init.", [
        Opt(("--all", "-a"), "all_", "flag", False, "signal every process in the container"),
    ], [("container_id", True), ("signal", False)], h_kill),
    Cmd("delete", "Delete a container and everything it holds.", [
        Opt(("--force", "-f"), "force", "flag", False, "kill a running container first"),
    ], [("container_id", True)], h_delete),
    Cmd("list", "List containers.", [
        Opt(("--format", "-f"), "fmt", "choice", "table", "output format", ("table", "json")),
        Opt(("--quiet", "-q"), "quiet", "flag", False, "ids only"),
    ], [], h_list),
    Cmd("ps", "List the container's processes (json: host pids; table: ps(1) rows).", [
        Opt(("--format", "-f"), "fmt", "choice", "table", "output format", ("table", "json")),
    ], [("container_id", True)], h_ps, rest="ps_args", interspersed=False),
    # Options stop at the container id: `exec ID sh -c ...` passes -c to the command.
    Cmd("exec", "Run a new process inside a running container.", [
        Opt(("--process", "-p"), "process_json", help="process.json to run"),
        Opt(("--tty", "-t"), "tty", "flag", False, "allocate a pty (needs --console-socket)"),
        Opt(("--cwd",), "cwd", help="working directory"),
        Opt(("--env", "-e"), "env", "multi", (), "NAME=value, repeatable"),
        Opt(("--user", "-u"), "user", help="uid[:gid]"),
        Opt(("--additional-gids", "-g"), "additional_gids", "multi_int", (), "extra group, repeatable"),
        Opt(("--cap", "-c"), "cap", "multi", (), "add a capability, repeatable"),
        Opt(("--no-new-privs",), "no_new_privs", "flag", False, "set no_new_privs"),
        Opt(("--detach", "-d"), "detach", "flag", False, "do not wait for the process"),
        Opt(("--pid-file",), "pid_file", help="write the process's pid here"),
        Opt(("--console-socket",), "console_socket", help="unix socket receiving the pty master"),
        Opt(("--preserve-fds",), "preserve_fds", "int", 0, "pass fds 3..3+N-1"),
    ], [("container_id", True)], h_exec, rest="command", interspersed=False),
    Cmd("features", "Print what this runtime supports (runtime-spec features JSON).", [], [], h_features),
    Cmd("spec", "Write a default config.json.", [
        Opt(("--bundle", "-b"), "bundle", default=".", help="where to write config.json"),
        Opt(("--rootless",), "rootless", "flag", False, "a spec for a rootless container"),
    ], [], h_spec),
]}


# --- the small parser over the table ------------------------------------------------------------------
def _convert(opt: Opt, value: str, where: str):
    if opt.kind in ("int", "multi_int"):
        try:
            n = int(value)
        except ValueError:
            raise UsageError(f"{where}: {opt.names[0]} wants a number, not {value!r}") from None
        if n < 0:
            raise UsageError(f"{where}: {opt.names[0]} must not be negative")
        return n
    if opt.kind == "choice" and value not in opt.choices:
        raise UsageError(f"{where}: {opt.names[0]} must be one of {', '.join(opt.choices)}")
    return value


def parse(opts: list[Opt], argv: list[str], where: str, stop_at_positional: bool) -> tuple[dict, list[str]]:
    """Parse ARGV against OPTS: ({dest: value}, positionals). Positionals may be interleaved
    with flags unless STOP_AT_POSITIONAL; `--` ends the flags."""
    by_name = {n: o for o in opts for n in o.names}
    values = {o.dest: (list(o.default) if o.kind.startswith("multi") else o.default) for o in opts}
    pos: list[str] = []
    i = 0
    while i < len(argv):
        a = argv[i]
        i += 1
        if a == "--":
            pos.extend(argv[i:])
            break
        if not a.startswith("-") or a == "-" or (pos and stop_at_positional):
            pos.append(a)
            if stop_at_positional:
                pos.extend(argv[i:])
                break
            continue
        name, eq, inline = a.partition("=")
        opt = by_name.get(name)
        if opt is None:
            raise UsageError(f"{where}: unknown option {name}")
        if opt.kind == "flag":
            if eq:
                values[opt.dest] = inline.lower() in ("1", "true", "yes")
            else:
                values[opt.dest] = True
            continue
        if not eq:
            if i >= len(argv):
                raise UsageError(f"{where}: {name} needs a value")
            inline = argv[i]
            i += 1
        v = _convert(opt, inline, where)
        if opt.kind.startswith("multi"):
            values[opt.dest].append(v)
        else:
            values[opt.dest] = v
    return values, pos


def _split_globals(argv: list[str]) -> tuple[dict, list[str]]:
    """Global flags come before the verb."""
    for i, a in enumerate(argv):
        if not a.startswith("-"):
            prev = argv[i - 1] if i else ""
            takes_value = any(prev in o.names and o.kind != "flag" for o in GLOBAL_OPTS) and "=" not in prev
            if not takes_value:
                g, _ = parse(GLOBAL_OPTS, argv[:i], PROG, False)
                return g, argv[i:]
    g, _ = parse(GLOBAL_OPTS, argv, PROG, False)
    return g, []


def dispatch(cmd: Cmd, g: Globals, argv: list[str]):
    values, pos = parse(cmd.opts, argv, cmd.name, not cmd.interspersed)
    for name, required in cmd.args:
        if pos:
            values[name] = pos.pop(0)
        elif required:
            raise UsageError(f"{cmd.name}: missing argument {name.upper()}")
        else:
            values[name] = None
    if cmd.rest:
        values[cmd.rest] = pos
    elif pos:
        raise UsageError(f"{cmd.name}: unexpected argument {pos[0]!r}")
    return cmd.handler(g, **values)


# --- errors and logging ------------------------------------------------------------------------
def _log_line(g: Globals | None, level: str, message: str) -> None:
    """Callers such as containerd read errors from --log; write LEVEL's line there in its format."""
    if g is None or not g.log:
        return
    import json
    import time
    # runc's (logrus's) shape: compact JSON, RFC 3339 time in UTC to the second
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    line = (json.dumps({"level": level, "msg": message, "time": now}, separators=(",", ":"))
            if g.log_format == "json"
            else f'time="{now}" level={level} msg={json.dumps(message)}')
    try:
        with open(g.log, "a") as f:
            f.write(line + "\n")
    except OSError:
        pass


def _enable_debug(g: Globals) -> None:
    """--debug: every pyrt.* debug record (e.g. the cgroup layer's best-effort notes) goes to
    stderr as `pyrt-runc: debug: ...` and to --log. logging is imported only with --debug."""
    import logging

    class Handler(logging.Handler):
        ours = True

        def emit(self, record):
            msg = record.getMessage()
            try:
                sys.stderr.write(f"{PROG}: debug: {msg}\n")
                sys.stderr.flush()
            except OSError:
                pass
            _log_line(g, "debug", msg)

    logger = logging.getLogger("pyrt")
    for h in [h for h in logger.handlers if getattr(h, "ours", False)]:
        logger.removeHandler(h)  # main() called again in-process: one handler, the latest --log
    logger.addHandler(Handler())
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    from pyrt import trace
    trace.on = True  # and every isolation step is narrated (pyrt.trace)


def fail(g: Globals | None, message: str, code: int) -> int:
    _log_line(g, "error", message)
    sys.stderr.write(f"{PROG}: {message}\n")
    return code


def guarded(g: Globals | None, fn, *args) -> int:
    """Run FN; PyrtError and stray OSError become one stderr line and the documented code."""
    try:
        rc = fn(*args)
        return rc if isinstance(rc, int) else 0
    except PyrtError as e:
        return fail(g, str(e), e.exit_code)
    except OSError as e:
        msg = e.strerror or str(e)
        return fail(g, f"{msg}: {e.filename}" if e.filename else msg, 1)
    except KeyboardInterrupt:
        return 130


# --- click, generated from the same table (help, and contributed verbs) ------------------------------
def click_group():
    import click

    def params(opts):
        out = []
        for o in opts:
            decl = [*o.names, o.dest]
            if o.kind == "flag":
                out.append(click.Option(decl, is_flag=True, default=o.default, help=o.help))
            elif o.kind.startswith("multi"):
                out.append(click.Option(decl, multiple=True, type=int if o.kind == "multi_int" else str,
                                        help=o.help))
            elif o.kind == "choice":
                out.append(click.Option(decl, type=click.Choice(o.choices), default=o.default, help=o.help))
            else:
                out.append(click.Option(decl, type=click.IntRange(0) if o.kind == "int" else str,
                                        default=o.default, help=o.help))
        return out

    def make(cmd: Cmd):
        ps = params(cmd.opts) + [click.Argument([n], required=r) for n, r in cmd.args]
        if cmd.rest:
            ps.append(click.Argument([cmd.rest], nargs=-1, type=click.UNPROCESSED))

        @click.pass_obj
        def callback(g, **values):
            sys.exit(guarded(g, lambda: cmd.handler(g, **values)))
        return click.Command(cmd.name, params=ps, callback=callback, help=cmd.help,
                             context_settings={"allow_interspersed_args": cmd.interspersed,
                                               "ignore_unknown_options": cmd.rest is not None})

    @click.pass_context
    def group_cb(ctx, **values):
        try:
            ctx.obj = Globals(**values)
        except PyrtError as e:
            sys.exit(fail(None, str(e), e.exit_code))

    group = click.Group(PROG, params=params(GLOBAL_OPTS), callback=group_cb,
                        help="A runc-compatible OCI runtime written in Python.",
                        context_settings={"help_option_names": ["-h", "--help"]})
    for cmd in COMMANDS.values():
        group.add_command(make(cmd))
    try:
        from pyrt.cli.runc_cgroups import COMMANDS as contributed
    except ImportError:
        contributed = []
    for c in contributed:
        group.add_command(c)
    return group


def _run_click(argv: list[str]) -> int:
    """Verbs contributed as click commands get the same error handling as ours."""
    import click
    group = click_group()
    try:
        group.main(argv, prog_name=PROG, standalone_mode=False)
        return 0
    except click.exceptions.Exit as e:
        return e.exit_code
    except click.ClickException as e:
        e.show()
        return 2
    except click.exceptions.Abort:
        return 130
    except PyrtError as e:
        return fail(None, str(e), e.exit_code)
    except OSError as e:
        msg = e.strerror or str(e)
        return fail(None, f"{msg}: {e.filename}" if e.filename else msg, 1)


def main(argv: list[str] | None = None) -> None:
    import gc
    # A call lives for milliseconds: the cyclic GC would only walk the modules just imported
    # (and, after fork, copy every page it touches). The long waits (run, exec, events) re-enable it.
    gc.disable()
    argv = sys.argv[1:] if argv is None else argv
    if argv in (["--version"], ["-v"]):
        from pyrt import __version__
        sys.stdout.write(f"{PROG} version {__version__}\nspec: 1.0.2\n")
        sys.exit(0)
    if not argv or "-h" in argv or "--help" in argv:
        sys.exit(_run_click(argv))
    try:
        gvals, rest = _split_globals(argv)
        g = Globals(**gvals)
    except PyrtError as e:
        sys.exit(fail(None, str(e), e.exit_code))
    if not rest:
        sys.exit(fail(g, "missing command", 2))
    cmd = COMMANDS.get(rest[0])
    if cmd is None:
        sys.exit(_run_click(argv))  # pause/resume/update/events, or click's "no such command"
    rc = guarded(g, dispatch, cmd, g, rest[1:])
    # Everything is released by now; interpreter teardown would only add milliseconds.
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError:
        rc = rc or 1
    os._exit(rc)


if __name__ == "__main__":
    main()
