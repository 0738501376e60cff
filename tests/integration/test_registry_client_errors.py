"""The registry client when auth or the registry misbehave: a cached token the registry stops
accepting, token servers that answer nonsense or refuse, a registry that answers 403, asks for
an authentication scheme pyrt does not speak, or says 429 with Retry-After. Real registries
(tests/support/registry.py): the token registry's issuer misbehaves on request, the FaultProxy
answers the injected statuses. Every failure is one line with its documented exit code
(docs/exit-codes.md: 10 registry, 11 auth) and leaves nothing in the store.
"""
import json
import time

import pytest

from pyrt.errors import RegistryError
from pyrt.image.pull import PullOptions, client_for, pull
from pyrt.image.reference import RegistriesConf
from pyrt.image.store import ImageStore
from tests.support.pyrtcli import pyrt
from tests.support.registry import PASSWORD, USER

pytest_plugins = ["tests.support.registry_fixtures"]

OPTS = PullOptions(tls_verify=False, registries=RegistriesConf(), backoff=0.01, retries=2)


def _one_line(r, code: int) -> str:
    assert r.returncode == code, (r.returncode, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pyrt: ") and "Traceback" not in r.stderr, r.stderr
    return lines[0]


def _nothing_stored(store_root):
    store = ImageStore(store_root)
    assert store.records() == [] and store._tags() == {}


@pytest.fixture
def issuer(token_registry):
    """The token registry's issuer, put back to good behaviour after the test."""
    yield token_registry.issuer
    token_registry.issuer.reply = None
    token_registry.issuer.expired_for = 0


def test_a_cached_token_the_registry_stops_accepting_is_renewed(token_registry, issuer, store_root):
    """The client keeps a token for its expires_in; the registry may refuse it sooner (its own
    clock, a shorter real lifetime). Here the first token is signed as already 55 s past its
    exp (within distribution's 60 s leeway, so it still works); once the registry refuses it,
    the next request answers the 401 challenge with a fresh token, once, and succeeds."""
    client = client_for(token_registry.host, store_root, OPTS, RegistriesConf(), credentials=(USER, PASSWORD))
    issuer.expired_for = 55
    signed = time.time()
    data, _ = client.get_manifest("pyrt/busybox", "latest")
    assert json.loads(data)["schemaVersion"] == 2
    issuer.expired_for = 0
    before = issuer.requests
    while time.time() < signed + 6:          # the registry's leeway for the first token runs out
        time.sleep(0.1)
    data, _ = client.get_manifest("pyrt/busybox", "latest")
    assert json.loads(data)["schemaVersion"] == 2
    assert issuer.requests - before == 1


@pytest.mark.parametrize("status, body, code, words", [
    (200, b"<html>not json</html>", 10, "sent no token"),
    (200, b"[]", 10, "sent no token"),
    (200, b'{"token": null}', 10, "sent no token"),
    (200, b'{"token": ""}', 10, "sent no token"),
    (200, b'{"token": 5}', 10, "sent no token"),
    (200, b'{"token": "x", "expires_in": "soon"}', 10, "sent no token"),
    (500, b"", 10, "answered 500"),
    (403, b"", 11, "authentication required"),
], ids=["html", "list", "null", "empty", "number", "bad-expiry", "500", "403"])
def test_a_token_server_that_answers_nonsense_or_refuses(token_registry, issuer, store_root,
                                                       status, body, code, words):
    issuer.reply = (status, body)
    r = pyrt(store_root, "pull", "--tls-verify=false", f"{token_registry.host}/pyrt/public:latest")
    assert words in _one_line(r, code)
    _nothing_stored(store_root)


def test_a_403_from_the_registry_is_an_auth_error_and_not_retried(fault_proxy, store_root):
    fault_proxy.faults = [{"match": "/manifests/", "kind": ("status", 403, {}), "times": 100}]
    r = pyrt(store_root, "pull", "--tls-verify=false", f"{fault_proxy.host}/pyrt/busybox:latest")
    line = _one_line(r, 11)
    assert fault_proxy.host in line
    assert [s for (_, p, _, s) in fault_proxy.log if "/manifests/" in p] == [403]
    _nothing_stored(store_root)


@pytest.mark.parametrize("challenge", ['Negotiate', 'NTLM realm="x"', 'Bearer service="no-realm"'])
def test_an_authentication_scheme_pyrt_does_not_speak(fault_proxy, store_root, challenge):
    fault_proxy.faults = [{"match": "/manifests/", "kind": ("status", 401, {"WWW-Authenticate": challenge}),
                           "times": 100}]
    r = pyrt(store_root, "pull", "--tls-verify=false", f"{fault_proxy.host}/pyrt/busybox:latest")
    assert _one_line(r, 11) == (f"pyrt: registry {fault_proxy.host} asks for unsupported authentication: "
                                f"{challenge}")
    _nothing_stored(store_root)


def test_429_waits_as_long_as_retry_after_says(fault_proxy, store_root):
    fault_proxy.faults = [{"match": "/manifests/", "kind": ("status", 429, {"Retry-After": "2"}), "times": 1}]
    rec = pull(ImageStore(store_root), f"{fault_proxy.host}/pyrt/busybox", OPTS)
    assert rec.id.startswith("sha256:")
    asked = [t for p, t in fault_proxy.times if "/manifests/" in p]
    statuses = [s for (_, p, _, s) in fault_proxy.log if "/manifests/" in p]
    assert statuses[:2] == [429, 200]
    assert asked[1] - asked[0] >= 2.0       # the backoff alone would be 0.01 s


def test_429_forever_gives_up_with_the_status(fault_proxy, store_root):
    fault_proxy.faults = [{"match": "/manifests/", "kind": ("status", 429, {"Retry-After": "1"}), "times": 100}]
    with pytest.raises(RegistryError, match="429") as e:
        pull(ImageStore(store_root), f"{fault_proxy.host}/pyrt/busybox", OPTS)
    assert e.value.exit_code == 10
    statuses = [s for (_, p, _, s) in fault_proxy.log if "/manifests/" in p]
    assert len(statuses) >= 2 and set(statuses) == {429}, statuses     # retried, then given up
    _nothing_stored(store_root)
