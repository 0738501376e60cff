"""The engine's operations over one root: images, containers, volumes. No printing, no exits.

pyrt.engine.client wraps this in the public, docker-py-shaped API; the monitor's children call
launch() and after_exit(). Every operation that changes a container holds its lock (store.lock)
while it reads and writes the record, so concurrent pyrt commands never corrupt one.
"""
from __future__ import annotations

import contextlib
import json
import os
import time

from pyrt.engine import logs
from pyrt.engine.errors import Conflict, EngineError, InvalidArgument, NotFound, NotRunning
from pyrt.engine.model import ContainerConfig, ContainerRecord, HostConfig, Mount
from pyrt.engine.store import ContainerStore
from pyrt.errors import NotFoundError, PyrtError

DEFAULT_ROOT = "/var/lib/pyrt"
DEFAULT_RUN_ROOT = "/run/pyrt"
DEFAULT_CGROUP_PARENT = "/pyrt"


class Engine:
    def __init__(self, root: str = DEFAULT_ROOT, run_root: str = DEFAULT_RUN_ROOT,
                 cgroup_parent: str = DEFAULT_CGROUP_PARENT):
        self.root = os.path.abspath(root)
        self.run_root = os.path.abspath(run_root)
        self.cgroup_parent = cgroup_parent
        from pyrt.privdir import ensure_private_dir
        for d in (self.root, self.run_root):
            ensure_private_dir(d)   # ours and 0700: images, rootfs and logs are not other users' business
        self.store = ContainerStore(self.root)
        self._images = None
        self._volumes = None
        self._networks = None

    @property
    def images(self):
        if self._images is None:
            from pyrt.image.store import ImageStore, set_users_hook
            self._images = ImageStore(self.root)
            set_users_hook(self.image_users)
        return self._images

    @property
    def volumes(self):
        if self._volumes is None:
            from pyrt.engine.volumes import VolumeStore
            self._volumes = VolumeStore(self.root, self.volume_users)
        return self._volumes

    @property
    def networks(self):
        if self._networks is None:
            from pyrt.network.networks import NetworkStore
            self._networks = NetworkStore(self.root, self.network_users)
        return self._networks

    def netns_path(self, cid: str) -> str:
        return os.path.join(self.run_root, "netns", cid)

    def runtime(self, rec: ContainerRecord):
        """The runtime REC's container runs under (pyrt.engine.runtimes): pyrt's own, or --runtime's."""
        from pyrt.engine import runtimes
        return runtimes.for_host(self.run_root, rec.host.runtime)

    # -- images ---------------------------------------------------------------------------------
    def _names_where(self, uses) -> list[str]:
        """Names of the containers whose record USES(rec) says yes (an unreadable one counts as no)."""
        out = []
        for cid in self.store.ids():
            with contextlib.suppress(PyrtError, OSError, ValueError):
                rec = self.store.read(cid)
                if uses(rec):
                    out.append(rec.name)
        return out

    def image_users(self, image_id: str) -> list[str]:
        return self._names_where(lambda rec: rec.config.image_id == image_id)

    def volume_users(self, volume: str) -> list[str]:
        return self._names_where(lambda rec: any(m.type == "volume" and m.source == volume for m in rec.host.mounts))

    def network_users(self, network: str) -> list[str]:
        from pyrt.engine import networking
        return networking.users(self, network)

    def prune_networks(self) -> list[str]:
        """What a crash left (namespaces, veths, leases of containers that are gone), then the
        user networks no container uses."""
        ids = set(self.store.ids())
        d = os.path.join(self.run_root, "netns")
        for cid in os.listdir(d) if os.path.isdir(d) else ():
            if cid not in ids or not self._running(cid):
                from pyrt.engine import networking
                networking.unplug(self, cid)
        from pyrt.network import ports
        ports.sweep(self.run_root)
        return self.networks.prune(lambda owner: any(i.startswith(owner) for i in ids))

    def _running(self, cid: str) -> bool:
        try:
            return self.refresh(self.store.read(cid)).state.status in ("running", "paused")
        except (PyrtError, OSError, ValueError):
            return False

    def find_image(self, name: str, pull: str = "missing", platform: str | None = None, progress=None):
        """The image record for NAME, pulling it per the --pull policy (missing | always | never)."""
        if pull not in ("missing", "always", "never"):
            raise InvalidArgument(f"invalid --pull policy {pull!r}: use missing, always or never")
        if pull != "always":
            try:
                return self.images.resolve(name)
            except NotFoundError:
                if pull == "never":
                    raise NotFound(f"no such image: {name}") from None
        from pyrt.image import manifest
        from pyrt.image.pull import PullOptions, pull as do_pull
        opts = PullOptions(platform=manifest.parse_platform(platform) if platform else None)
        return do_pull(self.images, name, opts, progress)

    # -- containers: create ------------------------------------------------------------------------
    def create(self, config: ContainerConfig, host: HostConfig, name: str = "", *, pull: str = "missing",
               platform: str | None = None, progress=None, cid: str = "") -> ContainerRecord:
        """Make a container (record, rootfs, bundle). CID: an id whose directory the caller made
        (store.new_id) and that this call then owns: on failure it is removed."""
        try:
            return self._create(config, host, name, pull, platform, progress, cid)
        except BaseException:
            if cid:
                _rmtree(self.store.dir(cid), ignore_errors=True)
            raise

    def _create(self, config, host, name, pull, platform, progress, cid) -> ContainerRecord:
        image = self.find_image(config.image, pull, platform, progress)
        image_cfg = self.images.config(image)
        config.image_id = image.id
        if not config.stop_signal or config.stop_signal == "SIGTERM":
            config.stop_signal = image_cfg.stop_signal or config.stop_signal or "SIGTERM"
        _check_signal(config.stop_signal)
        from pyrt.engine import networking
        networking.check(self, config, host)
        if host.port_bindings or host.publish_all_ports:
            from pyrt.network import ports
            ports.check(self.run_root, host.network_mode, host.port_bindings, host.publish_all_ports,
                        image_cfg.exposed_ports)
        _check_mounts(host.mounts)
        from pyrt.engine import runtimes
        runtimes.check(host.runtime)
        cid = cid or self.store.new_id()
        cdir = self.store.dir(cid)
        name = name or self.store.unused_name()
        with self.store.lock(cid):       # held until the record exists: see store.is_debris
            return self._create_locked(config, host, name, cid, cdir, image, image_cfg)

    def _create_locked(self, config, host, name, cid, cdir, image, image_cfg) -> ContainerRecord:
        made_volumes: list[str] = []
        try:
            self.store.claim_name(name, cid)
        except PyrtError:
            _rmtree(cdir, ignore_errors=True)   # nothing of ours in it yet but the monitor's log
            raise
        try:
            for target in image_cfg.volumes:
                if not any(_same_path(m.target, target) for m in host.mounts):
                    vol = self.volumes.create(anonymous=True)
                    made_volumes.append(vol.name)
                    host.mounts.append(Mount(type="volume", target=target, source=vol.name, anonymous=True))
            for m in host.mounts:
                if m.type == "volume" and not m.anonymous:
                    self.volumes.ensure(m.source)
            from pyrt.engine import bundle, rootfs
            rec = ContainerRecord(id=cid, name=name, created=logs.now_rfc3339(), config=config, host=host)
            rec.rootfs_kind = rootfs.prepare(cdir, self.images.layer_dirs(image))
            spec = bundle.generate(rec, image_cfg, cdir, self.cgroup_parent, self.volumes.path)
            _crash_point("engine-rootfs-made")
            bundle.etc_files(rec, cdir, spec["hostname"])
            from pyrt.engine import networking
            networking.bundle(self, rec, spec)
            _write_json(os.path.join(cdir, "config.json"), spec)
            self.store.write(rec)
            _crash_point("engine-created")
            return rec
        except BaseException:
            from pyrt.engine import rootfs
            with contextlib.suppress(PyrtError, OSError):
                rootfs.release(cdir)
            _rmtree(cdir, ignore_errors=True)
            self.store.release_name(name, cid)
            from pyrt.engine import networking
            if networking.on_network(host):
                networking.release(self, cid)
            for v in made_volumes:
                with contextlib.suppress(PyrtError, OSError):
                    self.volumes.remove(v, force=True)
            raise

    # -- containers: run in the monitor's worker ---------------------------------------------------
    def launch(self, cid: str, tty: bool, plug=None) -> tuple[int, int]:
        """Mount the rootfs and run the bundle; (init pid, pty master or -1). In the worker.
        PLUG(): connect the container's endpoints from another process (the monitor's helper,
        which loads the netlink library meanwhile): then the container is created first, in its
        bare namespace, and started once PLUG returns."""
        from pyrt.engine import rootfs
        rec = self.store.read(cid)
        cdir = self.store.dir(cid)
        rootfs.mount(cdir, self.images.layer_dirs(self.images.get(rec.config.image_id)))
        _crash_point("engine-mounted")
        from pyrt.engine import networking
        try:
            if not networking.pinned(self, rec.host):
                pid, master = self.runtime(rec).run(cid, cdir, tty)
            else:
                with networking.pinning(self, cid) as bare:
                    connect = None
                    if bare is not None:
                        def connect():
                            if plug is None:
                                networking.plug(self, bare)
                            else:
                                plug()
                            networking.refresh_hosts(self, [ep.network for ep in bare.host.endpoints])
                            _crash_point("engine-network-connected")
                        if plug is None:    # the netlink library is here: connected before create
                            connect()
                            connect = None
                    pid, master = self.runtime(rec).run(cid, cdir, tty, connect)
        except BaseException:
            with contextlib.suppress(PyrtError, OSError):
                rootfs.unmount(cdir)
            with contextlib.suppress(PyrtError, OSError):
                networking.down(self, cid)
            raise
        _crash_point("engine-launched")
        from pyrt.linux import proc
        with self.store.updating(cid) as rec:
            rec.state.status = "running"
            rec.state.pid = pid
            rec.state.start_time = proc.start_time(pid)
            rec.state.started_at = logs.now_rfc3339()
            rec.state.exit_code = 0
            rec.state.error = ""
            rec.state.oom_killed = False
        return pid, master

    def after_exit(self, cid: str, exit_code: int, finished_at: str, log_error: str = "") -> None:
        """Release what the run took (runtime state, cgroups, the rootfs mount) and record the exit."""
        try:
            rec = self.store.read(cid)
        except NotFound:
            return
        from pyrt.engine import rootfs
        oom = self.runtime(rec).delete(cid)
        with contextlib.suppress(PyrtError, OSError):
            rootfs.unmount(self.store.dir(cid))
        from pyrt.engine import networking
        if networking.pinned(self, rec.host):
            with contextlib.suppress(PyrtError, OSError):
                networking.down(self, cid)
        auto_remove = False
        with self.store.updating(cid) as rec:
            if rec.state.status != "removing":     # else an `rm -f` is removing it
                # --rm: one write of the record, the exit and "removing" together (remove
                # does not write it again)
                auto_remove = rec.host.auto_remove
                rec.state.status = "removing" if auto_remove else "exited"
            rec.state.exit_code = exit_code
            rec.state.finished_at = finished_at
            rec.state.oom_killed = oom or rec.state.oom_killed
            rec.state.pid = 0
            if log_error:
                rec.state.log_error = log_error
        if auto_remove:
            self.remove(cid, force=True, volumes=True)

    # -- containers: lifecycle from the CLI / API --------------------------------------------------
    def get(self, ref: str) -> ContainerRecord:
        return self.refresh(self.store.read(self.store.resolve(ref)))

    def refresh(self, rec: ContainerRecord) -> ContainerRecord:
        """The record with a truthful status: a container the record calls running whose init is
        gone while no monitor watches it (the monitor was killed, the host rebooted) is exited."""
        s = rec.state
        if s.status not in ("running", "paused"):
            return rec
        from pyrt.linux import proc
        if s.pid > 0 and proc.alive(s.pid, s.start_time):
            s.status = "paused" if self.runtime(rec).paused(rec.id) else "running"
            return rec
        from pyrt.engine import client_monitor
        if client_monitor.alive(self.run_root):
            return rec          # it exited a moment ago; the monitor is recording it
        s.status, s.exit_code, s.pid = "exited", 255, 0
        s.error = s.error or "the container's monitor is gone; its exit status is unknown"
        return rec

    def start(self, ref: str, *, attach: bool = False, stdin: bool = False):
        """Start a created or exited container. With ATTACH, returns the monitor connection that
        streams its output (pyrt.engine.client_monitor.Attached); else None once it runs."""
        cid = self.store.resolve(ref)
        rec = self.refresh(self.store.read(cid))
        if rec.state.status in ("running", "paused"):
            if attach:
                return self.attach(cid, stdin=stdin)
            return None
        if rec.state.status == "removing":
            raise Conflict(f"container {rec.name} is being removed")
        from pyrt.engine import client_monitor, networking
        req = {"op": "start", "id": cid, "attach": attach, "tty": rec.config.tty, "network": networking.on_network(rec.host),
               "open_stdin": rec.config.open_stdin and stdin,
               "log_path": logs.path_of(self.store.dir(cid), cid),
               "log": {"max_size": rec.host.log_max_size, "max_file": rec.host.log_max_file}}
        conn = client_monitor.request(self.root, self.run_root, self.cgroup_parent, req, keep=attach)
        return conn

    def run(self, config: ContainerConfig, host: HostConfig, name: str = "", *, pull: str = "missing",
            platform: str | None = None, progress=None, attach: bool = False, stdin: bool = False):
        """create + start in one request to the monitor, whose worker makes the container (its
        imports are loaded already: `pyrt run` pays for none of them). (id, Attached or None).
        A missing image is pulled here, with PROGRESS, and the request made again."""
        import dataclasses
        from pyrt.engine import client_monitor, networking
        if pull not in ("missing", "always", "never"):
            raise InvalidArgument(f"invalid --pull policy {pull!r}: use missing, always or never")
        if pull == "always":
            self.find_image(config.image, "always", platform, progress)
        for attempt in (1, 2):
            cid = self.store.new_id()
            req = {"op": "run", "id": cid, "attach": attach, "tty": config.tty, "network": networking.on_network(host),
                   "open_stdin": config.open_stdin and stdin,
                   "log_path": logs.path_of(self.store.dir(cid), cid),
                   "log": {"max_size": host.log_max_size, "max_file": host.log_max_file},
                   "create": {"config": dataclasses.asdict(config), "host": dataclasses.asdict(host),
                              "name": name, "platform": platform}}
            try:
                return cid, client_monitor.request(self.root, self.run_root, self.cgroup_parent, req, keep=attach)
            except NotFound as e:
                if attempt == 2 or pull == "never" or not e.message.startswith("no such image"):
                    _rmtree(self.store.dir(cid), ignore_errors=True)
                    raise
            except BaseException:
                if os.path.exists(os.path.join(self.store.dir(cid), "container.json")):
                    # made, then failed to start: docker keeps it (created, with the error), --rm not
                    if host.auto_remove:
                        self.remove(cid, force=True, volumes=True)
                else:
                    _rmtree(self.store.dir(cid), ignore_errors=True)
                raise
            self.find_image(config.image, "missing", platform, progress)
        raise AssertionError("unreachable")

    def create_from_request(self, cid: str, req: dict) -> None:
        """The worker's half of run(): the record from the request's plain values."""
        from pyrt.engine.model import ContainerRecord as R
        d = req["create"]
        rec = R.from_json({"id": cid, "name": "", "created": "", "config": d["config"], "host": d["host"]})
        self.create(rec.config, rec.host, d["name"], pull="never", platform=d["platform"], cid=cid)

    def attach(self, ref: str, stdin: bool = False):
        from pyrt.engine import client_monitor
        cid = self.store.resolve(ref)
        return client_monitor.request(self.root, self.run_root, self.cgroup_parent,
                                      {"op": "attach", "id": cid, "stdin": stdin}, keep=True)

    def kill(self, ref: str, sig: str | int = "SIGKILL") -> None:
        rec = self.get(ref)
        from pyrt.linux import proc
        if rec.state.status not in ("running", "paused") or not proc.alive(rec.state.pid, rec.state.start_time):
            raise NotRunning(f"container {rec.name} is not running")
        num = _check_signal(sig)
        try:
            self.runtime(rec).kill(rec.id, num)
        except NotRunning:
            raise NotRunning(f"container {rec.name} is not running") from None

    def stop(self, ref: str, timeout: float | None = None) -> None:
        rec = self.get(ref)
        if rec.state.status not in ("running", "paused"):
            return
        t = rec.config.stop_timeout if timeout is None else timeout
        if rec.state.status == "paused":
            self.unpause(rec.id)
        with contextlib.suppress(NotRunning):
            self.kill(rec.id, rec.config.stop_signal)
        if t > 0 and self.wait_exit(rec.id, t):
            return
        with contextlib.suppress(NotRunning):
            self.kill(rec.id, "SIGKILL")
        if not self.wait_exit(rec.id, 30):
            raise EngineError(f"container {rec.name} did not stop after SIGKILL")

    def wait_exit(self, cid: str, timeout: float | None) -> bool:
        """Until the container has exited and its exit is recorded; False at TIMEOUT."""
        from pyrt.engine import client_monitor
        deadline = None if timeout is None else time.monotonic() + timeout
        got = client_monitor.wait(self.run_root, cid, timeout)
        while True:
            rec = self.refresh(self.store.read(cid))
            if rec.state.status not in ("running", "paused"):
                return True
            if got is None and not client_monitor.alive(self.run_root):
                # no monitor: nothing will record the exit; the pid is what tells
                from pyrt.linux import proc
                if not proc.alive(rec.state.pid, rec.state.start_time):
                    return True
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(0.02)

    def wait(self, ref: str, timeout: float | None = None) -> int:
        """docker wait: block until the container stops; its exit code."""
        rec = self.get(ref)
        if rec.state.status in ("running", "paused"):
            if not self.wait_exit(rec.id, timeout):
                raise EngineError(f"timed out waiting for container {rec.name}")
            rec = self.get(rec.id)
        return rec.state.exit_code

    def restart(self, ref: str, timeout: float | None = None) -> None:
        self.stop(ref, timeout)
        self.start(ref)

    def remove(self, ref: str, force: bool = False, volumes: bool = False) -> None:
        cid = self.store.resolve(ref) if len(ref) != 64 else ref
        rec = self.refresh(self.store.read(cid))
        if rec.state.status in ("running", "paused"):
            if not force:
                raise Conflict(f"cannot remove container {rec.name}: container is {rec.state.status}",
                               "stop the container before removing it, or use rm -f")
            with contextlib.suppress(NotRunning):
                self.kill(cid, "SIGKILL")
            self.wait_exit(cid, 30)
        if rec.state.status not in ("dead", "removing"):
            with self.store.updating(cid) as rec:
                rec.state.status = "removing"
        from pyrt.engine import rootfs
        self.runtime(rec).delete(cid)
        cdir = self.store.dir(cid)
        rootfs.release(cdir)
        from pyrt.engine import networking
        connected = os.path.exists(self.netns_path(cid))     # only a crash leaves it to rm
        if networking.pinned(self, rec.host) or rec.state.status == "dead":    # dead: a create killed midway
            networking.unplug(self, cid)
            networking.release(self, cid)
        if volumes:
            for m in rec.host.mounts:
                if m.type == "volume" and m.anonymous:
                    with contextlib.suppress(PyrtError, OSError):
                        self.volumes.remove(m.source, force=True)
        if rec.name:
            self.store.release_name(rec.name, cid)
        _rmtree(cdir)
        if connected:       # else its exit already took it out of its peers' hosts
            with contextlib.suppress(PyrtError, OSError):
                networking.refresh_hosts(self, [ep.network for ep in rec.host.endpoints])

    def pause(self, ref: str) -> None:
        rec = self.get(ref)
        if rec.state.status != "running":
            raise NotRunning(f"container {rec.name} is not running")
        self.runtime(rec).pause(rec.id)

    def unpause(self, ref: str) -> None:
        rec = self.get(ref)
        if rec.state.status != "paused":
            raise Conflict(f"container {rec.name} is not paused")
        self.runtime(rec).resume(rec.id)

    def rename(self, ref: str, new: str) -> None:
        cid = self.store.resolve(ref)
        with self.store.lock(cid):
            rec = self.store.read(cid)
            self.store.rename(cid, rec.name, new)
            rec.name = new
            self.store.write(rec)
        from pyrt.engine import networking
        networking.refresh_hosts(self, [ep.network for ep in rec.host.endpoints])    # peers know it by name

    def list(self, all: bool = False) -> list[ContainerRecord]:
        out = []
        for cid in self.store.ids():
            try:
                rec = self.refresh(self.store.read(cid))
            except (PyrtError, OSError, ValueError, KeyError, TypeError):
                continue
            if all or rec.state.status in ("running", "paused"):
                out.append(rec)
        return sorted(out, key=lambda r: r.created, reverse=True)

    def logs(self, ref: str, *, follow: bool = False, tail: int | None = None, since: str | None = None,
             until: str | None = None):
        rec = self.get(ref)
        path = logs.path_of(self.store.dir(rec.id), rec.id)

        def running() -> bool:
            try:
                return self.refresh(self.store.read(rec.id)).state.status in ("running", "paused")
            except NotFound:
                return False
        return logs.read(path, follow=follow, tail=tail, since=since, until=until, running=running)

    def _live(self, ref: str) -> ContainerRecord:
        rec = self.get(ref)
        if rec.state.status not in ("running", "paused"):
            raise NotRunning(f"container {rec.name} is not running")
        return rec

    def pids(self, ref: str) -> list[int]:
        rec = self._live(ref)
        return self.runtime(rec).pids(rec.id)

    def stats(self, ref: str) -> dict:
        rec = self._live(ref)
        return self.runtime(rec).stats(rec.id)

    def exec(self, ref: str, cmd: list[str], *, env: list[str] = (), user: str = "", workdir: str = "",
             tty: bool = False, detach: bool = False, privileged: bool = False) -> int:
        """Run CMD in the running container with this process's stdio; its exit code (0 when DETACH)."""
        rec = self.get(ref)
        if rec.state.status != "running":
            raise NotRunning(f"container {rec.name} is not running")
        if not cmd:
            raise InvalidArgument("exec: a command is required")
        from pyrt.engine import users
        cdir = self.store.dir(rec.id)
        with open(os.path.join(cdir, "config.json")) as f:
            process = json.load(f)["process"]
        merged = dict(e.split("=", 1) for e in process.get("env", []) if "=" in e)
        if user:
            uid, gid, extra, home = users.resolve(os.path.join(cdir, "rootfs"), user)
            process["user"] = dict(process.get("user", {}), uid=uid, gid=gid, additionalGids=list(extra))
            if not any(e.startswith("HOME=") for e in rec.config.env):
                merged["HOME"] = home       # the exec user's, as docker (runc sets it from passwd)
        for e in env:
            k, sep, v = e.partition("=")
            merged[k] = v if sep else os.environ.get(k, "")
        process.update(args=list(cmd), env=[f"{k}={v}" for k, v in merged.items()], terminal=tty,
                       cwd=workdir or process.get("cwd", "/"))
        process.pop("consoleSize", None)
        try:
            return self.runtime(rec).exec(rec.id, process, detach)
        except NotRunning:
            raise NotRunning(f"container {rec.name} is not running") from None


