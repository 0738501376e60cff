"""Hypothesis strategies for the parsers that face hostile input (issue 9.13).

- json_values / mutated_doc: any JSON value, and a seed document with 1-4 random edits
  (a value replaced by one of any type, a key dropped, a key added) anywhere in its tree;
  mutated_bytes: the seed's text with bytes flipped, cut or inserted.
- tar_stream(outside): a tar archive of random entries (names and link targets from a small
  alphabet full of '..', '/', whiteouts, and the path OUTSIDE of a directory beside the target), random modes,
  owners, sizes, types and PAX headers, then maybe a header field overwritten (checksum
  fixed, so tarfile reads it) and maybe cut short.

How many examples: settings() below; PYRT_FUZZ_EXAMPLES overrides it for a long run
(docs/security.md, "Fuzzing").
"""
from __future__ import annotations

import copy
import io
import json
import os
import tarfile

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st


def fuzz_settings(suite_examples: int) -> settings:
    """SUITE_EXAMPLES in the suite; PYRT_FUZZ_EXAMPLES=N for a long run. No deadline: the box is
    shared and busy, timing is not what is checked."""
    n = int(os.environ.get("PYRT_FUZZ_EXAMPLES", suite_examples))
    return settings(max_examples=n, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much])


# -- JSON ---------------------------------------------------------------------------------------
INTERESTING_STRINGS = ["", "/", ".", "..", "/..", "../..", "a\nb", "\x00", "rootfs", "/dev/x", "proc", "bind",
                       "rbind", "ro", "rw", "tmpfs", "CAP_SYS_ADMIN", "CAP_NOPE", "SCMP_ACT_ALLOW",
                       "SCMP_ACT_ERRNO", "SCMP_ARCH_X86_64", "read", "pid", "user", "network", "RLIMIT_NOFILE",
                       "sha256:" + "0" * 64, "sha256:../x", "sha512:" + "0" * 128, "c", "b", "p", "a", "u",
                       "linux", "amd64", "layers", "1.0.2", "2", "-1", "4294967295", "x" * 300]
_SCALARS = (st.none() | st.booleans()
            | st.integers(min_value=-(2 ** 70), max_value=2 ** 70)
            | st.sampled_from([0, 1, -1, 2 ** 31, 2 ** 32 - 1, 2 ** 63, 2 ** 64, -(2 ** 63) - 1])
            | st.floats(allow_nan=True, allow_infinity=True)
            | st.text(max_size=12) | st.sampled_from(INTERESTING_STRINGS))
json_values = st.recursive(
    _SCALARS,
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8) | st.sampled_from(INTERESTING_STRINGS),
                                                             kids, max_size=4),
    max_leaves=12)


def _slots(doc) -> list:
    """Every (container, key) in DOC's tree: where an edit can land."""
    out, todo = [], [doc]
    while todo:
        c = todo.pop()
        keys = list(c) if isinstance(c, dict) else range(len(c)) if isinstance(c, list) else ()
        for k in keys:
            out.append((c, k))
            todo.append(c[k])
    return out


@st.composite
def mutated_doc(draw, seeds: list):
    """A deep copy of one of SEEDS with 1-4 random edits."""
    doc = copy.deepcopy(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 4))):
        slots = _slots(doc)
        if not slots:
            return draw(json_values)
        c, k = draw(st.sampled_from(slots))
        op = draw(st.sampled_from(["replace", "replace", "drop", "add", "wrap"]))
        if op == "replace":
            c[k] = draw(json_values)
        elif op == "drop":
            del c[k]
        elif op == "wrap":
            c[k] = [c[k]] if draw(st.booleans()) else {"x": c[k]}
        elif isinstance(c, dict):
            c[draw(st.text(max_size=10) | st.sampled_from(INTERESTING_STRINGS))] = draw(json_values)
        else:
            c.insert(k, draw(json_values))
    return doc


def to_json(doc) -> bytes:
    return json.dumps(doc).encode()     # NaN and Infinity as json.loads reads them back


@st.composite
def mutated_bytes(draw, seeds: list) -> bytes:
    data = bytearray(to_json(draw(st.sampled_from(seeds))))
    for _ in range(draw(st.integers(1, 6))):
        if not data:
            break
        i = draw(st.integers(0, len(data) - 1))
        op = draw(st.sampled_from(["flip", "cut", "insert", "truncate"]))
        if op == "flip":
            data[i] = draw(st.integers(0, 255))
        elif op == "cut":
            del data[i:i + draw(st.integers(1, 16))]
        elif op == "insert":
            data[i:i] = draw(st.sampled_from([b"{", b"}", b"[", b"]", b",", b'"', b"\\", b"\xff", b"1e999",
                                              b"NaN", b"null", b"-", b"\x00", b"[" * 50]))
        else:
            del data[i:]
    return bytes(data)


# -- tar streams --------------------------------------------------------------------------------
def _path(parts_st):
    # Mostly plain names, so that many streams unpack and later entries meet earlier ones.
    return st.tuples(st.sampled_from(["", "", "", "", "", "./", "./", "/", "../"]),
                     st.one_of([st.lists(parts_st, min_size=1, max_size=4)] * 15 + [st.just([])])).map(
                         lambda t: t[0] + "/".join(t[1]))


