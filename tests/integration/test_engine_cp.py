"""`pyrt cp` and get_archive/put_archive: docker's rules for where things land, on running and
stopped containers, and the attacks of a hostile container's filesystem (symlinks to / and
../../.., a symlink as the destination, a directory swapped for a symlink, device nodes and
setuid files on their way to the host). Each attack test checks the host side is untouched."""
from __future__ import annotations

import io
import json
import os
import stat
import subprocess
import sys
import tarfile

import pytest

from tests.support.bundle import PYRT
from tests.support.engine import until

pytest_plugins = ["tests.support.engine_fixtures"]     # busybox_tar, eng


# once: a restarted container runs it again
SETUP = "test -e /d/f || { mkdir -p /d/sub; echo hello > /d/f; echo x > /d/sub/g; ln -s /etc /d/link; }"


def _running(eng, name="w", setup=SETUP, *flags, stopped: bool = False):
    """Container NAME after SETUP ran in it; STOPPED: then stopped."""
    eng.ok("run", "-d", "--name", name, *flags, "busybox", "sh", "-c", f"{setup}; touch /dev/shm/ready; sleep 300")
    until(lambda: eng.pyrt("exec", name, "test", "-e", "/dev/shm/ready").returncode == 0, what="the set-up")
    if stopped:
        eng.ok("stop", "-t", "0", name)


def _tree(root) -> list[str]:
    out = []
    for d, dirs, files in os.walk(root):
        for n in dirs + files:
            p = os.path.join(d, n)
            out.append(os.path.relpath(p, root) + ("@" if os.path.islink(p) else "/" if os.path.isdir(p) else ""))
    return sorted(out)


def _rootfs_mounts(eng) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f if eng.root in line.split()[4]]


@pytest.mark.parametrize("stopped", [False, True], ids=["running", "stopped"])
def test_docker_rules_out_of_the_container(eng, tmp_path, stopped):
    _running(eng, stopped=stopped)
    out = tmp_path / "out"
    out.mkdir()
    eng.ok("cp", "w:/d", str(out))                       # a directory into a directory: under its name
    assert _tree(out) == ["d/", "d/f", "d/link@", "d/sub/", "d/sub/g"]
    assert os.readlink(out / "d" / "link") == "/etc"     # a symlink is copied as itself
    eng.ok("cp", "w:/d/.", str(out / "c"))               # missing dest: made, with the contents
    eng.ok("cp", "w:/d", str(out / "e"))                 # missing dest: made, with the contents
    assert _tree(out / "c") == _tree(out / "e") == ["f", "link@", "sub/", "sub/g"]
    eng.ok("cp", "w:/d/.", str(out / "c"))               # SRC/. into an existing dir: contents again
    assert _tree(out / "c") == ["f", "link@", "sub/", "sub/g"]
    eng.ok("cp", "w:/d/f", str(out / "renamed"))         # a file to a missing path: that name
    eng.ok("cp", "w:/d/sub/g", str(out / "renamed"))     # to an existing file: overwritten
    assert (out / "renamed").read_text() == "x\n"
    # docker's refusals: one line each, 125, nothing made
    for args, words in [(("w:/d/f", str(out / "nodir") + "/"), "must exist"),
                        (("w:/d/f", str(out / "no" / "such")), "no such directory"),
                        (("w:/d", str(out / "renamed")), "cannot copy a directory to a file"),
                        (("w:/nosuch", str(out)), "could not find the file /nosuch"),
                        (("nosuchctr:/d", str(out)), "nosuchctr"),
                        (("w:/d", "w:/e"), "copying between containers"),
                        ((str(out), str(out / "x")), "CONTAINER:PATH")]:
        p = eng.pyrt("cp", *args)
        assert p.returncode == 125 and words in p.stderr and len(p.stderr.splitlines()) == 1, (args, p.stderr)
    assert not (out / "nodir").exists() and not (out / "no").exists() and not (out / "x").exists()
    if stopped:
        assert _rootfs_mounts(eng) == []                 # mounted for the copy, unmounted after
    eng.ok("rm", "-f", "w")


