"""Moving images without a registry: save, load and import.

- save: images from the store -> an OCI image layout tarball (oci-archive) or a
  docker-archive tarball (manifest.json + repositories + <diff_id>/layer.tar, layers
  uncompressed as `docker load` expects).
- load: either kind of tarball (also gzip/zstd-compressed, or an OCI layout directory)
  -> blobs into the content store (each digest verified on commit), layers unpacked
  once, then image records. An image is recorded only after all its parts are in.
- import: a rootfs tarball -> a single-layer image with a fresh config.

Archive member names are looked up, never extracted: nothing in an archive decides
where we write. Layers go through unpack_layer like pulled ones.
"""
from __future__ import annotations

import contextlib
import datetime
import hashlib
import io
import json
import os
import re
import shutil
import sys
import tarfile
import tempfile
import time

from pyrt.errors import ImageError, UsageError
from pyrt.image import manifest as mf
from pyrt.image import reference
from pyrt.image.content import check_digest, disk_full_while
from pyrt.image.store import ImageRecord, ImageStore, LayerRecord
from pyrt.image.decompress import capped_chunks, open_decompressed
from pyrt.image.mediatypes import (DOCKER_LAYER_TAR, OCI_LAYER_TAR, compression_from_magic, compression_of,
                                   sniff_compression)
from pyrt.image.unpack import TAR_PARSE_ERRORS

CHUNK = 1 << 20
# docker save's names; Docker has no zstd layer type, so that one is OCI's
DOCKER_LAYER = {None: DOCKER_LAYER_TAR, "gzip": DOCKER_LAYER_TAR + ".gzip", "zstd": OCI_LAYER_TAR + "+zstd"}
REF_NAME = "org.opencontainers.image.ref.name"
CONTAINERD_NAME = "io.containerd.image.name"
_BLOB_RE = re.compile(r"^(?:\./)?blobs/sha256/([a-f0-9]{64})$")
MAX_JSON = 16 << 20


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _tmpdir(store: ImageStore) -> str:
    """Where temp files go; only while holding store.adding(), so gc can clear what a killed
    process left."""
    os.makedirs(store.tmp_dir, exist_ok=True)
    return store.tmp_dir


def familiar(tag: str) -> str:
    """docker.io/library/busybox:latest -> busybox:latest (docker-archive's RepoTags style)."""
    for prefix in ("docker.io/library/", "docker.io/"):
        if tag.startswith(prefix):
            return tag[len(prefix):]
    return tag


# -- reading archives ----------------------------------------------------------------------

class _Source:
    """Named members of an archive (a tarball, possibly compressed) or of a layout directory."""

    def __init__(self, path: str, tmpdir: str):
        self._stack = contextlib.ExitStack()
        self.dir = None
        self.tar = None
        if os.path.isdir(path):
            self.dir = path
            return
        try:
            comp = sniff_compression(path)
        except OSError as e:
            raise ImageError(f"cannot read {path}: {e.strerror}") from None
        if comp is not None:
            # tarfile needs to seek between members: inflate once into a private temp file
            fd, plain = tempfile.mkstemp(dir=tmpdir, suffix=".tar")
            self._stack.callback(os.unlink, plain)
            try:
                with disk_full_while(f"loading {path}"), os.fdopen(fd, "wb") as out, \
                        open_decompressed(path, comp) as src:
                    for chunk in capped_chunks(src, path, path):
                        out.write(chunk)
            except BaseException:
                self.close()        # no caller holds us yet to do it
                raise
            path = plain
        try:
            self.tar = self._stack.enter_context(tarfile.open(path, "r:"))
            self.members = {}
            for m in self.tar.getmembers():
                self.members[os.path.normpath(m.name).lstrip("/")] = m
        except TAR_PARSE_ERRORS as e:
            self.close()
            raise ImageError(f"{path} is not a tar archive ({e})") from None

    def close(self) -> None:
        self._stack.close()

    def exists(self, name: str) -> bool:
        if self.dir is not None:
            return os.path.isfile(self._dirpath(name))
        m = self.members.get(os.path.normpath(name))
        return m is not None and m.isfile()

    def _dirpath(self, name: str) -> str:
        norm = os.path.normpath(name)
        if norm.startswith("..") or os.path.isabs(norm):
            raise ImageError(f"archive names a file outside it: {name!r}")
        return os.path.join(self.dir, norm)

    def open(self, name: str):
        if self.dir is not None:
            try:
                return open(self._dirpath(name), "rb")
            except FileNotFoundError:
                raise ImageError(f"archive is missing {name}") from None
        m = self.members.get(os.path.normpath(name))
        if m is None or not m.isfile():
            raise ImageError(f"archive is missing {name}")
        return self.tar.extractfile(m)

    def size(self, name: str) -> int:
        if self.dir is not None:
            return os.path.getsize(self._dirpath(name))
        return self.members[os.path.normpath(name)].size

    def read_json(self, name: str):
        with self.open(name) as f:
            data = f.read(MAX_JSON + 1)
        if len(data) > MAX_JSON:
            raise ImageError(f"{name} in the archive is too large")
        try:
            return json.loads(data), data
        except (ValueError, UnicodeDecodeError) as e:
            raise ImageError(f"malformed {name} in the archive: {e}") from None


