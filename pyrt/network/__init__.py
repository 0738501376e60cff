"""Bridges, veths, addresses and port publishing: the only user of pyroute2 and the netfilter tool."""
