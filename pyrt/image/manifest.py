"""Manifests, indexes and image configs: parsed once into typed objects.

Docker schema 2 and OCI manifests, Docker manifest lists and OCI indexes (with platform
selection), image configs. Schema 1 is refused: it is deprecated, unsigned content
whose layers carry no diff_ids.
"""
from __future__ import annotations

import dataclasses
import json
import os

from pyrt.errors import ImageError
# The layer media types a manifest may use are the ones unpack can decompress: one table, there.
from pyrt.image.mediatypes import LAYER_MEDIA_TYPES as LAYER_TYPES

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_SCHEMA1 = ("application/vnd.docker.distribution.manifest.v1+json",
                  "application/vnd.docker.distribution.manifest.v1+prettyjws")
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"

# What GET /manifests/ asks for: everything we can read, single manifests and lists.
ACCEPT = ", ".join([OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST])
MANIFEST_TYPES = (OCI_MANIFEST, DOCKER_MANIFEST)
INDEX_TYPES = (OCI_INDEX, DOCKER_LIST)


# containerd's limit: a manifest bigger than this is not a manifest.
MAX_MANIFEST_SIZE = 4 << 20


@dataclasses.dataclass(frozen=True)
class Platform:
    os: str = "linux"
    architecture: str = "amd64"
    variant: str | None = None

    def __str__(self) -> str:
        return "/".join(x for x in (self.os, self.architecture, self.variant) if x)


_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "armv6l": "arm", "i686": "386",
         "i386": "386", "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64"}


def host_platform() -> Platform:
    machine = os.uname().machine       # what platform.machine() reads, without importing it
    arch = _ARCH.get(machine, machine)
    variant = {"armv7l": "v7", "armv6l": "v6"}.get(machine)
    return Platform("linux", arch, variant)


def parse_platform(s: str) -> Platform:
    """os/arch[/variant], as --platform takes it (e.g. linux/arm64/v8)."""
    parts = s.split("/")
    if len(parts) not in (2, 3) or not all(parts):
        raise ImageError(f"invalid platform {s!r}", "expected os/arch or os/arch/variant")
    return Platform(parts[0], parts[1], parts[2] if len(parts) == 3 else None)


def _norm_variant(arch: str, variant: str | None) -> str | None:
    # arm64 images are v8 whether or not they say so.
    if arch == "arm64" and variant in (None, "", "v8"):
        return None
    return variant or None


@dataclasses.dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    platform: Platform | None = None
    urls: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, d: dict, what: str) -> "Descriptor":
        # Every field is checked for its type here: what comes back is what the puller and the
        # store may use as is (a digest names a file, a size sets a download limit).
        if not isinstance(d, dict):
            raise ImageError(f"malformed {what} descriptor: not a JSON object")
        digest, size = d.get("digest"), d.get("size")
        if not isinstance(digest, str) or not digest:
            raise ImageError(f"malformed {what} descriptor: no digest string")
        if type(size) is not int:
            raise ImageError(f"malformed {what} descriptor: size is not an integer")
        if size < 0:
            raise ImageError(f"malformed {what} descriptor: negative size")
        p = d.get("platform")
        plat = None
        if isinstance(p, dict):
            plat = Platform(_str(p, "os", f"{what} platform"), _str(p, "architecture", f"{what} platform"),
                            _str(p, "variant", f"{what} platform") or None)
        return cls(_str(d, "mediaType", f"{what} descriptor"), digest, size, plat,
                   _strs(d.get("urls"), "urls", f"{what} descriptor"))


def _str(d: dict, key: str, what: str) -> str:
    """D[KEY] as a string ("" when absent or null); ImageError for any other type."""
    v = d.get(key)
    if v is None:
        return ""
    if not isinstance(v, str):
        raise ImageError(f"malformed {what}: {key} must be a string")
    return v


@dataclasses.dataclass(frozen=True)
class Manifest:
    media_type: str
    config: Descriptor
    layers: tuple[Descriptor, ...]
    annotations: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Index:
    media_type: str
    manifests: tuple[Descriptor, ...]

    def select(self, want: Platform) -> Descriptor:
        """The entry for WANT: os and architecture must match; a requested variant must match
        too; with no variant requested, an entry without one is preferred."""
        wv = _norm_variant(want.architecture, want.variant)
        fits = []
        for d in self.manifests:
            p = d.platform
            if p is None or p.os != want.os or p.architecture != want.architecture:
                continue
            if d.media_type and d.media_type not in MANIFEST_TYPES:
                continue
            dv = _norm_variant(p.architecture, p.variant)
            if want.variant and dv != wv:
                continue
            fits.append((dv is not None and dv != wv, d))
        if not fits:
            have = ", ".join(sorted(str(d.platform) for d in self.manifests if d.platform)) or "none"
            raise ImageError(f"no image for platform {want} in the manifest list (it has: {have})")
        fits.sort(key=lambda t: t[0])
        return fits[0][1]


