"""Kubernetes' way in: the CRI (what the kubelet speaks) -> containerd's CRI plugin -> the runtime
handler's containerd-shim-runc-v2 -> runc or pyrt-runc. Every case runs with handler `runc` and
handler `pyrt` side by side, with the same expectations.

containerd, CNI and both handlers are private (tests/support/cri.py): a jail with its own cgroup
parent, network and mount namespaces; pods get real network namespaces, veths on a bridge and
cgroups beneath our own. After every test nothing may be left: no shim, no pause, no container
process, no cgroup, no veth, no netns file, no mount, no pod.
"""
from __future__ import annotations

import ipaddress
import json
import os
import re
import time

import grpc
import pytest

from tests.support.cri import EXTRA_HANDLERS, GATEWAY, HANDLERS, SUBNET, CriContainerd

MIB = 1 << 20


@pytest.fixture(scope="module")
def k8s():
    world = CriContainerd()
    try:
        world.import_images()
        yield world
    finally:
        problems = world.close()
    assert not problems, problems


@pytest.fixture(autouse=True)
def nothing_left(k8s):
    yield
    left = k8s.wait_clean()
    problems = k8s.clear()
    assert not left and not problems, f"left behind: {left} {problems}"


def exec_sync(k8s, cid, *cmd, timeout=20):
    r = k8s.cri("ExecSync", container_id=cid, cmd=list(cmd), timeout=timeout)
    return r.exit_code, r.stdout.decode(), r.stderr.decode()


def log_entries(path) -> list[tuple[str, str, str]]:
    """(stream, tag, text) of each line of a CRI log file: '<RFC 3339 time> <stream> <P|F> <text>'."""
    out = []
    with open(path) as f:
        for line in f.read().splitlines():
            m = re.fullmatch(r"\d{4}-\d\d-\d\dT\S+ (stdout|stderr) ([PF]) (.*)", line)
            assert m, f"not a CRI log line: {line!r}"
            out.append(m.groups())
    return out


def log_path(sandbox, name) -> str:
    return os.path.join(sandbox["log_directory"], f"{name}.log")


# pid 1 with a TERM handler that does not end it: the grace period must run out, then KILL.
STUBBORN = ["sh", "-c", "trap 'echo got-term' TERM; echo started; while :; do sleep 1 & wait $!; done"]
# pid 1 that ends on TERM at once.
OBEDIENT = ["sh", "-c", "trap 'echo bye; exit 0' TERM; while :; do sleep 1 & wait $!; done"]


