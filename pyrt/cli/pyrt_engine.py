"""`pyrt`'s container and volume verbs (docker's spelling): argument parsing and output only;
every verb calls the engine API (pyrt.engine.client). Registered by pyrt_commands from COMMANDS.

Exit codes as docker's: a container's own status for run / start -a / wait; 125 when pyrt fails;
126 / 127 when the command cannot be run / is not found (docs/exit-codes.md).
"""
from __future__ import annotations

import json
import os
import re
import sys
import time

import click

from pyrt.cli import engine_args as A
# run's work and what the verbs share with it live in engine_run, which `pyrt run` reaches without click
from pyrt.cli.engine_run import DockerExit, client_for, docker_errors, run_container
from pyrt.cli.engine_run import exit_now as _exit, options as _options, progress as _progress
from pyrt.cli.engine_run import stream as _stream
from pyrt.errors import PyrtError


def _client(ctx):
    return client_for(ctx.find_root().obj)


# -- run / create ------------------------------------------------------------------------------
def _create_options(fn):
    opts = [
        click.option("--name", default=""),
        click.option("-e", "--env", "env", multiple=True),
        click.option("--env-file", "env_file", multiple=True),
        click.option("-w", "--workdir", default=""),
        click.option("-u", "--user", default=""),
        click.option("--entrypoint", default=None),
        click.option("-h", "--hostname", default=""),
        click.option("-v", "--volume", "volumes", multiple=True),
        click.option("--mount", "mounts", multiple=True),
        click.option("--tmpfs", "tmpfs", multiple=True),
        click.option("--read-only", is_flag=True),
        click.option("-m", "--memory", default=None),
        click.option("--memory-swap", default=None),
        click.option("--cpus", default=None),
        click.option("--cpu-shares", "-c", type=int, default=0),
        click.option("--cpuset-cpus", default=""),
        click.option("--pids-limit", type=int, default=0),
        click.option("--cap-add", multiple=True),
        click.option("--cap-drop", multiple=True),
        click.option("--privileged", is_flag=True),
        click.option("--security-opt", multiple=True),
        click.option("--ulimit", "ulimits", multiple=True),
        click.option("--init", is_flag=True),
        click.option("--stop-signal", default=""),
        click.option("--stop-timeout", type=int, default=None),
        click.option("-l", "--label", "labels", multiple=True),
        click.option("--log-opt", "log_opts", multiple=True),
        click.option("--pull", default="missing"),
        click.option("--platform", default=None),
        click.option("--runtime", default=""),
        click.option("--network", "--net", "network", default=None),
        click.option("--ip", default=""),
        click.option("-p", "--publish", multiple=True),
        click.option("-P", "--publish-all", is_flag=True),
        click.option("--network-alias", "network_aliases", multiple=True),
        click.option("--dns", multiple=True),
        click.option("--dns-search", multiple=True),
        click.option("--dns-option", "dns_options", multiple=True),
        click.option("-i", "--interactive", is_flag=True),
        click.option("-t", "--tty", is_flag=True),
        click.option("--rm", "auto_remove", is_flag=True),
        click.option("-q", "--quiet", is_flag=True),
        click.argument("image"),
        click.argument("command", nargs=-1, type=click.UNPROCESSED),
    ]
    for o in reversed(opts):
        fn = o(fn)
    return fn


def _create(ctx, p: dict):
    return _client(ctx).containers.create(p["image"], list(p["command"]), progress=_progress(p), **_options(p))


@click.command(context_settings={"ignore_unknown_options": False, "allow_interspersed_args": False})
@_create_options
@click.option("-d", "--detach", is_flag=True)
@click.pass_context
@docker_errors
def run(ctx, detach, **p):
    """Create and start a container from IMAGE, running COMMAND."""
    run_container(ctx.find_root().obj, detach, p)


@click.command(context_settings={"allow_interspersed_args": False})
@_create_options
@click.pass_context
@docker_errors
def create(ctx, **p):
    """Create a container from IMAGE (start it with `pyrt start`)."""
    click.echo(_create(ctx, p).id)


