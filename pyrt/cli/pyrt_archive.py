"""`pyrt save`, `pyrt load`, `pyrt import`: registered by pyrt.cli.pyrt_commands from COMMANDS."""
from __future__ import annotations

import os
import sys
import tempfile

import click

from pyrt.errors import UsageError


def _store(ctx: click.Context):
    from pyrt.image.store import ImageStore
    return ImageStore(ctx.obj["root"])


@click.command()
@click.argument("names", nargs=-1, required=True)
@click.option("-o", "--output", default=None, help="Write to this file instead of stdout.")
@click.option("--format", "fmt", type=click.Choice(["docker-archive", "oci-archive"]),
              default="docker-archive", show_default=True)
@click.pass_context
def save(ctx, names, output, fmt):
    """Save images to a tar archive."""
    from pyrt.image import archive
    store = _store(ctx)
    if output is None:
        if sys.stdout.isatty():
            raise UsageError("refusing to write an archive to a terminal", "use -o FILE or redirect stdout")
        archive.save(store, list(names), sys.stdout.buffer, fmt)
        return
    # Written beside the target and renamed: a failed save leaves no half archive.
    d = os.path.dirname(os.path.abspath(output))
    fd, tmp = tempfile.mkstemp(dir=d, prefix=".pyrt-save-")
    try:
        with os.fdopen(fd, "wb") as f:
            archive.save(store, list(names), f, fmt)
        os.chmod(tmp, 0o644)
        os.rename(tmp, output)
    except BaseException:
        os.unlink(tmp)
        raise


@click.command()
@click.option("-i", "--input", "path", default=None,
              help="Archive (docker-archive, oci-archive, possibly compressed) or OCI layout dir; default stdin.")
@click.option("-q", "--quiet", is_flag=True, help="Print only image ids.")
@click.pass_context
def load(ctx, path, quiet):
    """Load images from a tar archive."""
    store = _store(ctx)
    with store.adding():        # gc keeps the spool (and clears it if we are killed)
        _load(store, path, quiet)


def _load(store, path, quiet):
    from pyrt.image import archive
    spool = None
    if path is None:
        if sys.stdin.isatty():
            raise UsageError("no archive on stdin", "use -i FILE or redirect stdin")
        fd, spool = tempfile.mkstemp(dir=archive._tmpdir(store), suffix=".tar")
        with os.fdopen(fd, "wb") as f:
            while chunk := sys.stdin.buffer.read(1 << 20):
                f.write(chunk)
        path = spool
    try:
        for record, tags in archive.load(store, path):
            if quiet:
                click.echo(record.id)
            elif tags:
                for t in tags:
                    click.echo(f"Loaded image: {t}")
            else:
                click.echo(f"Loaded image ID: {record.id}")
    finally:
        if spool:
            os.unlink(spool)


@click.command("import")
@click.argument("source")
@click.argument("reference", required=False)
@click.option("-c", "--change", "changes", multiple=True,
              help="Dockerfile instruction for the config (CMD, ENTRYPOINT, ENV, WORKDIR, USER, EXPOSE, LABEL, STOPSIGNAL, VOLUME).")
@click.option("-m", "--message", default=None, help="Comment for the image history.")
@click.pass_context
def import_(ctx, source, reference, changes, message):
    """Create an image from a rootfs tarball (FILE or - for stdin)."""
    from pyrt.image import archive
    record = archive.import_rootfs(_store(ctx), source, reference, list(changes), message)
    click.echo(record.id)


COMMANDS = [save, load, import_]
