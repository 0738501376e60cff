"""A registry that misbehaves: 5xx, dropped connections, ignored Range, corrupt or truncated
blobs, 404s, schema 1 and oversized manifests, Ctrl-C. The FaultProxy (tests/support/registry.py)
sits between pyrt and the real registry and injects each fault."""
import contextlib
import gzip
import json
import os
import signal
import subprocess
import time

import pytest

from pyrt.errors import ImageError, RegistryError
from pyrt.image.pull import PullOptions, pull
from pyrt.image.reference import RegistriesConf
from pyrt.image.store import ImageStore
from tests.support.bundle import PYRT
from tests.support.hostile_layers import push_one_layer
from tests.support.pyrtcli import pyrt, pyrt_env
from tests.support.registry import builder, skopeo_inspect

pytest_plugins = ["tests.support.registry_fixtures"]

OPTS = PullOptions(tls_verify=False, registries=RegistriesConf(), backoff=0.01, retries=4)


def _layer_digest(pushed, name="busybox"):
    return skopeo_inspect(pushed[name])["Layers"][0]


def _layer_dir_names(store):
    """What is in layers/: no streaming leftovers and no lock files allowed."""
    return sorted(os.listdir(store.layer_dir_root))


def _assert_nothing_recorded(store, blob=None):
    assert store.records() == []
    assert store._tags() == {}
    if blob:
        assert not store.content.has(blob)



def _push_crafted(tmp_path, ref: str, gz_layer: bytes, diff_id: str):
    return ref, push_one_layer(tmp_path, ref, gz_layer, diff_id)


def test_5xx_retried(fault_proxy, pushed, store_root):
    layer = _layer_digest(pushed)
    fault_proxy.faults = [{"match": "/manifests/", "kind": "500", "times": 2},
                          {"match": layer, "kind": "500", "times": 3}]
    rec = pull(ImageStore(store_root), f"{fault_proxy.host}/pyrt/busybox", OPTS)
    assert rec.layers[0].digest == layer
    statuses = [s for (_, path, _, s) in fault_proxy.log if layer in path]
    assert statuses == [500, 500, 500, 200]


def test_dropped_manifest_and_config_retried(fault_proxy, pushed, store_root):
    config = skopeo_inspect(pushed["busybox"], "--raw")["config"]["digest"]
    fault_proxy.faults = [{"match": "/manifests/", "kind": "drop", "times": 1},
                          {"match": config, "kind": "drop", "times": 2}]
    rec = pull(ImageStore(store_root), f"{fault_proxy.host}/pyrt/busybox", OPTS)
    assert rec.id == config
    assert [s for (_, p, _, s) in fault_proxy.log if config in p] == [200, 200, 200]


def test_5xx_forever_gives_up(fault_proxy, pushed, store_root):
    layer = _layer_digest(pushed)
    fault_proxy.faults = [{"match": layer, "kind": "500", "times": 100}]
    store = ImageStore(store_root)
    with pytest.raises(RegistryError, match="answered 500 for blob") as e:
        pull(store, f"{fault_proxy.host}/pyrt/busybox", OPTS)
    assert e.value.exit_code == 10 and "INJECTED" in str(e.value)
    _assert_nothing_recorded(store, layer)


def test_dropped_connection_resumes_with_range(fault_proxy, pushed, store_root):
    layer = _layer_digest(pushed)
    fault_proxy.faults = [{"match": layer, "kind": "drop", "times": 2}]
    store = ImageStore(store_root)
    pull(store, f"{fault_proxy.host}/pyrt/busybox", OPTS)
    ranges = [rng for (_, path, rng, _) in fault_proxy.log if layer in path]
    assert ranges[0] is None and len(ranges) == 3
    # Each retry asks only for what is missing.
    first, second = int(ranges[1][6:-1]), int(ranges[2][6:-1])
    assert 0 < first < second
    assert store.content.ingests() == []


def test_range_ignored_restarts_cleanly(fault_proxy, pushed, store_root):
    layer = _layer_digest(pushed)
    fault_proxy.faults = [{"match": layer, "kind": "drop", "times": 1},
                          {"match": layer, "kind": "norange", "times": 1}]
    store = ImageStore(store_root)
    rec = pull(store, f"{fault_proxy.host}/pyrt/busybox", OPTS)
    assert store.content.has(rec.layers[0].digest)
    # The restarted body broke the streaming unpack; the fallback unpacked the committed blob.
    assert _layer_dir_names(store) == [rec.layers[0].diff_id[7:]]
    assert os.access(os.path.join(store.layer_dir(rec.layers[0].diff_id), "bin", "busybox"), os.X_OK)


