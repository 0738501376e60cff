"""A private containerd with its CRI plugin, and a small CRI v1 client, for driving pyrt-runc the
way the kubelet does (RuntimeClass handler -> containerd-shim-runc-v2 -> BinaryName).

containerd runs in a CgroupJail (tests/support/cgjail.py) that owns a network namespace too: pod
cgroups (cgroup_parent is jail-relative), shims and pause processes stay beneath our own cgroup;
the CNI bridge, veths and pod network namespaces (bind-mounted under containerd's state dir,
netns_mounts_under_state_dir) stay in the jail's network and mount namespaces; /run and /var/lib
(the shims' sockets, runc's --root, CNI's cache) are the jail's tmpfs. Two runtime handlers:
`runc` and `pyrt`: BinaryName = this repo's pyrt-runc-fast, with pyrt-runc's resident helper
running in the jail (as docs/kubernetes.md sets a node up; pyrt/cli/runc_helper.py), and a third,
`pyrt-plain`, BinaryName = pyrt-runc itself, which the life-cycle test also runs. Images are built offline: a pause image
(rootfs-tools/pause, one static binary) and the test busybox, imported with `ctr -n k8s.io`.

The client is compiled from tests/support/cri_v1.proto (the subset of the CRI v1 API the tests
call) with grpcio-tools into a temp dir, once per process.
"""
from __future__ import annotations

import atexit
import functools
import importlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid

from tests.support.bundle import PYRT_RUNC, PYRT_RUNC_FAST, PYRT_RUNC_HELPER, REPO, RUNC
from tests.support.callers import stage_busybox_rootfs
from tests.support.containerd import Containerd
from tests.support.differential import probe_binary

HANDLERS = {"runc": RUNC, "pyrt": PYRT_RUNC_FAST}
EXTRA_HANDLERS = {"pyrt-plain": PYRT_RUNC}     # registered too; not in every test
HELPER_SOCKET = "/run/pyrt-runc-helper.sock"  # the default, in the jail's own /run
PAUSE_IMAGE = "localhost/pyrt-pause:test"
CNI_BIN = "/usr/lib/cni"
SUBNET, GATEWAY = "10.88.0.0/16", "10.88.0.1"
BRIDGE = "cni0"
POD_CGROUP_PARENT = "/pyrt-pods"  # jail-relative (the jail's cgroup namespace)


def _cap_sys_resource() -> bool:
    with open("/proc/self/status") as f:
        eff = next(int(line.split()[1], 16) for line in f if line.startswith("CapEff:"))
    return bool(eff & (1 << 24))  # CAP_SYS_RESOURCE


def _handler(name: str, binary: str) -> str:
    return f"""
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.{name}]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.{name}.options]
        BinaryName = "{binary}"
"""


# Without CAP_SYS_RESOURCE (this VM's root) the pause container's oom_score_adj of -998 cannot be
# written: restrict_oom_score_adj keeps every request at or above containerd's own.
CRI_CONFIG = """
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{pause}"
  netns_mounts_under_state_dir = true
  restrict_oom_score_adj = {restrict}
  disable_apparmor = true
  enable_selinux = false
  stream_server_address = "127.0.0.1"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{cni_bin}"
    conf_dir = "{{d}}/cni"
    max_conf_num = 1
  [plugins."io.containerd.grpc.v1.cri".containerd]
    default_runtime_name = "{default}"
    snapshotter = "overlayfs"
{handlers}"""

CNI_CONFLIST = {
    "cniVersion": "0.4.0", "name": "pyrt-test",
    "plugins": [{"type": "bridge", "bridge": BRIDGE, "isGateway": True, "ipMasq": False,
                 "ipam": {"type": "host-local", "ranges": [[{"subnet": SUBNET}]],
                          "routes": [{"dst": "0.0.0.0/0"}]}}],
}


@functools.cache
def api():
    """(messages module, grpc stubs module) compiled from cri_v1.proto."""
    from grpc_tools import protoc  # noqa: PLC0415  (a test dependency; only CRI tests need it)
    out = tempfile.mkdtemp(prefix="pyrt-cri-api-")
    atexit.register(shutil.rmtree, out, ignore_errors=True)
    here = os.path.dirname(os.path.abspath(__file__))
    rc = protoc.main(["protoc", f"-I{here}", f"--python_out={out}", f"--grpc_python_out={out}",
                      os.path.join(here, "cri_v1.proto")])
    if rc != 0:
        raise RuntimeError(f"protoc failed on cri_v1.proto: {rc}")
    sys.path.insert(0, out)
    return importlib.import_module("cri_v1_pb2"), importlib.import_module("cri_v1_pb2_grpc")


@functools.cache
def pause_binary() -> str:
    d = tempfile.mkdtemp(prefix="pyrt-pause-")
    atexit.register(shutil.rmtree, d, ignore_errors=True)
    out = os.path.join(d, "pause")
    subprocess.run(["gcc", "-static", "-Os", "-Wall", "-Werror", "-o", out,
                    os.path.join(REPO, "rootfs-tools", "pause", "pause.c")], check=True)
    return out


