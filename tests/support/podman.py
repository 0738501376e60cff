"""A private podman for driving pyrt-runc (and runc, for comparison) through conmon.

Everything podman keeps lives in one temp dir (storage root and runroot, tmpdir, containers.conf,
storage.conf, events file, network config): never /var/lib/containers or /run/containers.
podman runs inside a CgroupJail (tests/support/cgjail.py), so its cgroupfs paths (/libpod_parent,
the conmon cgroup) land beneath our own cgroup. Containers use --network none: the host network
and netfilter are never touched (with net=True the jail has a network namespace of its own, where
`--network bridge` may make podman's bridge, CNI's veths and iptables rules: bench/network.py). The image is the test busybox rootfs, imported offline.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

from tests.support.callers import stage_busybox_rootfs
from tests.support.cgjail import CgroupJail

PODMAN = shutil.which("podman") or "/usr/bin/podman"
IMAGE = "localhost/pyrt-busybox:test"

_CONTAINERS_CONF = """\
[containers]
netns = "none"
log_driver = "k8s-file"
# podman raises nofile and nproc to 1048576 by default; this host's hard limit is lower and we may not raise it.
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "{d}/events.log"
tmp_dir = "{d}/tmp"
image_copy_tmp_dir = "{d}/tmp"
volume_path = "{d}/volumes"
static_dir = "{d}/root/libpod"

[network]
network_config_dir = "{d}/net"
"""

_STORAGE_CONF = """\
[storage]
driver = "vfs"
runroot = "{d}/run"
graphroot = "{d}/root"
"""


class Podman:
    def __init__(self, jail_name: str, net: bool = False):
        self.dir = tempfile.mkdtemp(prefix="pyrt-podman-")
        d = self.dir
        for sub in ("tmp", "run", "root", "net", "volumes"):
            os.makedirs(os.path.join(d, sub))
        with open(os.path.join(d, "containers.conf"), "w") as f:
            f.write(_CONTAINERS_CONF.format(d=d))
        with open(os.path.join(d, "storage.conf"), "w") as f:
            f.write(_STORAGE_CONF.format(d=d))
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
            "HOME": d,
            "CONTAINERS_CONF": os.path.join(d, "containers.conf"),
            "CONTAINERS_STORAGE_CONF": os.path.join(d, "storage.conf"),
            "CONTAINERS_REGISTRIES_CONF": os.path.join(d, "registries.conf"),
            "XDG_RUNTIME_DIR": os.path.join(d, "run"),
        }
        with open(self.env["CONTAINERS_REGISTRIES_CONF"], "w") as f:
            f.write("unqualified-search-registries = []\n")
        self.image = IMAGE
        self.jail = CgroupJail(os.path.basename(d), net=net).start()

    def global_flags(self) -> list[str]:
        d = self.dir
        return ["--root", f"{d}/root", "--runroot", f"{d}/run", "--tmpdir", f"{d}/tmp",
                "--storage-driver", "vfs", "--cgroup-manager", "cgroupfs", "--events-backend", "file",
                "--network-config-dir", f"{d}/net"]

    def argv(self, args, runtime: str | None = None) -> list[str]:
        rt = ["--runtime", runtime] if runtime else []
        return [PODMAN, *self.global_flags(), *rt, *args]

    def __call__(self, *args, runtime: str | None = None, timeout=60, **kw) -> subprocess.CompletedProcess:
        return self.jail.run(self.argv(args, runtime), timeout=timeout, env=self.env, **kw)

    def in_terminal(self, *args, runtime: str | None = None, rows_cols=(30, 100), **kw):
        return self.jail.run_in_terminal(self.argv(args, runtime), rows_cols=rows_cols, env=self.env, **kw)

    def popen(self, *args, runtime: str | None = None, **kw) -> subprocess.Popen:
        return self.jail.popen(self.argv(args, runtime), env=self.env, **kw)

    def import_busybox(self, extra_files: dict[str, str] | None = None) -> str:
        """`podman import` a tar of the busybox rootfs (plus EXTRA_FILES: path in image -> host file)."""
        stage = stage_busybox_rootfs(os.path.join(self.dir, "image-rootfs"), extra_files)
        tar = os.path.join(self.dir, "busybox.tar")
        subprocess.run(["tar", "-C", stage, "-cf", tar, "."], check=True)
        shutil.rmtree(stage)
        r = self("import", tar, IMAGE)
        os.unlink(tar)
        if r.returncode != 0:
            raise RuntimeError(f"podman import failed: {r.stderr}")
        return IMAGE

    def clear(self) -> list[str]:
        """Remove every container (any left running is killed); say what there was."""
        left = self("ps", "-aq").stdout.split()
        if left:
            self("rm", "-f", "-t", "0", *left)
            return [f"podman containers left: {left}"]
        return []

    def close(self) -> list[str]:
        """clear(), then the jail and the dir (podman's shm mounts live in the jail's mount
        namespace and go with it)."""
        problems = self.clear()
        problems += self.jail.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
        return problems