def _blob_name(digest: str) -> str:
    return f"blobs/sha256/{check_digest(digest)}"


def _ingest(store: ImageStore, src: _Source, name: str, digest: str | None) -> tuple[str, int]:
    """Copy member NAME into the content store, verified against DIGEST (computed if None)."""
    size = src.size(name)
    if digest is None:
        h = hashlib.sha256()
        with src.open(name) as f:
            while chunk := f.read(CHUNK):
                h.update(chunk)
        digest = "sha256:" + h.hexdigest()
    _put_stream(store, digest, size, lambda: src.open(name))
    return digest, size


def _put_stream(store: ImageStore, digest: str, size: int, opener) -> None:
    """Commit the bytes OPENER() yields as blob DIGEST (verified by the content store)."""
    if store.content.has(digest):
        return
    with store.content.writer(digest, size) as w:
        w.reset()  # a pull's partial ingest of this blob: we have all of it here
        with opener() as f:
            while chunk := f.read(CHUNK):
                w.write(chunk)
        w.commit()


def _store_image(store: ImageStore, man_bytes: bytes, man_type: str | None, config_bytes: bytes,
                 layer_blobs: list[tuple[str, str, int]], tags: list[str], source: str) -> ImageRecord:
    """Record an image whose layer blobs are already in the content store."""

    man = mf.parse_manifest(man_bytes, man_type)
    if not isinstance(man, mf.Manifest):
        raise ImageError(f"{source}: expected an image manifest")
    config = mf.parse_config(config_bytes)
    if len(config.diff_ids) != len(layer_blobs):
        raise ImageError(f"{source}: image config lists {len(config.diff_ids)} layers, manifest {len(layer_blobs)}")
    layers = [LayerRecord(digest, media_type, size, diff_id)
              for (digest, media_type, size), diff_id in zip(layer_blobs, config.diff_ids)]
    for layer in layers:
        if layer.media_type not in mf.LAYER_TYPES:
            raise ImageError(f"{source}: unsupported layer media type {layer.media_type!r}")
        store.unpack_once(layer)
    config_digest = store.content.put(config_bytes, man.config.digest)
    man_digest = store.content.put(man_bytes)
    record = ImageRecord(id=config_digest, manifest_digest=man_digest, manifest_media_type=man.media_type,
                         layers=layers, created=config.created, os=config.os,
                         architecture=config.architecture, variant=config.variant)
    store.add(record, tags[0] if tags else None)
    for t in tags[1:]:
        store.add(record, t)
    return record


def _tag_from_annotations(ann: dict) -> str | None:
    name = ann.get(CONTAINERD_NAME) or ann.get(REF_NAME)
    # A bare OCI ref.name ("latest", as skopeo's oci:DIR:TAG writes) names no repository.
    if not isinstance(name, str) or ("/" not in name and ":" not in name):
        return None
    try:
        ref = reference.parse(name)
    except ImageError:
        return None
    return ref.tagged


