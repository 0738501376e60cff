"""pyrt's Python API: `pyrt.Client`, shaped like docker-py's (client.containers.run(...),
container.logs(), client.images.pull(...), client.volumes.create(...)).

Typed objects back (pyrt.engine.model), documented exceptions (pyrt.engine.errors: NotFound,
Conflict, NotRunning, InvalidArgument, EngineError; image and registry errors from
pyrt.errors), no printing and no sys.exit. The `pyrt` CLI is a formatting layer over this.
"""
from __future__ import annotations

import os

from pyrt.engine import inspect as insp
from pyrt.engine.engine import DEFAULT_CGROUP_PARENT, DEFAULT_ROOT, DEFAULT_RUN_ROOT, Engine
from pyrt.engine.errors import EngineError, InvalidArgument
from pyrt.engine.model import (ContainerConfig, ContainerRecord, ExecResult, HostConfig, ImageSummary, LogLine,
                               Mount, Ulimit, Volume)


class ContainerError(EngineError):
    """`containers.run()` without detach: the command exited non-zero (exit_status, stderr)."""

    def __init__(self, container: "Container", exit_status: int, stderr: bytes):
        super().__init__(f"container {container.name} exited with status {exit_status}")
        self.container, self.exit_status, self.stderr = container, exit_status, stderr


# The network of a container that names none (docker's and podman's: the default bridge). PYRT_NETWORK
# or Client(default_network=) changes it, as dockerd's --bridge=none does: the test suite says
# "none" so that its engines never make pyrt0 in the VM's own network namespace (docs/network.md).
DEFAULT_NETWORK = "bridge"


class Client:
    def __init__(self, root: str | None = None, run_root: str | None = None, cgroup_parent: str | None = None,
                 default_network: str | None = None):
        self.default_network = default_network or os.environ.get("PYRT_NETWORK") or DEFAULT_NETWORK
        self.engine = Engine(root or os.environ.get("PYRT_ROOT") or DEFAULT_ROOT,
                             run_root or os.environ.get("PYRT_RUN_ROOT") or DEFAULT_RUN_ROOT,
                             cgroup_parent if cgroup_parent is not None
                             else os.environ.get("PYRT_CGROUP_PARENT", DEFAULT_CGROUP_PARENT))
        self.containers = Containers(self.engine, self.default_network)
        self.images = Images(self.engine)
        self.volumes = Volumes(self.engine)
        self.networks = Networks(self.engine)
        self.system = System(self.engine)


