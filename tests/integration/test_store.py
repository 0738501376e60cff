"""Image records: shared layers stored once, images/inspect/rmi/prune, gc of what nothing uses."""
import json
import os
import signal
import subprocess
import time

import pytest

from pyrt.errors import NotFoundError, StateError
from pyrt.image import store as store_mod
from pyrt.image.store import ImageStore
from tests.support import hostile_layers as hl
from tests.support.bundle import PYRT
from tests.support.locks import waiters
from tests.support.pyrtcli import pyrt, pyrt_env
from tests.support.registry import builder
from tests.support.wait import until

pytest_plugins = ["tests.support.registry_fixtures"]


def _pull(root, *refs):
    for ref in refs:
        r = pyrt(root, "pull", "--tls-verify=false", "-q", ref)
        assert r.returncode == 0, r.stderr


def test_shared_layers_stored_once(pushed, store_root):
    _pull(store_root, pushed["busybox"], pushed["busybox-docker"], pushed["multiarch"])
    store = ImageStore(store_root)
    recs = store.records()
    # busybox and busybox-docker are one image (same config), multiarch/amd64 another config
    # with the same single layer: one layer dir and one layer blob for all three tags.
    assert len(recs) == 2
    assert len({r.layers[0].diff_id for r in recs}) == 1
    assert [n for n in os.listdir(store.layer_dir_root) if not n.startswith(".")] == [recs[0].layers[0].diff_id[7:]]
    assert len(store.tags_of(store.resolve(pushed["busybox"]).id)) == 2