@pytest.mark.parametrize("stopped", [False, True], ids=["running", "stopped"])
def test_docker_rules_into_the_container(eng, tmp_path, stopped):
    _running(eng, stopped=stopped)
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a").write_text("A\n")
    (src / "sub" / "b").write_text("B\n")
    os.chmod(src / "a", 0o640)
    eng.ok("cp", str(src), "w:/tmp")
    eng.ok("cp", str(src) + "/.", "w:/d/sub")
    eng.ok("cp", str(src), "w:/new")
    eng.ok("cp", str(src / "a"), "w:/d/f")
    eng.ok("cp", str(src / "a"), "w:/tmp/")
    p = eng.pyrt("cp", str(src / "a"), "w:/missing/")
    assert p.returncode == 125 and "must exist" in p.stderr
    p = eng.pyrt("cp", str(src), "w:/d/f")
    assert p.returncode == 125 and "cannot copy a directory to a file" in p.stderr
    with tarfile.open(fileobj=(buf := io.BytesIO()), mode="w") as t:
        ti = tarfile.TarInfo("streamed")
        ti.size, ti.uid, ti.gid, ti.mode = 3, 4321, 4322, 0o604
        t.addfile(ti, io.BytesIO(b"S!\n"))
    p = subprocess.run([PYRT, "cp", "-a", "-", "w:/tmp"], input=buf.getvalue(), capture_output=True,
                       env=eng.env)
    assert p.returncode == 0, p.stderr
    if stopped:
        assert _rootfs_mounts(eng) == []
        eng.ok("start", "w")
        until(lambda: eng.pyrt("exec", "w", "test", "-e", "/dev/shm/ready").returncode == 0, what="the restart")
    got = eng.ok("exec", "w", "sh", "-c", "cd /; for f in tmp/src/a tmp/src/sub/b d/sub/a d/sub/sub/b new/a new/sub/b "
                 "d/f tmp/a; do echo $f $(cat $f) $(stat -c '%a %u:%g' $f); done; stat -c '%a %u:%g %s' tmp/streamed")
    assert got.splitlines() == [
        "tmp/src/a A 640 0:0", "tmp/src/sub/b B 644 0:0", "d/sub/a A 640 0:0", "d/sub/sub/b B 644 0:0",
        "new/a A 640 0:0", "new/sub/b B 644 0:0", "d/f A 640 0:0", "tmp/a A 640 0:0", "604 4321:4322 3"]
    eng.ok("rm", "-f", "w")


def test_tar_stream_out_and_the_python_api(eng):
    _running(eng)
    p = subprocess.run([PYRT, "cp", "w:/d", "-"], capture_output=True, env=eng.env)
    assert p.returncode == 0, p.stderr
    with tarfile.open(fileobj=io.BytesIO(p.stdout)) as t:
        assert sorted(t.getnames()) == ["d", "d/f", "d/link", "d/sub", "d/sub/g"]
        assert t.extractfile("d/f").read() == b"hello\n"
    c = eng.client().containers.get("w")
    chunks, st = c.get_archive("/d/.")
    with tarfile.open(fileobj=io.BytesIO(b"".join(chunks))) as t:
        assert sorted(t.getnames()) == ["f", "link", "sub", "sub/g"]
    assert st["name"] == "d"
    assert stat.S_ISDIR(st["mode"])
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        ti = tarfile.TarInfo("api/put")
        ti.size = 2
        t.addfile(ti, io.BytesIO(b"ok"))
    assert c.put_archive("/tmp", buf.getvalue()) is True
    assert eng.ok("exec", "w", "cat", "/tmp/api/put") == "ok"
    from pyrt.engine.errors import NotFound
    with pytest.raises(NotFound):
        c.get_archive("/nosuch")
    with pytest.raises(NotFound):
        c.put_archive("/nosuch", buf.getvalue())
    eng.ok("rm", "-f", "w")