class Container:
    """A handle on one container; `attrs` is its inspect document as of the last reload()."""

    def __init__(self, engine: Engine, rec: ContainerRecord):
        self._engine = engine
        self._rec = rec

    def __repr__(self) -> str:
        return f"<Container {self.short_id} {self.name} {self.status}>"

    id = property(lambda self: self._rec.id)
    short_id = property(lambda self: self._rec.id[:12])
    name = property(lambda self: self._rec.name)
    status = property(lambda self: self._rec.state.status)
    record = property(lambda self: self._rec)

    @property
    def attrs(self) -> dict:
        return insp.container(self._engine, self._rec)

    @property
    def ports(self) -> dict:
        """docker-py's: {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}]} while it runs."""
        return insp.port_map(self.published_ports())

    def published_ports(self) -> list:
        """Its published pyrt.network.ports.PortBinding values (host ports resolved) while it runs."""
        return insp.published(self._engine, self._rec)

    def reload(self) -> "Container":
        self._rec = self._engine.get(self.id)
        return self

    def start(self) -> None:
        self._engine.start(self.id)
        self.reload()

    def attach(self, stdin: bool = False):
        return self._engine.attach(self.id, stdin=stdin)

    def stop(self, timeout: float | None = None) -> None:
        self._engine.stop(self.id, timeout)
        self.reload()

    def restart(self, timeout: float | None = None) -> None:
        self._engine.restart(self.id, timeout)
        self.reload()

    def kill(self, signal: str | int = "SIGKILL") -> None:
        self._engine.kill(self.id, signal)

    def pause(self) -> None:
        self._engine.pause(self.id)
        self.reload()

    def unpause(self) -> None:
        self._engine.unpause(self.id)
        self.reload()

    def rename(self, name: str) -> None:
        self._engine.rename(self.id, name)
        self.reload()

    def remove(self, force: bool = False, v: bool = False) -> None:
        self._engine.remove(self.id, force=force, volumes=v)

    def wait(self, timeout: float | None = None) -> int:
        return self._engine.wait(self.id, timeout)

    def logs(self, *, stream: bool = False, follow: bool = False, stdout: bool = True, stderr: bool = True,
             tail: int | None = None, since: str | None = None, until: str | None = None):
        """bytes of the log; with STREAM (or FOLLOW) an iterator of LogLine instead."""
        want = {s for s, on in (("stdout", stdout), ("stderr", stderr)) if on}
        it = (LogLine(s, t, d) for s, t, d in
              self._engine.logs(self.id, follow=follow, tail=tail, since=since, until=until) if s in want)
        if stream or follow:
            return it
        return b"".join(line.data for line in it)

    def top(self, ps_args: str = "-ef") -> dict:
        from pyrt.runtime import ops
        table = ops.ps_table(self._engine.pids(self.id), ps_args.split())
        lines = table.splitlines()
        titles = lines[0].split() if lines else []
        return {"Titles": titles,
                "Processes": [line.split(None, max(len(titles) - 1, 0)) for line in lines[1:]]}

    def stats(self):
        from pyrt.engine.model import Stats
        raw = self._engine.stats(self.id)
        mem = raw.get("memory", {}).get("usage", {})
        return Stats(id=self.id, name=self.name, cpu_usage_ns=raw.get("cpu", {}).get("usage", {}).get("total", 0),
                     memory_usage=mem.get("usage", 0), memory_limit=mem.get("limit", 0),
                     pids=raw.get("pids", {}).get("current", 0))

    def get_archive(self, path: str, chunk_size: int = 1 << 20):
        """docker-py's: (an iterator of the bytes of a tar of PATH, PATH's stat as a dict: name,
        size, mode, mtime, linkTarget). PATH ending in "/." archives a directory's contents."""
        import tempfile
        from pyrt.engine import archive
        buf = tempfile.TemporaryFile()
        try:
            with archive.container_tree(self._engine, self.id) as tree:
                st = archive.host_errors(archive.write_tar)(tree, path, buf)
        except BaseException:
            buf.close()
            raise
        buf.seek(0)

        def chunks():
            with buf:
                while data := buf.read(chunk_size):
                    yield data
        parts = archive.comps(path)
        return chunks(), {"name": parts[-1] if parts else "/", "size": st.st_size, "mode": st.st_mode,
                          "mtime": int(st.st_mtime)}

    def put_archive(self, path: str, data, copy_uid_gid: bool = False) -> bool:
        """docker-py's: extract the tar DATA (bytes or a binary file object) into the container's
        existing directory PATH; with COPY_UID_GID the archive's owners, else root's."""
        import io
        from pyrt.engine import archive
        src = io.BytesIO(data) if isinstance(data, (bytes, bytearray)) else data
        with archive.container_tree(self._engine, self.id) as tree:
            archive.host_errors(archive.extract)(tree, path, src, keep_owner=copy_uid_gid)
        return True

    def exec_run(self, cmd, *, environment=(), user: str = "", workdir: str = "", detach: bool = False,
                 privileged: bool = False) -> ExecResult:
        """Run CMD in the container; its exit code and combined output (nothing when DETACH)."""
        cmd = [cmd] if isinstance(cmd, str) else list(cmd)
        rec = self._engine.get(self.id)
        if rec.state.status != "running":
            from pyrt.engine.errors import NotRunning
            raise NotRunning(f"container {rec.name} is not running")
        # The exec'd process gets this process's stdio from the runtime: run it in a child whose
        # stdio is our pipe; the child's own failure comes back as (kind, message) to raise here.
        r, w = os.pipe()
        er, ew = os.pipe()
        pid = os.fork()
        if pid == 0:
            code = 125
            try:
                os.close(r)
                os.close(er)
                null = os.open("/dev/null", os.O_RDONLY)
                os.dup2(null, 0)
                os.dup2(w, 1)
                os.dup2(w, 2)
                code = self._engine.exec(self.id, cmd, env=list(environment), user=user, workdir=workdir,
                                         detach=detach, privileged=privileged)
            except BaseException as e:
                import json
                os.write(ew, json.dumps({"kind": type(e).__name__, "message": str(getattr(e, "message", e))}).encode())
            finally:
                os._exit(code)
        os.close(w)
        os.close(ew)
        chunks = []
        while True:
            data = os.read(r, 65536)
            if not data:
                break
            chunks.append(data)
        os.close(r)
        err = os.read(er, 65536)
        os.close(er)
        _, status = os.waitpid(pid, 0)
        if err:
            import json
            from pyrt.engine import errors as E
            d = json.loads(err)
            cls = getattr(E, d["kind"], None)
            if not (isinstance(cls, type) and issubclass(cls, Exception)):
                cls = E.EngineError
            raise cls(d["message"])
        return ExecResult(exit_code=os.waitstatus_to_exitcode(status), output=b"".join(chunks))


