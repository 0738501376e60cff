"""End to end: the busybox test image, loaded into a store and prepared as a snapshot, is a
root filesystem a real runtime (runc, the reference) can run; the container's writes land
in the snapshot's upper dir and vanish with release()."""
from __future__ import annotations

import os

import pytest

from pyrt.engine import snapshot
from pyrt.image import archive
from pyrt.image.store import ImageStore
from tests.support.bundle import RUNC, base_config, run, write_config

pytest_plugins = ["tests.support.registry_fixtures"]


@pytest.mark.parametrize("copy", [False, True], ids=["overlay", "copy"])
def test_runc_runs_a_container_on_the_snapshot(tmp_path, image_layouts, runtime_root, cgroup_parent, copy):
    store = ImageStore(str(tmp_path / "store"))
    ((record, _),) = archive.load(store, image_layouts["busybox"])
    bundle = tmp_path / "bundle"
    snap = snapshot.prepare(str(bundle), store.layer_dirs(record), copy=copy)
    try:
        cfg = base_config(["/bin/sh", "-c", "echo written > /hello && cat /hello && ls /bin/busybox"])
        cfg["root"] = {"path": snap.rootfs, "readonly": False}
        cfg["linux"]["cgroupsPath"] = cgroup_parent
        write_config(str(bundle), cfg)
        r = run([RUNC, "--root", runtime_root, "run", "-b", str(bundle), f"snap-{os.getpid()}-{int(copy)}"])
        assert r.returncode == 0, r.stderr
        assert r.stdout.split() == ["written", "/bin/busybox"]
        if snap.kind == "overlay":
            assert (bundle / "upper" / "hello").read_text() == "written\n"
        for layer in store.layer_dirs(record):
            assert not os.path.exists(os.path.join(layer, "hello")), "a container wrote into an image layer"
    finally:
        snapshot.release(str(bundle))
    assert sorted(os.listdir(bundle)) == ["config.json"]
