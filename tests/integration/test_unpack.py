"""unpack_layer correctness: metadata, link kinds, whiteouts, compressions, and a
differential check against GNU tar on a real rootfs."""
from __future__ import annotations

import os
import stat
import subprocess

import pytest

from pyrt.errors import ImageError
from pyrt.image.unpack import unpack_layer
from tests.support.bundle import busybox_rootfs_template
from tests.support.layers import entry, write_layer

CAP_NET_RAW = bytes.fromhex("01000002" "00200000" "00000000" "00000000" "00000000")


def _unpack(tmp_path, entries, compression="gzip", media_type=...):
    blob = tmp_path / "layer.blob"
    mt = write_layer(blob, entries, compression)
    dest = tmp_path / "layers" / "L"
    unpack_layer(str(blob), mt if media_type is ... else media_type, str(dest))
    return dest


def test_metadata_is_preserved(tmp_path):
    d = _unpack(tmp_path, [
        entry("dir", "etc", mode=0o750, uid=3, gid=4, mtime=1_500_000_000),
        entry("file", "etc/conf", b"hello", mode=0o640, uid=1000, gid=2000, mtime=1_400_000_000),
        entry("file", "bin/ping", b"\x7fELF", mode=0o4755, uid=0, gid=0,
              xattrs={"security.capability": CAP_NET_RAW, "user.note": b"kept"}),
        entry("symlink", "etc/link", "conf", uid=5, gid=6, mtime=1_300_000_000),
        entry("dir", "tmp", mode=0o1777),
    ])
    st = os.lstat(d / "etc")
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, st.st_mtime) == (0o750, 3, 4, 1_500_000_000)
    st = os.lstat(d / "etc/conf")
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, st.st_mtime) == (0o640, 1000, 2000, 1_400_000_000)
    assert (d / "etc/conf").read_bytes() == b"hello"
    st = os.lstat(d / "bin/ping")
    assert stat.S_IMODE(st.st_mode) == 0o4755, "setuid bit lost (chown after chmod?)"
    assert os.getxattr(d / "bin/ping", "security.capability") == CAP_NET_RAW
    assert os.getxattr(d / "bin/ping", "user.note") == b"kept"
    st = os.lstat(d / "etc/link")
    assert stat.S_ISLNK(st.st_mode) and os.readlink(d / "etc/link") == "conf"
    assert (st.st_uid, st.st_gid, st.st_mtime) == (5, 6, 1_300_000_000)
    assert stat.S_IMODE(os.lstat(d / "tmp").st_mode) == 0o1777
    # implicit parent of bin/ping: created 0755
    assert stat.S_IMODE(os.lstat(d / "bin").st_mode) == 0o755


def test_hardlinks_share_an_inode(tmp_path):
    d = _unpack(tmp_path, [("file", "a", b"same"), ("dir", "sub"), ("hardlink", "sub/b", "a"),
                           ("hardlink", "c", "sub/b")])
    ino = {os.lstat(d / p).st_ino for p in ("a", "sub/b", "c")}
    assert len(ino) == 1 and os.lstat(d / "a").st_nlink == 3


def test_device_nodes_and_fifos(tmp_path):
    d = _unpack(tmp_path, [("chr", "dev/null", 1, 3), ("blk", "dev/loop9", 7, 9), ("fifo", "run/pipe")])
    st = os.lstat(d / "dev/null")
    assert stat.S_ISCHR(st.st_mode) and (os.major(st.st_rdev), os.minor(st.st_rdev)) == (1, 3)
    st = os.lstat(d / "dev/loop9")
    assert stat.S_ISBLK(st.st_mode) and (os.major(st.st_rdev), os.minor(st.st_rdev)) == (7, 9)
    assert stat.S_ISFIFO(os.lstat(d / "run/pipe").st_mode)


def test_later_regular_file_replaces_device_node_not_writes_into_it(tmp_path):
    d = _unpack(tmp_path, [("chr", "x", 1, 3), ("file", "x", b"data")], "zstd")
    assert stat.S_ISREG(os.lstat(d / "x").st_mode) and (d / "x").read_bytes() == b"data"


