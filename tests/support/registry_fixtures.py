"""pytest fixtures for registry tests: `pytest_plugins = ["tests.support.registry_fixtures"]`.

Registries are session-scoped and stopped at session end; nothing is left running.
"""
from __future__ import annotations

import pytest

from tests.support.registry import PASSWORD, USER, FaultProxy, Registry, TokenIssuer, builder


@pytest.fixture(scope="session")
def image_layouts(tmp_path_factory) -> dict[str, str]:
    """The OCI layouts of rootfs-tools/build-images.py, built once per session."""
    return builder.build_all(str(tmp_path_factory.mktemp("layouts")))


@pytest.fixture(scope="session")
def open_registry(tmp_path_factory):
    reg = Registry(str(tmp_path_factory.mktemp("reg-open")))
    yield reg
    reg.stop()


@pytest.fixture(scope="session")
def pushed(open_registry, image_layouts) -> dict[str, str]:
    """Every test image pushed to the open registry by skopeo: {name: reference}."""
    return builder.push_all(image_layouts, open_registry.host)


@pytest.fixture(scope="session")
def basic_registry(tmp_path_factory, image_layouts):
    """htpasswd registry with busybox pushed (as USER) to pyrt/busybox:latest."""
    reg = Registry(str(tmp_path_factory.mktemp("reg-basic")), auth="htpasswd")
    try:
        builder.push(image_layouts["busybox"], f"{reg.host}/pyrt/busybox:latest", creds=f"{USER}:{PASSWORD}")
    except BaseException:
        reg.stop()
        raise
    yield reg
    reg.stop()


@pytest.fixture(scope="session")
def token_registry(tmp_path_factory, image_layouts):
    """Token-auth registry: pyrt/busybox (private) and pyrt/public (anonymous pull allowed)."""
    d = str(tmp_path_factory.mktemp("reg-token"))
    issuer = TokenIssuer(d)
    issuer.public.add("pyrt/public")
    reg = Registry(d, auth="token", issuer=issuer)
    reg.issuer = issuer
    try:
        for repo in ("pyrt/busybox", "pyrt/public"):
            builder.push(image_layouts["busybox"], f"{reg.host}/{repo}:latest", creds=f"{USER}:{PASSWORD}")
    except BaseException:
        reg.stop()
        issuer.stop()
        raise
    yield reg
    reg.stop()
    issuer.stop()


@pytest.fixture(scope="session")
def tls_registry(tmp_path_factory, image_layouts):
    """An https registry with a self-signed certificate; busybox pushed to pyrt/busybox:latest."""
    reg = Registry(str(tmp_path_factory.mktemp("reg-tls")), tls=True)
    try:
        builder.push(image_layouts["busybox"], f"{reg.host}/pyrt/busybox:latest")
    except BaseException:
        reg.stop()
        raise
    yield reg
    reg.stop()


@pytest.fixture
def fault_proxy(open_registry, pushed):
    p = FaultProxy(open_registry.host)
    yield p
    p.stop()


@pytest.fixture
def store_root(tmp_path):
    """A fresh pyrt --root for one test."""
    d = tmp_path / "pyrt-root"
    d.mkdir()
    return str(d)




def empty_registries_conf():
    from pyrt.image.reference import RegistriesConf
    return RegistriesConf()