def load(store: ImageStore, path: str) -> list[tuple[ImageRecord, list[str]]]:
    """Load every image in the archive (or layout directory) at PATH. Returns (record, tags)."""
    with store.adding():            # gc must not take blobs and layers before they are recorded
        src = _Source(path, _tmpdir(store))
        try:
            if src.exists("index.json"):
                return _load_oci(store, src, path)
            if src.exists("manifest.json"):
                return _load_docker(store, src, path)
            raise ImageError(f"{path} is neither an OCI image layout nor a docker archive",
                             "expected index.json or manifest.json at its top")
        finally:
            src.close()


def _load_oci(store: ImageStore, src: _Source, path: str) -> list[tuple[ImageRecord, list[str]]]:
    index, _ = src.read_json("index.json")
    entries = index.get("manifests") if isinstance(index, dict) else None
    if not isinstance(entries, list):
        raise ImageError(f"{path}: index.json has no manifests array")
    out = []
    for d in entries:
        desc = mf.Descriptor.from_json(d, "manifest")
        ann = d.get("annotations")
        tag = _tag_from_annotations(ann if isinstance(ann, dict) else {})
        data = _read_blob(src, desc.digest)
        top = mf.parse_manifest(data, desc.media_type)
        if isinstance(top, mf.Index):
            desc = top.select(mf.host_platform())
            data = _read_blob(src, desc.digest)
            top = mf.parse_manifest(data, desc.media_type)
            if isinstance(top, mf.Index):
                raise ImageError(f"{path}: nested image indexes are not supported")
        config_bytes = _read_blob(src, top.config.digest)
        blobs = []
        for layer in top.layers:
            digest, size = _ingest(store, src, _blob_name(layer.digest), layer.digest)
            blobs.append((digest, layer.media_type, size))
        record = _store_image(store, data, desc.media_type or top.media_type, config_bytes, blobs,
                              [tag] if tag else [], path)
        out.append((record, [tag] if tag else []))
    if not out:
        raise ImageError(f"{path}: the OCI index lists no images")
    return out


def _read_blob(src: _Source, digest: str) -> bytes:
    name = _blob_name(digest)
    with src.open(name) as f:
        data = f.read(MAX_JSON + 1)
    if len(data) > MAX_JSON:
        raise ImageError(f"blob {digest} is too large for a manifest or config")
    if "sha256:" + hashlib.sha256(data).hexdigest() != digest:
        raise ImageError(f"digest mismatch for blob {digest} in the archive")
    return data


def _load_docker(store: ImageStore, src: _Source, path: str) -> list[tuple[ImageRecord, list[str]]]:
    entries, _ = src.read_json("manifest.json")
    if not isinstance(entries, list):
        raise ImageError(f"{path}: manifest.json is not a list")
    out = []
    for e in entries:
        config_name = e.get("Config") if isinstance(e, dict) else None
        layer_names = e.get("Layers") if isinstance(e, dict) else None
        repo_tags = (e.get("RepoTags") if isinstance(e, dict) else None) or []
        if not isinstance(config_name, str) or not isinstance(layer_names, list) or \
                not isinstance(repo_tags, list) or not all(isinstance(n, str) for n in layer_names + repo_tags):
            raise ImageError(f"{path}: malformed manifest.json entry")
        with src.open(config_name) as f:
            config_bytes = f.read(MAX_JSON + 1)
        config_digest = "sha256:" + hashlib.sha256(config_bytes).hexdigest()
        m = _BLOB_RE.match(config_name)
        if m and m.group(1) != config_digest[7:]:
            raise ImageError(f"digest mismatch for {config_name} in the archive")
        config = mf.parse_config(config_bytes)
        blobs, descs = [], []
        for i, name in enumerate(layer_names):
            m = _BLOB_RE.match(name)
            expect = f"sha256:{m.group(1)}" if m else None
            with src.open(name) as f:
                head = f.read(4)
            comp = compression_from_magic(head)
            if expect is None and comp is None and i < len(config.diff_ids):
                expect = config.diff_ids[i]  # an uncompressed layer's digest is its diff_id
            digest, size = _ingest(store, src, name, expect)
            media_type = DOCKER_LAYER[comp]
            blobs.append((digest, media_type, size))
            descs.append({"mediaType": media_type, "digest": digest, "size": size})
        manifest = {"schemaVersion": 2, "mediaType": mf.DOCKER_MANIFEST,
                    "config": {"mediaType": mf.DOCKER_CONFIG, "digest": config_digest, "size": len(config_bytes)},
                    "layers": descs}
        tags = []
        for t in repo_tags:
            try:
                tags.append(reference.parse(t).tagged)
            except ImageError:
                raise ImageError(f"{path}: invalid tag {t!r} in manifest.json") from None
        record = _store_image(store, json.dumps(manifest, indent=3).encode(), mf.DOCKER_MANIFEST,
                              config_bytes, blobs, tags, path)
        out.append((record, tags))
    if not out:
        raise ImageError(f"{path}: manifest.json lists no images")
    return out