class Containers:
    def __init__(self, engine: Engine, default_network: str = DEFAULT_NETWORK):
        self._engine = engine
        self._default_network = default_network

    def create(self, image: str, command=None, **options) -> Container:
        """A container from IMAGE running COMMAND; OPTIONS are docker-py's (see _typed)."""
        config, host, name, opts = _typed(image, command, default_network=self._default_network, **options)
        rec = self._engine.create(config, host, name, **opts)
        return Container(self._engine, rec)

    def run_attached(self, image: str, command=None, *, attach: bool = True, stdin: bool = False, **kw):
        """create + start in one step, through the monitor (what `pyrt run` does): (id, the
        Attached stream of its output, or None with ATTACH false)."""
        config, host, name, opts = _typed(image, command, default_network=self._default_network, **kw)
        return self._engine.run(config, host, name, attach=attach, stdin=stdin, **opts)

    def run(self, image: str, command=None, *, detach: bool = False, remove: bool = False, **kw):
        """docker-py's run: with DETACH the started Container; else the output (bytes) once it
        exits, ContainerError if it exited non-zero. REMOVE removes it afterwards."""
        c = self.create(image, command, auto_remove=remove and detach, **kw)
        try:
            c.start()
        except BaseException:
            if remove:
                self._engine.remove(c.id, force=True, volumes=True)
            raise
        if detach:
            return c
        code = c.wait()
        out = c.logs(stdout=True, stderr=False)
        err = c.logs(stdout=False, stderr=True)
        if remove:
            self._engine.remove(c.id, force=True, volumes=True)
        if code != 0:
            raise ContainerError(c, code, err)
        return out

    def get(self, ref: str) -> Container:
        return Container(self._engine, self._engine.get(ref))

    def list(self, all: bool = False, filters: dict | None = None) -> list[Container]:
        out = [Container(self._engine, r) for r in self._engine.list(all=all or bool(filters and "status" in filters))]
        return [c for c in out if insp.matches(c.record, filters or {})]

    def prune(self) -> list[str]:
        gone = []
        for rec in self._engine.list(all=True):
            if rec.state.status in ("created", "exited", "dead"):
                self._engine.remove(rec.id, volumes=False)
                gone.append(rec.id)
        return gone


