"""pyrt-runc: runc's command line over pyrt.runtime. Arguments in, calls out, errors to exit codes.

Every runtime module is imported inside the command that needs it, so `pyrt-runc state` does
not pay for the fork/mount machinery (start-up time is most of a short command's cost).
"""
from __future__ import annotations

import json
import os
import sys

import click

from pyrt.errors import PyrtError, UsageError

PROG = "pyrt-runc"


class Ctx:
    def __init__(self, root: str, log: str | None, log_format: str, debug: bool):
        self.root = root
        self.log = log
        self.log_format = log_format
        self.debug = debug


def _log_error(ctx: Ctx | None, message: str) -> None:
    """Callers such as containerd read errors from --log; write it there too."""
    if ctx is None or not ctx.log:
        return
    import datetime
    now = datetime.datetime.now(datetime.timezone.utc).isoformat()
    line = (json.dumps({"level": "error", "msg": message, "time": now}) if ctx.log_format == "json"
            else f'time="{now}" level=error msg="{message}"')
    try:
        with open(ctx.log, "a") as f:
            f.write(line + "\n")
    except OSError:
        pass


def _fail(message: str, code: int) -> None:
    ctx = click.get_current_context(silent=True)
    obj = ctx.find_object(Ctx) if ctx else None
    _log_error(obj, message)
    click.echo(f"{PROG}: {message}", err=True)
    sys.exit(code)


class Group(click.Group):
    """Turns PyrtError (and stray OSError) into one stderr line and the documented exit code."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except PyrtError as e:
            _fail(str(e), e.exit_code)
        except OSError as e:
            msg = e.strerror or str(e)
            _fail(f"{msg}: {e.filename}" if e.filename else msg, 1)
        except KeyboardInterrupt:
            sys.exit(130)


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--root", default="/run/pyrt-runc", show_default=True, help="state directory")
@click.option("--log", default=None, help="log file (errors are also written here)")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text")
@click.option("--debug", is_flag=True, help="more logging")
@click.option("--systemd-cgroup", is_flag=True, help="use systemd for cgroups (not supported)")
@click.option("--rootless", default="auto", help="ignored: pyrt-runc detects what it can do")
@click.option("--criu", default=None, hidden=True)
@click.version_option(package_name="pyrt", prog_name=PROG)
@click.pass_context
def cli(ctx, root, log, log_format, debug, systemd_cgroup, rootless, criu):
    """A runc-compatible OCI runtime written in Python."""
    if systemd_cgroup:
        raise UsageError("--systemd-cgroup is not supported: pyrt-runc drives cgroupfs directly")
    ctx.obj = Ctx(os.path.abspath(root), log, log_format, debug)


def _create_options(f):
    for opt in reversed([
        click.option("--bundle", "-b", default=".", help="bundle directory (default: current directory)"),
        click.option("--pid-file", default=None, help="write the init's pid here"),
        click.option("--console-socket", default=None, help="unix socket receiving the pty master"),
        click.option("--no-pivot", is_flag=True, help="chroot instead of pivot_root"),
        click.option("--no-new-keyring", is_flag=True, help="accepted for compatibility"),
        click.option("--preserve-fds", default=0, type=click.IntRange(0), help="pass fds 3..3+N-1"),
    ]):
        f = opt(f)
    return f


@cli.command()
@_create_options
@click.argument("container_id")
@click.pass_obj
def create(obj, bundle, pid_file, console_socket, no_pivot, no_new_keyring, preserve_fds, container_id):
    """Create a container; its process waits for `start`."""
    from pyrt.runtime.create import create as do_create
    do_create(obj.root, container_id, bundle, pid_file=pid_file, console_socket=console_socket,
              no_pivot=no_pivot, preserve_fds=preserve_fds)


@cli.command()
@_create_options
@click.option("--detach", "-d", is_flag=True, help="do not wait for the container")
@click.option("--keep", is_flag=True, help="do not delete the container after it exits")
@click.argument("container_id")
@click.pass_obj
def run(obj, bundle, pid_file, console_socket, no_pivot, no_new_keyring, preserve_fds, detach, keep,
        container_id):
    """Create and start a container, wait for it, exit with its status."""
    from pyrt.runtime.create import run as do_run
    code = do_run(obj.root, container_id, bundle, detach=detach, keep=keep, pid_file=pid_file,
                  console_socket=console_socket, no_pivot=no_pivot, preserve_fds=preserve_fds)
    sys.exit(code)


def _load(obj, container_id):
    from pyrt.runtime.container import Container
    return Container.load(obj.root, container_id)


@cli.command()
@click.argument("container_id")
@click.pass_obj
def start(obj, container_id):
    """Start a created container."""
    _load(obj, container_id).start()


@cli.command()
@click.argument("container_id")
@click.pass_obj
def state(obj, container_id):
    """Print the container's state as JSON."""
    click.echo(json.dumps(_load(obj, container_id).oci_state(), indent=2))


@cli.command()
@click.option("--all", "-a", "all_", is_flag=True, help="signal every process in the container")
@click.argument("container_id")
@click.argument("signal", default="SIGTERM")
@click.pass_obj
def kill(obj, all_, container_id, signal):
    """Send a signal (name or number, default SIGTERM) to the container's init."""
    from pyrt.linux.signals import parse_signal
    sig = parse_signal(signal)
    _load(obj, container_id).kill(sig, all_processes=all_)