# -- writing archives ----------------------------------------------------------------------

def _add_bytes(tf: tarfile.TarFile, name: str, data: bytes, mtime: float) -> None:
    ti = tarfile.TarInfo(name)
    ti.size, ti.mode, ti.mtime = len(data), 0o644, mtime
    tf.addfile(ti, io.BytesIO(data))


def _add_file(tf: tarfile.TarFile, name: str, path: str, mtime: float) -> None:
    ti = tarfile.TarInfo(name)
    ti.size, ti.mode, ti.mtime = os.path.getsize(path), 0o644, mtime
    with open(path, "rb") as f:
        tf.addfile(ti, f)


def _add_dir(tf: tarfile.TarFile, name: str, mtime: float, seen: set) -> None:
    if name in seen:
        return
    seen.add(name)
    ti = tarfile.TarInfo(name)
    ti.type, ti.mode, ti.mtime = tarfile.DIRTYPE, 0o755, mtime
    tf.addfile(ti)


def _resolve_all(store: ImageStore, names: list[str]) -> list[tuple[ImageRecord, str | None]]:
    """Each NAME's record and the tag to write for it (None when named by id)."""
    out = []
    for n in names:
        record = store.resolve(n)
        tags = store.tags_of(record.id)
        tag = None
        with contextlib.suppress(ImageError):
            t = reference.parse(n).tagged
            if t in tags:
                tag = t
        out.append((record, tag))
    return out


def save(store: ImageStore, names: list[str], out, fmt: str = "docker-archive") -> None:
    """Write the images NAMES as one archive of format FMT to the binary stream OUT."""
    if not names:
        raise UsageError("save: name at least one image")
    images = _resolve_all(store, names)
    mtime = time.time()
    # adding(): gc waits, so the blobs being written out stay, and our temp files too.
    with store.adding(), tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tf:
        if fmt == "oci-archive":
            _save_oci(store, images, tf, mtime)
        elif fmt == "docker-archive":
            _save_docker(store, images, tf, mtime)
        else:
            raise UsageError(f"unknown archive format {fmt!r} (oci-archive or docker-archive)")


def _save_oci(store: ImageStore, images, tf: tarfile.TarFile, mtime: float) -> None:
    seen: set[str] = set()
    manifests = []
    _add_bytes(tf, "oci-layout", json.dumps({"imageLayoutVersion": "1.0.0"}).encode(), mtime)
    for d in ("blobs/", "blobs/sha256/"):
        _add_dir(tf, d, mtime, seen)
    for record, tag in images:
        digests = [layer.digest for layer in record.layers] + [record.id, record.manifest_digest]
        for digest in digests:
            name = _blob_name(digest)
            if name not in seen:
                seen.add(name)
                _add_file(tf, name, store.content.path(digest), mtime)
        desc = {"mediaType": record.manifest_media_type, "digest": record.manifest_digest,
                "size": store.content.size(record.manifest_digest)}
        if tag:
            desc["annotations"] = {CONTAINERD_NAME: tag, REF_NAME: reference.parse(tag).tag}
        manifests.append(desc)
    index = {"schemaVersion": 2, "mediaType": mf.OCI_INDEX, "manifests": manifests}
    _add_bytes(tf, "index.json", json.dumps(index).encode(), mtime)


