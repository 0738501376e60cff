#!/usr/bin/env python3
"""Builds the test images offline, from busybox-static, as OCI image layouts.

    build-images.py OUTDIR                     write the layouts under OUTDIR/<name>
    build-images.py OUTDIR --push HOST:PORT    ...and push each with skopeo (the independent client)
                    [--creds USER:PASS]

Images (every one tagged `latest` in its layout):
  busybox     one gzip layer: the busybox rootfs (rootfs-tools/busybox-rootfs.sh)
  multilayer  three gzip layers with deletions (.wh.NAME) and an opaque dir (.wh..wh..opq);
              MULTILAYER_VIEW below is the merged tree a correct unpack + overlay shows
  multiarch   an OCI index: linux/amd64 (the busybox layer), linux/arm64/v8, linux/arm/v7
              (small marker layers saying which one was picked: /etc/arch)
  zstd        the busybox rootfs as one tar+zstd layer
  plain       the multilayer's first layer uncompressed (tar)

Layers are built with tarfile from fixed entries (mtime, owners fixed), so the digests are
the same on every run. Pushing uses `skopeo copy` (--format v2s2 for the busybox-docker copy,
so a Docker schema 2 manifest is exercised too).
"""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
MTIME = 1700000000
CREATED = "2023-11-14T22:13:20Z"

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER_TYPES = {"gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
               "zstd": "application/vnd.oci.image.layer.v1.tar+zstd",
               None: "application/vnd.oci.image.layer.v1.tar"}

# The multilayer image's merged view: path -> file content (str), "->target" for symlinks,
# None for a directory. Paths absent here but present in lower layers must be gone.
MULTILAYER_VIEW = {
    "data": None,
    "data/b": "b version 2\n",
    "data/c": "c from layer 2\n",
    "data/keep": "keep\n",
    "data/link": "->b",
    "opq": None,
    "opq/new": "new in layer 2\n",
    "etc/motd": "layer 3 says hi\n",
}
MULTILAYER_GONE = ["data/a", "opq/old1", "opq/sub", "data/gone-dir"]


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Layout:
    """An OCI image layout being written: blobs/sha256/*, index.json, oci-layout."""

    def __init__(self, path: str):
        self.path = path
        os.makedirs(os.path.join(path, "blobs", "sha256"), exist_ok=True)
        with open(os.path.join(path, "oci-layout"), "w") as f:
            json.dump({"imageLayoutVersion": "1.0.0"}, f)

    def blob(self, data: bytes, media_type: str, **extra) -> dict:
        d = _sha(data)
        with open(os.path.join(self.path, "blobs", "sha256", d[7:]), "wb") as f:
            f.write(data)
        return {"mediaType": media_type, "digest": d, "size": len(data), **extra}

    def blob_file(self, path: str, media_type: str) -> dict:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
        d = "sha256:" + h.hexdigest()
        shutil.move(path, os.path.join(self.path, "blobs", "sha256", d[7:]))
        return {"mediaType": media_type, "digest": d, "size": os.path.getsize(os.path.join(self.path, "blobs", "sha256", d[7:]))}

    def write_index(self, top: dict, tag: str = "latest") -> None:
        entry = dict(top, annotations={"org.opencontainers.image.ref.name": tag})
        with open(os.path.join(self.path, "index.json"), "w") as f:
            json.dump({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [entry]}, f)


