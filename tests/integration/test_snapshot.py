"""Snapshots: a multi-layer image (deletions, opaque dirs, replacements, hardlinks) unpacked
with unpack_layer and mounted as overlay must show the same tree as `umoci unpack` of the
same OCI layout (an independent implementation), and so must the copy fallback."""
from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess

import pytest

from pyrt.errors import ImageError
from pyrt.engine import snapshot
from pyrt.image.unpack import unpack_layer
from pyrt.linux import overlay
from tests.support.layers import entry, write_oci_layout

LAYERS = [
    [  # base
        ("dir", "etc"), ("file", "etc/passwd", b"root:x:0:0\n"), ("file", "etc/motd", b"hi\n"),
        ("dir", "var/cache/apt"), ("file", "var/cache/apt/a.bin", b"a" * 100),
        ("file", "var/cache/apt/b.bin", b"b" * 100), ("dir", "var/cache/keep"),
        ("file", "var/cache/keep/k", b"k"), ("dir", "opt/tool"), ("file", "opt/tool/run", b"#!/bin/sh\n"),
        ("file", "usr/bin/app", b"app-v1"), ("hardlink", "usr/bin/app-alias", "usr/bin/app"),
        ("symlink", "bin", "usr/bin"), ("file", "to-become-dir", b"f"), ("dir", "to-become-link"),
        ("file", "to-become-link/inner", b"i"),
        entry("file", "usr/bin/ping", b"ping", mode=0o4755,
              xattrs={"security.capability": bytes.fromhex("0100000200200000000000000000000000000000")}),
    ],
    [  # deletions, an opaque dir, replacements
        ("file", "etc/.wh.motd", b""), ("file", "var/cache/apt/.wh..wh..opq", b""),
        ("file", "var/cache/apt/c.bin", b"c"), ("file", "opt/.wh.tool", b""),
        ("file", "usr/bin/app", b"app-v2"), ("file", ".wh.to-become-dir", b""),
        ("dir", "to-become-dir"), ("file", "to-become-dir/x", b"x"),
        ("file", ".wh.to-become-link", b""), ("symlink", "to-become-link", "etc"),
        entry("file", "etc/passwd", b"root:x:0:0\nuser:x:1000:1000\n", mode=0o600, mtime=1_650_000_000),
    ],
    [  # a third layer re-adding something deleted below
        ("dir", "opt/tool"), ("file", "opt/tool/new", b"n"), ("file", "etc/motd", b"back\n"),
        ("file", "var/cache/keep/.wh.k", b""),
    ],
]


