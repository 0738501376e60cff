"""`pyrt`'s click commands (pyrt.cli.pyrt holds main() and the click-free fast path of `pull`).

Verbs live in other modules' COMMANDS lists and are registered here (pyrt_archive: save,
load, import), so parts of pyrt can add verbs without editing this file.
"""
from __future__ import annotations

import importlib
import json
import sys

import click

from pyrt.cli.argtable import click_command_params
from pyrt.cli.pyrt import DEFAULT_ROOT, PULL, pull_image

_EXTRA_COMMAND_MODULES = ("pyrt.cli.pyrt_archive", "pyrt.cli.pyrt_engine", "pyrt.cli.pyrt_network")


def _store(ctx: click.Context):
    from pyrt.image.store import ImageStore
    return ImageStore(ctx.obj["root"])


class _Group(click.Group):
    """Registers the other modules' verbs only when a name is not ours or all are listed:
    `pyrt pull` does not pay for importing every verb module."""

    def get_command(self, ctx, name):
        cmd = super().get_command(ctx, name)
        if cmd is None:
            _register_extra_commands()
            cmd = super().get_command(ctx, name)
        return cmd

    def list_commands(self, ctx):
        _register_extra_commands()
        return super().list_commands(ctx)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--root", default=DEFAULT_ROOT, show_default=True, envvar="PYRT_ROOT",
              help="Where pyrt keeps images, containers and volumes.")
@click.option("--run-root", default="/run/pyrt", show_default=True, envvar="PYRT_RUN_ROOT",
              help="Where pyrt keeps what lives only while the host is up (runtime state, the monitor).")
@click.option("--cgroup-parent", default="/pyrt", show_default=True, envvar="PYRT_CGROUP_PARENT",
              help="The cgroup containers are made under (relative: beneath pyrt's own cgroup).")
@click.pass_context
def cli(ctx: click.Context, root: str, run_root: str, cgroup_parent: str) -> None:
    """pyrt: images and containers."""
    ctx.obj = {"root": root, "run_root": run_root, "cgroup_parent": cgroup_parent}


# -- image verbs -------------------------------------------------------------------------------
@cli.command("pull", params=click_command_params(PULL), help=PULL.help)
@click.pass_context
def pull(ctx, reference, platform, tls_verify, authfile, quiet, low_speed_limit, low_speed_time, timeout):
    pull_image(ctx.obj["root"], reference, platform, tls_verify, authfile, quiet, low_speed_limit,
               low_speed_time, timeout)


@cli.command()
@click.option("-q", "--quiet", is_flag=True, help="Only image ids.")
@click.option("--digests", is_flag=True, help="Show repo digests.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@click.option("--no-trunc", is_flag=True, help="Full image ids.")
@click.pass_context
def images(ctx, quiet, digests, fmt, no_trunc):
    """List images."""
    from pyrt.image import views
    click.echo(views.render_images(_store(ctx), quiet=quiet, digests=digests, fmt=fmt, no_trunc=no_trunc), nl=False)


@cli.command()
@click.argument("names", nargs=-1, required=True)
@click.option("-f", "--force", is_flag=True, help="Remove even if a container uses it or it has several tags.")
@click.pass_context
def rmi(ctx, names, force):
    """Remove images."""
    store = _store(ctx)
    for name in names:
        for line in store.remove(name, force=force):
            click.echo(line)


@cli.group()
def image():
    """Manage images."""


@image.command("inspect")
@click.argument("names", nargs=-1, required=True)
@click.pass_context
def image_inspect(ctx, names):
    """Show images' records and configs as JSON."""
    from pyrt.image import views
    store = _store(ctx)
    click.echo(json.dumps([views.inspect(store, store.resolve(n)) for n in names], indent=2))


@image.command("prune")
@click.option("-a", "--all", "all_images", is_flag=True, help="Remove every image no container uses, not only untagged ones.")
@click.option("-f", "--force", is_flag=True, help="Do not ask (pyrt never asks; accepted for docker compatibility).")
@click.pass_context
def image_prune(ctx, all_images, force):
    """Remove unused images and unreferenced blobs and layers."""
    for image_id in _store(ctx).prune(all_images=all_images):
        click.echo(f"Deleted: {image_id}")


image.add_command(images, "ls")
image.add_command(rmi, "rm")
image.add_command(pull, "pull")


@cli.command()
@click.argument("server")
@click.option("-u", "--username", default=None)
@click.option("-p", "--password", default=None)
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin.")
@click.option("--tls-verify", "tls_verify", type=click.BOOL, is_flag=False, flag_value=True, default=None,
              help="Verify the registry's TLS certificate.")
@click.option("--authfile", default=None, help="Where to save the credentials (default ROOT/auth.json).")
@click.pass_context
def login(ctx, server, username, password, password_stdin, tls_verify, authfile):
    """Log in to a registry: check the credentials, then save them."""
    from pyrt.image import session
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    if username is None:
        username = click.prompt("Username")
    if password is None:
        password = click.prompt("Password", hide_input=True)
    session.login(ctx.obj["root"], server, username, password, tls_verify=tls_verify, authfile=authfile)
    click.echo("Login Succeeded!")


@cli.command()
@click.argument("server")
@click.option("--authfile", default=None)
@click.pass_context
def logout(ctx, server, authfile):
    """Forget the credentials saved for a registry."""
    from pyrt.image import session
    session.logout(ctx.obj["root"], server, authfile=authfile)
    click.echo(f"Removed login credentials for {server}")


_registered = False


def _register_extra_commands() -> None:
    global _registered
    if _registered:
        return
    _registered = True
    for modname in _EXTRA_COMMAND_MODULES:
        try:
            mod = importlib.import_module(modname)
        except ModuleNotFoundError as e:
            if e.name == modname:
                continue
            raise
        for cmd in getattr(mod, "COMMANDS", ()):
            cli.add_command(cmd)