def test_corrupt_blob_never_committed(fault_proxy, pushed, store_root):
    layer = _layer_digest(pushed)
    fault_proxy.faults = [{"match": layer, "kind": "corrupt", "times": 1}]
    store = ImageStore(store_root)
    with pytest.raises(ImageError, match="digest mismatch for blob " + layer):
        pull(store, f"{fault_proxy.host}/pyrt/busybox", OPTS)
    _assert_nothing_recorded(store, layer)
    assert store.content.ingests() == [] and _layer_dir_names(store) == []


def test_missing_layer_blob(fault_proxy, pushed, store_root):
    layer = _layer_digest(pushed)
    fault_proxy.faults = [{"match": layer, "kind": "404", "times": 1}]
    store = ImageStore(store_root)
    with pytest.raises(ImageError, match=f"layer {layer} of .* is missing from the registry"):
        pull(store, f"{fault_proxy.host}/pyrt/busybox", OPTS)
    _assert_nothing_recorded(store)


def test_404_manifest_cli(fault_proxy, pushed, store_root):
    fault_proxy.faults = [{"match": "/manifests/", "kind": "404", "times": 1}]
    r = pyrt(store_root, "pull", "--tls-verify=false", f"{fault_proxy.host}/pyrt/busybox")
    assert (r.returncode, r.stderr) == (9, f"pyrt: image not found: {fault_proxy.host}/pyrt/busybox\n")


def test_schema1_refused(fault_proxy, pushed, store_root):
    body = json.dumps({"schemaVersion": 1, "name": "pyrt/busybox", "tag": "latest", "fsLayers": [],
                       "signatures": []}).encode()
    fault_proxy.faults = [{"match": "/manifests/", "kind": ("body", "application/vnd.docker.distribution.manifest.v1+prettyjws", body)}]
    r = pyrt(store_root, "pull", "--tls-verify=false", f"{fault_proxy.host}/pyrt/busybox")
    assert r.returncode == 9
    assert r.stderr.startswith("pyrt: image uses Docker manifest schema 1, which is not supported")


def test_oversized_manifest_refused(fault_proxy, pushed, store_root):
    body = b'{"schemaVersion": 2, "pad": "' + b"x" * (5 << 20) + b'"}'
    fault_proxy.faults = [{"match": "/manifests/", "kind": ("body", "application/vnd.oci.image.manifest.v1+json", body)}]
    store = ImageStore(store_root)
    with pytest.raises(RegistryError, match="manifest .* too large"):
        pull(store, f"{fault_proxy.host}/pyrt/busybox", OPTS)
    _assert_nothing_recorded(store)


def test_truncated_gzip_layer(open_registry, store_root, tmp_path):
    """A layer whose digest is right but whose gzip stream is cut short: unpack fails, nothing kept."""
    tar = builder.tar_from_entries([("dir", "d"), ("file", "d/f", "x" * 100000)])
    gz = gzip.compress(tar)[:-200]
    ref, ldesc = _push_crafted(tmp_path, f"{open_registry.host}/pyrt/truncated:latest", gz, builder._sha(tar))
    store = ImageStore(store_root)
    with pytest.raises(ImageError):
        pull(store, ref, OPTS)
    _assert_nothing_recorded(store, ldesc["digest"])
    assert _layer_dir_names(store) == []


def test_unreachable_registry(store_root):
    from tests.support.registry import free_port
    store = ImageStore(store_root)
    with pytest.raises(RegistryError, match="cannot reach registry"):
        pull(store, f"127.0.0.1:{free_port()}/x/y", OPTS)


@contextlib.contextmanager
def _background_pull(store_root, ref, tmp_path):
    """A `pyrt pull REF` process, killed at the end if a test step failed before it ended."""
    p = subprocess.Popen([PYRT, "--root", store_root, "pull", "--tls-verify=false", ref],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=pyrt_env(str(tmp_path)))
    try:
        yield p
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def _wait_for_partial(p, partial, more_than):
    deadline = time.monotonic() + 30
    while not (os.path.exists(partial) and os.path.getsize(partial) > more_than):
        assert time.monotonic() < deadline and p.poll() is None
        time.sleep(0.02)