def _rmtree(path: str, ignore_errors: bool = False) -> None:
    # shutil (with lzma and bz2) costs ~4 ms of every `pyrt run` client, which removes only on errors
    import shutil
    shutil.rmtree(path, ignore_errors=ignore_errors)


def _crash_point(step: str) -> None:
    """PYRT_TEST_CRASH_AT=STEP: SIGKILL here (the fault-injection tests; see pyrt.runtime.state)."""
    from pyrt.runtime.state import crash_point
    crash_point(step)


def _write_json(path: str, obj) -> None:
    import json
    with open(path, "w") as f:
        f.write(json.dumps(obj))    # one C-encoded string: indent or json.dump's chunks cost ~6 ms


def _same_path(a: str, b: str) -> bool:
    return os.path.normpath(a) == os.path.normpath(b)


def _check_signal(sig) -> int:
    from pyrt.linux.signals import parse_signal
    try:
        return parse_signal(str(sig))
    except PyrtError as e:
        raise InvalidArgument(e.message) from None


def _check_mounts(mounts: list[Mount]) -> None:
    seen = set()
    for m in mounts:
        if not m.target.startswith("/"):
            raise InvalidArgument(f"invalid mount target {m.target!r}: it must be an absolute path")
        t = os.path.normpath(m.target)
        if t == "/":
            raise InvalidArgument("invalid mount target '/': the root cannot be a mount target")
        if t in seen:
            raise InvalidArgument(f"duplicate mount point: {t}")
        seen.add(t)
        if m.type == "bind":
            if not m.source.startswith("/"):
                raise InvalidArgument(f"invalid bind source {m.source!r}: it must be an absolute path")
            if not os.path.exists(m.source):
                raise InvalidArgument(f"bind source path does not exist: {m.source}")
        elif m.type == "volume":
            from pyrt.engine.volumes import validate_name
            validate_name(m.source)
        elif m.type != "tmpfs":
            raise InvalidArgument(f"unknown mount type {m.type!r}: use bind, volume or tmpfs")
