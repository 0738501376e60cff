"""Configs and expected outcomes shared by the spec-conformance tests (issue 10: inherited
namespaces, rootfs propagation), which run them under pyrt-runc, runc and crun."""
from __future__ import annotations

from tests.support.bundle import base_config, make_bundle
from tests.support.mountns import in_private_ns

TYPES = ("pid", "network", "ipc", "uts", "mount", "cgroup")


def config_without(omit: set[str], cgroups_path: str) -> dict:
    """runc's default config with the namespace types OMIT left out, and what each omission
    makes impossible taken out with it (as any caller would): a hostname needs a uts
    namespace, masked and read-only paths need a mount namespace (runc: "unable to restrict
    sys entries without a private MNT namespace"), and sysfs can only be mounted from a
    network namespace of one's own (the host's /sys is bound instead)."""
    cfg = base_config()
    cfg["root"]["readonly"] = False
    listed = cfg["linux"]["namespaces"] + [{"type": "cgroup"}]  # runc's default has no cgroup one
    cfg["linux"]["namespaces"] = [n for n in listed if n["type"] not in omit]
    cfg["linux"]["cgroupsPath"] = cgroups_path
    if "uts" in omit:
        cfg.pop("hostname", None)
    if "mount" in omit:
        cfg["linux"].pop("maskedPaths", None)
        cfg["linux"].pop("readonlyPaths", None)
    if "network" in omit:
        cfg["mounts"] = [m for m in cfg["mounts"] if m["type"] != "sysfs"] + [
            {"destination": "/sys", "type": "bind", "source": "/sys", "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]}]
    return cfg


# What each rootfsPropagation value shows (tests/support/mountns.py, scenario "propagation"):
#   shared      a new peer group: the container's peer sees its mounts; not the host's peer
#   slave       receives the host's mounts, sends nothing back
#   private     neither way
#   unbindable  as private, and / cannot be bound
PROPAGATION = {
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
    """The "propagation" scenario for rootfsPropagation VALUE under RUNTIME."""
    cfg = base_config(["sleep", "600"])
    cfg["root"]["readonly"] = False
    cfg["linux"]["rootfsPropagation"] = value
    cfg["linux"]["cgroupsPath"] = cgroups_path
    work = tmp_path / value
    b = make_bundle(work / "bundle", cfg)
    res = in_private_ns("propagation", runtime=runtime, work=str(work), bundle=b, cid=f"prop-{value}")
    assert res.pop("rc") == 0, res
    return res