@pytest.mark.parametrize("handler", [*HANDLERS, *EXTRA_HANDLERS])
def test_pod_life_cycle(k8s, handler):
    served_before = len(k8s.helper_log())
    pod, sandbox = k8s.run_pod(f"life-{handler}", handler)
    st = k8s.cri("PodSandboxStatus", pod_sandbox_id=pod).status
    assert (st.state, st.runtime_handler) == (k8s.cri.pb.SANDBOX_READY, handler)
    ip = st.network.ip
    assert ipaddress.ip_address(ip) in ipaddress.ip_network(SUBNET), ip

    cid = k8s.create(pod, sandbox, "main", STUBBORN, memory=64 * MIB)
    quick = k8s.create(pod, sandbox, "quick", OBEDIENT)
    assert k8s.status(cid).state == k8s.cri.pb.CONTAINER_CREATED
    k8s.cri("StartContainer", container_id=cid)
    k8s.cri("StartContainer", container_id=quick)
    st = k8s.status(cid)
    assert st.state == k8s.cri.pb.CONTAINER_RUNNING and st.started_at > 0, st

    # ExecSync: output, exit code, the pod's hostname, network and the container's memory limit.
    assert exec_sync(k8s, cid, "hostname") == (0, f"life-{handler}\n", "")
    rc, out, _ = exec_sync(k8s, cid, "ip", "-o", "-4", "addr", "show", "eth0")
    assert rc == 0 and f" {ip}/" in out, out
    assert exec_sync(k8s, cid, "cat", "/sys/fs/cgroup/memory/memory.limit_in_bytes") == (0, f"{64 * MIB}\n", "")
    rc, out, _ = exec_sync(k8s, cid, "ping", "-c", "1", "-W", "5", GATEWAY)
    assert rc == 0 and "1 packets received" in out, out
    assert exec_sync(k8s, cid, "sh", "-c", "echo out; echo err >&2; exit 3") == (3, "out\n", "err\n")
    # Its own pid namespace (the default of a v1 pod): pid 1 is the container's command.
    assert exec_sync(k8s, cid, "cat", "/proc/1/cmdline")[1].split("\0")[:2] == ["sh", "-c"]

    # An exec that outlives its timeout is killed and reported, and the container goes on.
    t = time.monotonic()
    with pytest.raises(grpc.RpcError) as e:
        exec_sync(k8s, cid, "sleep", "60", timeout=1)
    assert "timeout" in e.value.details() and time.monotonic() - t < 50, e.value.details()
    deadline = time.monotonic() + 10
    while "sleep 60" in (ps := exec_sync(k8s, cid, "ps", "-o", "args")[1]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "sleep 60" not in ps, ps

    stats = k8s.cri("ContainerStats", container_id=cid).stats
    assert stats.attributes.id == cid
    assert stats.cpu.usage_core_nano_seconds.value > 0 and stats.memory.working_set_bytes.value > 0, stats

    # Grace period honoured: TERM first (the handler logs it), KILL once the period has run out.
    t = time.monotonic()
    k8s.cri("StopContainer", container_id=cid, timeout=2)
    assert time.monotonic() - t >= 2
    st = k8s.status(cid)
    assert (st.state, st.exit_code, st.reason) == (k8s.cri.pb.CONTAINER_EXITED, 137, "Error"), st
    assert ("stdout", "F", "got-term") in log_entries(log_path(sandbox, "main"))
    # ... and not waited for when the container ends on TERM.
    t = time.monotonic()
    k8s.cri("StopContainer", container_id=quick, timeout=30)
    assert time.monotonic() - t < 25
    st = k8s.status(quick)
    assert (st.state, st.exit_code, st.reason) == (k8s.cri.pb.CONTAINER_EXITED, 0, "Completed"), st

    for c in (cid, quick):
        k8s.cri("RemoveContainer", container_id=c)
    assert not k8s.cri("ListContainers", filter={"pod_sandbox_id": pod}).containers
    k8s.cri("StopPodSandbox", pod_sandbox_id=pod)
    assert k8s.cri("PodSandboxStatus", pod_sandbox_id=pod).status.state == k8s.cri.pb.SANDBOX_NOTREADY
    k8s.cri("RemovePodSandbox", pod_sandbox_id=pod)
    k8s.remove_pod_cgroup(sandbox)
    assert k8s.wait_clean() == {}
    # Handler pyrt: the shim's short verbs went to the resident helper, none declined; the others
    # never reach it (create and exec are never sent: their processes must be the shim's children).
    lines = k8s.helper_log()[served_before:]
    if handler == "pyrt":
        assert {"served start", "served kill", "served delete"} <= {line.split(" (")[0] for line in lines}, lines
        assert not [line for line in lines if not line.startswith("served ")], lines
    else:
        assert lines == [], lines


@pytest.mark.parametrize("handler", HANDLERS)
def test_shared_pid_namespace(k8s, handler):
    """Containers of a pod with a POD pid namespace see the pause process as pid 1 and each other."""
    pod, sandbox = k8s.run_pod(f"shared-{handler}", handler, pid="POD")
    a = k8s.create(pod, sandbox, "a", ["sleep", "1001"], pid="POD")
    b = k8s.create(pod, sandbox, "b", ["sleep", "1002"], pid="POD")
    for c in (a, b):
        k8s.cri("StartContainer", container_id=c)
    assert exec_sync(k8s, b, "cat", "/proc/1/cmdline") == (0, "/pause\0", "")
    rc, out, _ = exec_sync(k8s, b, "ps", "-o", "pid,args")
    assert rc == 0 and {"sleep 1001", "sleep 1002", "/pause"} <= {" ".join(r.split()[1:]) for r in out.splitlines()}, out
    # StopPodSandbox stops the pod's containers too.
    k8s.cri("StopPodSandbox", pod_sandbox_id=pod)
    for c in (a, b):
        assert k8s.status(c).state == k8s.cri.pb.CONTAINER_EXITED
    k8s.remove_pod(pod, sandbox)


@pytest.mark.parametrize("handler", HANDLERS)
def test_container_exits_on_its_own(k8s, handler):
    """A container whose command ends: status EXITED with its code, logs at the CRI log path
    (stdout and stderr, an empty line too), then removed."""
    pod, sandbox = k8s.run_pod(f"exits-{handler}", handler)
    cid = k8s.create(pod, sandbox, "once", ["sh", "-c", "echo out-line; echo err-line >&2; echo; exit 7"])
    k8s.cri("StartContainer", container_id=cid)
    st = k8s.wait_state(cid, "CONTAINER_EXITED")
    assert (st.state, st.exit_code, st.reason) == (k8s.cri.pb.CONTAINER_EXITED, 7, "Error"), st
    # (no order between the two: started_at is taken when the start returns, finished_at from the
    # exit event, which can come first for so short a command)
    assert st.finished_at > 0 and st.started_at > 0, st
    assert st.log_path == log_path(sandbox, "once")
    entries = log_entries(st.log_path)
    assert sorted(entries) == [("stderr", "F", "err-line"), ("stdout", "F", ""), ("stdout", "F", "out-line")], entries
    k8s.cri("RemoveContainer", container_id=cid)
    with pytest.raises(grpc.RpcError) as e:
        k8s.status(cid)
    assert e.value.code() == grpc.StatusCode.NOT_FOUND
    k8s.remove_pod(pod, sandbox)


@pytest.mark.parametrize("handler", HANDLERS)
def test_start_error(k8s, handler):
    """A command that does not exist: StartContainer fails with the runtime's words, the
    container is EXITED (128, StartError) and nothing of it is left (no process, no cgroup, no
    rootfs mount) before it is even removed."""
    pod, sandbox = k8s.run_pod(f"starterr-{handler}", handler)
    cid = k8s.create(pod, sandbox, "bad", ["/no/such/binary"])
    with pytest.raises(grpc.RpcError) as e:
        k8s.cri("StartContainer", container_id=cid)
    assert "stat /no/such/binary: no such file or directory" in e.value.details(), e.value.details()
    st = k8s.status(cid)
    assert (st.state, st.exit_code, st.reason) == (k8s.cri.pb.CONTAINER_EXITED, 128, "StartError"), st
    assert "/no/such/binary" in st.message
    left = k8s.left_behind()
    assert not [x for kind in ("processes", "cgroups", "mounts") for x in left.get(kind, ()) if cid in x], left
    k8s.cri("RemoveContainer", container_id=cid)
    k8s.remove_pod(pod, sandbox)


@pytest.mark.parametrize("handler", HANDLERS)
def test_oom_killed(k8s, handler):
    """A container that outgrows its memory limit is reported OOMKilled. It waits for a go from
    an exec, so that the shim watches its cgroup's OOM events before the allocation starts."""
    pod, sandbox = k8s.run_pod(f"oom-{handler}", handler)
    script = "while [ ! -e /tmp/go ]; do sleep 0.1; done; exec dd if=/dev/zero of=/dev/null bs=64M count=1"
    cid = k8s.create(pod, sandbox, "hog", ["sh", "-c", script], memory=16 * MIB)
    k8s.cri("StartContainer", container_id=cid)
    assert exec_sync(k8s, cid, "touch", "/tmp/go")[0] == 0
    st = k8s.wait_state(cid, "CONTAINER_EXITED")
    assert (st.state, st.exit_code, st.reason) == (k8s.cri.pb.CONTAINER_EXITED, 137, "OOMKilled"), st
    k8s.cri("RemoveContainer", container_id=cid)
    k8s.remove_pod(pod, sandbox)


@pytest.mark.parametrize("handler", HANDLERS)
def test_five_pods(k8s, handler):
    """Five pods made one after another, all up at once (own address, own hostname), then
    taken down one after another."""
    pods = []
    for i in range(5):
        pod, sandbox = k8s.run_pod(f"five-{handler}-{i}", handler)
        cid = k8s.create(pod, sandbox, "c", ["sleep", "300"])
        k8s.cri("StartContainer", container_id=cid)
        pods.append((pod, sandbox, cid))
    ips = {k8s.cri("PodSandboxStatus", pod_sandbox_id=p).status.network.ip for p, _, _ in pods}
    assert len(ips) == 5, ips
    for i, (_, _, cid) in enumerate(pods):
        assert exec_sync(k8s, cid, "hostname") == (0, f"five-{handler}-{i}\n", "")
    for pod, sandbox, cid in pods:
        k8s.cri("StopContainer", container_id=cid, timeout=0)
        k8s.cri("RemoveContainer", container_id=cid)
        k8s.remove_pod(pod, sandbox)
    assert k8s.wait_clean() == {}


CAP_SYS_ADMIN = 1 << 21
# variant: (container security context, privileged pod, what the probe must see under either)
SECURITY = {
    "default": ({}, False, lambda r: r["status"]["Seccomp"] == "0" and r["euid"] == 0),
    "seccomp-runtime-default": ({"seccomp": {"profile_type": "RuntimeDefault"}, "no_new_privs": True}, False,
                                lambda r: (r["status"]["Seccomp"], r["status"]["NoNewPrivs"]) == ("2", "1")),
    "user-readonly-rootfs": ({"run_as_user": {"value": 1000}, "readonly_rootfs": True}, False,
                             lambda r: r["euid"] == 1000 and r["mounts"][0]["opts"].startswith("ro,")),
    "privileged": ({"privileged": True}, True,
                   lambda r: int(r["status"]["CapEff"], 16) & CAP_SYS_ADMIN and r["status"]["Seccomp"] == "0"),
}


@pytest.mark.parametrize("variant", SECURITY)
def test_probe_view_matches(k8s, variant):
    """What the static probe sees as a pod's container (mounts, capabilities, seccomp, no_new_privs,
    ids, rlimits, environment, namespaces...) is the same under both handlers, for the CRI's
    default container and with the security settings the kubelet passes most."""
    security, privileged, expected = SECURITY[variant]
    reports = {}
    for handler in HANDLERS:
        pod, sandbox = k8s.run_pod(f"probe-{variant}", handler, privileged=privileged)
        cid = k8s.create(pod, sandbox, "probe", ["/bin/probe"], security=security)
        k8s.cri("StartContainer", container_id=cid)
        st = k8s.wait_state(cid, "CONTAINER_EXITED")
        assert st.exit_code == 0, st
        # A long line is logged in parts (P) ended by a full one (F).
        text = "".join(t + ("\n" if tag == "F" else "")
                       for stream, tag, t in log_entries(st.log_path) if stream == "stdout")
        k8s.cri("RemoveContainer", container_id=cid)
        k8s.remove_pod(pod, sandbox)
        for unique, same in ((pod, "<pod>"), (cid, "<ctr>"), (sandbox["metadata"]["uid"], "<uid>")):
            text = text.replace(unique, same)
        reports[handler] = json.loads(re.sub(r"/snapshots/\d+/", "/snapshots/<n>/", text))
    a, b = reports["runc"], reports["pyrt"]
    assert any(m["mnt"] == "/proc" for m in a["mounts"]) and expected(a), a
    diffs = {k: (a.get(k), b.get(k)) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)}
    assert not diffs, json.dumps(diffs, indent=1)
