"""pull: reference -> manifest (platform chosen from an index) -> config -> layers -> record.

Layers are fetched concurrently, each sha256-checked while it streams into the content
store's ingest area, then unpacked once into the store's layers/<diff_id>/ by the same
worker (so unpacking one layer overlaps downloading the next). The image record is written
last, after every blob and layer is in place: a failed or interrupted pull records nothing,
and leaves its partial downloads in ingest/ for the next pull to resume.
"""
from __future__ import annotations

import concurrent.futures
import dataclasses
import errno
import fcntl
import os
import threading
import time

from pyrt.errors import ImageError, RegistryError
from pyrt.image import auth, reference
from pyrt.image import manifest as mf
from pyrt.image.content import DigestMismatch, sha256_digest
from pyrt.image.progress import Quiet
from pyrt.image.registry import Cancelled, NotFound, RegistryClient
from pyrt.image.store import ImageRecord, ImageStore, LayerRecord

MAX_CONFIG_SIZE = 8 << 20


@dataclasses.dataclass
class PullOptions:
    platform: mf.Platform | None = None          # None: the host's
    tls_verify: bool | None = None               # None: verify unless registries.conf says insecure
    authfile: str | None = None
    registries: reference.RegistriesConf | None = None
    workers: int = 3
    retries: int = 5
    backoff: float = 0.25


def client_for(host: str, store_root: str, opts: PullOptions, conf: reference.RegistriesConf,
               credentials: tuple[str, str] | None = None) -> RegistryClient:
    creds = credentials or auth.find_credentials(host, store_root, opts.authfile)
    verify = opts.tls_verify if opts.tls_verify is not None else not conf.is_insecure(host)
    return RegistryClient(host, credentials=creds, tls_verify=verify, retries=opts.retries, backoff=opts.backoff)


def pull(store: ImageStore, name: str, opts: PullOptions | None = None, reporter=None) -> ImageRecord:
    opts = opts or PullOptions()
    reporter = reporter or Quiet()
    conf = opts.registries if opts.registries is not None else reference.load_registries_conf()
    candidates = conf.candidates(name)
    last_error: RegistryError | None = None
    for ref in candidates:
        client = client_for(ref.registry_host, store.base, opts, conf)
        if len(candidates) > 1:
            reporter.message(f"Trying to pull {ref}...")
        try:
            with store.adding():
                return _pull_ref(store, client, ref, opts, reporter)
        except NotFound:
            continue
        except RegistryError as e:
            if len(candidates) == 1:
                raise
            last_error = e
    if last_error is not None:
        raise last_error
    raise ImageError(f"image not found: {name}")


def _fetch_manifest(client: RegistryClient, ref: reference.Reference, obj: str,
                    want: mf.Descriptor | None = None) -> tuple[bytes, str, str]:
    data, media_type = client.get_manifest(ref.path, obj)
    digest = sha256_digest(data)
    if want is not None and (digest != want.digest or len(data) != want.size):
        raise ImageError(f"manifest {want.digest} from {client.host} does not match its digest or size")
    if obj.startswith("sha256:") and digest != obj:
        raise ImageError(f"manifest digest mismatch: asked for {obj}, got {digest}")
    return data, media_type, digest