class System:
    def __init__(self, engine: Engine):
        self._engine = engine

    def df(self) -> dict:
        """Disk use by kind, as `docker system df`: {"images"|"containers"|"volumes":
        {"total", "active", "size"}} (sizes in bytes, apparent; rootfs: the writable layer only)."""
        eng = self._engine
        recs = eng.list(all=True)
        used = {r.config.image_id for r in recs}
        images = eng.images.records()
        vols = eng.volumes.list()
        in_use = {m.source for r in recs for m in r.host.mounts if m.type == "volume"}
        return {
            "images": {"total": len(images), "active": sum(1 for i in images if i.id in used),
                       "size": sum(i.size for i in images)},
            "containers": {"total": len(recs), "active": sum(1 for r in recs if r.state.status in ("running", "paused")),
                           "size": sum(_du(os.path.join(eng.store.dir(r.id), "upper")) for r in recs)},
            "volumes": {"total": len(vols), "active": sum(1 for v in vols if v.name in in_use),
                        "size": sum(_du(v.mountpoint) for v in vols)},
        }

    def prune(self, volumes: bool = False, all_images: bool = False) -> dict:
        """`docker system prune`: stopped containers, then unused images (dangling, or ALL_IMAGES
        unused ones), and with VOLUMES the unused volumes."""
        out = {"containers": Containers(self._engine).prune(),
               "images": self._engine.images.prune(all_images=all_images)}
        out["volumes"] = self._engine.volumes.prune() if volumes else []
        return out


def _du(path: str) -> int:
    total = 0
    for root, dirs, files in os.walk(path):
        for name in files + dirs:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total


class Images:
    def __init__(self, engine: Engine):
        self._engine = engine

    def pull(self, reference: str, platform: str | None = None, progress=None) -> ImageSummary:
        rec = self._engine.find_image(reference, "always", platform, progress)
        return self._summary(rec)

    def _summary(self, rec) -> ImageSummary:
        store = self._engine.images
        cfg = store.config(rec)
        return ImageSummary(id=rec.id, tags=store.tags_of(rec.id), digests=list(rec.repo_digests), size=rec.size,
                            created=cfg.created)

    def get(self, name: str) -> ImageSummary:
        from pyrt.engine.errors import NotFound
        from pyrt.errors import NotFoundError
        try:
            return self._summary(self._engine.images.resolve(name))
        except NotFoundError as e:
            raise NotFound(e.message) from None

    def list(self) -> list[ImageSummary]:
        return [self._summary(r) for r in self._engine.images.records()]

    def remove(self, name: str, force: bool = False) -> list[str]:
        return self._engine.images.remove(name, force=force)


class Volumes:
    def __init__(self, engine: Engine):
        self._engine = engine

    def create(self, name: str = "", labels: dict | None = None) -> Volume:
        return self._engine.volumes.create(name, labels)

    def get(self, name: str) -> Volume:
        return self._engine.volumes.get(name)

    def list(self) -> list[Volume]:
        return self._engine.volumes.list()

    def remove(self, name: str, force: bool = False) -> None:
        self._engine.volumes.remove(name, force=force)

    def prune(self) -> list[str]:
        return self._engine.volumes.prune()


class Networks:
    """Bridge networks (pyrt.network): the predefined `bridge` and user networks."""
    def __init__(self, engine: Engine):
        self._engine = engine

    def create(self, name: str, subnet: str = "", gateway: str = "", labels: dict | None = None):
        return self._engine.networks.create(name, subnet=subnet, gateway=gateway, labels=labels)

    def get(self, name: str):
        return self._engine.networks.get(name)

    def list(self) -> list:
        return self._engine.networks.list()

    def remove(self, name: str) -> None:
        self._engine.networks.remove(name)

    def prune(self) -> list[str]:
        return self._engine.prune_networks()

    def connect(self, network: str, container: str, ipv4_address: str = "", aliases=()) -> None:
        """docker network connect (docker-py: Network.connect): a running container gets a further
        interface now, a stopped one at its next start."""
        from pyrt.engine import networking
        networking.connect(self._engine, _ref(container), network, ipv4_address, aliases)

    def disconnect(self, network: str, container: str, force: bool = False) -> None:
        from pyrt.engine import networking
        networking.disconnect(self._engine, _ref(container), network, force)


