"""pyrt.linux.paths: resolving a path inside a root the way the container sees it."""
import os

import pytest

from pyrt.linux.paths import EscapeError, resolve_in_root


def test_resolve_in_root_follows_links_inside_and_refuses_escapes(tmp_path):
    root = tmp_path / "root"
    (root / "a" / "b").mkdir(parents=True)
    os.symlink("/a", root / "abs")          # absolute: means the container's /a
    os.symlink("a/b", root / "rel")
    os.symlink("../../..", root / "a" / "up")
    os.symlink("loop", root / "loop")
    r = str(root)
    assert resolve_in_root(r, "/abs/b") == f"{r}/a/b"
    assert resolve_in_root(r, "/rel/new/file") == f"{r}/a/b/new/file"
    assert resolve_in_root(r, "/a/b/../b") == f"{r}/a/b"
    with pytest.raises(EscapeError):
        resolve_in_root(r, "/a/up/etc")
    with pytest.raises(EscapeError):
        resolve_in_root(r, "/../etc")
    with pytest.raises(OSError):
        resolve_in_root(r, "/loop/x")