@cli.command()
@click.option("--force", "-f", is_flag=True, help="kill a running container first")
@click.argument("container_id")
@click.pass_obj
def delete(obj, force, container_id):
    """Delete a container and everything it holds."""
    from pyrt.errors import NotFoundError
    try:
        ctr = _load(obj, container_id)
    except NotFoundError:
        if force:
            return  # runc: delete --force of a missing container succeeds
        raise
    ctr.delete(force=force)


@cli.command(name="list")
@click.option("--format", "-f", "fmt", type=click.Choice(["table", "json"]), default="table")
@click.option("--quiet", "-q", is_flag=True, help="ids only")
@click.pass_obj
def list_(obj, fmt, quiet):
    """List containers."""
    from pyrt.runtime.container import list_containers
    ctrs = [c.oci_state() for c in list_containers(obj.root)]
    if quiet:
        for c in ctrs:
            click.echo(c["id"])
    elif fmt == "json":
        click.echo(json.dumps(ctrs))
    else:
        click.echo(f"{'ID':<20} {'PID':<8} {'STATUS':<10} {'BUNDLE':<40} {'CREATED':<32} OWNER")
        for c in ctrs:
            click.echo(f"{c['id']:<20} {c['pid']:<8} {c['status']:<10} {c['bundle']:<40} "
                       f"{c['created']:<32} {c.get('owner') or 'root'}")


@cli.command(context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.option("--format", "-f", "fmt", type=click.Choice(["table", "json"]), default="table")
@click.argument("container_id")
@click.argument("ps_args", nargs=-1, type=click.UNPROCESSED)
@click.pass_obj
def ps(obj, fmt, container_id, ps_args):
    """List the container's processes (json: pids; table: ps(1) output filtered to them)."""
    from pyrt.runtime.ops import container_pids, ps_table
    ctr = _load(obj, container_id)
    pids = container_pids(ctr)
    if fmt == "json":
        click.echo(json.dumps(pids))
    else:
        click.echo(ps_table(pids, list(ps_args) or ["-ef"]), nl=False)


# Options stop at the container id: `exec ID sh -c ...` passes -c to the command.
@cli.command(name="exec", context_settings={"allow_interspersed_args": False})
@click.option("--process", "-p", "process_json", default=None, help="process.json to run")
@click.option("--tty", "-t", is_flag=True, help="allocate a pty")
@click.option("--cwd", default=None)
@click.option("--env", "-e", multiple=True, help="NAME=value, repeatable")
@click.option("--user", "-u", default=None, help="uid[:gid]")
@click.option("--additional-gids", "-g", multiple=True, type=int)
@click.option("--cap", "-c", multiple=True, help="add a capability, repeatable")
@click.option("--no-new-privs", is_flag=True)
@click.option("--detach", "-d", is_flag=True)
@click.option("--pid-file", default=None)
@click.option("--console-socket", default=None)
@click.option("--preserve-fds", default=0, type=click.IntRange(0))
@click.argument("container_id")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@click.pass_obj
def exec_(obj, process_json, tty, cwd, env, user, additional_gids, cap, no_new_privs, detach, pid_file,
          console_socket, preserve_fds, container_id, command):
    """Run a new process inside a running container."""
    from pyrt.runtime.create import exec_process
    from pyrt.runtime.ops import exec_process_spec
    process = exec_process_spec(obj.root, container_id, process_json=process_json, args=list(command), tty=tty,
                                cwd=cwd, env=list(env), user=user, additional_gids=list(additional_gids),
                                caps=list(cap), no_new_privs=no_new_privs)
    code = exec_process(obj.root, container_id, process, detach=detach, pid_file=pid_file,
                        console_socket=console_socket, preserve_fds=preserve_fds)
    sys.exit(code)


@cli.command()
def features():
    """Print what this runtime supports (runtime-spec features JSON)."""
    from pyrt.runtime.ops import features as feats
    click.echo(json.dumps(feats(), indent=2))


@cli.command()
@click.option("--bundle", "-b", default=".", help="where to write config.json")
@click.option("--rootless", is_flag=True, help="a spec for a rootless container")
def spec(bundle, rootless):
    """Write a default config.json."""
    from pyrt.spec.defaults import default_config
    from pyrt.errors import ExistsError
    path = os.path.join(bundle, "config.json")
    if os.path.exists(path):
        raise ExistsError(f"{path} already exists")
    with open(path, "w") as f:
        json.dump(default_config(rootless), f, indent=2)


def _register_optional() -> None:
    """Commands other parts of pyrt contribute (pause/resume/update/events from the cgroups side)."""
    try:
        from pyrt.cli.runc_cgroups import COMMANDS
    except ImportError:
        return
    for c in COMMANDS:
        cli.add_command(c)


def main() -> None:
    # Only pay for the optional commands' imports when one may be asked for.
    argv = sys.argv[1:]
    if not argv or any(a in ("pause", "resume", "update", "events", "--help", "-h") for a in argv):
        _register_optional()
    cli(prog_name=PROG)


if __name__ == "__main__":
    main()