def test_later_file_replaces_symlink_without_following_it(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("orig")
    d = _unpack(tmp_path, [("symlink", "s", str(victim)), ("file", "s", b"new")])
    assert victim.read_text() == "orig"
    assert stat.S_ISREG(os.lstat(d / "s").st_mode) and (d / "s").read_bytes() == b"new"


def test_later_entries_win(tmp_path):
    d = _unpack(tmp_path, [("dir", "a"), ("file", "a/f", b"1"), ("file", "a", b"now a file"),
                           ("file", "b", b"old"), ("file", "b", b"new"), ("symlink", "c", "x"),
                           ("dir", "c"), ("file", "c/y", b"y")])
    assert (d / "a").read_bytes() == b"now a file"
    assert (d / "b").read_bytes() == b"new"
    assert os.path.isdir(d / "c") and not os.path.islink(d / "c") and (d / "c/y").read_bytes() == b"y"


def test_symlinks_inside_the_layer_are_followed(tmp_path):
    d = _unpack(tmp_path, [("dir", "usr/lib"), ("symlink", "lib", "usr/lib"), ("file", "lib/libc.so", b"c")])
    assert (d / "usr/lib/libc.so").read_bytes() == b"c"
    assert os.path.islink(d / "lib")


def test_whiteouts_become_overlayfs_form(tmp_path):
    d = _unpack(tmp_path, [("dir", "etc"), ("file", "etc/.wh.motd", b""), ("dir", "var/cache"),
                           ("file", "var/cache/.wh..wh..opq", b""), ("file", "var/cache/new", b"n"),
                           ("file", ".wh.gone-dir", b"")])
    for p in ("etc/motd", "gone-dir"):
        st = os.lstat(d / p)
        assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0, p
    assert not any(n.startswith(".wh.") for _, dn, fn in os.walk(d) for n in dn + fn)
    assert os.getxattr(d / "var/cache", "trusted.overlay.opaque") == b"y"
    assert (d / "var/cache/new").read_bytes() == b"n"


def test_forged_overlay_xattrs_are_dropped(tmp_path):
    d = _unpack(tmp_path, [entry("dir", "d", xattrs={"trusted.overlay.redirect": b"/etc",
                                                    "trusted.overlay.opaque": b"y"})])
    assert [x for x in os.listxattr(d / "d") if x.startswith("trusted.overlay.")] == []


@pytest.mark.parametrize("compression", ["gzip", "zstd", None])
def test_compressions_and_sniffing(tmp_path, compression):
    entries = [("file", f"f{i}", os.urandom(3000)) for i in range(30)]
    d = _unpack(tmp_path, entries, compression)
    assert sorted(os.listdir(d)) == sorted(f"f{i}" for i in range(30))
    d2 = tmp_path / "layers" / "sniffed"
    unpack_layer(str(tmp_path / "layer.blob"), None, str(d2))
    assert (d2 / "f7").read_bytes() == (d / "f7").read_bytes()


def test_root_entry_sets_the_layer_root(tmp_path):
    d = _unpack(tmp_path, [entry("dir", "./", mode=0o700, mtime=1_234_567_890), ("file", "f", b"")])
    st = os.lstat(d)
    assert stat.S_IMODE(st.st_mode) == 0o700 and st.st_mtime == 1_234_567_890


def test_existing_destination_is_refused(tmp_path):
    blob = tmp_path / "l"
    mt = write_layer(blob, [("file", "f", b"1")])
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "keep").write_text("k")
    with pytest.raises(ImageError):
        unpack_layer(str(blob), mt, str(dest))
    assert os.listdir(dest) == ["keep"]


def _listing(root):
    """find(1)-style listing of everything that matters, relative to ROOT."""
    out = subprocess.run(["find", ".", "-printf", r"%p %y %m %U %G %s %T@ %l %n\n"], cwd=root,
                         capture_output=True, text=True, check=True).stdout
    lines = sorted(out.splitlines())
    # the layer root's own mtime differs (tar sets it only if the archive has a ./ entry); drop it
    return [ln for ln in lines if not ln.startswith(". ")]


def test_differential_against_gnu_tar(tmp_path):
    """A real busybox rootfs tarred by GNU tar: unpack_layer and `tar -x` give identical trees."""
    src = busybox_rootfs_template()
    blob = tmp_path / "rootfs.tar.gz"
    subprocess.run(["tar", "--xattrs", "--numeric-owner", "-czf", str(blob), "-C", src, "."], check=True)
    ref = tmp_path / "ref"
    ref.mkdir()
    subprocess.run(["tar", "--xattrs", "--xattrs-include=*", "--numeric-owner", "-xzpf", str(blob),
                    "-C", str(ref)], check=True)
    mine = tmp_path / "mine"
    unpack_layer(str(blob), "application/vnd.docker.image.rootfs.diff.tar.gzip", str(mine))
    a, b = _listing(ref), _listing(mine)
    assert len(a) > 50
    assert a == b


def test_symlink_xattrs(tmp_path):
    """trusted.* xattrs stay on a symlink; user.* ones (which Linux refuses there) are skipped."""
    d = _unpack(tmp_path, [entry("symlink", "l", "t", xattrs={"trusted.pyrt": b"1", "user.x": b"2"})])
    assert os.getxattr(d / "l", "trusted.pyrt", follow_symlinks=False) == b"1"
    assert "user.x" not in os.listxattr(d / "l", follow_symlinks=False)


def test_stale_temp_dirs_of_dead_unpackers_are_removed(tmp_path):
    """A killed unpacker's temp dir goes at the next unpack of that layer; live ones stay."""
    dead = subprocess.Popen(["true"])
    dead.wait()
    layers = tmp_path / "layers"
    stale = layers / f".L.unpack-{dead.pid}-abc"
    live = layers / f".L.unpack-{os.getpid()}-def"
    other = layers / f".M.unpack-{dead.pid}-abc"
    for d in (stale, live, other):
        (d / "usr").mkdir(parents=True)
    _unpack(tmp_path, [("file", "f", b"1")])
    assert not stale.exists()
    assert live.exists() and other.exists()


def test_ctrl_c_midway_leaves_nothing(tmp_path):
    """SIGINT while the layer is half read (fed through a FIFO we hold): no dest, no temp dir."""
    import signal
    import sys
    import time

    from tests.support.layers import tar_bytes

    data = tar_bytes([("file", f"d/f{i}", b"x" * 4096) for i in range(200)])
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    layers = tmp_path / "layers"
    code = ("import sys; from pyrt.image.unpack import unpack_layer; "
            "unpack_layer(sys.argv[1], 'application/vnd.oci.image.layer.v1.tar', sys.argv[2])")
    child = subprocess.Popen([sys.executable, "-c", code, str(fifo), str(layers / "L")], stderr=subprocess.PIPE)
    try:
        with open(fifo, "wb") as f:
            f.write(data[: len(data) // 2])
            f.flush()
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:  # wait until it has written some files
                temps = [n for n in os.listdir(layers)] if layers.exists() else []
                if temps and os.path.exists(layers / temps[0] / "d" / "f10"):
                    break
                time.sleep(0.02)
            else:
                pytest.fail("unpacker made no progress")
            child.send_signal(signal.SIGINT)
            assert child.wait(timeout=20) != 0
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert b"KeyboardInterrupt" in child.stderr.read()
    assert os.listdir(layers) == []