def test_images_listing(pushed, store_root):
    _pull(store_root, pushed["busybox"], pushed["multilayer"])
    table = pyrt(store_root, "images").stdout.splitlines()
    assert table[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    assert len(table) == 3
    digests = pyrt(store_root, "images", "--digests").stdout.splitlines()
    assert "DIGEST" in digests[0] and all("sha256:" in line for line in digests[1:])
    rows = json.loads(pyrt(store_root, "images", "--format", "json").stdout)
    assert sorted(r["Repository"].rsplit("/", 1)[1] for r in rows) == ["busybox", "multilayer"]
    ids = pyrt(store_root, "images", "-q").stdout.split()
    assert sorted(ids) == sorted(r["ID"][7:19] for r in rows)
    full = pyrt(store_root, "images", "-q", "--no-trunc").stdout.split()
    assert sorted(full) == sorted(r["ID"] for r in rows)


def test_inspect_by_id_prefix_and_missing(pushed, store_root):
    _pull(store_root, pushed["busybox"])
    image_id = ImageStore(store_root).resolve(pushed["busybox"]).id
    info = json.loads(pyrt(store_root, "image", "inspect", image_id[7:19]).stdout)[0]
    assert info["Id"] == image_id and info["RepoTags"] == [pushed["busybox"]]
    assert info["Config"]["Cmd"] == ["/bin/sh"] and os.path.isdir(info["Layers"][0]["Dir"])
    r = pyrt(store_root, "image", "inspect", "nosuch:tag")
    assert (r.returncode, r.stderr) == (4, "pyrt: no such image: nosuch:tag\n")


def test_rmi_tags_then_image_and_gc(pushed, store_root):
    _pull(store_root, pushed["busybox"], pushed["busybox-docker"])
    store = ImageStore(store_root)
    rec = store.resolve(pushed["busybox"])
    # By id with two tags: refused without -f.
    r = pyrt(store_root, "rmi", rec.id[7:19])
    assert r.returncode == 6 and "referenced by several tags" in r.stderr
    r = pyrt(store_root, "rmi", pushed["busybox"])
    assert r.returncode == 0 and r.stdout == f"Untagged: {pushed['busybox']}\n"
    assert store.content.has(rec.layers[0].digest)
    r = pyrt(store_root, "rmi", pushed["busybox-docker"])
    assert r.stdout.splitlines() == [f"Untagged: {pushed['busybox-docker']}", f"Deleted: {rec.id}"]
    # Nothing refers to anything now: gc left an empty store.
    assert store.records() == [] and store.content.digests() == []
    assert [n for n in os.listdir(store.layer_dir_root) if not n.startswith(".")] == []
    r = pyrt(store_root, "rmi", pushed["busybox"])
    assert r.returncode == 4 and "no such image" in r.stderr


def test_rmi_force_with_several_tags(pushed, store_root):
    _pull(store_root, pushed["busybox"], pushed["busybox-docker"])
    rec = ImageStore(store_root).resolve(pushed["busybox"])
    r = pyrt(store_root, "rmi", "-f", rec.id)
    assert r.returncode == 0 and r.stdout.splitlines()[-1] == f"Deleted: {rec.id}"
    assert ImageStore(store_root).records() == []


def test_users_hook_blocks_rmi_and_prune(pushed, store_root):
    _pull(store_root, pushed["busybox"])
    store = ImageStore(store_root)
    rec = store.resolve(pushed["busybox"])
    store_mod.set_users_hook(lambda image_id: ["web1"] if image_id == rec.id else [])
    try:
        with pytest.raises(StateError, match="in use by container"):
            store.remove(pushed["busybox"])
        assert store.prune(all_images=True) == []
        assert store.resolve(pushed["busybox"]).id == rec.id
        store.remove(pushed["busybox"], force=True)
        with pytest.raises(NotFoundError):
            store.resolve(pushed["busybox"])
    finally:
        store_mod.set_users_hook(lambda image_id: [])


def test_prune_dangling_then_all(pushed, store_root, image_layouts):
    _pull(store_root, pushed["busybox"], pushed["multilayer"])
    store = ImageStore(store_root)
    old = store.resolve(pushed["multilayer"])
    # Re-point the multilayer tag at another image: the old one becomes dangling.
    moved = pushed["multilayer"].replace("multilayer", "moved")
    builder.push(image_layouts["plain"], moved)
    _pull(store_root, moved)
    tags = store._tags()
    tags[pushed["multilayer"]] = store.resolve(moved).id
    store_mod._write_json_atomic(store.tags_path, tags)
    r = pyrt(store_root, "image", "prune")
    assert r.returncode == 0 and r.stdout == f"Deleted: {old.id}\n"
    for layer in old.layers[1:]:
        assert not store.content.has(layer.digest) and not store.has_layer(layer.diff_id)
    r = pyrt(store_root, "image", "prune", "-a")
    assert len(r.stdout.splitlines()) == 2
    assert store.records() == [] and store.content.digests() == []


def test_gc_keeps_ingest_and_referenced(pushed, store_root):
    _pull(store_root, pushed["busybox"])
    store = ImageStore(store_root)
    stray = store.content.put(b"nobody refers to me")
    os.makedirs(store.layer_dir("sha256:" + "e" * 64))
    with open(os.path.join(store.content.ingest_dir, "f" * 64), "wb") as f:
        f.write(b"partial")
    # What killed pulls leave in layers/: streams, their FIFOs, unpack temps. No pull holds gc.lock
    # now, so all of them are leftovers, even those whose pid is alive (ours: pids get reused).
    left = [f".{'d' * 64}.stream-{2**22 + 1}-7", f"..{'d' * 64}.stream-{os.getpid()}-7.unpack-{os.getpid()}-ab",
            f".{'d' * 64}.unpack-{os.getpid()}-cd"]
    for name in left:
        os.makedirs(os.path.join(store.layer_dir_root, name, "bin"))
    os.mkfifo(os.path.join(store.layer_dir_root, f".{'d' * 64}.fifo-{os.getpid()}-7"))
    assert store.gc() == (1, 1)
    assert [n for n in os.listdir(store.layer_dir_root) if n.startswith(".")] == []
    assert not store.content.has(stray) and len(store.content.ingests()) == 1
    rec = store.resolve(pushed["busybox"])
    assert store.content.has(rec.id) and store.content.has(rec.manifest_digest) and store.has_layer(rec.layers[0].diff_id)


def test_gc_waits_for_pulls_in_progress(store_root):
    """Content a pull has put in but not yet recorded is safe from a concurrent gc."""
    import threading
    store = ImageStore(store_root)
    done = threading.Event()
    with store.adding():
        blob = store.content.put(b"fetched, not yet recorded")
        t = threading.Thread(target=lambda: (store.gc(), done.set()))
        t.start()
        # gc has got as far as the adding lock and waits there (seen in /proc/locks).
        until(lambda: waiters(os.path.join(store.root, "gc.lock")) == 1, what="gc to wait on gc.lock")
        assert not done.is_set() and store.content.has(blob)
    t.join(10)
    assert done.is_set() and not store.content.has(blob)


def test_unusable_root_is_one_line(tmp_path):
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("")
    r = pyrt(str(not_a_dir), "images")
    assert r.returncode == 1 and r.stderr == f"pyrt: {not_a_dir} is not a directory (pass another --root)\n"


def test_gc_removes_lock_files_older_versions_left(store_root):
    """Older pyrt left layers/.<hex>.lock behind; gc deletes those, but not one a pull holds."""
    import fcntl
    store = ImageStore(store_root)
    stale = os.path.join(store.layer_dir_root, "." + "a" * 64 + ".lock")
    held = os.path.join(store.layer_dir_root, "." + "b" * 64 + ".lock")
    open(stale, "w").close()
    with open(held, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        store.gc()
        assert os.listdir(store.layer_dir_root) == [os.path.basename(held)]
    os.unlink(held)


def test_prune_clears_temp_files_a_killed_import_left(store_root, tmp_path):
    """A `pyrt import` SIGKILLed while it inflates leaves its temp file in image/tmp (up to the
    expansion budget, 1 GiB): prune removes it (issue 9.12d)."""
    src = tmp_path / "big.tar.gz"
    # A tar of one 300 MiB file of zeros: long enough to inflate that the kill lands mid-way.
    src.write_bytes(hl.gzip_zeros_bomb(hl.announced_file("zeros", 300 << 20), 300))
    store = ImageStore(store_root)
    p = subprocess.Popen([PYRT, "--root", store_root, "import", str(src)], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, env=pyrt_env(str(tmp_path)))
    try:
        deadline = time.monotonic() + 60
        while not (os.path.isdir(store.tmp_dir) and any(os.path.getsize(os.path.join(store.tmp_dir, n)) > 1 << 20
                                                         for n in os.listdir(store.tmp_dir))):
            assert time.monotonic() < deadline and p.poll() is None, "the import ended before it could be killed"
            time.sleep(0.01)
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait()
    assert os.listdir(store.tmp_dir)
    r = pyrt(store_root, "image", "prune")
    assert r.returncode == 0, r.stderr
    assert os.listdir(store.tmp_dir) == []
    assert [n for n in os.listdir(store.layer_dir_root) if n.startswith(".")] == []
