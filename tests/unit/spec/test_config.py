"""The arrays and vocabularies of config.json that pyrt.spec.config reads itself (mounts,
namespaces, uid/gid mappings, devices, rlimits, personality, time offsets and the small maps):
null / missing / empty, wrong JSON types, unknown or duplicated values, and the one-line message
that names the field. Where runc 1.1.5's answer is not obvious, the same config.json runs under
both runtimes in tests/integration/test_differential_config.py.
"""
import pytest

from pyrt.errors import ConfigError
from pyrt.spec.config import parse
from tests.support.bundle import base_config


def _at(part, **values):
    """An edit of base_config(): VALUES set at the top level (PART None), in process or in linux."""
    def edit(c):
        (c if part is None else c[part]).update(values)
    return edit


top = lambda **v: _at(None, **v)  # noqa: E731
proc = lambda **v: _at("process", **v)  # noqa: E731
lx = lambda **v: _at("linux", **v)  # noqa: E731


def user_ns(uid=None, gid=None):
    """A new user namespace with one-id mappings, UID or GID replacing one side's list."""
    one = [{"containerID": 0, "hostID": 0, "size": 1}]
    return lx(namespaces=[{"type": "user"}, {"type": "uts"}], uidMappings=one if uid is None else uid,
              gidMappings=one if gid is None else gid)


def idmap(**m):
    return [{"containerID": 0, "hostID": 0, "size": 1, **m}]


def rl(t="RLIMIT_NOFILE", soft=1, hard=1):
    return {"type": t, "soft": soft, "hard": hard}


def dev(**d):
    return [{"path": "/dev/x", "type": "c", **d}]


def parsed(edit):
    c = base_config(["sh"])
    edit(c)
    return parse(c, "/b")


