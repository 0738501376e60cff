"""Hostile tar streams for the resource-limit tests, written block by block.

tarfile will not write what these need (a PAX header announcing 1 GiB, a GNU sparse file, a
size that no data follows), so headers are packed here by hand, ustar/GNU layout:
name(100) mode(8) uid(8) gid(8) size(12) mtime(12) chksum(8) type(1) linkname(100)
magic(6) version(2) uname(32) gname(32) devmajor(8) devminor(8), and for GNU sparse the
sparse map at 386, isextended at 482, real size at 483.
"""
from __future__ import annotations

import gzip

BLOCK = 512
END = b"\0" * (2 * BLOCK)


def _num(value: int, width: int) -> bytes:
    """Octal when it fits, else GNU base-256 (first byte 0x80)."""
    octal = b"%0*o" % (width - 1, value)
    if len(octal) <= width - 1:
        return octal + b"\0"
    return b"\x80" + value.to_bytes(width - 1, "big")


def header(name: str, type_: bytes = b"0", size: int = 0, *, gnu: bool = False,
           sparse: list[tuple[int, int]] | None = None, realsize: int = 0) -> bytes:
    """One 512-byte header block (SIZE is what it announces, whatever follows)."""
    b = bytearray(BLOCK)
    b[0:100] = name.encode()[:100].ljust(100, b"\0")
    b[100:108] = _num(0o644, 8)
    b[108:116] = _num(0, 8)
    b[116:124] = _num(0, 8)
    b[124:136] = _num(size, 12)
    b[136:148] = _num(1_600_000_000, 12)
    b[156:157] = type_
    b[257:265] = b"ustar  \0" if gnu else b"ustar\x0000"
    for i, (off, n) in enumerate(sparse or []):
        b[386 + 24 * i:398 + 24 * i] = _num(off, 12)
        b[398 + 24 * i:410 + 24 * i] = _num(n, 12)
    if sparse is not None:
        b[483:495] = _num(realsize, 12)
    b[148:156] = b" " * 8
    b[148:156] = b"%06o\0 " % sum(b)
    return bytes(b)


def padded(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % BLOCK)


def huge_pax_header(announced: int) -> bytes:
    """A PAX extended header announcing ANNOUNCED bytes, followed by a little of them only."""
    return header("././@PaxHeader", b"x", announced) + b"9 a=bbbb\n".ljust(BLOCK, b"\0") * 4


def huge_gnu_longname(announced: int) -> bytes:
    return header("././@LongLink", b"L", announced, gnu=True) + b"a" * (4 * BLOCK)


def sparse_file(name: str, realsize: int, data: bytes = b"x" * BLOCK) -> bytes:
    """A GNU sparse file: LEN(DATA) real bytes at offset 0, claiming REALSIZE bytes in all."""
    return (header(name, b"S", len(data), gnu=True, sparse=[(0, len(data))], realsize=realsize)
            + padded(data) + END)


def announced_file(name: str, size: int, follow: bytes = b"") -> bytes:
    """A regular file header announcing SIZE bytes, with only FOLLOW after it."""
    return header(name, b"0", size) + follow


def gzip_zeros_bomb(head: bytes, mib: int) -> bytes:
    """gzip of HEAD then MIB MiB of zeros, as concatenated gzip members (one stream to every
    reader): one 1 MiB member compressed once and repeated, so it builds at once."""
    member = gzip.compress(b"\0" * (1 << 20), compresslevel=9, mtime=0)
    return gzip.compress(head, mtime=0) + member * mib


def push_one_layer(workdir: str, ref: str, gz_layer: bytes, diff_id: str) -> dict:
    """Push to REF a one-layer image whose gzip blob and claimed diff_id are given as they are
    (the image builder derives both from a tar, which hostile layers must not); returns the
    layer's descriptor."""
    import json
    import os

    from tests.support.registry import builder
    layout = builder.Layout(os.path.join(str(workdir), "layout"))
    ldesc = layout.blob(gz_layer, builder.LAYER_TYPES["gzip"])
    config = {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [diff_id]}}
    cdesc = layout.blob(json.dumps(config).encode(), builder.OCI_CONFIG)
    mdesc = layout.blob(json.dumps({"schemaVersion": 2, "mediaType": builder.OCI_MANIFEST,
                                    "config": cdesc, "layers": [ldesc]}).encode(), builder.OCI_MANIFEST)
    layout.write_index(mdesc)
    builder.push(layout.path, ref)
    return ldesc


def without_end(tar: bytes) -> bytes:
    """TAR cut after its last member's data (no end-of-archive blocks), to append to."""
    import io
    import tarfile
    with tarfile.open(fileobj=io.BytesIO(tar)) as tf:
        last = tf.getmembers()[-1]
    return tar[:last.offset_data + -(-last.size // BLOCK) * BLOCK]
