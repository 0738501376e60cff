"""Bridges, veths, addresses and port publishing: the only user of pyroute2 and the netfilter tool."""

from pyrt.network import pyroute as _pyroute

_pyroute.install()      # before any of ours imports pyroute2: only the parts we use get loaded