# -- lifecycle verbs ---------------------------------------------------------------------------------
@click.command()
@click.option("-a", "--attach", is_flag=True)
@click.option("-i", "--interactive", is_flag=True)
@click.argument("containers", nargs=-1, required=True)
@click.pass_context
@docker_errors
def start(ctx, attach, interactive, containers):
    """Start one or more containers."""
    eng = _client(ctx).engine
    if attach:
        if len(containers) != 1:
            raise DockerExit("you cannot start and attach multiple containers at once")
        rec = eng.get(containers[0])
        att = eng.start(rec.id, attach=True, stdin=interactive)
        _exit(_stream(eng, rec.id, att, interactive, rec.config.tty))
    _each(containers, lambda ref: eng.start(ref))


@click.command()
@click.option("--no-stdin", is_flag=True, help="do not attach stdin")
@click.option("--sig-proxy", type=click.BOOL, default=True, help="forward signals to the container")
@click.option("--detach-keys", default="ctrl-p,ctrl-q", help="keys that detach (with a terminal)")
@click.argument("container")
@click.pass_context
@docker_errors
def attach(ctx, no_stdin, sig_proxy, detach_keys, container):
    """Attach this terminal's stdio to a running container (through its monitor)."""
    from pyrt.cli.engine_run import detach_keys as parse_keys
    keys = parse_keys(detach_keys)
    eng = _client(ctx).engine
    rec = eng.get(container)
    stdin = rec.config.open_stdin and not no_stdin
    att = eng.attach(rec.id, stdin=stdin)
    _exit(_stream(eng, rec.id, att, stdin, rec.config.tty, sig_proxy=sig_proxy, keys=keys))


def _each(refs, fn, echo=True) -> None:
    """docker's many-argument verbs: do each, print each done, one error line each, 1 at the end."""
    failed = False
    for ref in refs:
        try:
            fn(ref)
            if echo:
                click.echo(ref)
        except PyrtError as e:
            failed = True
            sys.stderr.write(f"pyrt: {e}\n")
    if failed:
        _exit(1)


@click.command()
@click.option("-t", "--time", "timeout", type=int, default=None)
@click.argument("containers", nargs=-1, required=True)
@click.pass_context
@docker_errors
def stop(ctx, timeout, containers):
    """Stop containers: the stop signal, then SIGKILL after the timeout."""
    eng = _client(ctx).engine
    _each(containers, lambda ref: eng.stop(ref, timeout))


@click.command()
@click.option("-t", "--time", "timeout", type=int, default=None)
@click.argument("containers", nargs=-1, required=True)
@click.pass_context
@docker_errors
def restart(ctx, timeout, containers):
    """Restart containers."""
    eng = _client(ctx).engine
    _each(containers, lambda ref: eng.restart(ref, timeout))


@click.command()
@click.option("-s", "--signal", "sig", default="KILL")
@click.argument("containers", nargs=-1, required=True)
@click.pass_context
@docker_errors
def kill(ctx, sig, containers):
    """Send a signal (default KILL) to containers."""
    eng = _client(ctx).engine
    _each(containers, lambda ref: eng.kill(ref, sig))


@click.command()
@click.option("-f", "--force", is_flag=True)
@click.option("-v", "--volumes", is_flag=True)
@click.argument("containers", nargs=-1, required=True)
@click.pass_context
@docker_errors
def rm(ctx, force, volumes, containers):
    """Remove containers (-f: even running ones; -v: with their anonymous volumes)."""
    eng = _client(ctx).engine
    if force and len(containers) > 1:
        # kill them all first: the monitor then records their exits side by side, instead of
        # each remove waiting for the one before it to be cleaned up (docker's CLI works on them
        # in parallel). Errors are remove's to report.
        for ref in containers:
            try:
                eng.kill(ref, "SIGKILL")
            except PyrtError:
                pass
    _each(containers, lambda ref: eng.remove(ref, force=force, volumes=volumes))


@click.command()
@click.argument("containers", nargs=-1, required=True)
@click.pass_context
@docker_errors
def pause(ctx, containers):
    """Freeze every process of containers."""
    eng = _client(ctx).engine
    _each(containers, eng.pause)


@click.command()
@click.argument("containers", nargs=-1, required=True)
@click.pass_context
@docker_errors
def unpause(ctx, containers):
    """Thaw paused containers."""
    eng = _client(ctx).engine
    _each(containers, eng.unpause)