def _save_docker(store: ImageStore, images, tf: tarfile.TarFile, mtime: float) -> None:
    seen: set[str] = set()
    entries, repositories = [], {}
    tmpdir = _tmpdir(store)
    for record, tag in images:
        tags = [tag] if tag else store.tags_of(record.id)
        config_name = f"{check_digest(record.id)}.json"
        if config_name not in seen:
            seen.add(config_name)
            _add_bytes(tf, config_name, store.content.read(record.id), mtime)
        layer_names = []
        for layer in record.layers:
            hexid = check_digest(layer.diff_id)
            name = f"{hexid}/layer.tar"
            layer_names.append(name)
            if name in seen:
                continue
            _add_dir(tf, f"{hexid}/", mtime, seen)
            seen.add(name)
            _add_plain_layer(tf, name, store.content.path(layer.digest), layer, tmpdir, mtime)
        entries.append({"Config": config_name, "RepoTags": [familiar(t) for t in tags], "Layers": layer_names})
        for t in tags:
            ref = reference.parse(t)
            repositories.setdefault(familiar(ref.name), {})[ref.tag] = check_digest(record.layers[-1].diff_id) \
                if record.layers else check_digest(record.id)
    _add_bytes(tf, "manifest.json", json.dumps(entries).encode(), mtime)
    if repositories:
        _add_bytes(tf, "repositories", json.dumps(repositories).encode(), mtime)


def _add_plain_layer(tf, name: str, blob: str, layer: LayerRecord, tmpdir: str, mtime: float) -> None:
    """docker-archive layers are plain tars whose sha256 is the diff_id: inflate and check."""
    comp = compression_of(layer.media_type, blob)
    if comp is None:
        _add_file(tf, name, blob, mtime)
        return
    fd, plain = tempfile.mkstemp(dir=tmpdir, suffix=".tar")
    try:
        h = hashlib.sha256()
        with os.fdopen(fd, "wb") as out, open_decompressed(blob, comp) as src:
            while chunk := src.read(CHUNK):
                h.update(chunk)
                out.write(chunk)
        if "sha256:" + h.hexdigest() != layer.diff_id:
            raise ImageError(f"layer {layer.digest} does not uncompress to its diff_id {layer.diff_id}")
        _add_file(tf, name, plain, mtime)
    finally:
        os.unlink(plain)


# -- import --------------------------------------------------------------------------------

_CHANGE_RE = re.compile(r"^\s*([A-Za-z]+)\s+(.*)$", re.S)


def apply_changes(config: dict, changes: list[str]) -> None:
    """Dockerfile-style --change instructions (CMD, ENTRYPOINT, ENV, WORKDIR, USER, EXPOSE,
    LABEL, STOPSIGNAL, VOLUME) applied to an image config's "config" section."""
    c = config.setdefault("config", {})
    for change in changes:
        m = _CHANGE_RE.match(change)
        if not m:
            raise UsageError(f"invalid --change {change!r}", "expected e.g. 'CMD [\"/bin/sh\"]'")
        op, arg = m.group(1).upper(), m.group(2).strip()
        if op in ("CMD", "ENTRYPOINT"):
            if arg.startswith("["):
                try:
                    value = json.loads(arg)
                except ValueError:
                    raise UsageError(f"invalid JSON in --change {change!r}") from None
            else:
                value = ["/bin/sh", "-c", arg]
            c["Cmd" if op == "CMD" else "Entrypoint"] = value
        elif op == "ENV":
            k, sep, v = arg.partition("=")
            if not sep:
                k, _, v = arg.partition(" ")
            env = [e for e in c.get("Env", []) if not e.startswith(k + "=")]
            c["Env"] = env + [f"{k}={v.strip()}"]
        elif op == "WORKDIR":
            c["WorkingDir"] = arg
        elif op == "USER":
            c["User"] = arg
        elif op == "STOPSIGNAL":
            c["StopSignal"] = arg
        elif op == "EXPOSE":
            for p in arg.split():
                c.setdefault("ExposedPorts", {})[p if "/" in p else f"{p}/tcp"] = {}
        elif op == "VOLUME":
            vols = json.loads(arg) if arg.startswith("[") else arg.split()
            for v in vols:
                c.setdefault("Volumes", {})[v] = {}
        elif op == "LABEL":
            k, _, v = arg.partition("=")
            c.setdefault("Labels", {})[k.strip()] = v.strip().strip('"')
        else:
            raise UsageError(f"unsupported --change instruction {op}")