# -- attacks ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("stopped", [False, True], ids=["running", "stopped"])
def test_symlinks_to_the_root_and_above_stay_in_the_rootfs(eng, tmp_path, stopped):
    """The container makes /evil -> / and /up -> ../../../../../../../..; a copy in or out
    through them stays in the container (a stopped container's rootfs sits a few directories
    below the host's /: an unconfined ../.. would reach it). (/etc itself cannot be replaced
    here: the engine's /etc/hosts binds keep it a directory.)"""
    secret = tmp_path / "host-secret"
    secret.write_text("host only\n")
    marker = f"pyrt-cp-marker-{os.getpid()}"
    _running(eng, "w", "ln -s / /evil; ln -s ../../../../../../../../../.. /up", stopped=stopped)
    depth_path = str(secret)[1:]   # the secret's path from the host's /
    out = tmp_path / "out"
    out.mkdir()
    for src in (f"w:/up/{depth_path}", f"w:/evil/../../{depth_path}", f"w:/up/../../{depth_path}"):
        p = eng.pyrt("cp", src, str(out / "got"))
        assert p.returncode == 125 and "could not find the file" in p.stderr, (src, p.stderr)
    assert not (out / "got").exists()
    for i, src in enumerate(("w:/..", "w:/../..", "w:/evil/..")):   # a last "..": the container's / at most
        eng.ok("cp", src, str(out / f"root{i}"))
        got = set(os.listdir(out / f"root{i}"))
        assert {"bin", "evil", "up"} <= got and not got & {"config.json", "container.json", "upper", "rootfs"}, got
    (tmp_path / marker).write_text("in\n")
    for dest in ("w:/up/tmp/", "w:/evil/../tmp/", "w:/evil/tmp/"):
        eng.ok("cp", str(tmp_path / marker), dest)
    assert not os.path.exists(f"/tmp/{marker}")       # never the host's /tmp
    assert not os.path.exists(f"/{marker}")
    if stopped:
        eng.ok("start", "w")
        until(lambda: eng.pyrt("exec", "w", "test", "-e", "/dev/shm/ready").returncode == 0, what="the restart")
    assert eng.ok("exec", "w", "cat", f"/tmp/{marker}") == "in\n"   # the container's /tmp got it
    eng.ok("rm", "-f", "w")
    assert secret.read_text() == "host only\n"


@pytest.mark.parametrize("stopped", [False, True], ids=["running", "stopped"])
def test_follow_link_resolves_inside_the_container(eng, tmp_path, stopped):
    """cp -L: /pw -> /etc/passwd copies the container's passwd (not the host's), under the link's
    name; /up -> ../../../.. (and a chain through it) is the container's / at most, never the
    directories the rootfs sits in; without -L the link itself is copied."""
    _running(eng, "w", "echo 'c:x:0:0::/:/bin/sh' >> /etc/passwd; ln -s /etc/passwd /pw; "
             "ln -s ../../../../../../../../.. /up; ln -s up/etc/./passwd /chain; ln -s /loop /loop",
             stopped=stopped)
    out = tmp_path / "out"
    out.mkdir()
    eng.ok("cp", "-L", "w:/pw", str(out))
    with open("/etc/passwd") as f:
        host = f.read()
    got = (out / "pw").read_text()
    assert not (out / "pw").is_symlink() and "c:x:0:0::/:/bin/sh" in got and got != host
    eng.ok("cp", "w:/pw", str(out / "plain"))
    assert os.readlink(out / "plain") == "/etc/passwd"
    eng.ok("cp", "--follow-link", "w:/chain", str(out / "chained"))
    assert (out / "chained").read_text() == got
    eng.ok("cp", "-L", "w:/up", str(out / "up"))
    top = set(os.listdir(out / "up"))
    assert {"bin", "etc", "pw", "up"} <= top and not top & {"config.json", "container.json", "upper", "rootfs"}, top
    p = subprocess.run([PYRT, "cp", "-L", "w:/pw", "-"], capture_output=True, env=eng.env)
    tar = tarfile.open(fileobj=io.BytesIO(p.stdout))
    assert [m.name for m in tar.getmembers()] == ["pw"] and tar.getmembers()[0].isreg()
    p = eng.pyrt("cp", "-L", "w:/loop", str(out / "loop"))
    assert p.returncode == 125 and "Too many levels of symbolic links" in p.stderr, p.stderr
    assert not (out / "loop").exists()
    eng.ok("rm", "-f", "w")