def test_ctrl_c_then_resume(fault_proxy, pushed, store_root, tmp_path):
    layer = _layer_digest(pushed)
    fault_proxy.faults = [{"match": layer, "kind": "slow", "times": 1}]
    ref = f"{fault_proxy.host}/pyrt/busybox:latest"
    store = ImageStore(store_root)
    partial = os.path.join(store.content.ingest_dir, layer[7:])
    with _background_pull(store_root, ref, tmp_path) as p:
        _wait_for_partial(p, partial, 100_000)
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=30)
    assert p.returncode == 130 and err.splitlines()[-1] == "pyrt: interrupted"
    assert "Traceback" not in err
    _assert_nothing_recorded(store, layer)
    staged = os.path.getsize(partial)
    assert staged > 100_000
    # The next pull asks only for the rest.
    fault_proxy.log.clear()
    r = pyrt(store_root, "pull", "--tls-verify=false", "-q", ref)
    assert r.returncode == 0, r.stderr
    ranges = [rng for (_, path, rng, _) in fault_proxy.log if layer in path]
    assert ranges == [f"bytes={staged}-"]
    assert store.content.has(layer) and store.content.ingests() == []
    assert len(_layer_dir_names(store)) == 1


def test_redirect_drops_credentials(fault_proxy, pushed, store_root, open_registry):
    """Blobs often live behind a redirect to another host (a CDN): follow it, without sending
    the registry's credentials there."""
    from tests.support.registry import FaultProxy
    cdn = FaultProxy(open_registry.host)
    try:
        layer = _layer_digest(pushed)
        fault_proxy.faults = [{"match": "/manifests/", "kind": "401basic", "times": 1},
                              {"match": layer, "kind": ("redirect", cdn.host), "times": 1}]
        from pyrt.image.pull import client_for
        store = ImageStore(store_root)
        # Credentials for the proxy host only (the Basic challenge makes the client send them).
        client = client_for(fault_proxy.host, store_root, OPTS, RegistriesConf(), credentials=("u", "p"))
        from pyrt.image.reference import parse
        from pyrt.image.pull import _pull_ref
        from pyrt.image.pull import Quiet
        rec = _pull_ref(store, client, parse(f"{fault_proxy.host}/pyrt/busybox"), OPTS, Quiet())
        assert store.content.has(rec.layers[0].digest)
        assert [s for (_, p, _, s) in fault_proxy.log if layer in p] == [307]
        assert [a for (p, a) in cdn.auth_seen if layer in p] == [False]
        # After the challenge every request to the registry itself carried the credentials.
        seen = fault_proxy.auth_seen
        first = next(i for i, (p, _) in enumerate(seen) if "/manifests/" in p)
        assert seen[first][1] is False
        assert len(seen[first + 1:]) >= 3 and all(a for (_, a) in seen[first + 1:])
    finally:
        cdn.stop()


def test_concurrent_pulls_of_one_image(pushed, store_root, tmp_path):
    """Two processes pulling the same image into one store: both succeed, one copy of each blob
    and layer, no leftovers."""
    env = pyrt_env(str(tmp_path))
    procs = [subprocess.Popen([PYRT, "--root", store_root, "pull", "-q", "--tls-verify=false", pushed["multilayer"]],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) for _ in range(3)]
    outs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], outs
    assert len({o for o, _ in outs}) == 1
    store = ImageStore(store_root)
    rec = store.resolve(pushed["multilayer"])
    assert len(store.records()) == 1 and store.content.ingests() == []
    assert _layer_dir_names(store) == sorted(layer.diff_id[7:] for layer in rec.layers)


def test_concurrent_pulls_unpack_once(fault_proxy, pushed, store_root, tmp_path):
    """Two `pyrt pull`s of one image at once, its layer served slowly so they overlap: both
    succeed, only one of them unpacks the layer (layers/ is watched for the unpackers' temp
    dirs, which carry their pid), and nothing stray stays in layers/ (no lock file either)."""
    import re
    layer = _layer_digest(pushed)
    fault_proxy.faults = [{"match": layer, "kind": "slow", "times": 2}]
    env = pyrt_env(str(tmp_path))
    ref = f"{fault_proxy.host}/pyrt/busybox"
    procs = [subprocess.Popen([PYRT, "--root", store_root, "pull", "-q", "--tls-verify=false", ref],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) for _ in range(2)]
    layers_dir = os.path.join(store_root, "image", "layers")
    unpackers: set[int] = set()
    deadline = time.monotonic() + 60
    while any(p.poll() is None for p in procs) and time.monotonic() < deadline:
        try:
            names = os.listdir(layers_dir)
        except FileNotFoundError:
            names = []
        for n in names:
            m = re.search(r"\.(?:stream|fifo|unpack)-(\d+)-", n)
            if m:
                unpackers.add(int(m.group(1)))
        time.sleep(0.001)
    outs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert len(unpackers) == 1 and unpackers <= {p.pid for p in procs}, unpackers
    store = ImageStore(store_root)
    rec = store.resolve(ref)
    assert store.content.ingests() == []
    assert _layer_dir_names(store) == [rec.layers[0].diff_id[7:]]