def _pull_ref(store: ImageStore, client: RegistryClient, ref: reference.Reference,
              opts: PullOptions, reporter) -> ImageRecord:
    want = opts.platform or mf.host_platform()
    data, media_type, digest = _fetch_manifest(client, ref, ref.object)
    top = mf.parse_manifest(data, media_type)
    index_digest = None
    if isinstance(top, mf.Index):
        index_digest = digest
        index_data = data
        desc = top.select(want)
        data, media_type, digest = _fetch_manifest(client, ref, desc.digest, desc)
        man = mf.parse_manifest(data, media_type or desc.media_type)
        if isinstance(man, mf.Index):
            raise ImageError(f"nested manifest list in {ref} is not supported")
    else:
        man = top
    config_bytes = _get_config(store, client, ref, man.config)
    config = mf.parse_config(config_bytes)
    if len(config.diff_ids) != len(man.layers):
        raise ImageError(f"image config of {ref} lists {len(config.diff_ids)} diff_ids for {len(man.layers)} layers")
    if opts.platform and isinstance(top, mf.Manifest) and config.architecture and \
            (config.os, config.architecture) != (want.os, want.architecture):
        reporter.message(f"warning: image platform {config.os}/{config.architecture} does not match {want}")

    layers = [LayerRecord(d.digest, d.media_type, d.size, diff) for d, diff in zip(man.layers, config.diff_ids)]
    _fetch_layers(store, client, ref, layers, opts, reporter)

    # Small blobs last: a store holding an index/manifest blob always holds what it names.
    store.content.put(config_bytes, man.config.digest)
    store.content.put(data, digest)
    if index_digest:
        store.content.put(index_data, index_digest)
    record = ImageRecord(
        id=man.config.digest, manifest_digest=digest, manifest_media_type=man.media_type,
        layers=layers, repo_digests=[f"{ref.name}@{index_digest or digest}"], index_digest=index_digest,
        created=config.created, os=config.os, architecture=config.architecture, variant=config.variant)
    store.add(record, ref.tagged)
    reporter.message(f"Pulled {ref}: {record.id}")
    return record


def _get_config(store: ImageStore, client: RegistryClient, ref: reference.Reference, desc: mf.Descriptor) -> bytes:
    if store.content.has(desc.digest):
        return store.content.read(desc.digest)
    if desc.size > MAX_CONFIG_SIZE:
        raise ImageError(f"image config too large: {desc.size} bytes")
    data = client.get_blob_bytes(ref.path, desc.digest, desc.size)
    if sha256_digest(data) != desc.digest:
        raise ImageError(f"digest mismatch for image config {desc.digest}")
    return data


def _fetch_layers(store: ImageStore, client: RegistryClient, ref: reference.Reference,
                  layers: list[LayerRecord], opts: PullOptions, reporter) -> None:
    cancel = threading.Event()
    seen: set[str] = set()
    jobs = []
    for layer in layers:
        # An image may list one layer twice (empty layers): fetch and unpack it once.
        if layer.digest not in seen:
            seen.add(layer.digest)
            jobs.append(layer)
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=max(1, opts.workers), thread_name_prefix="pull")
    try:
        futures = [pool.submit(_fetch_layer, store, client, ref, layer, reporter, cancel) for layer in jobs]
        for fut in concurrent.futures.as_completed(futures):
            fut.result()
    except BaseException:
        # Ctrl-C or one failed layer: stop the others at their next chunk; what they
        # staged stays in ingest/ for the next pull.
        cancel.set()
        client.abort()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    finally:
        reporter.close()
    pool.shutdown(wait=True)


def _fetch_layer(store: ImageStore, client: RegistryClient, ref: reference.Reference,
                 layer: LayerRecord, reporter, cancel: threading.Event) -> None:
    d = layer.digest
    if not store.content.has(d):
        reporter.start(d, layer.size, "layer")
        stream = None
        try:
            with store.content.writer(d, layer.size) as w:
                if not store.content.has(d):
                    if w.offset:
                        reporter.advance(d, w.offset)
                    elif not store.has_layer(layer.diff_id):
                        stream = StreamingUnpack(store, layer)
                        w = stream.tee(w)
                    client.fetch_blob(ref.path, d, w, on_bytes=lambda n: reporter.advance(d, n), cancel=cancel)
                    w.commit()
        except Cancelled:
            reporter.done(d, "interrupted")
            return
        except DigestMismatch:
            reporter.done(d, "failed")
            raise
        except NotFound:
            raise ImageError(f"layer {d} of {ref} is missing from the registry") from None
        finally:
            if stream is not None:
                stream.finish()
        reporter.done(d, "Download complete")
    else:
        reporter.skip(d, layer.size, "Already exists")
    if cancel.is_set():
        return
    try:
        unpack_once(store, layer)
    except ImageError:
        # A blob whose digest matched but whose content is no layer (truncated gzip, bad tar):
        # keep nothing of it.
        store.content.delete(d)
        raise