def tar_from_dir(src: str) -> bytes:
    """An uncompressed, deterministic tar of SRC's contents (owners root, fixed mtimes)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        def reset(ti: tarfile.TarInfo) -> tarfile.TarInfo:
            ti.uid = ti.gid = 0
            ti.uname = ti.gname = "root"
            ti.mtime = MTIME
            return ti
        for root, dirs, files in os.walk(src):
            dirs.sort()
            for name in sorted(dirs) + sorted(files):
                full = os.path.join(root, name)
                tf.add(full, arcname=os.path.relpath(full, src), recursive=False, filter=reset)
    return buf.getvalue()


def tar_from_entries(entries: list[tuple]) -> bytes:
    """Entries: ("dir", path) | ("file", path, text) | ("symlink", path, target) | ("hardlink", path, target)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for kind, path, *rest in entries:
            ti = tarfile.TarInfo(path)
            ti.mtime = MTIME
            ti.uname = ti.gname = "root"
            if kind == "dir":
                ti.type, ti.mode = tarfile.DIRTYPE, 0o755
                tf.addfile(ti)
            elif kind == "file":
                data = rest[0].encode()
                ti.size, ti.mode = len(data), 0o644
                tf.addfile(ti, io.BytesIO(data))
            elif kind == "symlink":
                ti.type, ti.linkname, ti.mode = tarfile.SYMTYPE, rest[0], 0o777
                tf.addfile(ti)
            elif kind == "hardlink":
                ti.type, ti.linkname, ti.mode = tarfile.LNKTYPE, rest[0], 0o644
                tf.addfile(ti)
    return buf.getvalue()


def compress(tar: bytes, comp: str | None) -> bytes:
    if comp == "gzip":
        return gzip.compress(tar, compresslevel=6, mtime=0)
    if comp == "zstd":
        return subprocess.run(["zstd", "-q", "-c", "-3"], input=tar, capture_output=True, check=True).stdout
    return tar


def image_manifest(layout: Layout, layers: list[tuple[bytes, str | None]], *, arch: str = "amd64",
                   variant: str | None = None, config_extra: dict | None = None) -> dict:
    """Write the layer blobs, config and manifest; return the manifest's descriptor."""
    descs, diff_ids = [], []
    for tar, comp in layers:
        diff_ids.append(_sha(tar))
        descs.append(layout.blob(compress(tar, comp), LAYER_TYPES[comp]))
    config = {"created": CREATED, "architecture": arch, "os": "linux",
              "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                         "Cmd": ["/bin/sh"], **(config_extra or {})},
              "rootfs": {"type": "layers", "diff_ids": diff_ids},
              "history": [{"created": CREATED, "created_by": "pyrt build-images.py"} for _ in layers]}
    if variant:
        config["variant"] = variant
    cdesc = layout.blob(json.dumps(config, sort_keys=True).encode(), OCI_CONFIG)
    manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": cdesc, "layers": descs}
    platform = {"architecture": arch, "os": "linux", **({"variant": variant} if variant else {})}
    return layout.blob(json.dumps(manifest, sort_keys=True).encode(), OCI_MANIFEST, platform=platform)


def busybox_tar(cache: str) -> bytes:
    path = os.path.join(cache, "busybox.tar")
    if not os.path.exists(path):
        with tempfile.TemporaryDirectory() as d:
            root = os.path.join(d, "rootfs")
            subprocess.run([os.path.join(HERE, "busybox-rootfs.sh"), root], check=True)
            data = tar_from_dir(root)
        with open(path + ".tmp", "wb") as f:
            f.write(data)
        os.rename(path + ".tmp", path)
    with open(path, "rb") as f:
        return f.read()


def multilayer_tars() -> list[bytes]:
    l1 = tar_from_entries([
        ("dir", "data"), ("file", "data/a", "a\n"), ("file", "data/b", "b version 1\n"),
        ("file", "data/keep", "keep\n"), ("symlink", "data/link", "b"),
        ("dir", "data/gone-dir"), ("file", "data/gone-dir/x", "x\n"),
        ("dir", "opq"), ("file", "opq/old1", "old1\n"), ("dir", "opq/sub"), ("file", "opq/sub/old2", "old2\n"),
        ("dir", "etc"), ("file", "etc/motd", "layer 1\n"),
    ])
    l2 = tar_from_entries([
        ("dir", "data"), ("file", "data/.wh.a", ""), ("file", "data/.wh.gone-dir", ""),
        ("file", "data/c", "c from layer 2\n"),
        ("dir", "opq"), ("file", "opq/.wh..wh..opq", ""), ("file", "opq/new", "new in layer 2\n"),
    ])
    l3 = tar_from_entries([
        ("dir", "data"), ("file", "data/b", "b version 2\n"),
        ("dir", "etc"), ("file", "etc/motd", "layer 3 says hi\n"),
    ])
    return [l1, l2, l3]


