"""rootfsPropagation applies to the container's root (config-linux.md, Rootfs Mount
Propagation), tested for real: the bundle sits on a shared mount of the test's own private
mount namespace (the host side); after start, a mount made inside the container and one made
on the host side under its rootfs are looked for on the other side, and the container binds
its own / (a peer of it, as a nested container's rootfs would be).

    shared      a new peer group: the container's peer sees its mounts; not the host's peer
    slave       receives the host's mounts, sends nothing back
    private     neither way
    unbindable  as private, and / cannot be bound
"""
from __future__ import annotations

import pytest

from tests.support.bundle import PYRT_RUNC, base_config, make_bundle
from tests.support.conformance import PROPAGATION, propagation_run
from tests.support.mountns import in_private_ns


@pytest.mark.parametrize("value", sorted(PROPAGATION))
def test_rootfs_propagation_behaves_as_named(value, tmp_path, cgroup_parent):
    assert propagation_run(PYRT_RUNC, tmp_path, cgroup_parent, value) == PROPAGATION[value]


def test_unbindable_with_the_rootfs_on_an_ordinary_directory(tmp_path, cgroup_parent):
    """The rootfs on no mount of its own (its parent mount is / itself, made unbindable first):
    the self-bind of the rootfs used to fail with EINVAL."""
    cfg = base_config(["sh", "-c", "grep -c unbindable /proc/self/mountinfo"])
    cfg["linux"]["rootfsPropagation"] = "unbindable"
    cfg["linux"]["cgroupsPath"] = cgroup_parent
    b = make_bundle(tmp_path / "bundle", cfg)
    res = in_private_ns("run_and_clean", runtime=PYRT_RUNC, work=str(tmp_path), bundle=b, cid="unbindable")
    assert res["rc"] == 0, res["stderr"]
    assert int(res["stdout"]) >= 1 and res["left"] == [] and res["state_left"] == []
