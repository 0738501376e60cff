"""pyrt-runc: runc's command line over pyrt.runtime. Arguments in, calls out, errors to exit codes.

Why two parsers: importing click costs ~20-35 ms here, more than runc's whole `run` (~22 ms).
So every verb's flags are defined ONCE, in the COMMANDS table below; pyrt.cli.argtable reads
that table for normal calls, and click commands are generated from the same table only for --help
and for verbs other parts of pyrt contribute as click commands (pause/resume/update/events in
pyrt.cli.runc_cgroups). Runtime modules are imported inside each handler, for the same reason.
"""
from __future__ import annotations

import os
import sys

from pyrt.cli.argtable import Cmd, Opt, bind, click_command_params, click_params, split_globals
from pyrt.errors import PyrtError, UsageError

PROG = "pyrt-runc"
DEFAULT_ROOT = "/run/pyrt-runc"


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
    # signal 0 only asks whether the container runs (runc accepts it; podman uses it)
    sig = 0 if (signal or "").strip() == "0" else parse_signal(signal or "SIGTERM")
    _load(g, container_id).kill(sig, all_processes=all_)


def h_delete(g, container_id, force):
    from pyrt.runtime.container import delete_container
    delete_container(g.root, container_id, force=force)


def h_list(g, fmt, quiet):
    from pyrt.runtime.container import list_containers
    errors: list = []
    ctrs = [c.oci_state() for c in list_containers(g.root, errors)]
    for e in errors:  # the others are still listed; the exit status stays 0, as runc's
        _warn(g, str(e))
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
    process, spec = exec_process_spec(g.root, container_id, process_json=process_json, args=list(command),
                                      tty=tty, cwd=cwd, env=list(env), user=user,
                                      additional_gids=list(additional_gids), caps=list(cap),
                                      no_new_privs=no_new_privs)
    return exec_process(g.root, container_id, process, detach=detach, pid_file=pid_file,
                        console_socket=console_socket, preserve_fds=preserve_fds, spec=spec)


def h_features(g):
    from pyrt.runtime.ops import features
    _print_json(features(), indent=2)


def h_spec(g, bundle, rootless):
    import json

    from pyrt.errors import ExistsError, NotFoundError
    from pyrt.spec.defaults import default_config
    if not os.path.isdir(bundle or "."):
        raise NotFoundError(f"bundle '{bundle}': no such directory")  # as create says; runc: chdir fails
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


# --- reading argv with the table (pyrt.cli.argtable) -----------------------------------------------
def _split_globals(argv: list[str]) -> tuple[dict, list[str]]:
    """Global flags come before the verb."""
    return split_globals(GLOBAL_OPTS, argv, "")  # fail() adds the "pyrt-runc: " prefix


def dispatch(cmd: Cmd, g: Globals, argv: list[str]):
    return cmd.handler(g, **bind(cmd, argv))


# --- errors and logging ------------------------------------------------------------------------
def _log_line(g: Globals | None, level: str, message: str) -> None:
    """Callers such as containerd read errors from --log; write LEVEL's line there in its format."""
    if g is None or not g.log:
        return
    import time

    # pyrt.spec.jsonio, not json (whose `re` and `enum` cost more than the failed verb itself)
    from pyrt.spec.jsonio import dumps
    # runc's (logrus's) shape: compact JSON, RFC 3339 time in UTC to the second
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    msg = dumps(message)
    line = (f'{{"level":{dumps(level)},"msg":{msg},"time":"{now}"}}' if g.log_format == "json"
            else f'time="{now}" level={level} msg={msg}')
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


MAX_MESSAGE = 1000


def _one_line(message: str) -> str:
    """A message as one line of at most MAX_MESSAGE characters: a hostile input quoted somewhere
    inside (a 100 MB string value) must not be copied whole into stderr or the log."""
    from pyrt.errors import one_line
    return one_line(message, MAX_MESSAGE)


