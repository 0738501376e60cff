"""Issue 9.6: an image's setuid binaries and world-writable dirs must be out of other host users' reach.

The attack, for real: an image whose layer holds a setuid-root copy of the host's `id` and `cat`
and whose root directory is mode 07777 is imported into a store; then uid 65534 (no capabilities,
no supplementary groups) runs those binaries straight from the store and writes
into the layer dir. With the store's roots at 0700 every step fails. The same steps under a store
opened up to 0755 (what an older pyrt left) show the attack is real on this host: euid 0, a
root-only file read, a file planted; and the next pyrt start closes the roots again.

The store sits in a directory of its own under /tmp, opened 0755, so that nothing but the
store's own modes stands between uid 65534 and the layers (pytest's tmp dirs are 0700).
"""
from __future__ import annotations

import io
import os
import shutil
import stat
import subprocess
import tarfile
import tempfile

import pytest

from tests.support.bundle import PYRT_RUNC, base_config, make_bundle
from tests.support.pyrtcli import pyrt, pyrt_env

NOBODY = 65534


def as_nobody(*argv: str) -> subprocess.CompletedProcess:
    """ARGV run by uid/gid 65534 with no groups. setuid(2) in the child drops every capability
    before execve resolves the path (setpriv(1) would keep them up to execve: its path lookup
    would still pass closed directories). Through sh, so a refused exec is a message on stderr."""
    return subprocess.run(["/bin/sh", "-c", 'exec "$@"', "sh", *argv], user=NOBODY, group=NOBODY, extra_groups=[], capture_output=True,
                          text=True, timeout=30)


@pytest.fixture
def open_dir():
    """A fresh directory every user may traverse (removed afterwards)."""
    d = tempfile.mkdtemp(prefix="pyrt-test-store-private-", dir="/tmp")
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d)


def _evil_layer(path: str) -> None:
    """A rootfs tarball: root dir 07777, bin/id and bin/cat setuid root (the host's own binaries)."""
    with tarfile.open(path, "w") as tf:
        root = tarfile.TarInfo("./")
        root.type, root.mode = tarfile.DIRTYPE, 0o7777
        tf.addfile(root)
        b = tarfile.TarInfo("./bin")
        b.type, b.mode = tarfile.DIRTYPE, 0o755
        tf.addfile(b)
        for name in ("id", "cat"):
            with open(shutil.which(name), "rb") as f:
                data = f.read()
            ti = tarfile.TarInfo(f"./bin/{name}")
            ti.size, ti.mode, ti.uid, ti.gid = len(data), 0o4755, 0, 0
            tf.addfile(ti, io.BytesIO(data))


def _attack(layer: str, secret: str) -> dict:
    """What uid 65534 gets from the layer: euid of the setuid id, the secret via setuid cat,
    and whether a file could be created in the 07777 layer root."""
    euid = as_nobody(os.path.join(layer, "bin", "id"), "-u")
    cat = as_nobody(os.path.join(layer, "bin", "cat"), secret)
    touch = as_nobody("sh", "-c", f"echo pwned > {layer}/pwned")
    return {"euid": euid.stdout.strip() if euid.returncode == 0 else euid.stderr.strip(),
            "secret": cat.stdout if cat.returncode == 0 else None,
            "planted": touch.returncode == 0}


def _modes(root: str) -> tuple[int, int]:
    return (stat.S_IMODE(os.stat(root).st_mode), stat.S_IMODE(os.stat(os.path.join(root, "image")).st_mode))


def test_setuid_binaries_in_the_store_are_out_of_reach_of_other_users(open_dir):
    root = os.path.join(open_dir, "root")
    secret = os.path.join(open_dir, "secret")
    with open(secret, "w") as f:
        f.write("root-only\n")
    os.chmod(secret, 0o600)
    tarball = os.path.join(open_dir, "evil.tar")
    _evil_layer(tarball)
    env = pyrt_env(open_dir)
    r = pyrt(root, "import", tarball, "evil:latest", env=env)
    assert r.returncode == 0, r.stderr
    layers = os.path.join(root, "image", "layers")
    (hexid,) = [n for n in os.listdir(layers) if not n.startswith(".")]
    layer = os.path.join(layers, hexid)
    # The image content is kept as the image says: the binaries are setuid root, the dir 07777.
    assert stat.S_IMODE(os.stat(layer).st_mode) == 0o7777
    assert os.stat(os.path.join(layer, "bin", "id")).st_mode & stat.S_ISUID
    assert _modes(root) == (0o700, 0o700)

    closed = _attack(layer, secret)
    assert "Permission denied" in closed["euid"], closed
    assert closed["secret"] is None and not closed["planted"], closed

    # The control: opened up as an older pyrt left it, the same attack works on this host ...
    os.chmod(root, 0o755)
    os.chmod(os.path.join(root, "image"), 0o755)
    try:
        opened = _attack(layer, secret)
    finally:
        if os.path.exists(os.path.join(layer, "pwned")):
            os.unlink(os.path.join(layer, "pwned"))
    assert opened == {"euid": "0", "secret": "root-only\n", "planted": True}, opened

    # ... until the next pyrt start, which closes the roots again.
    r = pyrt(root, "images", "-q", env=env)
    assert r.returncode == 0, r.stderr
    assert _modes(root) == (0o700, 0o700)
    assert _attack(layer, secret) == closed


def test_a_root_owned_by_another_user_is_refused(open_dir):
    """A --root another user made (and could swap things in) is not used: one line, exit 1."""
    root = os.path.join(open_dir, "theirs")
    os.mkdir(root, 0o700)
    os.chown(root, NOBODY, NOBODY)
    r = pyrt(root, "images", env=pyrt_env(open_dir))
    assert r.returncode == 1, r.stderr
    assert r.stderr.startswith(f"pyrt: {root} belongs to uid {NOBODY}, not to uid 0 running pyrt"), r.stderr
    assert len(r.stderr.splitlines()) == 1
    assert os.listdir(root) == []


def _runc(*args: str) -> subprocess.CompletedProcess:
    # stderr through a file: a created container's init keeps what it inherits open.
    with tempfile.TemporaryFile("w+") as err:
        p = subprocess.run([PYRT_RUNC, *args], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=err, timeout=60)
        err.seek(0)
        return subprocess.CompletedProcess(p.args, p.returncode, "", err.read())


def test_runtime_state_root_is_closed(open_dir, cgroup_parent):
    """pyrt-runc's --root (runc: 0700): a looser one (0755, made by hand or by an older
    pyrt-runc) is tightened by the next create; uid 65534 then cannot read state.json."""
    state_root = os.path.join(open_dir, "state")
    os.mkdir(state_root, 0o755)
    config = base_config(["/bin/true"])
    config["linux"]["cgroupsPath"] = f"{cgroup_parent}/c1"
    bundle = make_bundle(os.path.join(open_dir, "bundle"), config)
    r = _runc("--root", state_root, "create", "-b", bundle, "c1")
    try:
        assert r.returncode == 0, r.stderr
        assert stat.S_IMODE(os.stat(state_root).st_mode) == 0o700
        peek = as_nobody("cat", os.path.join(state_root, "c1", "state.json"))
        assert peek.returncode != 0 and "Permission denied" in peek.stderr, peek
    finally:
        d = _runc("--root", state_root, "delete", "-f", "c1")
        assert d.returncode == 0, d.stderr
