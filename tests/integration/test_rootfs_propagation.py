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
from tests.support.mountns import in_private_ns

EXPECTED = {
    "shared": {"bind_of_root": "ok", "container_mount_seen_by_its_peer": True, "container_mount_seen_on_host": False,
               "host_mount_seen_in_container": False, "root_propagation": ["shared"]},
    "slave": {"bind_of_root": "ok", "container_mount_seen_by_its_peer": False, "container_mount_seen_on_host": False,
              "host_mount_seen_in_container": True, "root_propagation": ["master"]},
    "private": {"bind_of_root": "ok", "container_mount_seen_by_its_peer": False, "container_mount_seen_on_host": False,
                "host_mount_seen_in_container": False, "root_propagation": ["private"]},
    "unbindable": {"bind_of_root": "refused", "container_mount_seen_by_its_peer": False,
                   "container_mount_seen_on_host": False, "host_mount_seen_in_container": False,
                   "root_propagation": ["unbindable"]},
}


def propagation_run(runtime: str, tmp_path, cgroups_path: str, value: str) -> dict:
    cfg = base_config(["sleep", "600"])
    cfg["root"]["readonly"] = False
    cfg["linux"]["rootfsPropagation"] = value
    cfg["linux"]["cgroupsPath"] = cgroups_path
    work = tmp_path / value
    b = make_bundle(work / "bundle", cfg)
    res = in_private_ns("propagation", runtime=runtime, work=str(work), bundle=b, cid=f"prop-{value}")
    assert res.pop("rc") == 0, res
    return res


@pytest.mark.parametrize("value", sorted(EXPECTED))
def test_rootfs_propagation_behaves_as_named(value, tmp_path, cgroup_parent):
    assert propagation_run(PYRT_RUNC, tmp_path, cgroup_parent, value) == EXPECTED[value]


def test_unbindable_with_the_rootfs_on_an_ordinary_directory(tmp_path, cgroup_parent):
    """The rootfs on no mount of its own (its parent mount is / itself, made unbindable first):
    the self-bind of the rootfs used to fail with EINVAL."""
    from tests.support.mountns import in_private_ns as ns
    cfg = base_config(["sh", "-c", "grep -c unbindable /proc/self/mountinfo"])
    cfg["linux"]["rootfsPropagation"] = "unbindable"
    cfg["linux"]["cgroupsPath"] = cgroup_parent
    b = make_bundle(tmp_path / "bundle", cfg)
    res = ns("run_and_clean", runtime=PYRT_RUNC, work=str(tmp_path), bundle=b, cid="unbindable")
    assert res["rc"] == 0, res["stderr"]
    assert int(res["stdout"]) >= 1 and res["left"] == [] and res["state_left"] == []
