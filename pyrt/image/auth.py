"""Registry credentials: where `pyrt login` keeps them and where else we look.

All files share one format, {"auths": {"<host>": {"auth": base64("user:password")}}}, as
docker's config.json and the containers tools' auth.json do. Lookup order for a host:

    1. the file given by --authfile or $REGISTRY_AUTH_FILE
    2. <root>/auth.json                       (written by `pyrt login`)
    3. $XDG_RUNTIME_DIR/containers/auth.json  (podman login)
    4. ~/.config/containers/auth.json
    5. $DOCKER_CONFIG/config.json or ~/.docker/config.json   (docker login)

Credential helpers (credsStore / credHelpers) are not run.
"""
from __future__ import annotations

import base64
import json
import os

from pyrt.errors import AuthError

DOCKER_HUB_ALIASES = ("docker.io", "index.docker.io", "registry-1.docker.io")


def key_host(key: str) -> str:
    """'https://index.docker.io/v1/' -> 'index.docker.io'; 'host:5000' stays."""
    k = key.split("://", 1)[-1]
    return k.split("/", 1)[0]


def _same_registry(a: str, b: str) -> bool:
    if a == b:
        return True
    return a in DOCKER_HUB_ALIASES and b in DOCKER_HUB_ALIASES


def default_authfile(root: str) -> str:
    return os.environ.get("REGISTRY_AUTH_FILE") or os.path.join(root, "auth.json")


def search_path(root: str | None, authfile: str | None = None) -> list[str]:
    paths = []
    if authfile:
        paths.append(authfile)
    elif os.environ.get("REGISTRY_AUTH_FILE"):
        paths.append(os.environ["REGISTRY_AUTH_FILE"])
    if root:
        paths.append(os.path.join(root, "auth.json"))
    if os.environ.get("XDG_RUNTIME_DIR"):
        paths.append(os.path.join(os.environ["XDG_RUNTIME_DIR"], "containers", "auth.json"))
    home = os.path.expanduser("~")
    paths.append(os.path.join(home, ".config", "containers", "auth.json"))
    paths.append(os.path.join(os.environ.get("DOCKER_CONFIG") or os.path.join(home, ".docker"), "config.json"))
    return paths


def _load(path: str) -> dict:
    try:
        with open(path) as f:
            doc = json.load(f)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as e:
        raise AuthError(f"cannot read credentials file {path}: {e}") from None
    return doc if isinstance(doc, dict) else {}


def _decode(entry: dict, path: str) -> tuple[str, str] | None:
    if entry.get("auth"):
        try:
            user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            raise AuthError(f"malformed auth entry in {path}") from None
        return user, password
    if entry.get("username"):
        return entry["username"], entry.get("password", "")
    return None


def find_credentials(host: str, root: str | None = None, authfile: str | None = None) -> tuple[str, str] | None:
    for path in search_path(root, authfile):
        auths = _load(path).get("auths") or {}
        for key, entry in auths.items():
            if isinstance(entry, dict) and _same_registry(key_host(key), host):
                creds = _decode(entry, path)
                if creds:
                    return creds
    return None


def save_credentials(path: str, host: str, user: str, password: str) -> None:
    doc = _load(path)
    auths = doc.setdefault("auths", {})
    for key in [k for k in auths if _same_registry(key_host(k), host)]:
        del auths[key]
    auths[host] = {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}
    _write_private(path, doc)


def remove_credentials(path: str, host: str) -> bool:
    doc = _load(path)
    auths = doc.get("auths") or {}
    keys = [k for k in auths if _same_registry(key_host(k), host)]
    for key in keys:
        del auths[key]
    if keys:
        _write_private(path, doc)
    return bool(keys)


def _write_private(path: str, doc: dict) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp-{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(doc, f, indent=1)
    os.rename(tmp, path)
