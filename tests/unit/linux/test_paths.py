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


def _open(root, unsafe, create=None):
    from pyrt.linux.paths import open_in_root
    fd_root = os.open(root, os.O_PATH | os.O_DIRECTORY)
    try:
        fd = open_in_root(str(root), fd_root, unsafe, create)
    finally:
        os.close(fd_root)
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    finally:
        os.close(fd)


def test_open_in_root_opens_through_links_inside_and_creates_what_is_missing(tmp_path):
    root = tmp_path / "root"
    (root / "a" / "b").mkdir(parents=True)
    os.symlink("/a", root / "abs")
    assert _open(root, "/abs/b") == f"{root}/a/b"
    assert _open(root, "/abs/b/new/dir", create="dir") == f"{root}/a/b/new/dir"
    assert _open(root, "/abs/f", create="file") == f"{root}/a/f" and (root / "a" / "f").is_file()
    with pytest.raises(FileNotFoundError):
        _open(root, "/missing")


def test_open_in_root_refuses_a_path_that_became_a_symlink(tmp_path, monkeypatch):
    """What resolve_in_root saw (a directory) was swapped for a symlink to / before the kernel
    opened it: refused as a malicious path, never followed out of the root."""
    from pyrt.linux import paths
    root = tmp_path / "root"
    (root / "vol").mkdir(parents=True)
    os.symlink("/", root / "vol" / "s")  # the swapped-in symlink
    monkeypatch.setattr(paths, "resolve_in_root", lambda r, u: f"{r}/vol/s/proc")  # the stale view
    with pytest.raises(paths.MaliciousPathError, match="possibly malicious path"):
        _open(root, "/vol/s/proc")
    with pytest.raises(paths.MaliciousPathError):
        _open(root, "/vol/s/proc", create="dir")
    assert not (root / "proc").exists()


def test_open_in_root_without_openat2_checks_where_the_fd_landed(tmp_path, monkeypatch):
    """Kernels before 5.6: an O_NOFOLLOW open of the resolved path, accepted only where
    /proc/self/fd shows it was resolved (runc's check)."""
    from pyrt.linux import paths
    monkeypatch.setattr(paths, "_openat2_missing", True)
    root = tmp_path / "root"
    (root / "a").mkdir(parents=True)
    os.symlink("/a", root / "abs")
    assert _open(root, "/abs/new", create="dir") == f"{root}/a/new"
    os.symlink(str(tmp_path), root / "a" / "s")  # swapped in: the kernel follows it on the host
    monkeypatch.setattr(paths, "resolve_in_root", lambda r, u: f"{r}/a/s/x")  # a stale view
    (tmp_path / "x").mkdir()
    with pytest.raises(paths.MaliciousPathError):
        _open(root, "/a/s/x")


def test_read_regular_refuses_a_fifo_without_blocking(tmp_path):
    """A hostile image's /etc/passwd as a FIFO: no writer ever comes, and open(2) would wait for
    one. read_regular opens it O_NONBLOCK and refuses it before reading (a hang fails the test
    by its timeout, in a thread so the test itself can end)."""
    import threading
    from pyrt.linux.paths import NotRegularFileError, read_regular
    fifo = tmp_path / "passwd"
    os.mkfifo(fifo)
    result = []

    def read():
        try:
            read_regular(str(fifo), 100)
            result.append("read")
        except NotRegularFileError as e:
            result.append(e)
    t = threading.Thread(target=read, daemon=True)
    t.start()
    t.join(30)
    assert result and isinstance(result[0], NotRegularFileError), result
    assert result[0].filename == str(fifo)
    (tmp_path / "file").write_bytes(b"root:x:0:0::/root:/bin/sh\n" * 10)
    assert read_regular(str(tmp_path / "file"), 30) == (b"root:x:0:0::/root:/bin/sh\n" * 2)[:30]
    with pytest.raises(NotRegularFileError):
        read_regular(str(tmp_path), 10)   # a directory is no passwd file either

