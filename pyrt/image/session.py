"""login / logout: check credentials against the registry, then keep or forget them."""
from __future__ import annotations

from pyrt.errors import NotFoundError
from pyrt.image import auth, reference
from pyrt.image.registry import RegistryClient


def _host(server: str) -> str:
    host = auth.key_host(server)
    return "registry-1.docker.io" if host in auth.DOCKER_HUB_ALIASES else host


def login(root: str, server: str, username: str, password: str, *, tls_verify: bool | None = None,
          authfile: str | None = None) -> None:
    """Raises AuthError when the registry refuses the credentials; saves nothing then."""
    host = _host(server)
    conf = reference.load_registries_conf()
    verify = tls_verify if tls_verify is not None else not conf.is_insecure(host)
    RegistryClient(host, credentials=(username, password), tls_verify=verify).ping()
    auth.save_credentials(authfile or auth.default_authfile(root), auth.key_host(server), username, password)


def logout(root: str, server: str, *, authfile: str | None = None) -> None:
    path = authfile or auth.default_authfile(root)
    if not auth.remove_credentials(path, auth.key_host(server)):
        raise NotFoundError(f"not logged in to {server}")