def test_ctrl_c_while_server_stalls(fault_proxy, pushed, store_root, tmp_path):
    """Ctrl-C must not wait for a silent server's timeout: the pull cuts its connections."""
    layer = _layer_digest(pushed)
    fault_proxy.faults = [{"match": layer, "kind": "stall", "times": 1}]
    store = ImageStore(store_root)
    partial = os.path.join(store.content.ingest_dir, layer[7:])
    with _background_pull(store_root, f"{fault_proxy.host}/pyrt/busybox", tmp_path) as p:
        _wait_for_partial(p, partial, 0)
        # The server has sent its half and gone silent (was: a 0.2 s guess at when it would).
        assert fault_proxy.stalled.wait(30)
        t0 = time.monotonic()
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=30)
        took = time.monotonic() - t0
    assert p.returncode == 130 and err.splitlines()[-1] == "pyrt: interrupted"
    assert took < 3, took
    _assert_nothing_recorded(store, layer)
    assert _layer_dir_names(store) == []


def test_lying_diff_id_cannot_poison_shared_layers(open_registry, pushed, store_root, tmp_path):
    """An image whose config claims another layer's diff_id (here busybox's) for its own
    content: refused, and it leaves nothing under that diff_id for the real image to reuse."""
    real_diff_id = skopeo_inspect(pushed["busybox"], "--config")["rootfs"]["diff_ids"][0]
    tar = builder.tar_from_entries([("dir", "bin"), ("file", "bin/busybox", "#!/bin/sh\necho pwned\n")])
    evil, ldesc = _push_crafted(tmp_path, f"{open_registry.host}/pyrt/evil:latest", gzip.compress(tar), real_diff_id)
    store = ImageStore(store_root)
    with pytest.raises(ImageError, match=f"not to the diff_id {real_diff_id}"):
        pull(store, evil, OPTS)
    _assert_nothing_recorded(store, ldesc["digest"])
    assert _layer_dir_names(store) == []
    rec = pull(store, pushed["busybox"], OPTS)
    with open(os.path.join(store.layer_dir(rec.layers[0].diff_id), "bin", "busybox"), "rb") as f:
        assert f.read(4) == b"\x7fELF"


# -- a server too slow to wait for (issue 9.12) -------------------------------------------------
def _one_line(r, code):
    assert r.returncode == code, (r.returncode, r.stderr)
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("pyrt: ") and "Traceback" not in r.stderr, r.stderr
    return lines[0]


def test_trickling_blob_hits_the_low_speed_limit(fault_proxy, pushed, store_root):
    """The attack: the layer blob comes one byte every 0.5 s (the issue's server: every 5 s),
    which would take days. With --low-speed-limit 1000 --low-speed-time 2 (flags) the pull stops
    after the first window: one line, exit 10, nothing recorded, and the partial download stays
    in ingest/ as any interrupted one does."""
    layer = _layer_digest(pushed)
    fault_proxy.faults = [{"match": layer, "kind": ("trickle", 0.5), "times": 10}]
    r = pyrt(store_root, "pull", "-q", "--tls-verify=false", "--low-speed-limit", "1000", "--low-speed-time", "2",
             f"{fault_proxy.host}/pyrt/busybox", timeout=120)
    line = _one_line(r, 10)
    assert line.startswith(f"pyrt: registry {fault_proxy.host} sent blob {layer} slower than 1000 bytes/s for 2 s"), line
    assert fault_proxy.faults[0]["times"] == 9, "a low-speed failure must not be retried"
    _assert_nothing_recorded(ImageStore(store_root))


def test_trickling_manifest_hits_the_low_speed_limit_from_the_environment(fault_proxy, pushed, store_root):
    """The same for the manifest (read into memory, so a different reader), limits from
    PYRT_PULL_LOW_SPEED_LIMIT / _TIME."""
    fault_proxy.faults = [{"match": "/manifests/", "kind": ("trickle", 0.5), "times": 10}]
    env = pyrt_env(os.path.dirname(store_root), PYRT_PULL_LOW_SPEED_LIMIT="1000", PYRT_PULL_LOW_SPEED_TIME="2")
    r = pyrt(store_root, "pull", "-q", "--tls-verify=false", f"{fault_proxy.host}/pyrt/busybox", env=env, timeout=120)
    line = _one_line(r, 10)
    assert "slower than 1000 bytes/s for 2 s" in line and "manifest pyrt/busybox:latest" in line, line
    _assert_nothing_recorded(ImageStore(store_root))


