"""pyrt save / load / import, through the CLI, cross-checked with skopeo (an independent
reader and writer of both archive formats)."""
from __future__ import annotations

import gzip
import json
import os
import subprocess

import pytest

from pyrt.engine import snapshot
from pyrt.image.store import ImageStore
from tests.support.bundle import PYRT, busybox_rootfs_template
from tests.support.layers import write_layer, write_oci_layout
from tests.support.pyrtcli import pyrt, pyrt_env
from tests.support.registry import builder

pytest_plugins = ["tests.support.registry_fixtures"]

NAME = "example.com/test/multi:v1"


def _skopeo(*args, **kw):
    # builder.skopeo keeps skopeo's root-only blob-info cache off the host (/var/lib/containers).
    return subprocess.run(builder.skopeo(*args), capture_output=True, text=True, check=True, timeout=120, **kw)


def _layout_config_digest(layout: str) -> str:
    out = _skopeo("inspect", "--raw", f"oci:{layout}:latest").stdout
    return json.loads(out)["config"]["digest"]


def _tree(root: str) -> list:
    out = subprocess.run(["find", ".", "-printf", r"%p %y %m %U %G %s %T@ %l\n"], cwd=root,
                         capture_output=True, text=True, check=True).stdout
    # the root's own mtime is not part of any layer tar here
    return sorted(line for line in out.splitlines() if not line.startswith(". "))


def _ok(r):
    assert r.returncode == 0, r.stderr
    return r.stdout


