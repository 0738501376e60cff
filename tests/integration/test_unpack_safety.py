"""Crafted malicious layers: each must fail with an ImageError naming the entry, write
nothing outside the layer directory, and leave no (partial) layer directory behind."""
from __future__ import annotations

import os

import pytest

from pyrt.errors import ImageError
from pyrt.image.unpack import unpack_layer
from tests.support.layers import write_layer


@pytest.fixture
def env(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "x").write_text("precious")
    layers = tmp_path / "store" / "layers"
    layers.mkdir(parents=True)
    return tmp_path, outside, layers


def _snapshot(d):
    out = {}
    for dirpath, dirnames, filenames in os.walk(d):
        for n in dirnames + filenames:
            p = os.path.join(dirpath, n)
            st = os.lstat(p)
            out[p] = (st.st_mode, st.st_size, st.st_mtime_ns, st.st_nlink, os.listxattr(p, follow_symlinks=False))
    return out


def _expect_refused(env, entries, needle, compression="gzip"):
    tmp, outside, layers = env
    blob = tmp / "layer.blob"
    mt = write_layer(blob, entries, compression)
    before = _snapshot(outside)
    dest = layers / "L"
    with pytest.raises(ImageError) as ei:
        unpack_layer(str(blob), mt, str(dest))
    assert needle in str(ei.value), str(ei.value)
    assert not dest.exists()
    assert os.listdir(layers) == [], "temp unpack dir left behind"
    assert _snapshot(outside) == before, "something was written outside the layer"
    assert sorted(os.listdir(tmp)) == ["layer.blob", "outside", "store"]
    return str(ei.value)


def test_dotdot_entry(env):
    _expect_refused(env, [("file", "ok", b"1"), ("file", "../evil", b"x")], "'../evil'")


def test_dotdot_in_the_middle(env):
    _expect_refused(env, [("dir", "a"), ("file", "a/../../evil", b"x")], "'a/../../evil'")


def test_absolute_entry(env):
    msg = _expect_refused(env, [("file", "/abs", b"x")], "'/abs'")
    assert "absolute" in msg


def test_symlink_to_etc_then_file_through_it(env):
    probe = "/etc/pyrt-unpack-test-must-not-exist"
    _expect_refused(env, [("symlink", "a", "/etc"), ("file", "a/pyrt-unpack-test-must-not-exist", b"x")],
                    "'a/pyrt-unpack-test-must-not-exist'")
    assert not os.path.lexists(probe)


def test_absolute_symlink_to_outside_then_file(env):
    _, outside, _ = env
    msg = _expect_refused(env, [("symlink", "a", str(outside)), ("file", "a/evil", b"x")], "'a/evil'")
    assert "leaves the layer" in msg


def test_symlink_then_overwrite_existing_outside_file(env):
    _, outside, _ = env
    _expect_refused(env, [("symlink", "a", str(outside)), ("file", "a/x", b"pwned")], "'a/x'")


def test_relative_symlink_escaping(env):
    _expect_refused(env, [("dir", "d"), ("symlink", "d/up", "../.."), ("file", "d/up/evil", b"x")],
                    "'d/up/evil'")


def test_symlink_chain_escaping(env):
    # l1 -> l2/sub, l2 -> d/.., d/.. is the root; l2's sub-chain climbs out via "../.."
    entries = [("dir", "d"), ("symlink", "l2", "d/../.."), ("symlink", "l1", "l2/sub"),
               ("file", "l1/evil", b"x")]
    _expect_refused(env, entries, "'l1/evil'")


def test_symlink_chain_through_absolute(env):
    _, outside, _ = env
    entries = [("symlink", "far", str(outside)), ("symlink", "near", "far"), ("file", "near/evil", b"x")]
    _expect_refused(env, entries, "'near/evil'")


def test_symlink_loop(env):
    entries = [("symlink", "a", "b"), ("symlink", "b", "a"), ("file", "a/x", b"x")]
    _expect_refused(env, entries, "'a/x'")


def test_hardlink_dotdot(env):
    _expect_refused(env, [("hardlink", "h", "../../x")], "'h'")


def test_hardlink_absolute(env):
    _, outside, _ = env
    _expect_refused(env, [("hardlink", "h", str(outside / "x"))], "'h'")


def test_hardlink_through_symlink_leaving(env):
    _, outside, _ = env
    _expect_refused(env, [("symlink", "s", str(outside)), ("hardlink", "h", "s/x")], "'h'")


def test_hardlink_to_missing_target(env):
    _expect_refused(env, [("hardlink", "h", "nope")], "'h'")


def test_whiteout_of_dotdot_path(env):
    _expect_refused(env, [("dir", "a"), ("file", "a/../.wh.x", b"")], "'a/../.wh.x'")


def test_whiteout_named_dotdot(env):
    _expect_refused(env, [("file", ".wh...", b"")], "'.wh...'")


def test_opaque_marker_in_symlinked_dir(env):
    _expect_refused(env, [("dir", "sub"), ("symlink", "d", "sub"), ("file", "d/.wh..wh..opq", b"")],
                    "'d/.wh..wh..opq'")


def test_opaque_marker_in_symlink_to_outside(env):
    _, outside, _ = env
    _expect_refused(env, [("symlink", "d", str(outside)), ("file", "d/.wh..wh..opq", b"")],
                    "'d/.wh..wh..opq'")
    assert "trusted.overlay.opaque" not in os.listxattr(outside)


def test_file_under_a_regular_file(env):
    _expect_refused(env, [("file", "f", b"1"), ("file", "f/g", b"2")], "'f/g'")


def test_failure_late_in_a_big_layer_leaves_nothing(env):
    entries = [("file", f"d{i}/f{j}", b"x" * 100) for i in range(20) for j in range(20)]
    entries.append(("file", "../late", b"x"))
    _expect_refused(env, entries, "'../late'")


def test_not_a_tar(env):
    tmp, _, layers = env
    blob = tmp / "junk"
    blob.write_bytes(b"this is not a tar archive at all" * 100)
    with pytest.raises(ImageError):
        unpack_layer(str(blob), "application/vnd.oci.image.layer.v1.tar", str(layers / "L"))
    assert os.listdir(layers) == []


def test_truncated_gzip(env):
    tmp, _, layers = env
    blob = tmp / "layer.blob"
    mt = write_layer(blob, [("file", f"f{i}", os.urandom(5000)) for i in range(50)])
    data = blob.read_bytes()
    blob.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError) as ei:
        unpack_layer(str(blob), mt, str(layers / "L"))
    assert "truncated" in str(ei.value) or "corrupt" in str(ei.value)
    assert os.listdir(layers) == []


def test_corrupt_zstd(env):
    tmp, _, layers = env
    blob = tmp / "layer.blob"
    mt = write_layer(blob, [("file", f"f{i}", os.urandom(5000)) for i in range(20)], "zstd")
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF
    blob.write_bytes(bytes(data))
    with pytest.raises(ImageError) as ei:
        unpack_layer(str(blob), mt, str(layers / "L"))
    assert "zstd" in str(ei.value)
    assert os.listdir(layers) == []


def test_unknown_media_type(env):
    tmp, _, layers = env
    blob = tmp / "layer.blob"
    write_layer(blob, [("file", "f", b"1")])
    with pytest.raises(ImageError) as ei:
        unpack_layer(str(blob), "application/x-rar", str(layers / "L"))
    assert "application/x-rar" in str(ei.value)
    assert os.listdir(layers) == []