def test_a_symlink_as_destination_is_replaced_not_written_through(eng, tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("orig\n")
    _running(eng, "w", f"ln -s {victim} /tmp/t; ln -s {tmp_path} /tmp/dir")
    src = tmp_path / "src"
    src.mkdir()
    (src / "new").write_text("new\n")
    before = sorted(os.listdir(tmp_path))
    eng.ok("cp", str(src / "new"), "w:/tmp/t")
    p = eng.pyrt("cp", str(src / "new"), "w:/tmp/dir/")   # the link resolves in the container: no such dir
    assert p.returncode == 125 and "must exist" in p.stderr
    assert victim.read_text() == "orig\n" and sorted(os.listdir(tmp_path)) == before
    assert eng.ok("exec", "w", "sh", "-c", "test -L /tmp/t && echo link; cat /tmp/t") == "new\n"
    eng.ok("rm", "-f", "w")


def test_what_reaches_the_host_has_no_device_nodes_setuid_bits_or_way_out(eng, tmp_path):
    victim = tmp_path / "victim"
    victim.mkdir()
    _running(eng, "w", f"mkdir /d; mknod /d/sda b 8 0; chmod 666 /d/sda; cp /bin/busybox /d/suid; "
                       f"chmod 6755 /d/suid; ln -s {victim} /d/link")
    out = tmp_path / "out"
    out.mkdir()
    eng.ok("cp", "w:/d", str(out))
    assert sorted(os.listdir(out / "d")) == ["link", "suid"]            # no device node made
    assert stat.S_IMODE(os.stat(out / "d" / "suid").st_mode) == 0o755     # setuid/setgid dropped
    assert os.readlink(out / "d" / "link") == str(victim)
    # the container swaps the symlink for a directory: a second copy replaces the host's symlink,
    # it does not write through it
    eng.ok("exec", "w", "sh", "-c", "rm /d/link; mkdir /d/link; echo pwned > /d/link/file")
    eng.ok("cp", "w:/d", str(out))
    assert os.listdir(victim) == []
    assert not os.path.islink(out / "d" / "link") and (out / "d" / "link" / "file").read_text() == "pwned\n"
    eng.ok("rm", "-f", "w")


def test_bind_volumes_get_the_copy_and_do_not_lead_out(eng, tmp_path):
    vol = tmp_path / "vol"
    vol.mkdir()
    _running(eng, "w", "ln -s ../../../../../../.. /v/up", "-v", f"{vol}:/v")
    (tmp_path / "f").write_text("F\n")
    eng.ok("cp", str(tmp_path / "f"), "w:/v/")
    assert (vol / "f").read_text() == "F\n"                     # docker copies into the volume
    eng.ok("cp", str(tmp_path / "f"), "w:/v/up/tmp/escaped")
    assert not os.path.exists("/tmp/escaped")
    assert eng.ok("exec", "w", "cat", "/tmp/escaped") == "F\n"
    eng.ok("rm", "-f", "w")


def test_read_only_rootfs_refuses_in_one_line(eng, tmp_path):
    _running(eng, "w", "true", "--read-only")
    (tmp_path / "f").write_text("F\n")
    p = eng.pyrt("cp", str(tmp_path / "f"), "w:/f")
    assert p.returncode == 125 and "Read-only file system" in p.stderr and len(p.stderr.splitlines()) == 1
    doc = json.loads(eng.ok("inspect", "w"))[0]
    assert doc["State"]["Running"]
    eng.ok("rm", "-f", "w")


def test_stopped_read_only_rootfs_refuses_but_its_volume_takes_the_copy(eng, tmp_path):
    _running(eng, "w", "test -e /data/old || echo inside > /data/old", "--read-only", "-v", "vol:/data",
             stopped=True)
    (tmp_path / "f").write_text("F\n")
    before = _mount_points(eng, tmp_path)
    p = eng.pyrt("cp", str(tmp_path / "f"), "w:/f")
    assert p.returncode == 125 and "Read-only file system" in p.stderr and len(p.stderr.splitlines()) == 1, p.stderr
    assert not os.path.lexists(os.path.join(_layer(eng, "w"), "f"))
    eng.ok("cp", str(tmp_path / "f"), "w:/data/")             # as docker: the volume is writable
    assert open(os.path.join(_volume_dir(eng, "vol"), "f")).read() == "F\n"
    eng.ok("cp", "w:/etc/passwd", str(tmp_path / "out"))      # out of the read-only rootfs
    assert (tmp_path / "out").read_text().startswith("root:")
    assert _mount_points(eng, tmp_path) == before
    eng.ok("rm", "-f", "w")


def test_a_directory_swapped_for_a_symlink_during_copies_never_leads_out(eng, tmp_path):
    """The container flips /race/x between a directory and a symlink to ../../.. as fast as it can
    while copies go in and out through it (the Python API: many rounds, one process). Whatever
    the timing, nothing lands on the host and no host file is archived."""
    secret = f"pyrt-race-secret-{os.getpid()}"
    with open(f"/tmp/{secret}", "w") as f:
        f.write("host\n")
    try:
        _running(eng, "w", "mkdir -p /race; (while true; do rm -rf /race/x; mkdir /race/x; rm -rf /race/x; "
                           "ln -s ../../../../../../../.. /race/x; done) & :")
        c = eng.client().containers.get("w")
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as t:
            ti = tarfile.TarInfo(f"tmp/{secret}-in")
            ti.size = 3
            t.addfile(ti, io.BytesIO(b"in\n"))
        landed = 0
        for _ in range(150):
            try:
                c.put_archive("/race/x", buf.getvalue())
                landed += 1
            except Exception as e:          # the swap made it fail: fine, as long as it stays inside
                assert type(e).__name__ in ("NotFound", "InvalidArgument", "EngineError"), repr(e)
            chunks, _st = c.get_archive("/race")
            with tarfile.open(fileobj=io.BytesIO(b"".join(chunks))) as t:
                assert not [n for n in t.getnames() if secret in n and not n.endswith("-in")]
        assert landed > 0
        assert not os.path.exists(f"/tmp/{secret}-in")
        with open(f"/tmp/{secret}") as f:
            assert f.read() == "host\n"
        eng.ok("rm", "-f", "w")
    finally:
        os.unlink(f"/tmp/{secret}")


# -- a stopped container's volumes and binds (mounted for the copy, in a namespace of its own) --
def _mount_points(eng, tmp_path) -> list[str]:
    """The host's mount points that are ours or that an escape would hit (the VM is shared: other
    mounts come and go)."""
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    return sorted(p for p in points if p.startswith((eng.root, str(tmp_path))) or p in ("/", "/data", "/bind"))


def _children(parent: int | None = None) -> list[int]:
    parent = parent or os.getpid()
    out = []
    for p in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{p}/stat") as f:
                if int(f.read().rsplit(")", 1)[1].split()[1]) == parent:
                    out.append(int(p))
        except OSError:
            pass
    return sorted(out)


def _tar(name: str, data: bytes) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        ti = tarfile.TarInfo(name)
        ti.size = len(data)
        t.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def _volume_dir(eng, name: str) -> str:
    return json.loads(eng.ok("volume", "inspect", name))[0]["Mountpoint"]


def _layer(eng, name: str) -> str:
    """The container's writable layer (overlay's upper, or the copied rootfs)."""
    cdir = os.path.join(eng.root, "containers", json.loads(eng.ok("inspect", name))[0]["Id"])
    upper = os.path.join(cdir, "upper")
    return upper if os.path.isdir(upper) else os.path.join(cdir, "rootfs")


def test_stopped_container_copies_reach_its_volumes_and_binds(eng, tmp_path):
    bind = tmp_path / "bind"
    bind.mkdir()
    _running(eng, "w", "test -e /data/old || echo inside > /data/old", "-v", "vol:/data", "-v", f"{bind}:/bind",
             stopped=True)
    (tmp_path / "f").write_text("F\n")
    before = _mount_points(eng, tmp_path)
    eng.ok("cp", str(tmp_path / "f"), "w:/data/")
    eng.ok("cp", str(tmp_path / "f"), "w:/bind/g")
    out = tmp_path / "out"
    eng.ok("cp", "w:/data/old", str(out))                # out of the volume, not the layer beneath
    assert out.read_text() == "inside\n"
    kids = _children()
    c = eng.client().containers.get("w")                # the Python API, in this process
    c.put_archive("/data", _tar("api", b"A\n"))
    chunks, _st = c.get_archive("/data/api")
    with tarfile.open(fileobj=io.BytesIO(b"".join(chunks))) as t:
        assert t.extractfile("api").read() == b"A\n"
    assert _children() == kids                          # the mounting helper is gone
    assert _mount_points(eng, tmp_path) == before       # nothing left mounted on the host
    assert open(os.path.join(_volume_dir(eng, "vol"), "f")).read() == "F\n"
    assert open(os.path.join(_volume_dir(eng, "vol"), "api")).read() == "A\n"
    assert (bind / "g").read_text() == "F\n"
    layer = _layer(eng, "w")
    assert not os.path.lexists(os.path.join(layer, "data", "f"))
    assert not os.path.lexists(os.path.join(layer, "bind", "g"))
    eng.ok("start", "w")
    until(lambda: eng.pyrt("exec", "w", "test", "-e", "/dev/shm/ready").returncode == 0, what="the restart")
    assert eng.ok("exec", "w", "cat", "/data/f", "/bind/g") == "F\nF\n"
    eng.ok("rm", "-f", "w")


def test_stopped_container_read_only_volume_refuses_in_one_line(eng, tmp_path):
    _running(eng, "w", "true", "-v", "vol:/data:ro", stopped=True)
    (tmp_path / "f").write_text("F\n")
    before = _mount_points(eng, tmp_path)
    for dest in ("w:/data/", "w:/data/g"):
        p = eng.pyrt("cp", str(tmp_path / "f"), dest)
        assert p.returncode == 125 and "Read-only file system" in p.stderr and len(p.stderr.splitlines()) == 1, \
            p.stderr
    assert os.listdir(_volume_dir(eng, "vol")) == []
    assert not os.path.lexists(os.path.join(_layer(eng, "w"), "data", "f"))
    assert _mount_points(eng, tmp_path) == before
    eng.ok("rm", "-f", "w")


@pytest.mark.parametrize("link", ["/", "../../../../../../.."], ids=["root", "above"])
def test_stopped_container_volume_target_swapped_for_a_symlink_stays_in_the_rootfs(eng, tmp_path, link):
    """/data (the volume's target) replaced by a symlink in the writable layer while stopped: the
    target is resolved inside the rootfs, and as its start would, the mount is refused (a link to
    "/" lands the volume on the container's root, which the check after mounting catches; one
    climbing above the root escapes it). One line, nothing mounted or written anywhere."""
    _running(eng, "w", "true", "-v", "vol:/data", stopped=True)
    data = os.path.join(_layer(eng, "w"), "data")
    os.rmdir(data)
    os.symlink(link, data)
    name = f"pyrt-cpvol-{os.getpid()}"
    (tmp_path / name).write_text("F\n")
    before = _mount_points(eng, tmp_path)
    for args in ((str(tmp_path / name), f"w:/{name}"), (f"w:/{name}", str(tmp_path / "out"))):
        p = eng.pyrt("cp", *args)
        assert p.returncode == 125 and len(p.stderr.splitlines()) == 1, p.stderr
        assert "malicious path" in p.stderr if link == "/" else "escapes the rootfs" in p.stderr, p.stderr
    assert _mount_points(eng, tmp_path) == before
    assert not os.path.lexists(f"/{name}") and not os.path.lexists(tmp_path / "out")
    assert os.listdir(_volume_dir(eng, "vol")) == []
    assert not os.path.lexists(os.path.join(_layer(eng, "w"), name))
    assert os.readlink(data) == link
    p = eng.pyrt("start", "w")                          # its start refuses the same target
    assert p.returncode != 0, p.stderr
    eng.ok("rm", "-f", "w")


_HOLD = """
import os, sys, pyrt
from pyrt.engine import archive
c = pyrt.Client(root=sys.argv[1], run_root=sys.argv[2], cgroup_parent=sys.argv[3], default_network="none")
with archive.container_tree(c.engine, "w") as tree:
    print(os.listdir(f"/proc/self/fd/{tree.fd}/data"), flush=True)
    sys.stdin.read()
"""


def test_a_copy_killed_midway_leaves_no_mount_process_or_lock(eng, tmp_path):
    """The copying process dies (SIGKILL) with the stopped container's volumes mounted for it:
    its helper sees its pipe close and exits, the namespace and its mounts with it, and the
    container's lock (the helper held it too) is free again."""
    _running(eng, "w", "test -e /data/old || echo inside > /data/old", "-v", "vol:/data", stopped=True)
    before = _mount_points(eng, tmp_path)
    holder = subprocess.Popen([sys.executable, "-c", _HOLD, eng.root, eng.run_root, eng.cgroup_parent],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=eng.env, text=True)
    try:
        assert holder.stdout.readline().strip() == "['old']"    # the volume, through the fd
        helpers = _children(holder.pid)
        assert len(helpers) == 1
        assert _mount_points(eng, tmp_path) == before
    finally:
        holder.kill()                                       # mid-copy
        holder.wait()
    until(lambda: not os.path.exists(f"/proc/{helpers[0]}"), what="the helper's exit")
    assert _mount_points(eng, tmp_path) == before
    out = tmp_path / "out"
    eng.ok("cp", "w:/data/old", str(out))                 # the lock is free
    assert out.read_text() == "inside\n"
    eng.ok("rm", "-f", "w")


def test_stopped_container_nested_volumes_file_binds_and_a_missing_source(eng, tmp_path):
    """A container never started: a volume inside a volume (given outer last: mounted by depth, as
    docker sorts them), a bound file, a target the image lacks (made in its writable layer, as its
    start makes it); a bind whose source is gone refuses in one line, as its start would."""
    host_file = tmp_path / "conf"
    host_file.write_text("conf\n")
    gone = tmp_path / "gone"
    gone.mkdir()
    eng.ok("create", "--name", "w", "-v", "inner:/data/in", "-v", "outer:/data", "-v", f"{host_file}:/etc/conf",
           "-v", f"{gone}:/new/deep", "busybox", "true")       # never started: no target made yet
    assert not os.path.lexists(os.path.join(_layer(eng, "w"), "new"))
    (tmp_path / "f").write_text("F\n")
    before = _mount_points(eng, tmp_path)
    eng.ok("cp", str(tmp_path / "f"), "w:/data/in/")
    eng.ok("cp", str(tmp_path / "f"), "w:/data/")
    eng.ok("cp", str(tmp_path / "f"), "w:/new/deep/")
    eng.ok("cp", "w:/etc/conf", str(tmp_path / "out"))
    assert (tmp_path / "out").read_text() == "conf\n"
    assert sorted(os.listdir(_volume_dir(eng, "inner"))) == ["f"]
    assert sorted(os.listdir(_volume_dir(eng, "outer"))) == ["f", "in"]
    assert (gone / "f").read_text() == "F\n"
    assert os.path.isdir(os.path.join(_layer(eng, "w"), "new", "deep"))     # made as its start makes it
    assert _mount_points(eng, tmp_path) == before
    (gone / "f").unlink()
    gone.rmdir()
    p = eng.pyrt("cp", str(tmp_path / "f"), "w:/data/")
    assert p.returncode == 125 and len(p.stderr.splitlines()) == 1 and str(gone) in p.stderr, p.stderr
    assert sorted(os.listdir(_volume_dir(eng, "outer"))) == ["f", "in"]
    assert _mount_points(eng, tmp_path) == before
    eng.ok("rm", "-f", "w")
