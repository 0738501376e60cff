"""`pyrt pull|images|rmi|image ...|login|logout`: the image verbs (registered by pyrt.cli.pyrt_commands)."""
from __future__ import annotations

import json
import sys

import click

from pyrt.cli.argtable import click_command_params
from pyrt.cli.image_pull import EXIT_AT_ONCE, PULL, pull_image


def _store(ctx: click.Context):
    from pyrt.image.store import ImageStore
    return ImageStore(ctx.obj["root"])


@click.command("pull", params=click_command_params(PULL), help=PULL.help)
@click.pass_context
def pull(ctx, reference, platform, tls_verify, authfile, quiet, low_speed_limit, low_speed_time, timeout):
    pull_image(ctx.obj["root"], reference, platform, tls_verify, authfile, quiet, low_speed_limit,
               low_speed_time, timeout)
    return EXIT_AT_ONCE


@click.command()
@click.option("-q", "--quiet", is_flag=True, help="Only image ids.")
@click.option("--digests", is_flag=True, help="Show repo digests.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@click.option("--no-trunc", is_flag=True, help="Full image ids.")
@click.pass_context
def images(ctx, quiet, digests, fmt, no_trunc):
    """List images."""
    from pyrt.cli import image_views as views
    click.echo(views.render_images(_store(ctx), quiet=quiet, digests=digests, fmt=fmt, no_trunc=no_trunc), nl=False)


@click.command()
@click.argument("names", nargs=-1, required=True)
@click.option("-f", "--force", is_flag=True, help="Remove even if a container uses it or it has several tags.")
@click.pass_context
def rmi(ctx, names, force):
    """Remove images."""
    store = _store(ctx)
    for name in names:
        for line in store.remove(name, force=force):
            click.echo(line)


@click.group()
def image():
    """Manage images."""


@image.command("inspect")
@click.argument("names", nargs=-1, required=True)
@click.pass_context
def image_inspect(ctx, names):
    """Show images' records and configs as JSON."""
    from pyrt.cli import image_views as views
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


@click.command()
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


@click.command()
@click.argument("server")
@click.option("--authfile", default=None)
@click.pass_context
def logout(ctx, server, authfile):
    """Forget the credentials saved for a registry."""
    from pyrt.image import session
    session.logout(ctx.obj["root"], server, authfile=authfile)
    click.echo(f"Removed login credentials for {server}")


COMMANDS = [pull, images, rmi, image, login, logout]
