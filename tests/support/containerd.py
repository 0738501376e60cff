"""A private containerd (and ctr) for driving pyrt-runc (and runc) through containerd-shim-runc-v2.

The daemon gets its own config: root, state, gRPC and ttrpc sockets and the opt dir in one temp
dir, no CRI plugin. It runs in a CgroupJail (tests/support/cgjail.py): ctr's default cgroupsPath
/<namespace>/<id> and the shims land beneath our own cgroup, the shims' sockets
(/run/containerd/s/...) in the jail's private /run, the snapshots' overlay mounts in its mount
namespace. The image is the test busybox rootfs, written offline as an OCI archive.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
import time

from tests.support.callers import stage_busybox_rootfs
from tests.support.cgjail import CgroupJail

CONTAINERD = shutil.which("containerd") or "/usr/bin/containerd"
CTR = shutil.which("ctr") or "/usr/bin/ctr"
IMAGE = "localhost/pyrt-busybox:test"
NAMESPACE = "pyrt-test"

# Plugins that only probe or fail on this host; the CRI plugin is added by callers not using it.
DISABLED_PLUGINS = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
                    "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]

_CONFIG = """\
version = 2
root = "{d}/root"
state = "{d}/state"
disabled_plugins = {disabled}

[grpc]
  address = "{d}/containerd.sock"

[ttrpc]
  address = "{d}/containerd-ttrpc.sock"

[debug]
  address = ""

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "{d}/opt"
{extra}"""


def _add(tf: tarfile.TarFile, name: str, data: bytes) -> None:
    ti = tarfile.TarInfo(name)
    ti.size, ti.mode, ti.mtime = len(data), 0o644, 1_600_000_000
    tf.addfile(ti, io.BytesIO(data))


def write_oci_archive(path: str, rootfs: str, name: str, entrypoint: list[str] | None = None,
                      cmd: tuple[str, ...] = ("sh",)) -> None:
    """An OCI image archive (one uncompressed layer: ROOTFS) named NAME for `ctr image import`."""
    layer = subprocess.run(["tar", "-C", rootfs, "--numeric-owner", "-c", "."], check=True,
                           capture_output=True).stdout
    layer_digest = "sha256:" + hashlib.sha256(layer).hexdigest()
    config = json.dumps({
        "architecture": "amd64", "os": "linux",
        "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                   "Entrypoint": entrypoint, "Cmd": list(cmd)},
        "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
    }).encode()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": "sha256:" + hashlib.sha256(config).hexdigest(), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": layer_digest, "size": len(layer)}],
    }).encode()
    index = json.dumps({
        "schemaVersion": 2,
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "digest": "sha256:" + hashlib.sha256(manifest).hexdigest(), "size": len(manifest),
                       "annotations": {"io.containerd.image.name": name,
                                       "org.opencontainers.image.ref.name": name.rsplit(":", 1)[1]}}],
    }).encode()
    with tarfile.open(path, "w") as tf:
        _add(tf, "oci-layout", b'{"imageLayoutVersion": "1.0.0"}')
        _add(tf, "index.json", index)
        for blob in (layer, config, manifest):
            _add(tf, "blobs/sha256/" + hashlib.sha256(blob).hexdigest(), blob)


class Containerd:
    namespace = NAMESPACE

    def __init__(self, jail_name: str, cri_config: str | None = None, net: bool = False):
        """CRI_CONFIG: the CRI plugin's section (a template of {d}, the temp dir), or None for a
        containerd without CRI. NET: the jail gets its own network namespace."""
        self.dir = tempfile.mkdtemp(prefix="pyrt-containerd-")
        self.address = os.path.join(self.dir, "containerd.sock")
        self.config = os.path.join(self.dir, "config.toml")
        disabled = DISABLED_PLUGINS + ([] if cri_config else ["io.containerd.grpc.v1.cri"])
        with open(self.config, "w") as f:
            f.write(_CONFIG.format(d=self.dir, disabled=json.dumps(disabled),
                                   extra=(cri_config or "").format(d=self.dir)))
        self.log = open(os.path.join(self.dir, "containerd.log"), "w")
        self.image = IMAGE
        self.jail = CgroupJail(os.path.basename(self.dir), net=net).start()
        self.daemon = self.jail.popen([CONTAINERD, "--config", self.config],
                                      stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while not self("version").returncode == 0:
            if self.daemon.poll() is not None or time.monotonic() > deadline:
                problems = self.close()
                raise RuntimeError(f"containerd did not start: {self.daemon_log()[-2000:]} {problems}")
            time.sleep(0.1)

    def daemon_log(self) -> str:
        with open(self.log.name) as f:
            return f.read()

    def ctr_argv(self, args) -> list[str]:
        return [CTR, "--address", self.address, "--namespace", self.namespace, *args]

    def __call__(self, *args, timeout=60, **kw) -> subprocess.CompletedProcess:
        return self.jail.run(self.ctr_argv(args), timeout=timeout, **kw)

    def tty_run(self, *args, timeout=60) -> subprocess.CompletedProcess:
        return self.jail.run_in_terminal(self.ctr_argv(args), timeout=timeout)

    def popen(self, *args, **kw) -> subprocess.Popen:
        return self.jail.popen(self.ctr_argv(args), **kw)

    def import_busybox(self, extra_files: dict[str, str] | None = None) -> str:
        stage = stage_busybox_rootfs(os.path.join(self.dir, "image-rootfs"), extra_files)
        return self.import_rootfs(stage, IMAGE)

    def import_rootfs(self, stage: str, name: str, **config) -> str:
        """Import the directory STAGE (then removed) as image NAME; CONFIG: entrypoint, cmd."""
        archive = os.path.join(self.dir, "image.oci.tar")
        write_oci_archive(archive, stage, name, **config)
        shutil.rmtree(stage)
        r = self("image", "import", archive)
        os.unlink(archive)
        if r.returncode != 0:
            raise RuntimeError(f"ctr image import failed: {r.stderr}")
        return name

    def clear(self) -> list[str]:
        """Kill and delete whatever tasks and containers are left; say what there was."""
        problems = []
        tasks = [line.split()[0] for line in self("task", "ls", "-q").stdout.splitlines() if line]
        if tasks:
            problems.append(f"containerd tasks left: {tasks}")
            for t in tasks:
                self("task", "kill", "--signal", "KILL", t)
                self("task", "delete", "--force", t)
        ctrs = self("container", "ls", "-q").stdout.split()
        if ctrs:
            problems.append(f"containerd containers left: {ctrs}")
            self("container", "delete", *ctrs)
        return problems

    def stop_services(self) -> list[str]:
        """Stop what a subclass started in the jail beside containerd (before the jail goes)."""
        return []

    def close(self) -> list[str]:
        """clear(), stop the daemon (SIGTERM, it is ours), then the jail (and any shim left in
        it) and the dir."""
        problems = []
        if self.daemon.poll() is None:
            problems += self.clear()
            self.daemon.terminate()
            try:
                self.daemon.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.daemon.kill()
                self.daemon.wait()
        problems += self.stop_services()
        self.log.close()
        problems += self.jail.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
        return problems