@click.command()
@click.argument("containers", nargs=-1, required=True)
@click.pass_context
@docker_errors
def wait(ctx, containers):
    """Block until containers stop; print their exit codes."""
    eng = _client(ctx).engine
    _each(containers, lambda ref: click.echo(eng.wait(ref)), echo=False)


@click.command()
@click.argument("container")
@click.argument("new_name")
@click.pass_context
@docker_errors
def rename(ctx, container, new_name):
    """Rename a container."""
    _client(ctx).engine.rename(container, new_name)


# -- looking at containers ---------------------------------------------------------------------------
def _ago(rfc: str) -> str:
    if not rfc or rfc.startswith("0001"):
        return ""
    import calendar
    secs = time.time() - calendar.timegm(time.strptime(rfc[:19], "%Y-%m-%dT%H:%M:%S"))
    for unit, n in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if secs >= n:
            k = int(secs // n)
            return f"{k} {unit}{'s' if k > 1 else ''}"
    return "Less than a second" if secs < 1 else f"{int(secs)} seconds"


def _status_text(rec) -> str:
    s = rec.state
    if s.status == "running":
        return f"Up {_ago(s.started_at)}"
    if s.status == "paused":
        return f"Up {_ago(s.started_at)} (Paused)"
    if s.status == "exited":
        return f"Exited ({s.exit_code}) {_ago(s.finished_at)} ago"
    return s.status.capitalize()


def _row(rec, no_trunc: bool, ports: str = "") -> dict:
    cmd = " ".join(json.dumps(a) if " " in a else a for a in (rec.config.entrypoint or []) + rec.config.cmd)
    return {"ID": rec.id if no_trunc else rec.id[:12], "Image": rec.config.image,
            "Command": json.dumps(cmd if no_trunc else cmd[:20]), "CreatedAt": rec.created,
            "RunningFor": _ago(rec.created) + " ago", "Status": _status_text(rec), "State": rec.state.status,
            "Names": rec.name, "Ports": ports, "Labels": ",".join(f"{k}={v}" for k, v in rec.config.labels.items())}


def _template(fmt: str, value) -> str:
    """docker's --format for the common cases: {{.Field}}, {{.A.B}}, {{json .X}}, {{json .}}."""
    def lookup(path: str):
        v = value
        for part in [p for p in path.split(".") if p]:
            v = v.get(part, "") if isinstance(v, dict) else ""
        return v

    def sub(m):
        v = lookup(m.group(2))
        if m.group(1):
            return json.dumps(v)
        return v if isinstance(v, str) else json.dumps(v) if isinstance(v, (dict, list)) else str(v).lower() \
            if isinstance(v, bool) else str(v)
    out = re.sub(r"\{\{\s*(json\s+)?\.([\w.]*)\s*\}\}", sub, fmt)
    return out.replace("\\t", "\t").replace("\\n", "\n")


@click.command()
@click.option("-a", "--all", "all_", is_flag=True)
@click.option("-q", "--quiet", is_flag=True)
@click.option("--no-trunc", is_flag=True)
@click.option("--format", "fmt", default="table")
@click.option("-f", "--filter", "filters", multiple=True)
@click.pass_context
@docker_errors
def ps(ctx, all_, quiet, no_trunc, fmt, filters):
    """List containers (running ones; -a: all)."""
    want: dict = {}
    for f in filters:
        k, sep, v = f.partition("=")
        if not sep:
            raise DockerExit(f"invalid filter {f!r}: use KEY=VALUE")
        want.setdefault(k, []).append(v)
    cs = _client(ctx).containers.list(all=all_, filters=want)
    from pyrt.network.ports import display
    rows = [_row(c.record, no_trunc, display(c.published_ports())) for c in cs]
    if quiet:
        for r in rows:
            click.echo(r["ID"])
    elif fmt == "json":
        for r in rows:
            click.echo(json.dumps(r))
    elif fmt.startswith("table") and "{{" not in fmt:
        cols = ["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"]
        keys = ["ID", "Image", "Command", "RunningFor", "Status", "Ports", "Names"]
        table = [cols] + [[r[k] for k in keys] for r in rows]
        widths = [max(len(line[i]) for line in table) for i in range(len(cols))]
        for line in table:
            click.echo("   ".join(v.ljust(w) for v, w in zip(line, widths)).rstrip())
    else:
        body = fmt[len("table"):].strip() if fmt.startswith("table") else fmt
        for r in rows:
            click.echo(_template(body, r))


@click.command()
@click.argument("container")
@click.argument("private_port", required=False)
@click.pass_context
@docker_errors
def port(ctx, container, private_port):
    """The published ports of CONTAINER (80/tcp -> 0.0.0.0:8080), or where PRIVATE_PORT[/PROTO] is."""
    c = _client(ctx).containers.get(container)
    pub = c.published_ports()
    if private_port is None:
        for b in pub:
            click.echo(f"{b.key} -> {b.host}")
        return
    num, sep, proto = private_port.partition("/")
    key = f"{num}/{proto if sep else 'tcp'}"
    hits = [b for b in pub if b.key == key]
    if not hits:                  # docker: a line and 1, as for its other lookups that find nothing
        sys.stderr.write(f"pyrt: no public port {key!r} published for {c.name}\n")
        _exit(1)
    for b in hits:
        click.echo(b.host)


@click.command()
@click.option("-f", "--format", "fmt", default=None)
@click.option("--type", "kind", type=click.Choice(["container", "image", "volume"]), default=None)
@click.argument("names", nargs=-1, required=True)
@click.pass_context
@docker_errors
def inspect(ctx, fmt, kind, names):
    """Show low-level information on containers, images or volumes as JSON."""
    from pyrt.engine import inspect as insp
    from pyrt.engine.errors import NotFound
    client = _client(ctx)
    docs, missing = [], []
    for n in names:
        doc = None
        if kind in (None, "container"):
            try:
                doc = insp.container(client.engine, client.engine.get(n))
            except NotFound:
                pass
        if doc is None and kind in (None, "image"):
            try:
                from pyrt.cli import image_views as views
                store = client.engine.images
                doc = views.inspect(store, store.resolve(n))
            except PyrtError:
                pass
        if doc is None and kind in (None, "volume"):
            try:
                v = client.volumes.get(n)
                doc = {"Name": v.name, "Mountpoint": v.mountpoint, "CreatedAt": v.created, "Labels": v.labels,
                       "Driver": "local", "Scope": "local"}
            except PyrtError:
                pass
        if doc is None:
            missing.append(n)
        else:
            docs.append(doc)
    if fmt:
        for d in docs:
            click.echo(_template(fmt, d))
    else:
        click.echo(json.dumps(docs, indent=4))
    if missing:
        for n in missing:
            sys.stderr.write(f"pyrt: no such object: {n}\n")
        _exit(1)


@click.command()
@click.option("-f", "--follow", is_flag=True)
@click.option("--tail", default="all")
@click.option("--since", default=None)
@click.option("--until", default=None)
@click.option("-t", "--timestamps", is_flag=True)
@click.argument("container")
@click.pass_context
@docker_errors
def logs(ctx, follow, tail, since, until, timestamps, container):
    """Print a container's output (docker's json-file log)."""
    if tail != "all" and not tail.lstrip("-").isdigit():
        raise DockerExit(f"invalid --tail {tail!r}: use a number or all")
    n = None if tail == "all" or int(tail) < 0 else int(tail)
    eng = _client(ctx).engine
    out = {"stdout": sys.stdout.buffer, "stderr": sys.stderr.buffer}
    for stream, t, data in eng.logs(container, follow=follow, tail=n, since=A.timestamp(since),
                                    until=A.timestamp(until)):
        f = out[stream]
        if timestamps:
            f.write(t.encode() + b" ")
        f.write(data)
        if follow:
            f.flush()


@click.command(context_settings={"allow_interspersed_args": False})
@click.option("-i", "--interactive", is_flag=True)
@click.option("-t", "--tty", is_flag=True)
@click.option("-d", "--detach", is_flag=True)
@click.option("-e", "--env", multiple=True)
@click.option("-u", "--user", default="")
@click.option("-w", "--workdir", default="")
@click.option("--privileged", is_flag=True)
@click.argument("container")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@click.pass_context
@docker_errors
def exec_(ctx, interactive, tty, detach, env, user, workdir, privileged, container, command):
    """Run COMMAND in a running container."""
    eng = _client(ctx).engine
    if not interactive:
        null = os.open("/dev/null", os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
    try:
        code = eng.exec(container, list(command), env=list(env), user=user, workdir=workdir, tty=tty,
                        detach=detach, privileged=privileged)
    except PyrtError as e:
        if e.message.startswith("exec: "):
            sys.stderr.write(f"pyrt: {e}\n")
            _exit(127 if "not found" in e.message or "no such file" in e.message else 126)
        raise
    _exit(code)


exec_.name = "exec"


@click.command()
@click.argument("container")
@click.argument("ps_args", nargs=-1)
@click.pass_context
@docker_errors
def top(ctx, container, ps_args):
    """The processes of a running container (ps -ef by default)."""
    c = _client(ctx).containers.get(container)
    t = c.top(" ".join(ps_args) or "-ef")
    click.echo("\t".join(t["Titles"]))
    for p in t["Processes"]:
        click.echo("\t".join(p))


@click.command()
@click.option("--no-stream", is_flag=True)
@click.option("-a", "--all", "all_", is_flag=True)
@click.argument("containers", nargs=-1)
@click.pass_context
@docker_errors
def stats(ctx, no_stream, all_, containers):
    """CPU, memory and pids of running containers."""
    client = _client(ctx)
    cs = [client.containers.get(c) for c in containers] if containers else client.containers.list(all=all_)
    prev: dict = {}
    while True:
        lines = [f"{'CONTAINER ID':<14}{'NAME':<24}{'CPU %':>8}  {'MEM USAGE / LIMIT':<24}{'PIDS':>6}"]
        now = time.monotonic()
        for c in cs:
            try:
                s = c.stats()
            except PyrtError:
                continue
            last = prev.get(c.id)
            cpu = 0.0
            if last is not None and now > last[1]:
                cpu = (s.cpu_usage_ns - last[0]) / ((now - last[1]) * 1e9) * 100
            prev[c.id] = (s.cpu_usage_ns, now)
            limit = _human(s.memory_limit) if s.memory_limit and s.memory_limit < 1 << 60 else "unlimited"
            lines.append(f"{c.short_id:<14}{c.name[:23]:<24}{cpu:>7.2f}%  {_human(s.memory_usage) + ' / ' + limit:<24}{s.pids:>6}")
        if no_stream:
            click.echo("\n".join(lines))
            return
        click.echo("\x1b[2J\x1b[H" + "\n".join(lines))
        time.sleep(1)


def _human(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.4g}{unit}" if unit != "B" else f"{n}B"
        n /= 1024
    return str(n)


def _cp_side(arg: str):
    """docker's reading of a cp argument: "-" (a tar stream), CONTAINER:PATH, or a host path (one
    that starts with / or ., or has no colon)."""
    if arg == "-":
        return "-", None
    if arg.startswith(("/", ".")) or ":" not in arg:
        return None, arg if arg.startswith("/") else os.path.join(os.getcwd(), arg)
    ctr, _, path = arg.partition(":")
    return ctr, path if path.startswith("/") else "/" + path


@click.command()
@click.option("-a", "--archive", "keep_owner", is_flag=True, help="keep the archive's uid/gid")
@click.option("-L", "--follow-link", is_flag=True, help="copy what a symlink SRC_PATH leads to (in the container)")
@click.option("-q", "--quiet", is_flag=True)
@click.argument("src")
@click.argument("dest")
@click.pass_context
@docker_errors
def cp(ctx, keep_owner, follow_link, quiet, src, dest):
    """Copy files between a container and the host (docker's rules; - is a tar on stdin/stdout)."""
    from pyrt.engine import archive
    eng = _client(ctx).engine
    (sc, sp), (dc, dp) = _cp_side(src), _cp_side(dest)
    if sc not in (None, "-") and dc not in (None, "-"):
        raise DockerExit("copying between containers is not supported")
    if sc in (None, "-") and dc in (None, "-"):
        raise DockerExit("one of the two paths must be CONTAINER:PATH")
    run = archive.host_errors
    if dc == "-":
        with archive.container_tree(eng, sc) as tree:
            run(archive.write_tar)(tree, sp, sys.stdout.buffer, follow_link)
        sys.stdout.flush()
    elif sc == "-":
        with archive.container_tree(eng, dc) as tree:
            run(archive.extract)(tree, dp, sys.stdin.buffer, keep_owner=keep_owner)
    else:
        host = archive.open_tree("/", "the host", host=True)
        try:
            with archive.container_tree(eng, sc or dc) as tree:
                if sc:
                    run(archive.copy)(tree, sp, host, dp, follow_link=follow_link)
                else:
                    run(archive.copy)(host, sp, tree, dp, keep_owner=keep_owner, follow_link=follow_link)
        finally:
            host.close()


@click.group("container")
def container_group():
    """Manage containers."""


@container_group.command("prune")
@click.option("-f", "--force", is_flag=True)
@click.pass_context
@docker_errors
def container_prune(ctx, force):
    """Remove every stopped container."""
    for cid in _client(ctx).containers.prune():
        click.echo(cid)


@click.group("volume")
def volume_group():
    """Manage volumes."""


@volume_group.command("create")
@click.option("-l", "--label", "labels", multiple=True)
@click.argument("name", required=False, default="")
@click.pass_context
@docker_errors
def volume_create(ctx, labels, name):
    click.echo(_client(ctx).volumes.create(name, A.labels(labels)).name)


@volume_group.command("ls")
@click.option("-q", "--quiet", is_flag=True)
@click.pass_context
@docker_errors
def volume_ls(ctx, quiet):
    vols = _client(ctx).volumes.list()
    if not quiet:
        click.echo("DRIVER    VOLUME NAME")
    for v in vols:
        click.echo(v.name if quiet else f"local     {v.name}")


@volume_group.command("inspect")
@click.argument("names", nargs=-1, required=True)
@click.pass_context
@docker_errors
def volume_inspect(ctx, names):
    client = _client(ctx)
    docs = []
    for n in names:
        v = client.volumes.get(n)
        docs.append({"Name": v.name, "Driver": "local", "Mountpoint": v.mountpoint, "CreatedAt": v.created,
                     "Labels": v.labels, "Scope": "local"})
    click.echo(json.dumps(docs, indent=4))


@volume_group.command("rm")
@click.option("-f", "--force", is_flag=True)
@click.argument("names", nargs=-1, required=True)
@click.pass_context
@docker_errors
def volume_rm(ctx, force, names):
    client = _client(ctx)
    _each(names, lambda n: client.volumes.remove(n, force=force))


@volume_group.command("prune")
@click.option("-f", "--force", is_flag=True)
@click.pass_context
@docker_errors
def volume_prune(ctx, force):
    for n in _client(ctx).volumes.prune():
        click.echo(n)


@click.group("system")
def system_group():
    """Disk use and clean-up."""


@system_group.command("df")
@click.pass_context
@docker_errors
def system_df(ctx):
    """Disk used by images, containers and volumes."""
    d = _client(ctx).system.df()
    click.echo(f"{'TYPE':<14}{'TOTAL':>7}{'ACTIVE':>8}{'SIZE':>12}")
    for kind, label in (("images", "Images"), ("containers", "Containers"), ("volumes", "Local Volumes")):
        v = d[kind]
        click.echo(f"{label:<14}{v['total']:>7}{v['active']:>8}{_human(v['size']):>12}")


@system_group.command("prune")
@click.option("-a", "--all", "all_images", is_flag=True)
@click.option("--volumes", is_flag=True)
@click.option("-f", "--force", is_flag=True)
@click.pass_context
@docker_errors
def system_prune(ctx, all_images, volumes, force):
    """Remove stopped containers, unused images and (with --volumes) unused volumes."""
    out = _client(ctx).system.prune(volumes=volumes, all_images=all_images)
    for kind in ("containers", "images", "volumes"):
        for x in out[kind]:
            click.echo(f"Deleted {kind[:-1]}: {x}")


for _cmd in (run, create, start, stop, restart, kill, rm, pause, unpause, wait, rename, ps, logs, exec_, top,
             stats, inspect, port, cp, attach):
    container_group.add_command(_cmd)
container_group.add_command(ps, "ls")

COMMANDS = [run, create, start, stop, restart, kill, rm, pause, unpause, wait, rename, ps, inspect, logs, exec_,
            top, stats, port, cp, attach, container_group, volume_group, system_group]