def _fails(r, code):
    assert r.returncode == code, (r.returncode, r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pyrt: ") and "Traceback" not in r.stderr, r.stderr
    return lines[0]


@pytest.fixture
def loaded(tmp_path, image_layouts):
    """The multilayer test image, written by skopeo as a docker-archive and loaded by pyrt."""
    layout = image_layouts["multilayer"]
    arch = tmp_path / "skopeo-docker.tar"
    _skopeo("copy", "-q", f"oci:{layout}:latest", f"docker-archive:{arch}:{NAME}")
    root = str(tmp_path / "root")
    out = _ok(pyrt(root, "load", "-i", str(arch)))
    assert out.strip() == f"Loaded image: {NAME}"
    return root, layout


def test_load_skopeo_docker_archive(loaded):
    from tests.support.registry import builder
    root, layout = loaded
    store = ImageStore(root)
    record = store.resolve(NAME)
    assert record.id == _layout_config_digest(layout)
    # the merged view is the one the image builder promises
    cdir = os.path.join(os.path.dirname(root), "c")
    snap = snapshot.prepare(cdir, store.layer_dirs(record))
    try:
        for path, want in builder.MULTILAYER_VIEW.items():
            p = os.path.join(snap.rootfs, path)
            if want is None:
                assert os.path.isdir(p), path
            elif want.startswith("->"):
                assert os.readlink(p) == want[2:], path
            else:
                assert open(p).read() == want, path
        for path in builder.MULTILAYER_GONE:
            assert not os.path.lexists(os.path.join(snap.rootfs, path)), path
    finally:
        snapshot.release(cdir)


def test_saved_oci_archive_reads_back_in_skopeo(loaded, tmp_path):
    root, layout = loaded
    record = ImageStore(root).resolve(NAME)
    out = tmp_path / "saved-oci.tar"
    _ok(pyrt(root, "save", "--format", "oci-archive", "-o", str(out), NAME))
    info = json.loads(_skopeo("inspect", f"oci-archive:{out}").stdout)
    assert info["Digest"] == record.manifest_digest
    cfg = json.loads(_skopeo("inspect", "--config", f"oci-archive:{out}").stdout)
    assert cfg["rootfs"]["diff_ids"] == [layer.diff_id for layer in record.layers]
    # skopeo re-verifies every blob digest while copying
    _skopeo("copy", "-q", f"oci-archive:{out}", f"oci:{tmp_path / 'copy'}:x")
    cfg = json.loads(_skopeo("inspect", "--config", f"oci:{tmp_path / 'copy'}:x").stdout)
    assert cfg["rootfs"]["diff_ids"] == [layer.diff_id for layer in record.layers]


def test_saved_docker_archive_reads_back_in_skopeo(loaded, tmp_path):
    root, layout = loaded
    record = ImageStore(root).resolve(NAME)
    out = tmp_path / "saved-docker.tar"
    _ok(pyrt(root, "save", "-o", str(out), NAME))
    info = json.loads(_skopeo("inspect", f"docker-archive:{out}").stdout)
    assert info["Layers"] == [layer.diff_id for layer in record.layers]
    cfg = json.loads(_skopeo("inspect", "--config", f"docker-archive:{out}").stdout)
    assert cfg["rootfs"]["diff_ids"] == [layer.diff_id for layer in record.layers]
    # skopeo finds the image by the tag in our manifest.json's RepoTags, and re-hashes each layer.tar
    _skopeo("copy", "-q", f"docker-archive:{out}:{NAME}", f"oci:{tmp_path / 'copy'}:x")
    cfg = json.loads(_skopeo("inspect", "--config", f"oci:{tmp_path / 'copy'}:x").stdout)
    assert cfg["rootfs"]["diff_ids"] == [layer.diff_id for layer in record.layers]


@pytest.mark.parametrize("fmt", ["docker-archive", "oci-archive"])
def test_round_trip_into_a_fresh_store(loaded, tmp_path, fmt):
    root, _ = loaded
    store = ImageStore(root)
    record = store.resolve(NAME)
    out = tmp_path / f"rt-{fmt}.tar"
    _ok(pyrt(root, "save", "--format", fmt, "-o", str(out), NAME))
    root2 = str(tmp_path / "root2")
    assert _ok(pyrt(root2, "load", "-i", str(out))).strip() == f"Loaded image: {NAME}"
    store2 = ImageStore(root2)
    record2 = store2.resolve(NAME)
    assert record2.id == record.id
    assert [x.diff_id for x in record2.layers] == [x.diff_id for x in record.layers]
    for a, b in zip(store.layer_dirs(record), store2.layer_dirs(record2)):
        assert _tree(a) == _tree(b)


def test_save_to_stdout_then_load_compressed_from_stdin(loaded, tmp_path):
    root, _ = loaded
    out = tmp_path / "saved.tar"
    with open(out, "wb") as f:  # save to stdout
        r = subprocess.run([PYRT, "--root", root, "save", NAME], stdout=f, stderr=subprocess.PIPE,
                           env=pyrt_env(str(tmp_path)), timeout=120)
    assert r.returncode == 0, r.stderr
    gz = tmp_path / "saved.tar.gz"
    gz.write_bytes(gzip.compress(out.read_bytes(), compresslevel=1))
    root2 = str(tmp_path / "root2")
    with open(gz, "rb") as f:
        r = subprocess.run([PYRT, "--root", root2, "load"], stdin=f, capture_output=True, text=True,
                           env=pyrt_env(str(tmp_path)), timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"Loaded image: {NAME}"
    assert os.listdir(os.path.join(root2, "image", "tmp")) == []


def test_load_oci_layout_with_full_name_annotation(tmp_path, image_layouts):
    """skopeo's oci-archive with a full name in the annotation (as `pyrt save` writes it)."""
    arch = tmp_path / "sk-oci.tar"
    _skopeo("copy", "-q", f"oci:{image_layouts['zstd']}:latest", f"oci-archive:{arch}:example.com/z/zstd:1")
    root = str(tmp_path / "root")
    out = _ok(pyrt(root, "load", "-i", str(arch)))
    # skopeo writes the bare tag "1" as ref.name: no repository, so the image is untagged
    assert out.startswith("Loaded image")
    store = ImageStore(root)
    (record,) = store.records()
    assert record.layers[0].media_type.endswith("+zstd")
    assert os.path.exists(os.path.join(store.layer_dir(record.layers[0].diff_id), "bin", "busybox"))


def test_save_unknown_image(tmp_path):
    r = pyrt(str(tmp_path / "root"), "save", "-o", str(tmp_path / "x.tar"), "nope:1")
    _fails(r, 4)
    assert not (tmp_path / "x.tar").exists()
    assert [n for n in os.listdir(tmp_path) if n.startswith(".pyrt-save")] == []


def test_load_garbage(tmp_path):
    junk = tmp_path / "junk.tar"
    junk.write_bytes(b"not an archive" * 1000)
    line = _fails(pyrt(str(tmp_path / "root"), "load", "-i", str(junk)), 9)
    assert "junk.tar" in line


def test_load_with_tampered_blob_records_nothing(tmp_path):
    layout = tmp_path / "layout"
    meta = write_oci_layout(layout, [[("file", "a", b"1")], [("file", "b", b"2")]])
    blob = layout / "blobs" / "sha256" / meta["layers"][1]["digest"][7:]
    data = bytearray(blob.read_bytes())
    data[-10] ^= 0xFF
    blob.write_bytes(bytes(data))
    root = str(tmp_path / "root")
    line = _fails(pyrt(root, "load", "-i", str(layout)), 9)
    assert "digest" in line or "mismatch" in line
    assert ImageStore(root).records() == []


def test_load_with_malicious_layer_records_nothing(tmp_path):
    layout = tmp_path / "layout"
    write_oci_layout(layout, [[("file", "ok", b"1")], [("symlink", "s", "/etc"), ("file", "s/pyrt-evil", b"x")]])
    root = str(tmp_path / "root")
    line = _fails(pyrt(root, "load", "-i", str(layout)), 9)
    assert "'s/pyrt-evil'" in line
    assert not os.path.exists("/etc/pyrt-evil")
    store = ImageStore(root)
    assert store.records() == []
    # only complete layer dirs may exist: no temp unpack dirs
    assert [n for n in os.listdir(store.layer_dir_root) if ".unpack-" in n] == []


def test_import_rootfs_tarball(tmp_path):
    src = busybox_rootfs_template()
    tarball = tmp_path / "rootfs.tar.gz"
    subprocess.run(["tar", "--format=posix", "-czf", str(tarball), "-C", src, "."], check=True)
    root = str(tmp_path / "root")
    image_id = _ok(pyrt(root, "import", "-c", 'CMD ["/bin/sh", "-c", "echo hi"]', "-c", "ENV FOO=bar",
                        "-c", "WORKDIR /tmp", "-c", "EXPOSE 8080", "-m", "from a test",
                        str(tarball), "example.com/imported:1")).strip()
    store = ImageStore(root)
    record = store.resolve("example.com/imported:1")
    assert record.id == image_id and len(record.layers) == 1
    cfg = store.config(record)
    assert cfg.cmd == ("/bin/sh", "-c", "echo hi") and "FOO=bar" in cfg.env
    assert cfg.working_dir == "/tmp" and cfg.exposed_ports == ("8080/tcp",)
    assert _tree(src) == _tree(store.layer_dir(record.layers[0].diff_id))
    # and skopeo reads what we save of it
    out = tmp_path / "imp.tar"
    _ok(pyrt(root, "save", "--format", "oci-archive", "-o", str(out), "example.com/imported:1"))
    cfg2 = json.loads(_skopeo("inspect", "--config", f"oci-archive:{out}").stdout)
    assert cfg2["config"]["Cmd"] == ["/bin/sh", "-c", "echo hi"]


def test_import_from_stdin_untagged(tmp_path):
    layer = tmp_path / "l.tar"
    write_layer(layer, [("file", "hello", b"world")], None)
    root = str(tmp_path / "root")
    with open(layer, "rb") as f:
        r = subprocess.run([PYRT, "--root", root, "import", "-"], stdin=f, capture_output=True, text=True,
                           env=pyrt_env(str(tmp_path)), timeout=60)
    assert r.returncode == 0, r.stderr
    image_id = r.stdout.strip()
    store = ImageStore(root)
    record = store.get(image_id)
    assert open(os.path.join(store.layer_dir(record.layers[0].diff_id), "hello")).read() == "world"
    assert store.tags_of(image_id) == []


def test_import_malicious_tarball_records_nothing(tmp_path):
    layer = tmp_path / "evil.tar"
    write_layer(layer, [("file", "../evil", b"x")], None)
    root = str(tmp_path / "root")
    line = _fails(pyrt(root, "import", str(layer), "example.com/evil:1"), 9)
    assert "'../evil'" in line
    assert ImageStore(root).records() == []
    assert not (tmp_path / "evil").exists()


def test_import_not_a_tarball(tmp_path):
    junk = tmp_path / "junk"
    junk.write_bytes(os.urandom(5000))
    _fails(pyrt(str(tmp_path / "root"), "import", str(junk)), 9)


def test_import_bad_change_is_a_usage_error(tmp_path):
    layer = tmp_path / "l.tar"
    write_layer(layer, [("file", "f", b"")], None)
    _fails(pyrt(str(tmp_path / "root"), "import", "-c", "FROB x", str(layer)), 2)


def test_load_multiarch_layout_picks_the_host_platform(tmp_path, image_layouts):
    arch = tmp_path / "multi.tar"
    _skopeo("copy", "-q", "--all", f"oci:{image_layouts['multiarch']}:latest", f"oci-archive:{arch}:latest")
    root = str(tmp_path / "root")
    _ok(pyrt(root, "load", "-i", str(arch)))
    (record,) = ImageStore(root).records()
    assert (record.os, record.architecture) == ("linux", "amd64")


def test_save_two_images_in_one_archive(loaded, tmp_path, image_layouts):
    root, _ = loaded
    other = tmp_path / "bb.tar"
    _skopeo("copy", "-q", f"oci:{image_layouts['busybox']}:latest", f"docker-archive:{other}:example.com/bb:2")
    _ok(pyrt(root, "load", "-i", str(other)))
    for fmt in ("docker-archive", "oci-archive"):
        out = tmp_path / f"both-{fmt}.tar"
        _ok(pyrt(root, "save", "--format", fmt, "-o", str(out), NAME, "example.com/bb:2"))
        root2 = str(tmp_path / f"root-{fmt}")
        lines = _ok(pyrt(root2, "load", "-i", str(out))).splitlines()
        assert sorted(lines) == sorted([f"Loaded image: {NAME}", "Loaded image: example.com/bb:2"])
        assert {r.id for r in ImageStore(root2).records()} == {r.id for r in ImageStore(root).records()}
