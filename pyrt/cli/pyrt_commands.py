"""`pyrt`'s click group: the one place its verbs are registered (pyrt.cli.pyrt holds main() and
the click-free fast paths of `pull` and `run`).

Verbs live one module per group of verbs, each listing its click commands in COMMANDS. A module is
imported only when a verb is asked of it, in VERB_MODULES' order, or when all are listed (help):
`pyrt pull` does not pay for importing the engine's verbs. A verb added to a module's COMMANDS
needs no edit here.
"""
from __future__ import annotations

import importlib

import click

from pyrt.cli.image_pull import DEFAULT_ROOT

VERB_MODULES = ("pyrt.cli.pyrt_images", "pyrt.cli.pyrt_archive", "pyrt.cli.pyrt_engine",
                "pyrt.cli.pyrt_network")


class _Group(click.Group):
    """Imports the verb modules lazily, in order, until one has the verb asked for."""

    _loaded = 0

    def _load_next(self) -> bool:
        if self._loaded >= len(VERB_MODULES):
            return False
        mod = importlib.import_module(VERB_MODULES[self._loaded])
        self._loaded += 1
        for cmd in mod.COMMANDS:
            self.add_command(cmd)
        return True

    def get_command(self, ctx, name):
        cmd = super().get_command(ctx, name)
        while cmd is None and self._load_next():
            cmd = super().get_command(ctx, name)
        return cmd

    def list_commands(self, ctx):
        while self._load_next():
            pass
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
