#!/usr/bin/python3
"""Prepare the throwaway cgroup-v2 qemu guest used by tests/guest: a Debian kernel and an initramfs.

Everything lands in a cache directory (default /var/cache/pyrt-guest, or $PYRT_GUEST_CACHE);
nothing is installed on the host. Steps, each skipped when its output already exists:

1. kernel: `apt-get download linux-image-<version>-amd64` (the generic flavour: the cloud one has no
   9p), unpacked with `dpkg-deb -x` into CACHE/<version>/.
2. vmlinux: the uncompressed ELF image cut out of vmlinuz. qemu boots it directly through the PVH
   entry point, which saves the in-guest decompression (about a second under software emulation).
3. initramfs: busybox-static, the modules the guest needs and init.sh, written as a newc cpio named
   by the hash of its content, so any change to one of them builds a new one.

The result is CACHE/guest.json ({"kernel", "initrd", "kver"}), which tests/guest/run.py reads.
Runs with the system python3 and only the standard library (it runs before the venv exists).
"""
from __future__ import annotations

import fcntl
import glob
import hashlib
import json
import lzma
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CACHE = os.environ.get("PYRT_GUEST_CACHE", "/var/cache/pyrt-guest")
MANIFEST = os.path.join(CACHE, "guest.json")
BUSYBOX = "/bin/busybox"

# insmod order matters: each module after the ones it depends on (no modprobe/depmod in the guest).
# The first block is needed to reach the host's root over virtio-9p and to lay the overlay on it;
# the second backs tests: loop (io.max on a block device), zsmalloc+zram (swap), bfq (io.bfq.weight).
MODULES = [
    "drivers/virtio/virtio_ring", "drivers/virtio/virtio", "drivers/virtio/virtio_pci_modern_dev",
    "drivers/virtio/virtio_pci_legacy_dev", "drivers/virtio/virtio_pci",
    "net/9p/9pnet", "net/9p/9pnet_virtio", "fs/netfs/netfs", "fs/fscache/fscache", "fs/9p/9p",
    "fs/overlayfs/overlay",
    "drivers/block/loop", "mm/zsmalloc", "drivers/block/zram/zram", "block/bfq",
]


def log(msg: str) -> None:
    print(f"guest-prepare: {msg}", file=sys.stderr)


def kernel_version() -> str:
    """The ABI name the metapackage currently depends on, e.g. '6.1.0-56'."""
    if os.environ.get("PYRT_GUEST_KVER"):
        return os.environ["PYRT_GUEST_KVER"]
    for attempt in range(2):
        out = subprocess.run(["apt-cache", "depends", "linux-image-amd64"], capture_output=True,
                             text=True).stdout
        m = re.search(r"Depends: linux-image-(\d+\.\d+\.\d+-\d+)-amd64\b", out)
        if m:
            return m.group(1)
        if attempt == 0:
            # A machine whose package lists were cleaned (CI images often are) needs them first.
            log("apt-cache knows no linux-image-amd64: running apt-get update")
            subprocess.run(["apt-get", "update", "-q"], check=True, stdout=subprocess.DEVNULL)
    raise SystemExit("guest-prepare: apt knows no linux-image-amd64 (is a Debian archive configured?)")


def fetch_kernel(kver: str) -> str:
    """CACHE/<kver>/ holding boot/ and lib/modules/ of the unpacked package."""
    dest = os.path.join(CACHE, kver)
    if os.path.isfile(os.path.join(dest, ".unpacked")):
        return dest
    pkg = f"linux-image-{kver}-amd64"
    log(f"downloading {pkg}")
    with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
        # apt's sandbox user could not write into this root-only temp dir: download as root.
        subprocess.run(["apt-get", "download", "-q", "-o", "APT::Sandbox::User=root", pkg], cwd=tmp, check=True,
                       stdout=subprocess.DEVNULL)
        (deb,) = glob.glob(os.path.join(tmp, "*.deb"))
        shutil.rmtree(dest, ignore_errors=True)
        subprocess.run(["dpkg-deb", "-x", deb, dest], check=True)
    open(os.path.join(dest, ".unpacked"), "w").close()
    return dest


def extract_vmlinux(vmlinuz: str, out: str) -> None:
    """Find the xz stream inside the bzImage and keep the first one that unpacks to an ELF file."""
    data = open(vmlinuz, "rb").read()
    magic = b"\xfd7zXZ\x00"
    pos = data.find(magic)
    while pos != -1:
        try:
            elf = lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(data[pos:])
        except lzma.LZMAError:
            elf = b""
        if elf.startswith(b"\x7fELF"):
            with open(out + ".tmp", "wb") as f:
                f.write(elf)
            os.replace(out + ".tmp", out)
            return
        pos = data.find(magic, pos + 1)
    raise SystemExit(f"guest-prepare: no xz-compressed ELF image found in {vmlinuz}")