def _json_object(data: bytes, what: str) -> dict:
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise ImageError(f"malformed {what}: {e}") from None
    if not isinstance(doc, dict):
        raise ImageError(f"malformed {what}: not a JSON object")
    return doc


def parse_manifest(data: bytes, media_type: str | None = None) -> Manifest | Index:
    """Parse manifest or index bytes; MEDIA_TYPE is the Content-Type the registry sent."""
    if len(data) > MAX_MANIFEST_SIZE:
        raise ImageError(f"manifest too large: {len(data)} bytes (limit {MAX_MANIFEST_SIZE})")
    doc = _json_object(data, "manifest")
    mt = _str(doc, "mediaType", "manifest") or (media_type or "").split(";")[0].strip()
    if doc.get("schemaVersion") == 1 or mt in DOCKER_SCHEMA1:
        raise ImageError("image uses Docker manifest schema 1, which is not supported",
                         "push the image again with a current client (schema 2 or OCI)")
    if doc.get("schemaVersion") != 2:
        raise ImageError(f"unsupported manifest schemaVersion {str(doc.get('schemaVersion'))[:40]!r}")
    if not mt:
        # OCI allows omitting mediaType; the fields say which kind it is.
        mt = OCI_INDEX if "manifests" in doc else OCI_MANIFEST
    if mt in INDEX_TYPES:
        entries = doc.get("manifests")
        if not isinstance(entries, list):
            raise ImageError("malformed manifest list: no manifests array")
        return Index(mt, tuple(Descriptor.from_json(d, "manifest") for d in entries))
    if mt in MANIFEST_TYPES:
        if not isinstance(doc.get("config"), dict) or not isinstance(doc.get("layers"), list):
            raise ImageError("malformed manifest: config or layers missing")
        layers = tuple(Descriptor.from_json(d, "layer") for d in doc["layers"])
        for layer in layers:
            if layer.media_type not in LAYER_TYPES:
                raise ImageError(f"unsupported layer media type: {layer.media_type[:200]!r}")
        annotations = doc.get("annotations") or {}
        if not isinstance(annotations, dict) or not all(isinstance(v, str) for v in annotations.values()):
            raise ImageError("malformed manifest: annotations must be an object of strings")
        return Manifest(mt, Descriptor.from_json(doc["config"], "config"), layers, annotations)
    raise ImageError(f"unsupported manifest media type: {mt[:200]!r}")


@dataclasses.dataclass(frozen=True)
class ImageConfig:
    """What the engine needs from an image to build a runtime config.json."""
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    env: tuple[str, ...] = ()
    working_dir: str = ""
    user: str = ""
    exposed_ports: tuple[str, ...] = ()
    volumes: tuple[str, ...] = ()
    stop_signal: str = ""
    labels: dict = dataclasses.field(default_factory=dict)
    os: str = "linux"
    architecture: str = ""
    variant: str | None = None
    created: str | None = None
    diff_ids: tuple[str, ...] = ()
    raw: dict = dataclasses.field(default_factory=dict, compare=False, repr=False)


def _strs(v, field: str, what: str = "image config") -> tuple[str, ...]:
    """A list of strings (or one string, or null) as a tuple; ImageError for anything else."""
    if v is None:
        return ()
    if isinstance(v, str):
        return (v,)
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise ImageError(f"malformed {what}: {field} must be a list of strings")
    return tuple(v)


def _obj(v, field: str) -> dict:
    if v is None:
        return {}
    if not isinstance(v, dict):
        raise ImageError(f"malformed image config: {field} must be an object")
    return v


def parse_config(data: bytes) -> ImageConfig:
    doc = _json_object(data, "image config")
    c = _obj(doc.get("config"), "config")
    rootfs = _obj(doc.get("rootfs"), "rootfs")
    if rootfs.get("type", "layers") != "layers":
        raise ImageError(f"unsupported rootfs type {str(rootfs.get('type'))[:40]!r} in image config")
    labels = _obj(c.get("Labels"), "Labels")
    if not all(isinstance(v, str) for v in labels.values()):
        raise ImageError("malformed image config: Labels values must be strings")
    return ImageConfig(
        entrypoint=_strs(c.get("Entrypoint"), "Entrypoint"),
        cmd=_strs(c.get("Cmd"), "Cmd"),
        env=_strs(c.get("Env"), "Env"),
        working_dir=_str(c, "WorkingDir", "image config"),
        user=_str(c, "User", "image config"),
        exposed_ports=tuple(sorted(_obj(c.get("ExposedPorts"), "ExposedPorts"))),
        volumes=tuple(sorted(_obj(c.get("Volumes"), "Volumes"))),
        stop_signal=_str(c, "StopSignal", "image config"),
        labels=dict(labels),
        os=_str(doc, "os", "image config") or "linux",
        architecture=_str(doc, "architecture", "image config"),
        variant=_str(doc, "variant", "image config") or None,
        created=_str(doc, "created", "image config") or None,
        diff_ids=_strs(rootfs.get("diff_ids"), "rootfs.diff_ids"),
        raw=doc,
    )
