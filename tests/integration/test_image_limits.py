"""Hostile layers that go for memory or disk, and a disk that really fills up.

Each case must fail with one ImageError (exit 9 from the CLI) naming the entry and the limit,
and leave nothing: no layer dir, no temp dir, no blob, no ingest file, no lock file, no mount.
The limits are pyrt.image.unpack's module constants (docs/unpack-snapshots-archives.md); where
a test lowers one to keep the test small, its docstring says so.
"""
from __future__ import annotations

import contextlib
import gzip
import http.client
import json
import os
import subprocess

import pytest

from pyrt.errors import ImageError
from pyrt.image import decompress, unpack
from pyrt.image.store import ImageStore
from pyrt.image.unpack import unpack_layer
from tests.support import hostile_layers as hl
from tests.support.bundle import PYRT
from tests.support.layers import tar_bytes
from tests.support.pyrtcli import pyrt, pyrt_env

pytest_plugins = ["tests.support.registry_fixtures"]

GZ = "application/vnd.oci.image.layer.v1.tar+gzip"
TAR = "application/vnd.oci.image.layer.v1.tar"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OK = [("dir", "etc"), ("file", "etc/ok", b"fine")]


@pytest.fixture
def layers(tmp_path):
    d = tmp_path / "layers"
    d.mkdir()
    return d


def _refused(tmp_path, layers, blob: bytes, media_type: str = TAR) -> str:
    path = tmp_path / "layer.blob"
    path.write_bytes(blob)
    with pytest.raises(ImageError) as ei:
        unpack_layer(str(path), media_type, str(layers / "L"))
    assert os.listdir(layers) == [], "a layer or temp dir was left behind"
    msg = str(ei.value)
    assert "\n" not in msg
    return msg


def _unpacks(tmp_path, layers, blob: bytes, media_type: str = TAR) -> str:
    path = tmp_path / "layer.blob"
    path.write_bytes(blob)
    unpack_layer(str(path), media_type, str(layers / "L"))
    return str(layers / "L")


# -- header data --------------------------------------------------------------------------------
def test_huge_pax_header_refused_before_it_is_read(tmp_path, layers):
    """A PAX header announcing 1 GiB (only 2 KiB follow): refused from the header block alone,
    naming the entry before it, where it is and the 1 MiB limit."""
    blob = hl.without_end(tar_bytes(OK)) + hl.huge_pax_header(1 << 30)     # no end blocks before it
    msg = _refused(tmp_path, layers, blob)
    assert "after entry 'etc/ok'" in msg and "1 MiB" in msg and "PAX" in msg, msg


def test_huge_gnu_long_name_refused(tmp_path, layers):
    msg = _refused(tmp_path, layers, hl.huge_gnu_longname(512 << 20) + hl.END)
    assert "at the start" in msg and "1 MiB" in msg, msg


def test_pax_header_under_the_limit_is_fine(tmp_path, layers):
    """900 KiB of PAX records (a long comment) is big but legal."""
    import io
    import tarfile
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        ti = tarfile.TarInfo("big-header")
        ti.pax_headers = {"comment": "c" * 900_000}
        tf.addfile(ti, io.BytesIO(b""))
    root = _unpacks(tmp_path, layers, buf.getvalue())
    assert os.listdir(root) == ["big-header"]


# -- entries and paths --------------------------------------------------------------------------
def test_too_many_entries(tmp_path, layers, monkeypatch):
    """MAX_ENTRIES lowered to 50 (the real limit, 1,000,000, would take minutes to build and
    unpack): 50 entries unpack, the 51st is refused by name."""
    monkeypatch.setattr(unpack, "MAX_ENTRIES", 50)
    entries = [("file", f"f{i:03d}", b"") for i in range(50)]
    assert len(os.listdir(_unpacks(tmp_path, layers, tar_bytes(entries)))) == 50
    unpack.remove_tree(str(layers / "L"))
    msg = _refused(tmp_path, layers, tar_bytes(entries + [("file", "one-too-many", b"")]))
    assert "'one-too-many'" in msg and "limit of 50 entries" in msg, msg


def test_name_too_long(tmp_path, layers):
    name = "/".join(["n" * 200] * 25)              # 5024 bytes, each component legal
    msg = _refused(tmp_path, layers, tar_bytes(OK + [("file", name, b"x")]))
    assert "name is 5024 bytes long" in msg and "limit of 4096" in msg, msg
    assert len(msg) < 400, "the message must stay one readable line"


def test_link_target_too_long(tmp_path, layers):
    msg = _refused(tmp_path, layers, tar_bytes([("symlink", "l", "t" * 4097)]))
    assert "'l'" in msg and "link target is 4097 bytes long" in msg, msg