class CriClient:
    """cri("RunPodSandbox", config=..., runtime_handler=...) sends a RunPodSandboxRequest made of
    the keyword fields (dicts for nested messages) and returns the response. DEADLINE bounds the
    call (`timeout` is a field of some requests)."""

    def __init__(self, address: str):
        import grpc  # noqa: PLC0415
        self.pb, stubs = api()
        self.channel = grpc.insecure_channel(f"unix://{address}")
        self.stub = stubs.RuntimeServiceStub(self.channel)

    def __call__(self, method: str, *, deadline: float = 60, **fields):
        request = getattr(self.pb, f"{method}Request")(**fields)
        return getattr(self.stub, method)(request, timeout=deadline)

    def close(self) -> None:
        self.channel.close()


class CriContainerd(Containerd):
    namespace = "k8s.io"

    def __init__(self, handlers: dict[str, str] = HANDLERS):
        """HANDLERS: runtime handler name -> the runtime binary it runs."""
        config = CRI_CONFIG.format(pause=PAUSE_IMAGE, cni_bin=CNI_BIN, default=next(iter(handlers)),
                                   restrict=str(not _cap_sys_resource()).lower(),
                                   handlers="".join(_handler(n, b) for n, b in
                                                    {**handlers, **EXTRA_HANDLERS}.items()))
        super().__init__("cri", cri_config=config, net=True)
        self.helper_log_path = os.path.join(self.dir, "helper.log")
        with open(self.helper_log_path, "w") as log:
            self.helper = self.jail.popen([PYRT_RUNC_HELPER, "--verbose"], stdin=subprocess.DEVNULL,
                                          stdout=log, stderr=log)
        seen = f"/proc/{self.jail.holder.pid}/root{HELPER_SOCKET}"
        deadline = time.monotonic() + 20
        while not os.path.exists(seen):
            if self.helper.poll() is not None or time.monotonic() > deadline:
                problems = self.close()
                raise RuntimeError(f"pyrt-runc-helper did not start: {open(self.helper_log_path).read()[-2000:]} {problems}")
            time.sleep(0.05)
        self.cri = CriClient(self.address)
        try:
            # containerd serves without its CRI plugin when the plugin fails to load.
            self.cri("Version", deadline=20)
        except Exception as e:
            log = self.daemon_log()[-2000:]
            problems = self.close()
            raise RuntimeError(f"containerd's CRI plugin does not answer ({e}): {log} {problems}") from None
        # (containerd's CNI config syncer may have made the directory already)
        os.makedirs(os.path.join(self.dir, "cni"), exist_ok=True)
        with open(os.path.join(self.dir, "cni", "10-pyrt-test.conflist"), "w") as f:
            json.dump(CNI_CONFLIST, f)
        self.logs = os.path.join(self.dir, "pod-logs")
        self._baseline = None

    def import_images(self) -> None:
        self.import_busybox({"/bin/probe": probe_binary()})
        stage = os.path.join(self.dir, "pause-rootfs")
        os.makedirs(stage)
        shutil.copy2(pause_binary(), os.path.join(stage, "pause"))
        self.import_rootfs(stage, PAUSE_IMAGE, entrypoint=["/pause"], cmd=())
        # The CRI plugin learns of imported images from containerd's events: wait until it does.
        deadline = time.monotonic() + 20
        while not self._cri_has(PAUSE_IMAGE) and time.monotonic() < deadline:
            time.sleep(0.1)
        self._baseline = self.resources()

    def _cri_has(self, image: str) -> bool:
        r = self.jail.run(self.ctr_argv(["image", "ls", "-q"]))
        return image in r.stdout.split()

    # -- a pod, the way the kubelet builds one -------------------------------------------------

    def sandbox_config(self, name: str, pid: str = "CONTAINER", privileged: bool = False) -> dict:
        uid = uuid.uuid4().hex
        return {"metadata": {"name": name, "uid": uid, "namespace": "pyrt-test", "attempt": 0},
                "hostname": name, "log_directory": os.path.join(self.logs, uid),
                "linux": {"cgroup_parent": f"{POD_CGROUP_PARENT}/pod{uid}",
                          "security_context": {"namespace_options": {"pid": pid}, "privileged": privileged}}}

    def run_pod(self, name: str, handler: str, pid: str = "CONTAINER", privileged: bool = False) -> tuple[str, dict]:
        config = self.sandbox_config(name, pid, privileged)
        os.makedirs(config["log_directory"])
        r = self.cri("RunPodSandbox", config=config, runtime_handler=handler)
        return r.pod_sandbox_id, config

    def create(self, pod: str, sandbox: dict, name: str, command: list[str],
               memory: int = 0, pid: str = "CONTAINER", security: dict | None = None) -> str:
        """SECURITY: more fields of the container's LinuxContainerSecurityContext."""
        config = {"metadata": {"name": name}, "image": {"image": self.image}, "command": command,
                  "log_path": f"{name}.log",
                  "linux": {"resources": {"memory_limit_in_bytes": memory},
                            "security_context": {"namespace_options": {"pid": pid}, **(security or {})}}}
        return self.cri("CreateContainer", pod_sandbox_id=pod, config=config,
                        sandbox_config=sandbox).container_id

    def status(self, cid: str):
        return self.cri("ContainerStatus", container_id=cid).status

    def wait_state(self, cid: str, state: str, timeout: float = 30):
        want = self.cri.pb.ContainerState.Value(state)
        deadline = time.monotonic() + timeout
        while (st := self.status(cid)).state != want and time.monotonic() < deadline:
            time.sleep(0.05)
        return st

    def remove_pod(self, pod: str, sandbox: dict | None = None) -> None:
        """Stop and remove POD, then, as the kubelet does, its pod cgroup (SANDBOX's
        cgroup_parent; only if empty: a container cgroup left in it stays to be seen)."""
        self.cri("StopPodSandbox", pod_sandbox_id=pod)
        self.cri("RemovePodSandbox", pod_sandbox_id=pod)
        if sandbox:
            self.remove_pod_cgroup(sandbox)

    def remove_pod_cgroup(self, sandbox: dict) -> None:
        for d in self.jail.dirs:
            try:
                os.rmdir(d + sandbox["linux"]["cgroup_parent"])
            except OSError:
                pass

    # -- what a pod leaves behind -------------------------------------------------------------

    def resources(self) -> dict[str, set]:
        """What pods make and must take away again: processes in the jail besides containerd
        and the holder, cgroups, network links, pod netns files, mounts, CRI's pods."""
        procs = set()
        for pid in self.jail.pids() - {self.jail.holder.pid, self.daemon.pid}:
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    argv = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
                procs.add(f"{pid}:{argv}")
            except FileNotFoundError:
                pass
        cgroups = set()
        for d in self.jail.dirs:
            for root, dirs, _ in os.walk(d):
                cgroups |= {os.path.join(root, e)[len(d):] for e in dirs}
        cgroups.discard(POD_CGROUP_PARENT)  # the kubelet's kubepods: made once, kept
        # The CNI bridge stays too (made by the first pod, as on a node).
        links = set(re.findall(r"^\d+: ([^:@]+)", self.jail.run(["ip", "-o", "link", "show"]).stdout, re.M))
        links.discard(BRIDGE)
        netns = set()
        for root, _, files in os.walk(os.path.join(self.dir, "state")):
            if os.path.basename(root) == "netns":
                netns |= {os.path.join(root, f) for f in files}
        with open(f"/proc/{self.jail.holder.pid}/mountinfo") as f:
            mounts = {line.split()[4] for line in f}
        pods = {p.id for p in self.cri("ListPodSandbox").items}
        return {"processes": procs, "cgroups": cgroups, "links": links, "netns": netns,
                "mounts": mounts, "pods": pods}

    def left_behind(self) -> dict[str, set]:
        now = self.resources()
        return {k: now[k] - self._baseline.get(k, set()) for k in now if now[k] - self._baseline.get(k, set())}

    def wait_clean(self, timeout: float = 15) -> dict[str, set]:
        """left_behind() once it is empty or TIMEOUT has passed (processes take a moment to go)."""
        deadline = time.monotonic() + timeout
        while (left := self.left_behind()) and time.monotonic() < deadline:
            time.sleep(0.1)
        return left

    def clear(self) -> list[str]:
        problems = []
        if self.daemon.poll() is None:
            try:
                pods = self.cri("ListPodSandbox").items
            except Exception as e:  # noqa: BLE001
                pods = []
                problems.append(f"CRI ListPodSandbox failed: {e}")
            for p in pods:
                problems.append(f"pod left: {p.metadata.name} ({p.runtime_handler})")
                try:
                    self.remove_pod(p.id)
                except Exception as e:  # noqa: BLE001  (a failed clean-up is reported, not raised)
                    problems.append(f"pod {p.metadata.name} not removable: {e}")
            for d in self.jail.dirs:
                parent = d + POD_CGROUP_PARENT
                for e in os.listdir(parent) if os.path.isdir(parent) else ():
                    try:
                        os.rmdir(os.path.join(parent, e))
                    except OSError:
                        pass
        return problems + super().clear()

    def helper_log(self) -> list[str]:
        """The helper's lines so far: `served VERB` or `declined VERB: why` per call."""
        with open(self.helper_log_path) as f:
            return [line.split(": ", 1)[1].strip() for line in f if line.startswith("pyrt-runc-helper: ")]

    def stop_services(self) -> list[str]:
        helper = getattr(self, "helper", None)
        if helper is None or helper.poll() is not None:
            return []
        helper.terminate()      # ours: SIGTERM ends it and removes its socket
        try:
            helper.wait(timeout=15)
        except subprocess.TimeoutExpired:
            helper.kill()
            helper.wait()
            return ["pyrt-runc-helper ignored SIGTERM"]
        return []

    def close(self) -> list[str]:
        problems = super().close()
        self.cri.close()
        return problems