_COMPONENTS = st.sampled_from(["a", "b", "c"] * 16 + ["..", ".", "", ".wh.a", ".wh.b", ".wh..wh..opq",
                                                     ".wh.", ".wh..", ".wh...", "dev", "x" * 256])
_NAMES = _path(_COMPONENTS)


def _targets(outside: str):
    """Link targets: in-layer names, and ways out, OUTSIDE (a directory beside the target) among them."""
    return _NAMES | st.sampled_from([outside, outside + "/sentinel", outside + "/dir", "/", "/etc/passwd",
                                     "../outside", "../../outside/sentinel", "a/../../b"])
_TYPES = st.sampled_from([tarfile.REGTYPE, tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE,
                          tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.LNKTYPE, tarfile.CHRTYPE, tarfile.BLKTYPE,
                          tarfile.FIFOTYPE, tarfile.CONTTYPE, b"x", b"V"])
_PAX = st.dictionaries(
    st.sampled_from(["SCHILY.xattr.user.a", "SCHILY.xattr.trusted.overlay.opaque", "SCHILY.xattr.trusted.overlay.redirect",
                     "SCHILY.xattr.security.capability", "SCHILY.xattr.", "SCHILY.xattr.bad name",
                     "path", "linkpath", "size", "mtime", "uid", "GNU.sparse.size", "GNU.sparse.map"]),
    st.sampled_from(["y", "", "/", "../x", "-1", "1e9", "99999999999999999999", "1.5", "a", "0,1,2,3", "0,x"]),
    max_size=2)


@st.composite
def tar_entry(draw, outside: str) -> tuple[tarfile.TarInfo, bytes]:
    ti = tarfile.TarInfo(draw(_NAMES))
    ti.type = draw(_TYPES)
    ti.mode = draw(st.integers(0, 0o7777) | st.sampled_from([0o4755, 0o2755, 0o1777, 0o7777, 0o170777]))
    ti.uid = draw(st.sampled_from([0, 0, 1000, 65534, 2 ** 21 - 1]))
    ti.gid = draw(st.sampled_from([0, 0, 1000, 65534]))
    ti.mtime = draw(st.sampled_from([0, 1_700_000_000, 2 ** 33 - 1]))
    if ti.type in (tarfile.SYMTYPE, tarfile.LNKTYPE):
        ti.linkname = draw(_targets(outside))
    if ti.type in (tarfile.CHRTYPE, tarfile.BLKTYPE):
        ti.devmajor, ti.devminor = draw(st.sampled_from([(0, 0), (1, 3), (8, 0), (4095, 255)]))
    data = b""
    if ti.type in (tarfile.REGTYPE, tarfile.CONTTYPE, b"x"):
        data = draw(st.binary(max_size=64))
        ti.size = len(data)
    ti.pax_headers = draw(st.sampled_from([{}, {}, {}]) | _PAX)
    return ti, data


# Offsets and widths of ustar header fields worth overwriting.
_FIELDS = {"name": (0, 100), "mode": (100, 8), "uid": (108, 8), "size": (124, 12), "mtime": (136, 12),
           "type": (156, 1), "linkname": (157, 100), "magic": (257, 8), "devmajor": (329, 8), "prefix": (345, 155)}
_FIELD_VALUES = [b"", b"0", b"-1", b"77777777777", b"\x80" + b"\xff" * 11, b"\xff" * 12, b"../../x", b"/abs",
                 b"ustar\x0000", b"ustar  \x00", b"1", b"2", b"5", b"L", b"K", b"x", b"g", b"S", b"\x00" * 12, b"9" * 12]


def _fix_checksum(buf: bytearray, off: int) -> None:
    block = buf[off:off + 512]
    block[148:156] = b" " * 8
    buf[off + 148:off + 156] = b"%06o\x00 " % sum(block)


@st.composite
def tar_stream(draw, outside: str) -> bytes:
    entries = draw(st.lists(tar_entry(outside), min_size=1, max_size=8))
    fmt = draw(st.sampled_from([tarfile.PAX_FORMAT, tarfile.GNU_FORMAT, tarfile.USTAR_FORMAT]))
    out = io.BytesIO()
    offsets = []
    with tarfile.open(fileobj=out, mode="w", format=fmt) as tf:
        for ti, data in entries:
            offsets.append(out.tell())
            try:
                tf.addfile(ti, io.BytesIO(data))
            except (ValueError, tarfile.TarError):
                # ustar cannot hold this name or number: write it as PAX instead
                tf.format = tarfile.PAX_FORMAT
                tf.addfile(ti, io.BytesIO(data))
    buf = bytearray(out.getvalue())
    if offsets and draw(st.integers(0, 3)) == 0:
        off = draw(st.sampled_from(offsets))
        start, width = _FIELDS[draw(st.sampled_from(sorted(_FIELDS)))]
        value = draw(st.sampled_from(_FIELD_VALUES))[:width].ljust(width, b"\x00")
        buf[off + start:off + start + width] = value
        _fix_checksum(buf, off)
    if buf and draw(st.integers(0, 5)) == 0:
        del buf[draw(st.integers(1, len(buf) - 1)):]
    return bytes(buf)
