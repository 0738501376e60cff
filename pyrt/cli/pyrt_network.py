"""`pyrt network create|ls|inspect|rm|prune|connect|disconnect` (docker's spelling): registered by pyrt_commands."""
from __future__ import annotations

import json

import click

from pyrt.cli.pyrt_engine import _client, _each, docker_errors


def network_doc(client, net) -> dict:
    """docker's network inspect document (the fields pyrt has)."""
    eng = client.engine
    members = {}
    for addr, owner in sorted(eng.networks.leases(net.name).items()):
        try:
            name = eng.store.read(owner).name
        except Exception:       # a lease whose container is gone (prune releases it)
            name = ""
        members[owner] = {"Name": name, "IPv4Address": f"{addr}/{net.prefixlen}"}
    return {"Name": net.name, "Id": net.id, "Created": net.created, "Scope": "local", "Driver": "bridge",
            "IPAM": {"Driver": "default", "Config": [{"Subnet": net.subnet, "Gateway": net.gateway}]},
            "Containers": members, "Options": {"com.docker.network.bridge.name": net.bridge},
            "Labels": net.labels}


@click.group("network")
def network_group():
    """Manage networks."""


@network_group.command("create")
@click.option("--subnet", default="")
@click.option("--gateway", default="")
@click.option("-d", "--driver", default="bridge")
@click.option("-l", "--label", "labels", multiple=True)
@click.argument("name")
@click.pass_context
@docker_errors
def network_create(ctx, subnet, gateway, driver, labels, name):
    """Create a bridge network (its own Linux bridge and subnet)."""
    from pyrt.cli import engine_args as A
    from pyrt.engine.errors import InvalidArgument
    if driver != "bridge":
        raise InvalidArgument(f"network driver {driver!r} is not supported: use bridge")
    click.echo(_client(ctx).networks.create(name, subnet=subnet, gateway=gateway, labels=A.labels(labels)).id)


@network_group.command("ls")
@click.option("-q", "--quiet", is_flag=True)
@click.pass_context
@docker_errors
def network_ls(ctx, quiet):
    nets = _client(ctx).networks.list()
    if not quiet:
        click.echo(f"{'NETWORK ID':<14}{'NAME':<20}{'DRIVER':<10}SUBNET")
    for n in nets:
        click.echo(n.id[:12] if quiet else f"{n.id[:12]:<14}{n.name:<20}{'bridge':<10}{n.subnet}")


@network_group.command("inspect")
@click.argument("names", nargs=-1, required=True)
@click.pass_context
@docker_errors
def network_inspect(ctx, names):
    """Show networks as JSON (docker's: the ones found, then one error line per missing one, exit 1)."""
    client = _client(ctx)
    docs: list[dict] = []
    try:
        _each(names, lambda n: docs.append(network_doc(client, client.networks.get(n))), echo=False)
    finally:
        click.echo(json.dumps(docs, indent=4))


@network_group.command("rm")
@click.argument("names", nargs=-1, required=True)
@click.pass_context
@docker_errors
def network_rm(ctx, names):
    """Remove networks (refused while a container uses one)."""
    client = _client(ctx)
    _each(names, lambda n: client.networks.remove(n))


@network_group.command("connect")
@click.option("--ip", default="")
@click.option("--alias", "aliases", multiple=True)
@click.argument("network")
@click.argument("container")
@click.pass_context
@docker_errors
def network_connect(ctx, ip, aliases, network, container):
    """Connect a container to a network (a running one gets a further interface now)."""
    _client(ctx).networks.connect(network, container, ipv4_address=ip, aliases=aliases)


@network_group.command("disconnect")
@click.option("-f", "--force", is_flag=True)
@click.argument("network")
@click.argument("container")
@click.pass_context
@docker_errors
def network_disconnect(ctx, force, network, container):
    """Disconnect a container from a network."""
    _client(ctx).networks.disconnect(network, container, force=force)


@network_group.command("prune")
@click.option("-f", "--force", is_flag=True)
@click.pass_context
@docker_errors
def network_prune(ctx, force):
    """Remove unused networks, and what a crash left of removed containers (veths, leases)."""
    for n in _client(ctx).networks.prune():
        click.echo(n)


COMMANDS = [network_group]