def build_all(outdir: str) -> dict[str, str]:
    """Write every layout; returns {name: layout dir}. Skips layouts already built."""
    os.makedirs(outdir, exist_ok=True)
    bb = None
    out = {}
    for name in ("busybox", "multilayer", "multiarch", "zstd", "plain"):
        path = os.path.join(outdir, name)
        out[name] = path
        if os.path.exists(os.path.join(path, "index.json")):
            continue
        shutil.rmtree(path, ignore_errors=True)
        layout = Layout(path)
        if name in ("busybox", "multiarch", "zstd") and bb is None:
            bb = busybox_tar(outdir)
        if name == "busybox":
            top = image_manifest(layout, [(bb, "gzip")], config_extra={
                "WorkingDir": "/", "Labels": {"org.pyrt.test": "busybox"}, "ExposedPorts": {"8080/tcp": {}},
                "StopSignal": "SIGTERM"})
        elif name == "zstd":
            top = image_manifest(layout, [(bb, "zstd")], config_extra={"Labels": {"org.pyrt.test": "zstd"}})
        elif name == "plain":
            top = image_manifest(layout, [(multilayer_tars()[0], None)])
        elif name == "multilayer":
            top = image_manifest(layout, [(t, "gzip") for t in multilayer_tars()])
        else:
            entries = [image_manifest(layout, [(bb, "gzip")], arch="amd64")]
            for arch, variant in (("arm64", "v8"), ("arm", "v7")):
                marker = tar_from_entries([("dir", "etc"), ("file", "etc/arch", f"{arch}/{variant}\n")])
                entries.append(image_manifest(layout, [(marker, "gzip")], arch=arch, variant=variant))
            index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}
            top = layout.blob(json.dumps(index, sort_keys=True).encode(), OCI_INDEX)
        layout.write_index(top)
    return out


def skopeo(*args: str) -> list[str]:
    """argv running skopeo ARGS without leaving state on the host.

    As root, skopeo keeps a blob-info cache in /var/lib/containers/cache and has no flag to move
    it; run it in a private mount namespace with a tmpfs over /var/lib, so that cache lands in
    memory and disappears with the namespace.
    """
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c",
            'mount -t tmpfs -o size=64m pyrt-skopeo /var/lib && exec skopeo "$@"', "skopeo", *args]


def push(layout: str, dest: str, *, creds: str | None = None, all_images: bool = False,
         docker_format: bool = False) -> None:
    """skopeo copy oci:LAYOUT:latest docker://DEST (plain http registries)."""
    argv = skopeo("copy", "-q", "--dest-tls-verify=false")
    if creds:
        argv.append(f"--dest-creds={creds}")
    if all_images:
        argv.append("--all")
    if docker_format:
        argv += ["--format", "v2s2"]
    subprocess.run(argv + [f"oci:{layout}:latest", f"docker://{dest}"], check=True,
                   capture_output=True, timeout=120)


def push_all(layouts: dict[str, str], host: str, creds: str | None = None) -> dict[str, str]:
    """Push every image to HOST; returns {name: reference}. busybox also goes as busybox-docker (schema 2)."""
    refs = {}
    for name, path in layouts.items():
        ref = f"{host}/pyrt/{name}:latest"
        push(path, ref, creds=creds, all_images=(name == "multiarch"))
        refs[name] = ref
    ref = f"{host}/pyrt/busybox-docker:latest"
    push(layouts["busybox"], ref, creds=creds, docker_format=True)
    refs["busybox-docker"] = ref
    return refs


def main(argv: list[str]) -> int:
    import argparse
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("outdir")
    p.add_argument("--push", metavar="HOST:PORT")
    p.add_argument("--creds", metavar="USER:PASS")
    a = p.parse_args(argv)
    layouts = build_all(a.outdir)
    for name, path in layouts.items():
        print(f"{name}\t{path}")
    if a.push:
        for name, ref in push_all(layouts, a.push, a.creds).items():
            print(f"pushed {name}\t{ref}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
