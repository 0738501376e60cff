"""Registry credentials: where `pyrt login` keeps them and where else we look.

All files share one format, {"auths": {"<host>": {"auth": base64("user:password")}}}, as
docker's config.json and the containers tools' auth.json do. Lookup order for a host:

    1. the file given by --authfile or $REGISTRY_AUTH_FILE
    2. <root>/auth.json                       (written by `pyrt login`)
    3. $XDG_RUNTIME_DIR/containers/auth.json  (podman login)
    4. ~/.config/containers/auth.json
    5. $DOCKER_CONFIG/config.json or ~/.docker/config.json   (docker login)

Credential helpers, as docker runs them: in any of these files, `credHelpers` maps a registry
to a helper NAME and `credsStore` names one for every registry (docker's config.json); for a
registry with a helper we run `docker-credential-NAME get` with the server URL on stdin and
read {"ServerURL", "Username", "Secret"} from its stdout. A helper that says "credentials not
found" leaves the search to go on (anonymous if nothing else is found); a missing or failing
helper is an AuthError. The username "<token>" (from a helper, or an `identitytoken` entry)
means Secret is an identity token: the registry client trades it at the token server as an
OAuth2 refresh token instead of sending it as a password.
"""
from __future__ import annotations

import base64
import json
import os

from pyrt.errors import AuthError

DOCKER_HUB_ALIASES = ("docker.io", "index.docker.io", "registry-1.docker.io")
DOCKER_HUB_SERVER = "https://index.docker.io/v1/"    # what docker calls the Hub in its files and helpers
IDENTITY_TOKEN_USER = "<token>"
HELPER_TIMEOUT = 60.0


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
    if entry.get("identitytoken"):
        return IDENTITY_TOKEN_USER, entry["identitytoken"]
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
        doc = _load(path)
        helper = _helper_for(doc, host, path)
        if helper is not None:
            creds = run_helper(*helper, path)
            if creds:
                return creds
        auths = doc.get("auths") or {}
        for key, entry in auths.items():
            if isinstance(entry, dict) and _same_registry(key_host(key), host):
                creds = _decode(entry, path)
                if creds:
                    return creds
    return None


def _helper_for(doc: dict, host: str, path: str) -> tuple[str, str] | None:
    """(helper name, server URL to ask it about) for HOST in one file, or None."""
    helpers = doc.get("credHelpers")
    if isinstance(helpers, dict):
        for key, name in helpers.items():
            if _same_registry(key_host(key), host):
                return _helper_name(name, path), key
    store = doc.get("credsStore")
    if store:
        return _helper_name(store, path), DOCKER_HUB_SERVER if host in DOCKER_HUB_ALIASES else host
    return None


def _helper_name(name, path: str) -> str:
    # It becomes part of a program name looked up in PATH: no paths, no options.
    if not isinstance(name, str) or not name or "/" in name or name.startswith("-"):
        raise AuthError(f"invalid credential helper name {name!r} in {path}")
    return name


def run_helper(name: str, server: str, path: str = "") -> tuple[str, str] | None:
    """`docker-credential-NAME get` for SERVER: (username, secret), or None when the helper has
    no credentials for it. Raises AuthError when the helper is missing, fails or answers garbage."""
    import subprocess       # only when a helper is configured: a plain pull need not import it
    prog = f"docker-credential-{name}"
    where = f" (configured in {path})" if path else ""
    try:
        r = subprocess.run([prog, "get"], input=server.encode(), capture_output=True, timeout=HELPER_TIMEOUT)
    except FileNotFoundError:
        raise AuthError(f"credential helper {prog} not found in PATH{where}") from None
    except subprocess.TimeoutExpired:
        raise AuthError(f"credential helper {prog} did not answer for {server} within {HELPER_TIMEOUT:.0f} s") from None
    except OSError as e:
        raise AuthError(f"cannot run credential helper {prog}: {e.strerror or e}") from None
    out = r.stdout.decode(errors="replace").strip()
    if r.returncode != 0:
        text = out or r.stderr.decode(errors="replace").strip()
        if "credentials not found" in text.lower():
            return None
        detail = text.splitlines()[-1] if text else f"exit status {r.returncode}"
        raise AuthError(f"credential helper {prog} failed for {server}: {detail}")
    try:
        doc = json.loads(out)
        user, secret = doc["Username"], doc["Secret"]
    except (ValueError, KeyError, TypeError):
        raise AuthError(f"credential helper {prog} gave no Username/Secret for {server}") from None
    if not isinstance(user, str) or not isinstance(secret, str):
        raise AuthError(f"credential helper {prog} gave no Username/Secret for {server}")
    if not user and not secret:
        return None
    return user, secret


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