class Cpio:
    """A minimal newc ("070701") archive writer: enough for an initramfs of files, dirs and links."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.ino = 1

    def _entry(self, name: str, mode: int, body: bytes = b"") -> None:
        nb = name.encode() + b"\0"
        hdr = "070701" + "".join(f"{v:08x}" for v in (
            self.ino, mode, 0, 0, 1, 0, len(body), 0, 0, 0, 0, len(nb), 0))
        self.ino += 1
        self.buf += hdr.encode() + nb
        self.buf += b"\0" * (-len(self.buf) % 4)
        self.buf += body
        self.buf += b"\0" * (-len(self.buf) % 4)

    def dir(self, name: str) -> None:
        self._entry(name, 0o040755)

    def file(self, name: str, body: bytes, mode: int = 0o644) -> None:
        self._entry(name, 0o100000 | mode, body)

    def symlink(self, name: str, target: str) -> None:
        self._entry(name, 0o120777, target.encode())

    def finish(self) -> bytes:
        self._entry("TRAILER!!!", 0)
        return bytes(self.buf)


def build_initramfs(kdir: str, kver: str) -> str:
    modroot = os.path.join(kdir, "lib", "modules", f"{kver}-amd64", "kernel")
    parts = [("init", open(os.path.join(HERE, "init.sh"), "rb").read(), 0o755),
             ("bin/busybox", open(BUSYBOX, "rb").read(), 0o755)]
    for m in MODULES:
        parts.append((f"lib/modules/{os.path.basename(m)}.ko", open(f"{modroot}/{m}.ko", "rb").read(), 0o644))
    order = "\n".join(os.path.basename(m) for m in MODULES) + "\n"
    parts.append(("lib/modules/order", order.encode(), 0o644))

    h = hashlib.sha256()
    for name, body, mode in parts:
        h.update(f"{name}\0{mode}\0{len(body)}\0".encode())
        h.update(body)
    out = os.path.join(CACHE, f"initramfs-{h.hexdigest()[:16]}.cpio")
    if os.path.isfile(out):
        return out
    log(f"building {out}")
    a = Cpio()
    for d in ("bin", "dev", "proc", "sys", "lib", "lib/modules", "lower", "upper", "newroot", "work"):
        a.dir(d)
    for name, body, mode in parts:
        a.file(name, body, mode)
    a.symlink("bin/sh", "busybox")
    with open(out + ".tmp", "wb") as f:
        f.write(a.finish())
    os.replace(out + ".tmp", out)
    # Another checkout (another init.sh) may be booting one of the others right now: only
    # those unused for a day go.
    for old in glob.glob(os.path.join(CACHE, "initramfs-*.cpio")):
        if old != out and time.time() - os.stat(old).st_atime > 86400:
            os.unlink(old)
    return out


def main() -> int:
    if os.geteuid() != 0:
        raise SystemExit("guest-prepare: must run as root (apt-get download into the cache)")
    os.makedirs(CACHE, exist_ok=True)
    # Two test sessions may prepare at once (make test next to make guest-test): one at a time.
    lock = os.open(os.path.join(CACHE, ".lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    fcntl.flock(lock, fcntl.LOCK_EX)
    # A manifest whose files exist is trusted: no apt-cache round trip on every `make test`,
    # unless asked to look for a newer kernel.
    if "--refresh" not in sys.argv and os.path.isfile(MANIFEST):
        man = json.load(open(MANIFEST))
        if all(os.path.isfile(man.get(k, "")) for k in ("kernel", "initrd")):
            kdir = os.path.join(CACHE, man["kver"])
            initrd = build_initramfs(kdir, man["kver"])
            if initrd == man["initrd"]:
                print(MANIFEST)
                return 0
    kver = kernel_version()
    kdir = fetch_kernel(kver)
    vmlinux = os.path.join(kdir, "vmlinux")
    if not os.path.isfile(vmlinux):
        extract_vmlinux(os.path.join(kdir, "boot", f"vmlinuz-{kver}-amd64"), vmlinux)
    initrd = build_initramfs(kdir, kver)
    with open(MANIFEST + ".tmp", "w") as f:
        json.dump({"kernel": vmlinux, "initrd": initrd, "kver": kver}, f, indent=1)
    os.replace(MANIFEST + ".tmp", MANIFEST)
    print(MANIFEST)
    return 0


if __name__ == "__main__":
    sys.exit(main())