def fail(g: Globals | None, message: str, code: int) -> int:
    message = _one_line(message)
    _log_line(g, "error", message)
    sys.stderr.write(f"{PROG}: {message}\n")
    return code


def _warn(g: Globals | None, message: str) -> None:
    message = _one_line(message)
    _log_line(g, "warning", message)
    sys.stderr.write(f"{PROG}: warning: {message}\n")


def guarded(g: Globals | None, fn, *args) -> int:
    """Run FN; PyrtError and stray OSError become one stderr line and the documented code."""
    try:
        rc = fn(*args)
        return rc if isinstance(rc, int) else 0
    except PyrtError as e:
        if g is not None and g.debug and e.__cause__ is not None:
            # --debug shows what lies under the one line (an OSError with its errno and path)
            from pyrt import trace
            trace.step(f"{type(e).__name__} caused by {type(e.__cause__).__name__}: {e.__cause__}")
        return fail(g, str(e), e.exit_code)
    except OSError as e:
        msg = e.strerror or str(e)
        return fail(g, f"{msg}: {e.filename}" if e.filename else msg, 1)
    except RecursionError:
        # a structure nested deeper than any check foresaw (JSON itself stops at jsonio's limit)
        return fail(g, "exceeded max depth: input nested too deeply", 1)
    except ValueError as e:
        if "null" in str(e) and "byte" in str(e):  # os.* on a path or argument holding NUL
            return fail(g, "a path or argument contains a NUL character", 1)
        raise
    except KeyboardInterrupt:
        return 130


# --- click, generated from the same table (help, and contributed verbs) ------------------------------
def click_group():
    import click

    def make(cmd: Cmd):
        ps = click_command_params(cmd)

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
        _click_globals.append(ctx.obj)  # so _run_click logs a verb's error to --log too

    group = click.Group(PROG, params=click_params(GLOBAL_OPTS), callback=group_cb,
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


_click_globals: list = []


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
        return fail(_click_globals[-1] if _click_globals else None, str(e), e.exit_code)
    except OSError as e:
        msg = e.strerror or str(e)
        g = _click_globals[-1] if _click_globals else None
        return fail(g, f"{msg}: {e.filename}" if e.filename else msg, 1)


def run(argv: list[str]) -> int:
    """One call of pyrt-runc: its exit code. (A click verb may still raise SystemExit.)"""
    if argv in (["--version"], ["-v"]):
        from pyrt import __version__
        sys.stdout.write(f"{PROG} version {__version__}\nspec: 1.0.2\n")
        return 0
    if not argv or "-h" in argv or "--help" in argv:
        return _run_click(argv)
    try:
        gvals, rest = _split_globals(argv)
        g = Globals(**gvals)
    except PyrtError as e:
        return fail(None, str(e), e.exit_code)
    if not rest:
        return fail(g, "missing command", 2)
    cmd = COMMANDS.get(rest[0])
    if cmd is None:
        return _run_click(argv)  # pause/resume/update/events, or click's "no such command"
    return guarded(g, dispatch, cmd, g, rest[1:])


def exit_code(argv: list[str]) -> int:
    """run(), with a SystemExit turned into its code as the interpreter would, and the output
    flushed (a flush that fails is a failure)."""
    try:
        rc = run(argv)
    except SystemExit as e:
        if e.code is None or isinstance(e.code, int):
            rc = e.code or 0
        else:
            sys.stderr.write(f"{e.code}\n")
            rc = 1
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError:
        rc = rc or 1
    return rc


def main(argv: list[str] | None = None) -> None:
    import gc
    # A call lives for milliseconds: the cyclic GC would only walk the modules just imported
    # (and, after fork, copy every page it touches). The long waits (run, exec, events) re-enable it.
    gc.disable()
    # Everything is released by the end; interpreter teardown would only add milliseconds.
    os._exit(exit_code(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    main()