class StreamingUnpack:
    """Unpack a layer while it downloads, so unpacking overlaps the transfer.

    Each chunk written to the ingest file also goes down a FIFO that unpack_layer reads (in a
    thread) into a hidden directory. Only after the blob's digest matched, and the unpack
    succeeded, is that directory renamed to layers/<diff_id>; otherwise it is thrown away and
    the pull unpacks the committed blob the ordinary way. A server that restarts the body
    (ignoring Range) breaks the stream: that too falls back to the ordinary way.
    """

    def __init__(self, store: ImageStore, layer: LayerRecord):
        self.store = store
        self.layer = layer
        tag = f"{os.getpid()}-{threading.get_ident()}"
        hexid = layer.diff_id[7:]
        self.fifo = os.path.join(store.layer_dir_root, f".{hexid}.fifo-{tag}")
        self.dest = os.path.join(store.layer_dir_root, f".{hexid}.stream-{tag}")
        self.error: BaseException | None = None
        self.fd: int | None = None
        os.mkfifo(self.fifo, 0o600)
        self.thread = threading.Thread(target=self._unpack, name="unpack", daemon=True)
        self.thread.start()
        # The reader opens the FIFO when unpack_layer gets to it; if it fails before, give up.
        while self.fd is None and self.thread.is_alive():
            try:
                self.fd = os.open(self.fifo, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
            except OSError as e:
                if e.errno != errno.ENXIO:
                    raise
                time.sleep(0.0005)
        if self.fd is not None:
            os.set_blocking(self.fd, True)

    def _unpack(self) -> None:
        from pyrt.image.unpack import unpack_layer
        try:
            unpack_layer(self.fifo, self.layer.media_type, self.dest)
        except BaseException as e:      # reported through finish(): the fallback path re-raises
            self.error = e

    def feed(self, data: bytes) -> None:
        if self.fd is None:
            return
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self.fd, view):]
        except OSError:
            self.broken()

    def broken(self) -> None:
        """Stop feeding: the reader sees a short stream and fails; finish() cleans up."""
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
            self.error = self.error or ImageError("stream broken")

    def tee(self, writer):
        return _TeeWriter(writer, self)

    def finish(self) -> None:
        """After the download: keep the unpacked tree if blob and unpack are both good."""
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        self.thread.join()
        os.unlink(self.fifo)
        ok = self.error is None and self.store.content.has(self.layer.digest)
        final = self.store.layer_dir(self.layer.diff_id)
        if ok and not os.path.exists(final):
            try:
                os.rename(self.dest, final)
                return
            except OSError:
                pass            # another pull put it there first: theirs is as good
        from pyrt.image.unpack import remove_tree
        remove_tree(self.dest)


class _TeeWriter:
    """An IngestWriter whose bytes also feed a StreamingUnpack."""

    def __init__(self, writer, stream: StreamingUnpack):
        self._w = writer
        self._s = stream

    @property
    def offset(self) -> int:
        return self._w.offset

    @property
    def expected_size(self):
        return self._w.expected_size

    def write(self, data: bytes) -> None:
        self._w.write(data)
        self._s.feed(data)

    def reset(self) -> None:
        self._w.reset()
        self._s.broken()

    def commit(self) -> str:
        return self._w.commit()


def unpack_once(store: ImageStore, layer: LayerRecord) -> str:
    """Unpack LAYER's blob into layers/<diff_id>/ unless some pull already did."""
    dest = store.layer_dir(layer.diff_id)
    if os.path.isdir(dest):
        return dest
    from pyrt.image.unpack import unpack_layer
    lock_path = os.path.join(store.layer_dir_root, f".{os.path.basename(dest)}.lock")
    with open(lock_path, "a") as lk:
        fcntl.flock(lk, fcntl.LOCK_EX)
        if not os.path.isdir(dest):
            unpack_layer(store.content.path(layer.digest), layer.media_type, dest)
    return dest
