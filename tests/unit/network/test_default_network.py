"""Which network a container that names none gets: Client(default_network=), else PYRT_NETWORK,
else bridge (docker's and podman's default); docker's "default" names it too."""
from __future__ import annotations

import pytest

from pyrt.engine.client import Client, _typed


@pytest.mark.parametrize("arg, env, want", [
    (None, None, "bridge"), (None, "none", "none"), ("appnet", "none", "appnet"), (None, "", "bridge")])
def test_the_clients_default_network(tmp_path, monkeypatch, arg, env, want):
    if env is None:
        monkeypatch.delenv("PYRT_NETWORK", raising=False)
    else:
        monkeypatch.setenv("PYRT_NETWORK", env)
    c = Client(root=str(tmp_path / "root"), run_root=str(tmp_path / "run"), default_network=arg)
    assert c.default_network == want
    assert c.containers._default_network == want


@pytest.mark.parametrize("given, want", [(None, "appnet"), ("", "appnet"), ("default", "appnet"),
                                         ("none", "none"), ("host", "host"), ("bridge", "bridge")])
def test_a_container_without_a_network_gets_the_default(given, want):
    kw = {} if given is None else {"network_mode": given}
    _config, host, _name, _opts = _typed("busybox", ["true"], default_network="appnet", **kw)
    assert host.network_mode == want