def test_names_together_over_the_limit(tmp_path, layers, monkeypatch):
    """MAX_NAMES_BYTES lowered to 10 KiB (the real 256 MiB needs ~70,000 entries of 4 KiB names):
    the entry whose name crosses it is refused."""
    monkeypatch.setattr(unpack, "MAX_NAMES_BYTES", 10 << 10)
    entries = [("file", f"{i}-" + "n" * 250, b"") for i in range(45)]      # ~254 bytes each
    msg = _refused(tmp_path, layers, tar_bytes(entries))
    assert "'40-nnn" in msg and "limit of 10 KiB in all" in msg, msg


def test_component_too_long(tmp_path, layers):
    msg = _refused(tmp_path, layers, tar_bytes([("file", "d/" + "c" * 256, b"x")]))
    assert "longer than 255 bytes" in msg, msg


def test_too_deep(tmp_path, layers):
    msg = _refused(tmp_path, layers, tar_bytes([("file", "d/" * 600 + "f", b"x")]))
    assert "601 levels deep" in msg and "limit of 512" in msg, msg


def test_deep_but_legal(tmp_path, layers):
    root = _unpacks(tmp_path, layers, tar_bytes([("file", "d/" * 511 + "f", b"deep")]))
    with open(os.path.join(root, *(["d"] * 511), "f"), "rb") as f:
        assert f.read() == b"deep"


# -- bytes on disk ------------------------------------------------------------------------------
def test_sparse_file_claiming_a_terabyte(tmp_path, layers):
    """A GNU sparse file with 512 real bytes that expands to 1 TiB: refused before a byte is
    written (the budget for a small layer is 1 GiB)."""
    msg = _refused(tmp_path, layers, hl.sparse_file("var/sparse", 1 << 40))
    assert "'var/sparse'" in msg and "(sparse)" in msg and "limit of 1 GiB" in msg, msg


def test_file_announcing_more_than_the_budget(tmp_path, layers):
    msg = _refused(tmp_path, layers, gzip.compress(hl.announced_file("big", 5 << 30, b"\0" * 4096)), GZ)
    assert "'big' of 5368709120 bytes" in msg and "limit of 1 GiB" in msg, msg


def test_files_together_over_the_budget(tmp_path, layers, monkeypatch):
    """The budget counts all files of a layer: MIN_EXPANSION_BUDGET lowered to 1 MiB so three
    400 KiB files of zeros (a few KiB compressed) cross it at the third."""
    monkeypatch.setattr(decompress, "MIN_EXPANSION_BUDGET", 1 << 20)
    entries = [("file", f"z{i}", b"\0" * (400 << 10)) for i in range(3)]
    msg = _refused(tmp_path, layers, gzip.compress(tar_bytes(entries)), GZ)
    assert "'z2'" in msg and "limit of 1 MiB" in msg, msg


def test_zeros_after_the_tar_end(tmp_path, layers, monkeypatch):
    """A bomb hidden after the end-of-archive blocks, never unpacked but still inflated: the
    stream budget stops it. MIN_EXPANSION_BUDGET lowered to 8 MiB, 20 MiB of zeros."""
    monkeypatch.setattr(decompress, "MIN_EXPANSION_BUDGET", 8 << 20)
    msg = _refused(tmp_path, layers, hl.gzip_zeros_bomb(tar_bytes(OK), 20), GZ)
    assert "uncompressed data exceeds the limit of 8 MiB" in msg, msg


# -- through the CLI, from a registry -----------------------------------------------------------
def _assert_store_empty(root):
    store = ImageStore(root)
    assert store.records() == [] and store._tags() == {}
    assert store.content.digests() == [], "a blob of the refused image was kept"
    assert store.content.ingests() == [], "ingest leftovers"
    assert os.listdir(store.layer_dir_root) == [], "layer, temp or lock files left in layers/"


def _pull_fails(root, ref, code):
    r = pyrt(root, "pull", "-q", "--tls-verify=false", ref)
    assert r.returncode == code, (r.returncode, r.stderr)
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("pyrt: "), r.stderr
    assert "Traceback" not in r.stderr
    return lines[0]


def test_pull_gzip_bomb(open_registry, store_root, tmp_path):
    """A real bomb at the real limit: 1.1 MB of gzip inflating to 1100 MiB (a small tar, then
    zeros). The pull stops at 1 GiB of uncompressed data; nothing of it stays."""
    blob = hl.gzip_zeros_bomb(tar_bytes(OK), 1100)
    ref = f"{open_registry.host}/pyrt/gzbomb:latest"
    hl.push_one_layer(tmp_path, ref, blob, "sha256:" + "0" * 64)
    line = _pull_fails(store_root, ref, 9)
    assert "uncompressed data exceeds the limit of 1 GiB" in line, line
    _assert_store_empty(store_root)