def _ref(container) -> str:
    return container if isinstance(container, str) else container.id


def _typed(image: str, command=None, *, name: str = "", entrypoint=None, environment=(), working_dir: str = "",
           user: str = "", hostname: str = "", labels=None, tty: bool = False, stdin_open: bool = False,
           mounts=(), read_only: bool = False, mem_limit: int = 0, memswap_limit: int = 0, nano_cpus: int = 0,
           cpu_shares: int = 0, cpuset_cpus: str = "", pids_limit: int = 0, cap_add=(), cap_drop=(),
           privileged: bool = False, security_opt=(), ulimits=(), init: bool = False, network_mode: str | None = None, ip: str = "",
           ports=None, publish_all_ports: bool = False, network_aliases=(), dns=(), dns_search=(), dns_opt=(), auto_remove: bool = False, log_max_size: int = 0, log_max_file: int = 1, runtime: str = "",
           stop_signal: str = "", stop_timeout: int | None = None, pull: str = "missing",
           platform: str | None = None, progress=None, default_network: str = DEFAULT_NETWORK):
    """(ContainerConfig, HostConfig, name, other options) from docker-py's keyword arguments.
    No NETWORK_MODE (or docker's "default"): DEFAULT_NETWORK. PORTS: docker-py's {"80/tcp": 8080 |
    None | ("127.0.0.1", 8080) | [...]} or a list of pyrt.network.ports.PortBinding / `-p` strings."""
    from pyrt.network.ports import from_api
    if network_mode in (None, "", "default"):
        network_mode = default_network
    cmd = [command] if isinstance(command, str) else list(command or [])
    if isinstance(entrypoint, str):
        entrypoint = [entrypoint] if entrypoint else []
    env = [f"{k}={v}" for k, v in environment.items()] if isinstance(environment, dict) else list(environment)
    config = ContainerConfig(image=image, cmd=cmd, entrypoint=None if entrypoint is None else list(entrypoint),
                             env=env, working_dir=working_dir, user=user, labels=dict(labels or {}),
                             hostname=hostname, tty=tty, open_stdin=stdin_open,
                             stop_signal=stop_signal or "SIGTERM",
                             stop_timeout=10 if stop_timeout is None else stop_timeout)
    host = HostConfig(mounts=[m if isinstance(m, Mount) else Mount(**m) for m in mounts], read_only=read_only,
                      memory=mem_limit, memory_swap=memswap_limit, nano_cpus=nano_cpus,
                      cpu_shares=cpu_shares, cpuset_cpus=cpuset_cpus, pids_limit=pids_limit,
                      cap_add=list(cap_add), cap_drop=list(cap_drop), privileged=privileged,
                      ulimits=[u if isinstance(u, Ulimit) else Ulimit(**u) for u in ulimits], init=init,
                      network_mode=network_mode, ip=ip, port_bindings=from_api(ports),
                      publish_all_ports=publish_all_ports, aliases=list(network_aliases), dns=list(dns),
                      dns_search=list(dns_search), dns_options=list(dns_opt), auto_remove=auto_remove, log_max_size=log_max_size,
                      log_max_file=log_max_file, runtime=runtime)
    _security_opts(host, security_opt)
    return config, host, name, {"pull": pull, "platform": platform, "progress": progress}


def _security_opts(host: HostConfig, opts) -> None:
    for opt in opts:
        key, sep, value = opt.partition("=" if "=" in opt else ":")
        if key == "no-new-privileges" and value in ("", "true"):
            host.no_new_privileges = True
        elif key == "no-new-privileges" and value == "false":
            host.no_new_privileges = False
        elif key == "seccomp" and value:
            host.seccomp = value
        else:
            raise InvalidArgument(f"invalid --security-opt {opt!r}: use no-new-privileges or seccomp=PROFILE|unconfined")