def _stream_import(store: ImageStore, path: str, sink) -> tuple[str, int]:
    """Inflate, hash and unpack the tarball at PATH in one pass (a LayerStream, as a pull does),
    passing the plain tar to SINK; returns its (diff_id, size). Checked while it streams: a tar
    header announcing more than the budget, or inflation past it, stops it there, before the
    rest is inflated (issue 9.12: a 10 GiB bomb was inflated to a temp file first)."""
    from pyrt.image.layerstream import unpack_file

    comp = sniff_compression(path)
    media_type = {None: OCI_LAYER_TAR, "gzip": OCI_LAYER_TAR + "+gzip", "zstd": OCI_LAYER_TAR + "+zstd"}[comp]
    layer = LayerRecord(path, media_type, os.path.getsize(path), None)
    s = unpack_file(store, layer, path, plain_sink=sink, name=path)
    return s.diff_id, s.plain_size


def import_rootfs(store: ImageStore, path: str, tag: str | None = None, changes: list[str] = (),
                  message: str | None = None) -> ImageRecord:
    """A rootfs tarball (plain, gzip or zstd; '-' for stdin) -> a single-layer image."""
    if tag is not None:
        tag = reference.parse(tag).tagged
        if tag is None:
            raise UsageError("import: the reference must be a name[:tag], not a digest")
    changed: dict = {"config": {}}
    apply_changes(changed, list(changes))      # a bad --change is refused before any work
    tmpdir = _tmpdir(store)
    with contextlib.ExitStack() as stack:
        stack.enter_context(store.adding())     # gc must not take the layer before it is recorded
        if path == "-":
            fd, spool = tempfile.mkstemp(dir=tmpdir)
            stack.callback(os.unlink, spool)
            with disk_full_while("importing from stdin"), os.fdopen(fd, "wb") as out:
                shutil.copyfileobj(sys.stdin.buffer, out, CHUNK)
            path = spool
        if not os.path.isfile(path):
            raise ImageError(f"cannot import {path}: no such file")
        # The layer is stored uncompressed: its digest is then its diff_id, computed in one pass.
        fd, plain = tempfile.mkstemp(dir=tmpdir, suffix=".tar")
        stack.callback(lambda: os.path.exists(plain) and os.unlink(plain))
        with os.fdopen(fd, "wb") as out:
            diff_id, size = _stream_import(store, path, out.write)
        _put_stream(store, diff_id, size, lambda: open(plain, "rb"))
        plat = mf.host_platform()
        created = _now()
        config = {"created": created, "architecture": plat.architecture, "os": plat.os,
                  "config": changed["config"], "rootfs": {"type": "layers", "diff_ids": [diff_id]},
                  "history": [{"created": created, "created_by": "pyrt import",
                               "comment": message or f"imported from {os.path.basename(path)}"}]}
        if plat.variant:
            config["variant"] = plat.variant
        config_bytes = json.dumps(config).encode()
        config_digest = "sha256:" + hashlib.sha256(config_bytes).hexdigest()
        manifest = {"schemaVersion": 2, "mediaType": mf.OCI_MANIFEST,
                    "config": {"mediaType": mf.OCI_CONFIG, "digest": config_digest, "size": len(config_bytes)},
                    "layers": [{"mediaType": OCI_LAYER_TAR, "digest": diff_id, "size": size}]}
        return _store_image(store, json.dumps(manifest).encode(), mf.OCI_MANIFEST, config_bytes,
                            [(diff_id, OCI_LAYER_TAR, size)], [tag] if tag else [], path)
