"""Image references parsed the way docker and podman do.

    alpine                      -> docker.io/library/alpine:latest
    host:5000/ns/name:tag       -> the registry is the first component when it has a '.' or ':'
                                   or is 'localhost'
    name@sha256:<hex>           -> pinned by manifest digest (a tag may also be given; the digest wins)

Short names (no registry) are resolved against the unqualified-search registries of a
containers-registries.conf(5) file when one is configured, else against docker.io; the same file
can mark registries insecure ([[registry]] location=... insecure=true).
"""
from __future__ import annotations

import dataclasses
import os
import re

from pyrt.errors import ImageError

DEFAULT_DOMAIN = "docker.io"
DEFAULT_TAG = "latest"
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_COMPONENT_RE = re.compile(rf"^{_COMPONENT}$")
_DOMAIN_RE = re.compile(
    r"^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*"
    r"|\[[a-fA-F0-9:]+\])(?::[0-9]+)?$")
_TAG_RE = re.compile(r"^[\w][\w.-]{0,127}$")
_DIGEST_RE = re.compile(r"^sha256:[a-f0-9]{64}$")
NAME_MAX = 255


@dataclasses.dataclass(frozen=True)
class Reference:
    domain: str
    path: str                   # repository path inside the registry, e.g. library/alpine
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        return f"{self.domain}/{self.path}"

    @property
    def registry_host(self) -> str:
        """Where the distribution API lives (docker.io's is registry-1.docker.io)."""
        return "registry-1.docker.io" if self.domain == "docker.io" else self.domain

    @property
    def object(self) -> str:
        """What to ask /v2/<path>/manifests/ for: the digest if pinned, else the tag."""
        return self.digest or self.tag or DEFAULT_TAG

    def with_digest(self, digest: str) -> "Reference":
        return dataclasses.replace(self, tag=None, digest=digest)

    @property
    def tagged(self) -> str | None:
        """name:tag, the form image records are tagged with (None for digest-only references)."""
        return f"{self.name}:{self.tag}" if self.tag else None

    def __str__(self) -> str:
        s = self.name
        if self.tag:
            s += f":{self.tag}"
        if self.digest:
            s += f"@{self.digest}"
        return s


def _split(s: str) -> tuple[str | None, str, str | None, str | None]:
    """(domain or None, remainder path, tag, digest), syntax only."""
    if not s:
        raise ImageError("invalid reference format: empty reference")
    digest = None
    if "@" in s:
        s, digest = s.split("@", 1)
        if not _DIGEST_RE.match(digest):
            raise ImageError(f"invalid reference format: bad digest {digest!r}",
                             "expected sha256: and 64 lowercase hex digits")
    tag = None
    slash = s.rfind("/")
    colon = s.rfind(":")
    if colon > slash:
        s, tag = s[:colon], s[colon + 1:]
        if not _TAG_RE.match(tag):
            raise ImageError(f"invalid reference format: bad tag {tag!r}")
    domain = None
    first, sep, rest = s.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost" or first != first.lower()):
        domain, s = first, rest
        if not _DOMAIN_RE.match(domain):
            raise ImageError(f"invalid reference format: bad registry {domain!r}")
    return domain, s, tag, digest


def _check_path(path: str, original: str) -> None:
    if not path:
        raise ImageError(f"invalid reference format: {original!r} has no repository name")
    if path != path.lower():
        raise ImageError(f"invalid reference format: repository name must be lowercase: {original!r}")
    for comp in path.split("/"):
        if not _COMPONENT_RE.match(comp):
            raise ImageError(f"invalid reference format: {original!r}")


def _normalize(domain: str, path: str) -> tuple[str, str]:
    if domain in ("index.docker.io", "registry-1.docker.io"):
        domain = "docker.io"
    if domain == "docker.io" and "/" not in path:
        path = "library/" + path
    return domain, path


def parse(s: str, default_domain: str = DEFAULT_DOMAIN) -> Reference:
    """Parse a reference; a short name gets DEFAULT_DOMAIN (docker's rule)."""
    original = s
    domain, path, tag, digest = _split(s.strip())
    _check_path(path, original)
    domain, path = _normalize(domain or default_domain, path)
    if len(domain) + 1 + len(path) > NAME_MAX:
        raise ImageError(f"invalid reference format: repository name longer than {NAME_MAX} characters")
    if tag is None and digest is None:
        tag = DEFAULT_TAG
    return Reference(domain, path, tag, digest)


def is_short_name(s: str) -> bool:
    return _split(s.strip())[0] is None


# -- registries.conf --------------------------------------------------------------------------
@dataclasses.dataclass
class RegistriesConf:
    search: list[str] = dataclasses.field(default_factory=list)
    insecure: set[str] = dataclasses.field(default_factory=set)

    def candidates(self, s: str) -> list[Reference]:
        """The references to try, in order, for what the user typed."""
        if not is_short_name(s) or not self.search:
            return [parse(s)]
        return [parse(s, default_domain=d) for d in self.search]

    def is_insecure(self, host: str) -> bool:
        return host in self.insecure


def load_registries_conf(path: str | None = None) -> RegistriesConf:
    """Read a containers-registries.conf(5) (TOML, v2 format). Missing file: docker's defaults.

    Without PATH, $CONTAINERS_REGISTRIES_CONF or /etc/containers/registries.conf is read.
    """
    import tomllib
    path = path or os.environ.get("CONTAINERS_REGISTRIES_CONF") or "/etc/containers/registries.conf"
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        return RegistriesConf()
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ImageError(f"cannot parse registries config {path}: {e}") from None
    conf = RegistriesConf(search=[str(x) for x in data.get("unqualified-search-registries", [])])
    for reg in data.get("registry", []):
        loc = reg.get("location") or reg.get("prefix")
        if loc and reg.get("insecure"):
            conf.insecure.add(loc)
    return conf
