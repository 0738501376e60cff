"""pull: reference -> manifest (platform chosen from an index) -> config -> layers -> record.

Layers are fetched concurrently, each sha256-checked while it streams into the content
store's ingest area, then unpacked once into the store's layers/<diff_id>/ by the same
worker (so unpacking one layer overlaps downloading the next). The image record is written
last, after every blob and layer is in place: a failed or interrupted pull records nothing,
and leaves its partial downloads in ingest/ for the next pull to resume.
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
import threading
import time

from pyrt.errors import ImageError, PyrtError, RegistryError, UsageError
from pyrt.image import auth, reference
from pyrt.image import manifest as mf
from pyrt.image.content import DigestMismatch, sha256_digest
from pyrt.image.layerstream import LayerStream
from pyrt.image.registry import Cancelled, NotFound, RegistryClient
from pyrt.image.store import ImageRecord, ImageStore, LayerRecord
from pyrt.image.decompress import ExpansionError

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
    # A body slower than low_speed_limit bytes/s over low_speed_time s fails the pull, and so does
    # a pull still running after timeout s (0: never). None: the environment's, else the default.
    low_speed_limit: int | None = None
    low_speed_time: int | None = None
    timeout: int | None = None


# (option, environment variable, default)
PACE_SETTINGS = (("low_speed_limit", "PYRT_PULL_LOW_SPEED_LIMIT", 1024),
                 ("low_speed_time", "PYRT_PULL_LOW_SPEED_TIME", 60),
                 ("timeout", "PYRT_PULL_TIMEOUT", 0))


def pace_settings(opts: PullOptions) -> dict[str, int]:
    """The pull's pace limits: a flag's value, else its variable's, else the default."""
    out = {}
    for name, var, default in PACE_SETTINGS:
        value = getattr(opts, name)
        if value is None:
            text = os.environ.get(var, "")
            if text and not text.isdigit():
                raise UsageError(f"{var}={text[:40]!r} is not a whole number")
            value = int(text) if text else default
        out[name] = value
    return out


def client_for(host: str, store_root: str, opts: PullOptions, conf: reference.RegistriesConf,
               credentials: tuple[str, str] | None = None, deadline: float | None = None) -> RegistryClient:
    creds = credentials or auth.find_credentials(host, store_root, opts.authfile)
    verify = opts.tls_verify if opts.tls_verify is not None else not conf.is_insecure(host)
    pace = pace_settings(opts)
    client = RegistryClient(host, credentials=creds, tls_verify=verify, retries=opts.retries, backoff=opts.backoff,
                            low_speed_limit=pace["low_speed_limit"], low_speed_time=pace["low_speed_time"],
                            deadline=deadline)
    if pace["timeout"]:
        client.deadline_text = f" ({pace['timeout']} s)"
    return client


class Quiet:
    """What a pull tells its REPORTER, from its worker threads, and the silent default. The CLI's
    reporters (pyrt.cli.pull_progress) draw bars or print lines."""

    def message(self, text: str) -> None:
        pass

    def start(self, digest: str, size: int, what: str = "blob") -> None:
        pass

    def advance(self, digest: str, n: int) -> None:
        pass

    def done(self, digest: str, status: str) -> None:
        pass

    def skip(self, digest: str, size: int, status: str) -> None:
        """A blob that needs no work (already in the store)."""
        self.start(digest, size)
        self.done(digest, status)

    def close(self) -> None:
        pass


def pull(store: ImageStore, name: str, opts: PullOptions | None = None, reporter=None) -> ImageRecord:
    opts = opts or PullOptions()
    reporter = reporter or Quiet()
    conf = opts.registries if opts.registries is not None else reference.load_registries_conf()
    candidates = conf.candidates(name)
    timeout = pace_settings(opts)["timeout"]
    deadline = time.monotonic() + timeout if timeout else None     # one for the whole pull
    last_error: RegistryError | None = None
    for ref in candidates:
        client = client_for(ref.registry_host, store.base, opts, conf, deadline=deadline)
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
    if len(jobs) == 1 or opts.workers <= 1:
        # One layer (or one worker): no pool, no extra thread; the LayerStream's unpack thread
        # still overlaps unpacking with the download.
        try:
            for layer in jobs:
                _fetch_layer(store, client, ref, layer, reporter, cancel)
        except BaseException:
            cancel.set()
            client.abort()
            raise
        finally:
            reporter.close()
        return
    import concurrent.futures       # only here: it costs a few ms of start-up (and imports logging)
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

        def finish_stream():
            if stream is not None:
                # Kept only if the blob committed; a failure here is met again, and reported,
                # by store.unpack_once below, which unpacks the committed blob.
                stream.finish(keep=store.content.has(d))

        try:
            with contextlib.ExitStack() as held:
                if not store.has_layer(layer.diff_id):
                    # Hold the layer's lock while it streams in (released after finish_stream):
                    # a concurrent pull of the same layer waits, then finds it unpacked.
                    held.enter_context(store.layer_lock(layer.diff_id))
                held.callback(finish_stream)
                w = held.enter_context(store.content.writer(d, layer.size))
                if not store.content.has(d):
                    if w.offset:
                        reporter.advance(d, w.offset)
                    elif not store.has_layer(layer.diff_id):
                        stream = LayerStream(store, layer)
                        w = _TeeWriter(w, stream)
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
        reporter.done(d, "Download complete")
    else:
        reporter.skip(d, layer.size, "Already exists")
    if cancel.is_set():
        return
    try:
        store.unpack_once(layer)
    except PyrtError:
        # A blob whose digest matched but whose content is no layer (truncated gzip, bad tar,
        # over a limit), or a disk too full to unpack it: keep nothing of it.
        store.content.delete(d)
        raise


class _TeeWriter:
    """An IngestWriter whose bytes also feed a LayerStream (unpacking while downloading)."""

    def __init__(self, writer, stream: LayerStream):
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
        if isinstance(self._s.problem, ExpansionError):
            # A bomb is hostile whatever the digest says: stop downloading it now, keep none of it.
            self._w.discard()
            raise self._s.problem

    def reset(self) -> None:
        # The server restarted the body (it ignored Range): the stream has a hole now.
        self._w.reset()
        self._s.fail(ImageError("download restarted"))

    def commit(self) -> str:
        return self._w.commit()