REFUSED = {
    # mounts
    "mounts-object": (top(mounts={}), "mounts: expected a list, got dict"),
    "mounts-string": (top(mounts="x"), "mounts: expected a list, got str"),
    "mount-null": (top(mounts=[None]), "mounts[0].destination: is required"),
    "mount-string": (top(mounts=["/x"]), "mounts[0]: expected an object, got str"),
    "mount-no-destination": (top(mounts=[{"type": "tmpfs"}]), "mounts[0].destination: is required"),
    "mount-empty-destination": (top(mounts=[{"destination": ""}]), "mounts[0].destination: is required"),
    "mount-destination-number": (top(mounts=[{"destination": 1}]), "mounts[0].destination: expected a string, got 1"),
    "mount-type-number": (top(mounts=[{"destination": "/x", "type": 1}]), "mounts[0].type: expected a string, got 1"),
    "mount-source-list": (top(mounts=[{"destination": "/x", "source": []}]), "mounts[0].source: expected a string, got []"),
    "mount-options-string": (top(mounts=[{"destination": "/x", "options": "ro"}]),
                             "mounts[0].options: expected a list, got str"),
    "mount-options-number": (top(mounts=[{"destination": "/x", "options": [1]}]),
                             "mounts[0].options: expected a list of strings, got [1]"),
    "second-mount": (top(mounts=[{"destination": "/x"}, {}]), "mounts[1].destination: is required"),
    # namespaces
    "ns-object": (lx(namespaces={}), "linux.namespaces: expected a list, got dict"),
    "ns-null": (lx(namespaces=[None]), "linux.namespaces[0].type: is required"),
    "ns-string": (lx(namespaces=["pid"]), "linux.namespaces[0]: expected an object, got str"),
    "ns-type-missing": (lx(namespaces=[{}]), "linux.namespaces[0].type: is required"),
    "ns-type-empty": (lx(namespaces=[{"type": ""}]), "linux.namespaces[0].type: is required"),
    "ns-type-number": (lx(namespaces=[{"type": 1}]), "linux.namespaces[0].type: expected a string, got 1"),
    "ns-type-case": (lx(namespaces=[{"type": "PID"}]), "linux.namespaces[0].type: unknown namespace type 'PID'"),
    "ns-type-unknown": (lx(namespaces=[{"type": "nope"}]), "linux.namespaces[0].type: unknown namespace type 'nope'"),
    "ns-twice": (lx(namespaces=[{"type": "uts"}, {"type": "pid"}, {"type": "pid", "path": "/proc/1/ns/pid"}]),
                 "linux.namespaces[2].type: 'pid' is listed twice"),
    "ns-path-relative": (lx(namespaces=[{"type": "pid", "path": "proc/1/ns/pid"}]),
                         "linux.namespaces[0].path: 'proc/1/ns/pid' must be an absolute path"),
    "ns-path-number": (lx(namespaces=[{"type": "pid", "path": 1}]), "linux.namespaces[0].path: expected a string, got 1"),
    # uid / gid mappings
    "uidmap-object": (lx(uidMappings={}), "linux.uidMappings: expected a list, got dict"),
    "gidmap-string": (lx(gidMappings="0 0 1"), "linux.gidMappings: expected a list, got str"),
    "uidmap-null": (user_ns(uid=[None]), "linux.uidMappings[0].size: 0 is below the minimum 1"),
    "uidmap-list": (user_ns(uid=[[]]), "linux.uidMappings[0]: expected an object, got list"),
    "uidmap-size-zero": (user_ns(uid=idmap(size=0)), "linux.uidMappings[0].size: 0 is below the minimum 1"),
    "uidmap-size-missing": (user_ns(uid=[{"containerID": 0, "hostID": 0}]),
                            "linux.uidMappings[0].size: 0 is below the minimum 1"),
    "uidmap-size-null": (user_ns(uid=idmap(size=None)), "linux.uidMappings[0].size: 0 is below the minimum 1"),
    "uidmap-size-float": (user_ns(uid=idmap(size=1.5)), "linux.uidMappings[0].size: expected an integer, got 1.5"),
    "uidmap-container-string": (user_ns(uid=idmap(containerID="0")),
                                "linux.uidMappings[0].containerID: expected an integer, got '0'"),
    "gidmap-size-negative": (user_ns(gid=idmap(size=-1)), "linux.gidMappings[0].size: -1 is below the minimum 1"),
    "gidmap-host-negative": (user_ns(gid=idmap(hostID=-1)), "linux.gidMappings[0].hostID: -1: uids and gids must be in range 0-2147483647"),
    "gidmap-second": (user_ns(gid=idmap() + [{"size": True}]),
                      "linux.gidMappings[1].size: expected an integer, got True"),
    # devices
    "dev-object": (lx(devices={}), "linux.devices: expected a list, got dict"),
    "dev-null": (lx(devices=[None]), "linux.devices[0].path: '' must be a path under /dev"),
    "dev-string": (lx(devices=["/dev/x"]), "linux.devices[0]: expected an object, got str"),
    "dev-no-path": (lx(devices=[{"type": "c"}]), "linux.devices[0].path: '' must be a path under /dev"),
    "dev-path-outside": (lx(devices=dev(path="/dev/../etc/x")), "linux.devices[0].path: '/dev/../etc/x' must be a path under /dev"),
    "dev-type-missing": (lx(devices=[{"path": "/dev/x"}]), "linux.devices[0].type: is required"),
    "dev-type-unknown": (lx(devices=dev(type="x")), "linux.devices[0].type: unknown device type 'x'"),
    "dev-type-upper": (lx(devices=dev(type="C")), "linux.devices[0].type: unknown device type 'C'"),
    "dev-type-number": (lx(devices=dev(type=1)), "linux.devices[0].type: expected a string, got 1"),
    "dev-major-negative": (lx(devices=dev(major=-1)), "linux.devices[0].major: -1 is below the minimum 0"),
    "dev-minor-string": (lx(devices=dev(minor="1")), "linux.devices[0].minor: expected an integer, got '1'"),
    "dev-mode-too-big": (lx(devices=dev(fileMode=0o200000)), "linux.devices[0].fileMode: 65536 is above the maximum 65535"),
    "dev-uid-negative": (lx(devices=dev(uid=-1)), "linux.devices[0].uid: -1 is below the minimum 0"),
    # rlimits
    "rlimits-object": (proc(rlimits={}), "process.rlimits: expected a list, got dict"),
    "rlimit-null": (proc(rlimits=[None]), "process.rlimits[0].type: is required"),
    "rlimit-string": (proc(rlimits=["RLIMIT_NOFILE"]), "process.rlimits[0]: expected an object, got str"),
    "rlimit-type-empty": (proc(rlimits=[rl("")]), "process.rlimits[0].type: is required"),
    "rlimit-type-number": (proc(rlimits=[rl(7)]), "process.rlimits[0].type: expected a string, got 7"),
    "rlimit-type-case": (proc(rlimits=[rl("rlimit_nofile")]), "process.rlimits[0].type: unknown rlimit 'rlimit_nofile'"),
    "rlimit-twice": (proc(rlimits=[rl(), rl("RLIMIT_CORE"), rl(soft=2, hard=2)]),
                     "process.rlimits[2].type: 'RLIMIT_NOFILE' is listed twice"),
    "rlimit-soft-negative": (proc(rlimits=[rl(soft=-1)]), "process.rlimits[0].soft: -1 is below the minimum 0"),
    "rlimit-soft-too-big": (proc(rlimits=[rl(soft=2**64)]),
                            f"process.rlimits[0].soft: {2**64} is above the maximum {2**64 - 1}"),
    "rlimit-hard-string": (proc(rlimits=[rl(hard="1")]), "process.rlimits[0].hard: expected an integer, got '1'"),
    # personality, time offsets, propagation
    "personality-list": (lx(personality=[]), "linux.personality: expected an object, got list"),
    "personality-empty": (lx(personality={}), "linux.personality.domain: is required"),
    "personality-unknown": (lx(personality={"domain": "LINUX64"}), "linux.personality.domain: unknown domain 'LINUX64'"),
    "personality-number": (lx(personality={"domain": 1}), "linux.personality.domain: expected a string, got 1"),
    "offsets-list": (lx(timeOffsets=[]), "linux.timeOffsets: expected an object, got list"),
    "offsets-unknown-clock": (lx(timeOffsets={"realtime": {"secs": 1}}), "linux.timeOffsets: unknown clock 'realtime'"),
    "offset-list": (lx(timeOffsets={"monotonic": []}), "linux.timeOffsets.monotonic: expected an object, got list"),
    "offset-nanosecs-too-big": (lx(timeOffsets={"boottime": {"nanosecs": 10**9}}),
                                "linux.timeOffsets.boottime.nanosecs: 1000000000 is above the maximum 999999999"),
    "offset-secs-string": (lx(timeOffsets={"monotonic": {"secs": "1"}}),
                           "linux.timeOffsets.monotonic.secs: expected an integer, got '1'"),
    "propagation-number": (lx(rootfsPropagation=1), "linux.rootfsPropagation: expected a string, got 1"),
    "propagation-unknown": (lx(rootfsPropagation="sideways"), "linux.rootfsPropagation: unknown propagation 'sideways'"),
    # small maps and objects
    "sysctl-list": (lx(sysctl=[]), "linux.sysctl: expected an object, got list"),
    "sysctl-number": (lx(sysctl={"net.x": 1}), "linux.sysctl.net.x: value must be a string"),
    "gids-string": (lambda c: c["process"]["user"].update(additionalGids="1"),
                    "process.user.additionalGids: expected a list, got str"),
    "gids-negative": (lambda c: c["process"]["user"].update(additionalGids=[-1]),
                      "process.user.additionalGids[0]: -1: uids and gids must be in range 0-2147483647"),
    "console-size-list": (proc(consoleSize=[]), "process.consoleSize: expected an object, got list"),
    "console-size-negative": (proc(consoleSize={"height": -1, "width": 1}),
                              "process.consoleSize.height: -1 is below the minimum 0"),
    "annotations-list": (top(annotations=[]), "annotations: expected an object, got list"),
    "annotation-number": (top(annotations={"a": 1}), "annotations: values must be strings"),
    "linux-list": (top(linux=[]), "linux: expected an object, got list"),
    "process-list": (top(process=[]), "process: expected an object, got list"),
    "root-list": (top(root=[]), "root: expected an object, got list"),
    "hostname-number": (top(hostname=1), "hostname: expected a string, got 1"),
    "domainname-list": (top(domainname=[]), "domainname: expected a string, got []"),
    "version-number": (top(ociVersion=1), "ociVersion: expected a string, got 1"),
    "version-empty": (top(ociVersion=""), "ociVersion: is required"),
}