def test_pull_pax_bomb(open_registry, store_root, tmp_path):
    blob = gzip.compress(hl.without_end(tar_bytes(OK)) + hl.huge_pax_header(1 << 30))
    ref = f"{open_registry.host}/pyrt/paxbomb:latest"
    hl.push_one_layer(tmp_path, ref, blob, "sha256:" + "1" * 64)
    line = _pull_fails(store_root, ref, 9)
    assert "after entry 'etc/ok'" in line and "1 MiB" in line, line
    _assert_store_empty(store_root)


def test_pull_sparse_bomb(open_registry, store_root, tmp_path):
    blob = gzip.compress(hl.sparse_file("sparse", 1 << 40))
    ref = f"{open_registry.host}/pyrt/sparsebomb:latest"
    hl.push_one_layer(tmp_path, ref, blob, "sha256:" + "2" * 64)
    line = _pull_fails(store_root, ref, 9)
    assert "'sparse' of 1099511627776 bytes (sparse)" in line, line
    _assert_store_empty(store_root)


# -- a disk that fills up -----------------------------------------------------------------------
@contextlib.contextmanager
def small_fs(tmp_path, size: str):
    """A tmpfs of SIZE of our own, mounted for the with-block only, to root a store on."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "pyrt-test-enospc", str(mnt)],
                   check=True)
    try:
        yield str(mnt)
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


def _busybox_layer(pushed):
    from tests.support.registry import skopeo_inspect
    return skopeo_inspect(pushed["busybox"])["Layers"][0]


def test_disk_full_while_unpacking(pushed, open_registry, tmp_path):
    """The layer blob (~1 MB) is already in a store on a 2 MiB tmpfs, so the pull goes straight
    to unpacking it (~2.3 MB): ENOSPC there is one line naming layer and entry, exit 1, and
    nothing stays (the blob is dropped too: it only took the space)."""
    layer = _busybox_layer(pushed)
    seed = os.path.join(str(tmp_path), "seed")
    r = pyrt(seed, "pull", "-q", "--tls-verify=false", pushed["busybox"])
    assert r.returncode == 0, r.stderr
    with small_fs(tmp_path, "2m") as mnt:
        root = os.path.join(mnt, "root")
        with open(ImageStore(seed).content.path(layer), "rb") as f:
            ImageStore(root).content.put(f.read(), layer)
        line = _pull_fails(root, pushed["busybox"], 1)
        assert line.startswith(f"pyrt: no space left on device while unpacking layer {layer} entry '"), line
        _assert_store_empty(root)


@pytest.mark.parametrize("size", ["512k", "1500k", "2500k"])
def test_disk_full_while_downloading(pushed, tmp_path, size):
    """A tmpfs too small for the ~1 MB blob, or for the blob and the ~2.3 MB layer streaming in
    beside it (either may hit ENOSPC first): one line, exit 1, nothing left."""
    with small_fs(tmp_path, size) as mnt:
        root = os.path.join(mnt, "root")
        line = _pull_fails(root, pushed["busybox"], 1)
        assert "no space left on device while" in line, line
        _assert_store_empty(root)


@pytest.mark.parametrize("verb", ["load", "import"])
def test_load_and_import_of_a_bomb(store_root, tmp_path, verb):
    """A compressed archive is inflated to a temp file first: the same budget caps it (1.1 MB
    of gzip inflating to 1100 MiB), and the temp file goes."""
    bomb = tmp_path / "bomb.tar.gz"
    bomb.write_bytes(hl.gzip_zeros_bomb(tar_bytes(OK), 1100))
    args = ["load", "-i", str(bomb)] if verb == "load" else ["import", str(bomb), "bomb:latest"]
    r = pyrt(store_root, *args)
    assert r.returncode == 9, r.stderr
    assert len(r.stderr.splitlines()) == 1 and "exceeds the limit of 1 GiB" in r.stderr, r.stderr
    _assert_store_empty(store_root)
    assert os.listdir(os.path.join(store_root, "image", "tmp")) == []


def test_disk_full_while_loading(pushed, tmp_path):
    """`pyrt load` of a gzipped docker-archive (~1 MB, ~2.4 MB inflated) into a store on a
    2 MiB tmpfs: one line, exit 1, no temp file or blob left."""
    seed = os.path.join(str(tmp_path), "seed")
    assert pyrt(seed, "pull", "-q", "--tls-verify=false", pushed["busybox"]).returncode == 0
    archive = tmp_path / "busybox.tar"
    r = pyrt(seed, "save", "-o", str(archive), pushed["busybox"])
    assert r.returncode == 0, r.stderr
    gz = tmp_path / "busybox.tar.gz"
    gz.write_bytes(gzip.compress(archive.read_bytes(), compresslevel=1))
    with small_fs(tmp_path, "2m") as mnt:
        root = os.path.join(mnt, "root")
        r = pyrt(root, "load", "-i", str(gz))
        assert r.returncode == 1, r.stderr
        assert r.stderr == f"pyrt: no space left on device while loading {gz} (free space under the store root and retry)\n"
        _assert_store_empty(root)
        assert os.listdir(os.path.join(root, "image", "tmp")) == []


# -- budgets from bytes actually read (issue 9.12) ----------------------------------------------
def _pyrt_capped(root, *args, fsize: int, **env):
    """pyrt with RLIMIT_FSIZE=FSIZE: a file written past it fails (EFBIG), so a test sees at once
    if anything inflated far beyond what it should (Python ignores SIGXFSZ)."""
    return subprocess.run(["prlimit", f"--fsize={fsize}", PYRT, "--root", root, *args], capture_output=True,
                          text=True, timeout=300, env=pyrt_env(os.path.dirname(root), **env))


def _one_line(r, code):
    assert r.returncode == code, (r.returncode, r.stderr)
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("pyrt: "), r.stderr
    return lines[0]


def test_lying_layer_size_does_not_raise_the_budget(fault_proxy, open_registry, store_root, tmp_path):
    """The attack: a manifest (served by the fault proxy) declares the layer 50 MB large while the
    blob is ~1 MB of gzip holding a tar with one 1 GiB file of zeros. The budget follows the bytes
    actually read (here at least 16 MiB: PYRT_MIN_EXPANSION_BUDGET, so the test stays small), so
    the pull stops at ~16 MiB inflated with the bomb error, and no file grows past 64 MiB
    (RLIMIT_FSIZE). Before, the budget was 100 x 50 MB: the whole GiB was inflated and written,
    then the blob was found truncated."""
    blob = hl.gzip_zeros_bomb(hl.announced_file("big", 1 << 30), 1024)
    hl.push_one_layer(tmp_path, f"{open_registry.host}/pyrt/liar:latest", blob, "sha256:" + "3" * 64)
    c = http.client.HTTPConnection(open_registry.host, timeout=30)
    c.request("GET", "/v2/pyrt/liar/manifests/latest", headers={"Accept": OCI_MANIFEST})
    manifest = json.loads(c.getresponse().read())
    c.close()
    assert manifest["layers"][0]["size"] == len(blob) < 2 << 20
    manifest["layers"][0]["size"] = 50_000_000
    fault_proxy.faults.append({"match": "/manifests/", "kind": ("body", OCI_MANIFEST, json.dumps(manifest).encode()),
                               "times": 5})
    r = _pyrt_capped(store_root, "pull", "-q", "--tls-verify=false", f"{fault_proxy.host}/pyrt/liar:latest",
                     fsize=64 << 20, PYRT_MIN_EXPANSION_BUDGET=str(16 << 20))
    line = _one_line(r, 9)
    assert "uncompressed data exceeds the limit of 16 MiB (a compression bomb?)" in line, line
    _assert_store_empty(store_root)


def test_import_of_a_10_gib_bomb_is_refused_while_streaming(store_root, tmp_path):
    """The attack: `pyrt import` of 10 MB of gzip that inflates to a tar announcing one 10 GiB
    file (and carrying 10 GiB of zeros). The tar header is read while the archive streams in,
    so the import stops there: nothing on disk grows past 64 MiB (RLIMIT_FSIZE; before, the
    whole archive was inflated to a temp file first), one line, exit 9, nothing left."""
    bomb = tmp_path / "bomb.tar.gz"
    bomb.write_bytes(hl.gzip_zeros_bomb(hl.announced_file("big", 10 << 30), 10 << 10))
    assert bomb.stat().st_size < 16 << 20
    r = _pyrt_capped(store_root, "import", str(bomb), "bomb:latest", fsize=64 << 20)
    line = _one_line(r, 9)
    limit = 100 * bomb.stat().st_size       # EXPANSION_RATIO x the archive
    assert f"'big' of 10737418240 bytes takes the layer's files past the limit of {limit} bytes" in line, line
    _assert_store_empty(store_root)
    assert os.listdir(os.path.join(store_root, "image", "tmp")) == []
