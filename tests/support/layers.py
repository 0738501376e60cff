"""Build image layers (tar blobs) and OCI layouts in tests, entry by entry, with tarfile.

Each entry is a small spec: ("file", name, data), ("dir", name), ("symlink", name, target),
("hardlink", name, target), ("chr", name, major, minor), ("blk", ...), ("fifo", name);
keyword options per entry: mode, uid, gid, mtime, xattrs={name: bytes}.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import subprocess
import tarfile

DEFAULT_MTIME = 1_600_000_000

_TYPES = {"file": tarfile.REGTYPE, "dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE,
          "hardlink": tarfile.LNKTYPE, "chr": tarfile.CHRTYPE, "blk": tarfile.BLKTYPE,
          "fifo": tarfile.FIFOTYPE}


def entry(kind: str, name: str, *args, mode=None, uid=0, gid=0, mtime=DEFAULT_MTIME, xattrs=None):
    return (kind, name, args, dict(mode=mode, uid=uid, gid=gid, mtime=mtime, xattrs=xattrs or {}))


def tar_bytes(entries) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for e in entries:
            if len(e) == 3 or not isinstance(e[-1], dict):
                e = entry(e[0], e[1], *e[2:])
            kind, name, args, opts = e
            ti = tarfile.TarInfo(name)
            ti.type = _TYPES[kind]
            ti.uid, ti.gid, ti.mtime = opts["uid"], opts["gid"], opts["mtime"]
            ti.mode = opts["mode"] if opts["mode"] is not None else (0o755 if kind == "dir" else 0o644)
            data = None
            if kind == "file":
                data = args[0] if args else b""
                ti.size = len(data)
            elif kind in ("symlink", "hardlink"):
                ti.linkname = args[0]
            elif kind in ("chr", "blk"):
                ti.devmajor, ti.devminor = args
            if opts["xattrs"]:
                ti.pax_headers = {f"SCHILY.xattr.{k}": v.decode("utf-8", "surrogateescape")
                                  for k, v in opts["xattrs"].items()}
            tf.addfile(ti, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def write_layer(path, entries, compression: str | None = "gzip") -> str:
    """Write the layer to PATH; returns its OCI media type."""
    raw = tar_bytes(entries)
    if compression == "gzip":
        raw = gzip.compress(raw, mtime=0)
    elif compression == "zstd":
        raw = subprocess.run(["zstd", "-q", "-c"], input=raw, capture_output=True, check=True).stdout
    with open(path, "wb") as f:
        f.write(raw)
    suffix = {"gzip": "+gzip", "zstd": "+zstd", None: ""}[compression]
    return "application/vnd.oci.image.layer.v1.tar" + suffix


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def write_oci_layout(path, layers: list[list], tag: str = "latest", compression="gzip",
                     config_extra: dict | None = None) -> dict:
    """An OCI image layout at PATH with one image of LAYERS (lists of entries).

    Returns {"manifest": digest, "config": digest, "diff_ids": [...], "layers": [...]}.
    """
    path = str(path)
    blobs = os.path.join(path, "blobs", "sha256")
    os.makedirs(blobs, exist_ok=True)

    def put(data: bytes) -> str:
        d = sha256(data)
        with open(os.path.join(blobs, d[7:]), "wb") as f:
            f.write(data)
        return d

    descs, diff_ids = [], []
    for entries in layers:
        raw = tar_bytes(entries)
        diff_ids.append(sha256(raw))
        blob = gzip.compress(raw, mtime=0) if compression == "gzip" else raw
        mt = "application/vnd.oci.image.layer.v1.tar" + ("+gzip" if compression == "gzip" else "")
        descs.append({"mediaType": mt, "digest": put(blob), "size": len(blob)})
    config = {"architecture": "amd64", "os": "linux",
              "config": {"Cmd": ["/bin/sh"], "Env": ["PATH=/usr/bin:/bin"]},
              "rootfs": {"type": "layers", "diff_ids": diff_ids}}
    config.update(config_extra or {})
    cdata = json.dumps(config).encode()
    cdesc = {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": put(cdata), "size": len(cdata)}
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": cdesc, "layers": descs}
    mdata = json.dumps(manifest).encode()
    mdigest = put(mdata)
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
             "manifests": [{"mediaType": manifest["mediaType"], "digest": mdigest, "size": len(mdata),
                            "annotations": {"org.opencontainers.image.ref.name": tag}}]}
    with open(os.path.join(path, "index.json"), "w") as f:
        json.dump(index, f)
    with open(os.path.join(path, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    return {"manifest": mdigest, "config": cdesc["digest"], "diff_ids": diff_ids, "layers": descs}