@pytest.mark.parametrize("case", REFUSED)
def test_refused_with_one_line_naming_the_field(case):
    edit, message = REFUSED[case]
    with pytest.raises(ConfigError) as e:
        parsed(edit)
    assert str(e.value) == message


def test_null_missing_and_empty_arrays_read_as_none():
    def drop(part, *keys):
        def edit(c):
            for k in keys:
                (c if part is None else c[part]).pop(k, None)
        return edit
    for edit in (top(mounts=None), top(mounts=[]), drop(None, "mounts")):
        assert parsed(edit).mounts == ()
    for edit in (proc(rlimits=None), proc(rlimits=[]), drop("process", "rlimits")):
        assert parsed(edit).process.rlimits == ()
    no_ns = (lx(namespaces=None), lx(namespaces=[]), drop("linux", "namespaces"))
    for edit in no_ns:
        assert parsed(lambda c: (c.pop("hostname"), edit(c))).linux.namespaces == ()
    for key in ("devices", "uidMappings", "gidMappings"):
        for edit in (lx(**{key: None}), lx(**{key: []}), drop("linux", key)):
            s = parsed(edit).linux
            assert s.devices == s.uid_mappings == s.gid_mappings == ()
    for edit in (lx(personality=None), drop("linux", "personality")):
        assert parsed(edit).linux.personality is None
    for edit in (lx(timeOffsets=None), lx(timeOffsets={})):
        assert parsed(edit).linux.time_offsets == ()


