"""Layer media types and their compression: the one table of the layer media types pyrt reads
(OCI and Docker, distributable or not), what each is compressed with, and sniffing a blob's
compression from its magic bytes when no media type says it."""
from __future__ import annotations

import os

from pyrt.errors import ImageError

# The names pyrt writes (save, import, an unpacked stream): an OCI plain tar, and Docker's.
OCI_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
DOCKER_LAYER_TAR = "application/vnd.docker.image.rootfs.diff.tar"

# Media type -> compression (None: plain tar).
LAYER_MEDIA_TYPES: dict[str, str | None] = {
    OCI_LAYER_TAR: None,
    OCI_LAYER_TAR + "+gzip": "gzip",
    OCI_LAYER_TAR + "+zstd": "zstd",
    "application/vnd.oci.image.layer.nondistributable.v1.tar": None,
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip": "gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd": "zstd",
    DOCKER_LAYER_TAR: None,
    DOCKER_LAYER_TAR + ".gzip": "gzip",
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip": "gzip",
}


def compression_of(media_type: str | None, blob_path: str | None = None) -> str | None:
    """The compression a layer of MEDIA_TYPE uses; None/"" sniffs the blob's magic
    (which needs a regular file: sniffing a FIFO would eat the start of the stream)."""
    if not media_type:
        if blob_path is None or not os.path.isfile(blob_path):
            raise ImageError("cannot tell a streamed layer's compression: give its media type")
        return sniff_compression(blob_path)
    try:
        return LAYER_MEDIA_TYPES[media_type]
    except KeyError:
        raise ImageError(f"unknown layer media type: {media_type}") from None


def sniff_compression(path: str) -> str | None:
    """gzip, zstd or None (plain tar), from the first bytes of PATH."""
    with open(path, "rb") as f:
        return compression_from_magic(f.read(4))


def compression_from_magic(head: bytes) -> str | None:
    if head[:2] == b"\x1f\x8b":
        return "gzip"
    if head == b"\x28\xb5\x2f\xfd":
        return "zstd"
    return None