def tree(root) -> dict:
    """Everything a user of the rootfs can observe, except directory times and the root itself."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            p = os.path.join(dirpath, n)
            rel = os.path.relpath(p, root)
            st = os.lstat(p)
            info = [stat.filemode(st.st_mode), st.st_uid, st.st_gid]
            if stat.S_ISREG(st.st_mode):
                with open(p, "rb") as f:
                    info += [hashlib.sha256(f.read()).hexdigest()[:16], st.st_mtime_ns]
                caps = [x for x in os.listxattr(p) if x.startswith("security.")]
                info += [(x, os.getxattr(p, x)) for x in sorted(caps)]
            elif stat.S_ISLNK(st.st_mode):
                info.append(os.readlink(p))
            out[rel] = info
    return out


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    base = tmp_path_factory.mktemp("img")
    layout = base / "layout"
    meta = write_oci_layout(layout, LAYERS)
    layer_dirs = []
    for desc, diff_id in zip(meta["layers"], meta["diff_ids"]):
        d = base / "layers" / diff_id[7:]
        unpack_layer(str(layout / "blobs" / "sha256" / desc["digest"][7:]), desc["mediaType"], str(d))
        layer_dirs.append(str(d))
    ref = base / "umoci-bundle"
    subprocess.run(["umoci", "unpack", "--image", f"{layout}:latest", str(ref)], check=True,
                   capture_output=True)
    return {"layers": layer_dirs, "umoci": tree(ref / "rootfs"), "base": base}


def test_overlay_matches_umoci(image, tmp_path):
    cdir = tmp_path / "c1"
    snap = snapshot.prepare(str(cdir), image["layers"])
    try:
        assert snap.kind == "overlay"
        assert overlay.is_mountpoint(snap.rootfs)
        got = tree(snap.rootfs)
        assert got == image["umoci"]
        # sanity on the expectations themselves
        assert "etc/motd" in got and "opt/tool/run" not in got and "var/cache/apt/a.bin" not in got
        assert "var/cache/keep/k" not in got and got["to-become-link"][-1] == "etc"
        r = snap.rootfs
        assert open(f"{r}/usr/bin/app", "rb").read() == b"app-v2"
        assert open(f"{r}/usr/bin/app-alias", "rb").read() == b"app-v1"
    finally:
        snapshot.release(str(cdir))
    assert not overlay.is_mountpoint(str(cdir / "rootfs"))
    assert os.listdir(cdir) == []


def test_copy_fallback_matches_umoci(image, tmp_path):
    cdir = tmp_path / "c2"
    snap = snapshot.prepare(str(cdir), image["layers"], copy=True)
    try:
        assert snap.kind == "copy"
        assert not overlay.is_mountpoint(snap.rootfs)
        assert tree(snap.rootfs) == image["umoci"]
        r = snap.rootfs
        # the hardlink pair of the base layer: app was replaced in layer 2, the alias still holds v1
        assert open(f"{r}/usr/bin/app-alias", "rb").read() == b"app-v1"
    finally:
        snapshot.release(str(cdir))
    assert os.listdir(cdir) == []


def test_writes_go_to_upper_and_layers_stay_untouched(image, tmp_path):
    before = [tree(d) for d in image["layers"]]
    cdir = tmp_path / "c3"
    snap = snapshot.prepare(str(cdir), image["layers"])
    try:
        with open(os.path.join(snap.rootfs, "etc/passwd"), "a") as f:
            f.write("new:x:1:1\n")
        os.unlink(os.path.join(snap.rootfs, "etc/motd"))
        assert os.path.exists(cdir / "upper/etc/passwd")
        assert stat.S_ISCHR(os.lstat(cdir / "upper/etc/motd").st_mode)  # overlay's own whiteout
    finally:
        snapshot.release(str(cdir))
    assert [tree(d) for d in image["layers"]] == before


def test_state_file_lets_another_call_release(image, tmp_path):
    cdir = tmp_path / "c4"
    snapshot.prepare(str(cdir), image["layers"])
    loaded = snapshot.load(str(cdir))
    assert loaded is not None and loaded.kind == "overlay"
    with pytest.raises(ImageError):
        snapshot.prepare(str(cdir), image["layers"])
    snapshot.release(str(cdir))
    snapshot.release(str(cdir))  # twice is fine
    assert snapshot.load(str(cdir)) is None and os.listdir(cdir) == []


def test_many_layers_with_long_paths(tmp_path):
    """120 layers with long paths: the lowerdir string overflows a page, so fds are used."""
    deep = tmp_path / ("x" * 60) / ("y" * 60)
    dirs = []
    for i in range(120):
        d = deep / f"layer-{i:03d}-{'z' * 40}"
        (d / "files").mkdir(parents=True)
        (d / "files" / f"f{i}").write_text(str(i))
        (d / "top").write_text(str(i))
        dirs.append(str(d))
    assert len(",".join(dirs)) > 4096
    cdir = tmp_path / "c"
    snap = snapshot.prepare(str(cdir), dirs)
    try:
        assert snap.kind == "overlay"
        assert len(os.listdir(os.path.join(snap.rootfs, "files"))) == 120
        assert open(os.path.join(snap.rootfs, "top")).read() == "119"  # last layer is on top
    finally:
        snapshot.release(str(cdir))


def test_falls_back_to_copy_when_overlay_is_refused(image, tmp_path):
    """The container dir lives on an overlayfs (as when pyrt runs inside a container): the
    kernel refuses an overlay upperdir there, so prepare() copies instead."""
    host = tmp_path / "host"
    for n in ("lower", "upper", "work", "merged"):
        (host / n).mkdir(parents=True)
    merged = str(host / "merged")
    overlay.mount_overlay([str(host / "lower")], str(host / "upper"), str(host / "work"), merged)
    try:
        cdir = os.path.join(merged, "containers", "c5")
        snap = snapshot.prepare(cdir, image["layers"])
        try:
            assert snap.kind == "copy" and "refused" in snap.reason
            assert tree(snap.rootfs) == image["umoci"]
            with open(os.path.join(cdir, "snapshot.json")) as f:
                assert json.load(f)["kind"] == "copy"
        finally:
            snapshot.release(cdir)
        assert os.listdir(cdir) == []
    finally:
        overlay.unmount(merged)


def test_missing_layer_dir_is_an_error(tmp_path):
    with pytest.raises(ImageError):
        snapshot.prepare(str(tmp_path / "c"), [str(tmp_path / "nope")])
    assert not (tmp_path / "c").exists()


def test_no_layers_gives_an_empty_rootfs(tmp_path):
    cdir = tmp_path / "c"
    snap = snapshot.prepare(str(cdir), [])
    try:
        assert os.listdir(snap.rootfs) == []
        open(os.path.join(snap.rootfs, "f"), "w").close()
    finally:
        snapshot.release(str(cdir))


def test_container_dir_with_spaces_and_unicode(image, tmp_path):
    cdir = tmp_path / "my containers" / "ünïcode\tc"
    snap = snapshot.prepare(str(cdir), image["layers"])
    try:
        assert snap.kind == "overlay" and overlay.is_mountpoint(snap.rootfs)
    finally:
        snapshot.release(str(cdir))
    assert not overlay.is_mountpoint(str(cdir / "rootfs")) and os.listdir(cdir) == []