def test_accepted_values_are_read():
    s = parsed(lambda c: (
        c["mounts"].append({"destination": "/x"}),
        lx(devices=dev() + [{"path": "/dev/f", "type": "p", "fileMode": 0o10644, "uid": 1, "gid": 2},
                            {"path": "/dev/u", "type": "u", "major": 1, "minor": 3}],
           personality={"domain": "LINUX32"}, rootfsPropagation="rslave",
           namespaces=[{"type": t} for t in ("pid", "uts", "time")] + [{"type": "network", "path": "/run/netns/x"}],
           timeOffsets={"monotonic": {"secs": -5}, "boottime": {"nanosecs": 7}})(c),
        proc(rlimits=[rl(), rl("RLIMIT_CORE", 0, 2**64 - 1)])(c)))
    x = s.mounts[-1]
    assert (x.destination, x.type, x.source, x.options) == ("/x", "", "", ())
    d0, d1, d2 = s.linux.devices
    assert (d0.type, d0.major, d0.minor, d0.file_mode, d0.uid) == ("c", 0, 0, None, None)  # missing major/minor: 0
    assert (d1.type, d1.file_mode, d1.uid, d1.gid) == ("p", 0o644, 1, 2)  # the node type bits dropped
    assert (d2.major, d2.minor) == (1, 3)
    assert s.linux.personality == 0x0008 and s.linux.rootfs_propagation == "rslave"
    assert [(n.type, n.path) for n in s.linux.namespaces] == [
        ("pid", ""), ("uts", ""), ("time", ""), ("network", "/run/netns/x")]
    assert s.has_new("time") and not s.has_new("network")
    assert s.linux.time_offsets == (("monotonic", -5, 0), ("boottime", 0, 7))
    assert [(r.type, r.soft, r.hard) for r in s.process.rlimits] == [(
        "RLIMIT_NOFILE", 1, 1), ("RLIMIT_CORE", 0, 2**64 - 1)]


def test_id_mappings_read_in_order():
    s = parsed(user_ns(uid=[{"containerID": 0, "hostID": 1000, "size": 1}, {"containerID": 1, "hostID": 100000, "size": 65536}],
                       gid=[{"hostID": 1000, "size": 1}]))
    assert [(m.container_id, m.host_id, m.size) for m in s.linux.uid_mappings] == [(0, 1000, 1), (1, 100000, 65536)]
    assert [(m.container_id, m.host_id, m.size) for m in s.linux.gid_mappings] == [(0, 1000, 1)]


def test_integer_reads_null_as_missing_so_a_required_size_is_still_checked():
    from pyrt.spec import fields
    for d in ({}, {"size": None}):
        with pytest.raises(ConfigError, match="^m.size: 0 is below the minimum 1$"):
            fields.integer(d, "size", "m", lo=1, default=0)
    assert fields.integer({"n": None}, "n", "m", lo=1) is None