def test_overall_deadline(fault_proxy, pushed, store_root):
    """A server fast enough for the low-speed rule (here: rule off) but never done: the whole
    pull has a deadline (PYRT_PULL_TIMEOUT=3, or --timeout) and ends there with one line, exit 10."""
    layer = _layer_digest(pushed)
    fault_proxy.faults = [{"match": layer, "kind": ("trickle", 0.05), "times": 10}]
    env = pyrt_env(os.path.dirname(store_root), PYRT_PULL_TIMEOUT="3")
    r = pyrt(store_root, "pull", "-q", "--tls-verify=false", "--low-speed-time", "0",
             f"{fault_proxy.host}/pyrt/busybox", env=env, timeout=120)
    line = _one_line(r, 10)
    assert line.startswith(f"pyrt: pull from {fault_proxy.host} did not finish in time (3 s)"), line
    _assert_nothing_recorded(ImageStore(store_root))


def test_bad_pace_setting_is_one_line(store_root):
    env = pyrt_env(os.path.dirname(store_root), PYRT_PULL_TIMEOUT="soon")
    r = pyrt(store_root, "pull", "-q", "--tls-verify=false", "127.0.0.1:1/x", env=env)
    assert _one_line(r, 2) == "pyrt: PYRT_PULL_TIMEOUT='soon' is not a whole number"


def test_prune_removes_what_a_killed_pull_left_but_not_a_live_pull(fault_proxy, pushed, store_root, tmp_path):
    """Issue 9.12d, for real: a pull SIGKILLed while its layer streams in leaves
    `..<hex>.stream-<pid>-<tid>.unpack-<pid>-<rand>` (and its stream's FIFO) in layers/;
    `pyrt image prune` removes them. A prune started while another pull is streaming waits for
    it (gc.lock) instead of removing that pull's tree: the pull completes and is recorded."""
    layer = _layer_digest(pushed)
    store = ImageStore(store_root)
    ref = f"{fault_proxy.host}/pyrt/busybox:latest"

    def unpack_trees():
        return [n for n in os.listdir(store.layer_dir_root) if n.startswith("..") and ".stream-" in n
                and ".unpack-" in n]

    def wait_for_tree(p):
        deadline = time.monotonic() + 30
        while not unpack_trees():
            assert time.monotonic() < deadline and p.poll() is None
            time.sleep(0.01)

    fault_proxy.faults = [{"match": layer, "kind": ("trickle", 0.2), "times": 1}]
    with _background_pull(store_root, ref, tmp_path) as p:
        wait_for_tree(p)
        p.kill()
        p.wait()
    assert unpack_trees(), "the killed pull left no unpack tree: the test proves nothing"
    r = pyrt(store_root, "image", "prune")
    assert r.returncode == 0, r.stderr
    assert [n for n in os.listdir(store.layer_dir_root) if n.startswith(".")] == []

    fault_proxy.faults = [{"match": layer, "kind": "slow", "times": 1}]
    with _background_pull(store_root, ref, tmp_path) as p:
        wait_for_tree(p)
        prune = subprocess.Popen([PYRT, "--root", store_root, "image", "prune"], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True, env=pyrt_env(str(tmp_path)))
        try:
            out, err = p.communicate(timeout=60)
            assert p.returncode == 0, err
        finally:
            _, perr = prune.communicate(timeout=60)
    assert prune.returncode == 0, perr
    rec = store.resolve(ref)
    assert os.access(os.path.join(store.layer_dir(rec.layers[0].diff_id), "bin", "busybox"), os.X_OK)
    assert [n for n in os.listdir(store.layer_dir_root) if n.startswith(".")] == []


def test_each_blob_is_asked_for_once(fault_proxy, pushed, store_root):
    """A fully read body frees its connection for the next request: no request fails with
    ResponseNotReady and is sent again (each blob and manifest was fetched twice)."""
    pull(ImageStore(store_root), f"{fault_proxy.host}/pyrt/multilayer", PullOptions(
        tls_verify=False, registries=RegistriesConf(), workers=1))
    paths = [path for (_, path, _, _) in fault_proxy.log if path != "/v2/"]
    assert len(paths) == len(set(paths)) >= 4, paths
