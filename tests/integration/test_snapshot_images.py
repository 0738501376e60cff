"""The project's test images (rootfs-tools/build-images.py): every layer unpacked with
unpack_layer and stacked as an overlay must equal `umoci unpack` of the same layout."""
from __future__ import annotations

import json
import os
import subprocess

import pytest

from pyrt.engine import snapshot
from pyrt.image.unpack import unpack_layer
from tests.integration.test_snapshot import tree

pytest_plugins = ["tests.support.registry_fixtures"]


def _manifest(layout: str) -> dict:
    with open(os.path.join(layout, "index.json")) as f:
        top = json.load(f)["manifests"][0]["digest"]
    with open(os.path.join(layout, "blobs", "sha256", top[7:])) as f:
        return json.load(f)


@pytest.mark.parametrize("name", ["busybox", "multilayer", "zstd", "plain"])
def test_overlay_of_test_image_matches_umoci(image_layouts, tmp_path, name):
    layout = image_layouts[name]
    man = _manifest(layout)
    dirs = []
    for i, layer in enumerate(man["layers"]):
        d = str(tmp_path / "layers" / str(i))
        unpack_layer(os.path.join(layout, "blobs", "sha256", layer["digest"][7:]), layer["mediaType"], d)
        dirs.append(d)
    ref = tmp_path / "umoci"
    # Debian's umoci cannot read zstd layers; the zstd image holds the busybox image's rootfs.
    ref_layout = image_layouts["busybox"] if name == "zstd" else layout
    subprocess.run(["umoci", "unpack", "--image", f"{ref_layout}:latest", str(ref)], check=True,
                   capture_output=True)
    cdir = str(tmp_path / "c")
    snap = snapshot.prepare(cdir, dirs)
    try:
        assert snap.kind == "overlay"
        want = tree(ref / "rootfs")
        assert len(want) > 3
        assert tree(snap.rootfs) == want
    finally:
        snapshot.release(cdir)
