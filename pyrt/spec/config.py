"""The OCI runtime-spec config.json as frozen records (pyrt.record), parsed and validated once.

Every check raises ConfigError with one sentence naming the field (runc's validator style: a list
of small checks); the JSON shapes are read through pyrt.spec.fields. Parts owned by other modules
(capabilities, seccomp, resources) are parsed by their own from_dict, imported when first needed.
"""
from __future__ import annotations

import os

from pyrt.errors import ConfigError, NotFoundError
from pyrt.spec import fields, jsonio, mountflags
from pyrt.spec.hooks import validate as validate_hooks
from pyrt.record import Record, field

Any = object  # annotations only (never evaluated): typing costs ~2 ms of start-up

SUPPORTED_MAJOR = "1."
NAMESPACE_TYPES = ("pid", "network", "mount", "ipc", "uts", "user", "cgroup", "time")

ROOTFS_PROPAGATION = tuple(mountflags.PROPAGATION_OPTIONS)

RLIMITS = ("RLIMIT_AS", "RLIMIT_CORE", "RLIMIT_CPU", "RLIMIT_DATA", "RLIMIT_FSIZE", "RLIMIT_LOCKS",
           "RLIMIT_MEMLOCK", "RLIMIT_MSGQUEUE", "RLIMIT_NICE", "RLIMIT_NOFILE", "RLIMIT_NPROC",
           "RLIMIT_RSS", "RLIMIT_RTPRIO", "RLIMIT_RTTIME", "RLIMIT_SIGPENDING", "RLIMIT_STACK")
PERSONALITY_DOMAINS = {"LINUX": 0x0000, "LINUX32": 0x0008}
DEVICE_TYPES = ("c", "u", "b", "p")
TIME_CLOCKS = ("monotonic", "boottime")


# --- typed readers (pyrt.spec.fields); an absent field reads as the spec default ----------------
_obj, _list, _strs = fields.obj, fields.array, fields.strings


def _str(d: dict, key: str, where: str, default: str = "") -> str:
    return fields.string(d, key, where, default)


def _bool(d: dict, key: str, where: str) -> bool:
    return fields.boolean(d, key, where, False)


def _int(d: dict, key: str, where: str, default: int | None = 0, lo: int | None = None,
         hi: int | None = None) -> int | None:
    return fields.integer(d, key, where, lo, hi, default)


# setresuid/setresgid read (uid_t)-1 as "leave unchanged": 4294967295 would keep the container
# root. runc's range and words (CVE-2022-29162's neighbour; issue 9 item 7).
ID_MAX = 2**31 - 1


def _id(v: Any, where: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise ConfigError(f"{where}: expected an integer, got {v!r}")
    if not 0 <= v <= ID_MAX:
        raise ConfigError(f"{where}: {v}: uids and gids must be in range 0-{ID_MAX}")
    return v


def _typed_entries(d: dict, key: str, where: str, known, what: str):
    """Objects of the array D[KEY] whose `type` is one of KNOWN, each at most once:
    yields (where-string, object, type)."""
    seen = set()
    for w, entry in fields.entries(d, key, where):
        t = fields.choice(entry, "type", w, known, what)
        if t in seen:
            raise ConfigError(f"{w}.type: {t!r} is listed twice")
        seen.add(t)
        yield w, entry, t


# --- models -------------------------------------------------------------------------------------
class User(Record):
    uid: int = 0
    gid: int = 0
    umask: int | None = None
    additional_gids: tuple[int, ...] = ()

    @classmethod
    def from_dict(cls, d: Any, where: str = "process.user") -> "User":
        d = _obj(d, where)
        gids = [_id(g, f"{where}.additionalGids[{i}]") for i, g in enumerate(_list(d, "additionalGids", where))]
        return cls(uid=_id(d.get("uid", 0), f"{where}.uid"), gid=_id(d.get("gid", 0), f"{where}.gid"),
                   umask=_int(d, "umask", where, default=None, lo=0, hi=0o7777),
                   additional_gids=tuple(gids))


class Rlimit(Record):
    type: str
    soft: int
    hard: int


class Process(Record):
    args: tuple[str, ...]
    env: tuple[str, ...] = ()
    cwd: str = "/"
    terminal: bool = False
    console_size: tuple[int, int] | None = None  # (height, width)
    user: User = field(default_factory=User)
    capabilities: Any = None
    rlimits: tuple[Rlimit, ...] = ()
    no_new_privileges: bool = False
    oom_score_adj: int | None = None
    apparmor_profile: str = ""
    selinux_label: str = ""

    @classmethod
    def from_dict(cls, d: Any, where: str = "process") -> "Process":
        from pyrt.spec.capabilities import Capabilities
        d = _obj(d, where)
        args = _strs(d, "args", where)
        if not args:
            raise ConfigError(f"{where}.args: must name the program to run")
        cwd = _str(d, "cwd", where, "/") or "/"
        if not cwd.startswith("/"):
            raise ConfigError(f"{where}.cwd: {cwd!r} must be an absolute path")
        env = _strs(d, "env", where)
        for e in env:
            if "=" not in e:
                raise ConfigError(f"{where}.env: {e!r} is not NAME=value")
        rlimits = []
        for w, r, t in _typed_entries(d, "rlimits", where, RLIMITS, "rlimit"):
            soft, hard = _int(r, "soft", w, lo=0, hi=2**64 - 1), _int(r, "hard", w, lo=0, hi=2**64 - 1)
            rlimits.append(Rlimit(t, soft, hard))
        cs = d.get("consoleSize")
        console_size = None
        if cs is not None:
            cs = _obj(cs, f"{where}.consoleSize")
            console_size = (_int(cs, "height", f"{where}.consoleSize", lo=0, hi=65535),
                            _int(cs, "width", f"{where}.consoleSize", lo=0, hi=65535))
        return cls(
            args=args, env=env, cwd=cwd, terminal=_bool(d, "terminal", where), console_size=console_size,
            user=User.from_dict(d.get("user"), f"{where}.user"),
            capabilities=Capabilities.from_dict(d.get("capabilities")),
            rlimits=tuple(rlimits), no_new_privileges=_bool(d, "noNewPrivileges", where),
            oom_score_adj=_int(d, "oomScoreAdj", where, default=None, lo=-1000, hi=1000),
            apparmor_profile=_str(d, "apparmorProfile", where), selinux_label=_str(d, "selinuxLabel", where),
        )

    def env_dict(self) -> dict[str, str]:
        out = {}
        for e in self.env:
            k, _, v = e.partition("=")
            out[k] = v
        return out


class Mount(Record):
    destination: str
    type: str = ""
    source: str = ""
    options: tuple[str, ...] = ()
    # Derived from options: mount(2) flags to set, flags to clear, propagation flags, fs data.
    flags: int = 0
    clear_flags: int = 0
    propagation: tuple[int, ...] = ()
    data: str = ""
    extensions: tuple[str, ...] = ()

    @property
    def is_bind(self) -> bool:
        return bool(self.flags & mountflags.MS_BIND) or self.type == "bind"

    @classmethod
    def from_dict(cls, d: Any, where: str) -> "Mount":
        flag_bits, propagation_bits = mountflags.FLAG_OPTIONS, mountflags.PROPAGATION_OPTIONS
        d = _obj(d, where)
        dest = _str(d, "destination", where)
        if not dest:
            raise ConfigError(f"{where}.destination: is required")
        if not dest.startswith("/"):
            dest = "/" + dest  # runc treats a relative destination as relative to the rootfs
        options = _strs(d, "options", where)
        flags = clear = 0
        propagation, data, ext = [], [], []
        for o in options:
            if o in flag_bits:
                is_clear, bits = flag_bits[o]
                if is_clear:
                    flags &= ~bits
                    clear |= bits
                else:
                    flags |= bits
                    clear &= ~bits
            elif o in propagation_bits:
                propagation.append(propagation_bits[o])
            elif o in mountflags.EXTENSION_OPTIONS:
                ext.append(o)
            else:
                data.append(o)  # filesystem-specific (mode=755, size=..., newinstance ...)
        mtype = _str(d, "type", where)
        if mtype == "bind":
            flags |= mountflags.MS_BIND
        return cls(destination=os.path.normpath(dest), type=mtype, source=_str(d, "source", where),
                   options=options, flags=flags, clear_flags=clear, propagation=tuple(propagation),
                   data=",".join(data), extensions=tuple(ext))


class Namespace(Record):
    type: str
    path: str = ""


class IDMapping(Record):
    container_id: int
    host_id: int
    size: int

    @classmethod
    def from_dict(cls, d: Any, where: str) -> "IDMapping":
        d = _obj(d, where)
        size = _int(d, "size", where, lo=1)
        ids = [_id(d.get(k, 0), f"{where}.{k}") for k in ("containerID", "hostID")]
        for k, first in zip(("containerID", "hostID"), ids):
            _id(first + size - 1, f"{where}.{k}+size-1")
        return cls(ids[0], ids[1], size)


class Device(Record):
    path: str
    type: str
    major: int = 0
    minor: int = 0
    file_mode: int | None = None
    uid: int | None = None
    gid: int | None = None

    @classmethod
    def from_dict(cls, d: Any, where: str) -> "Device":
        d = _obj(d, where)
        path = _str(d, "path", where)
        if not path.startswith("/dev/") or ".." in path.split("/"):
            raise ConfigError(f"{where}.path: {path!r} must be a path under /dev")
        t = fields.choice(d, "type", where, DEVICE_TYPES, "device type")
        # podman passes the node's whole st_mode (e.g. 0o20666): runc drops the file type bits.
        mode = _int(d, "fileMode", where, default=None, lo=0, hi=0o177777)
        return cls(path=path, type=t, major=_int(d, "major", where, lo=0), minor=_int(d, "minor", where, lo=0),
                   file_mode=None if mode is None else mode & 0o7777,
                   uid=_int(d, "uid", where, default=None, lo=0), gid=_int(d, "gid", where, default=None, lo=0))


class Linux(Record):
    namespaces: tuple[Namespace, ...] = ()
    uid_mappings: tuple[IDMapping, ...] = ()
    gid_mappings: tuple[IDMapping, ...] = ()
    devices: tuple[Device, ...] = ()
    cgroups_path: str | None = None
    resources: Any = None
    rootfs_propagation: str = ""
    masked_paths: tuple[str, ...] = ()
    readonly_paths: tuple[str, ...] = ()
    sysctl: tuple[tuple[str, str], ...] = ()
    seccomp: Any = None
    personality: int | None = None
    time_offsets: tuple[tuple[str, int, int], ...] = ()  # (clock, secs, nanosecs)
    mount_label: str = ""

    def namespace(self, ns_type: str) -> Namespace | None:
        for ns in self.namespaces:
            if ns.type == ns_type:
                return ns
        return None

    @classmethod
    def from_dict(cls, d: Any, where: str = "linux") -> "Linux":
        from pyrt.spec.resources import Resources
        from pyrt.spec.seccomp import Seccomp
        d = _obj(d, where)
        namespaces = []
        for w, n, t in _typed_entries(d, "namespaces", where, NAMESPACE_TYPES, "namespace type"):
            p = _str(n, "path", w)
            if p and not p.startswith("/"):
                raise ConfigError(f"{w}.path: {p!r} must be an absolute path")
            namespaces.append(Namespace(t, p))
        uid_maps = tuple(IDMapping.from_dict(m, w) for w, m in fields.entries(d, "uidMappings", where))
        gid_maps = tuple(IDMapping.from_dict(m, w) for w, m in fields.entries(d, "gidMappings", where))
        devices = tuple(Device.from_dict(x, w) for w, x in fields.entries(d, "devices", where))
        prop = _str(d, "rootfsPropagation", where)
        if prop and prop not in ROOTFS_PROPAGATION:
            raise ConfigError(f"{where}.rootfsPropagation: unknown propagation {prop!r}")
        sysctl = _obj(d.get("sysctl"), f"{where}.sysctl")
        for k, v in sysctl.items():
            if not isinstance(v, str):
                raise ConfigError(f"{where}.sysctl.{k}: value must be a string")
        pers = None
        if d.get("personality") is not None:
            w = f"{where}.personality"
            pers = PERSONALITY_DOMAINS[fields.choice(_obj(d["personality"], w), "domain", w, PERSONALITY_DOMAINS, "domain")]
        offsets = []
        for clock, o in _obj(d.get("timeOffsets"), f"{where}.timeOffsets").items():
            if clock not in TIME_CLOCKS:
                raise ConfigError(f"{where}.timeOffsets: unknown clock {clock!r}")
            o = _obj(o, f"{where}.timeOffsets.{clock}")
            offsets.append((clock, _int(o, "secs", f"{where}.timeOffsets.{clock}"),
                            _int(o, "nanosecs", f"{where}.timeOffsets.{clock}", lo=0, hi=999999999)))
        cg = _str(d, "cgroupsPath", where, None)
        return cls(
            namespaces=tuple(namespaces), uid_mappings=uid_maps, gid_mappings=gid_maps, devices=devices,
            cgroups_path=cg or None, resources=Resources.from_dict(d.get("resources")), rootfs_propagation=prop,
            masked_paths=_strs(d, "maskedPaths", where), readonly_paths=_strs(d, "readonlyPaths", where),
            sysctl=tuple(sysctl.items()), seccomp=Seccomp.from_dict(d.get("seccomp")), personality=pers,
            time_offsets=tuple(offsets), mount_label=_str(d, "mountLabel", where),
        )


class Root(Record):
    path: str
    readonly: bool = False


class Spec(Record):
    oci_version: str
    root: Root
    process: Process | None
    linux: Linux
    mounts: tuple[Mount, ...] = ()
    hostname: str = ""
    domainname: str = ""
    hooks: dict = field(default_factory=dict)
    annotations: dict = field(default_factory=dict)
    bundle: str = ""

    def has_new(self, ns_type: str) -> bool:
        ns = self.linux.namespace(ns_type)
        return ns is not None and not ns.path


# --- loading ----------------------------------------------------------------------------------
def parse(cfg: Any, bundle: str = "") -> Spec:
    """Validate a config.json object; relative root.path is taken relative to BUNDLE."""
    if not isinstance(cfg, dict):
        raise ConfigError("config.json: must be a JSON object")
    version = _str(cfg, "ociVersion", "")
    if not version:
        raise ConfigError("ociVersion: is required")
    if not version.startswith(SUPPORTED_MAJOR):
        raise ConfigError(f"ociVersion: unsupported version {version!r} (pyrt supports 1.x)")
    root = _obj(cfg.get("root"), "root")
    rpath = _str(root, "path", "root")
    if not rpath:
        raise ConfigError("root.path: is required")
    if bundle and not os.path.isabs(rpath):
        rpath = os.path.join(bundle, rpath)
    mounts = tuple(Mount.from_dict(m, w) for w, m in fields.entries(cfg, "mounts", ""))
    linux = Linux.from_dict(cfg.get("linux"))
    process = Process.from_dict(cfg["process"]) if cfg.get("process") is not None else None
    hostname = _str(cfg, "hostname", "")
    domainname = _str(cfg, "domainname", "")
    annotations = _obj(cfg.get("annotations"), "annotations")
    if not all(isinstance(v, str) for v in annotations.values()):
        raise ConfigError("annotations: values must be strings")
    spec = Spec(oci_version=version, root=Root(os.path.normpath(rpath), _bool(root, "readonly", "root")),
                process=process, linux=linux, mounts=mounts, hostname=hostname, domainname=domainname,
                hooks=validate_hooks(cfg.get("hooks")), annotations=annotations, bundle=bundle)
    _check(spec)
    return spec


def _check(spec: Spec) -> None:
    """Cross-field rules (runc's validator): each raises one sentence."""
    lx = spec.linux
    if spec.hostname and lx.namespace("uts") is None:
        raise ConfigError("hostname: setting it needs a new uts namespace")
    if spec.domainname and lx.namespace("uts") is None:
        raise ConfigError("domainname: setting it needs a new uts namespace")
    if (lx.uid_mappings or lx.gid_mappings) and not spec.has_new("user"):
        raise ConfigError("linux.uidMappings: mappings need a new user namespace")
    if spec.has_new("user") and not (lx.uid_mappings and lx.gid_mappings):
        raise ConfigError("linux.namespaces: a new user namespace needs uidMappings and gidMappings")
    if lx.time_offsets and not spec.has_new("time"):
        raise ConfigError("linux.timeOffsets: offsets need a new time namespace")
    for key, _ in lx.sysctl:
        if key.startswith("net.") and lx.namespace("network") is None:
            raise ConfigError(f"linux.sysctl: {key} needs a network namespace")
        if (key.startswith("kernel.") and key.split(".")[1] in ("hostname", "domainname")
                and lx.namespace("uts") is None):
            raise ConfigError(f"linux.sysctl: {key} needs a uts namespace")


def _read_json(path: str):
    """The JSON document in PATH; a missing or unreadable file or bad JSON is one clear error."""
    try:
        with open(path, "rb") as f:
            doc = jsonio.load(f)
    except FileNotFoundError:
        raise NotFoundError(f"{path}: no such file") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: not valid JSON: {e}") from None
    except OSError as e:
        raise ConfigError(f"{path}: {e.strerror}") from None
    where = jsonio.find_nul(doc, skip=("annotations",))
    if where is not None:
        from pyrt.errors import one_line
        raise ConfigError(f"{one_line(where, 200)}: contains a NUL character")
    return doc


def load_config(path: str, bundle: str = "") -> Spec:
    return parse(_read_json(path), bundle)


def load_bundle(bundle_dir: str) -> Spec:
    """Read BUNDLE/config.json; the rootfs must exist and be a directory."""
    bundle = os.path.abspath(bundle_dir)
    if not os.path.isdir(bundle):
        raise NotFoundError(f"bundle {bundle_dir!r}: no such directory")
    spec = load_config(os.path.join(bundle, "config.json"), bundle)
    if not os.path.isdir(spec.root.path):
        raise NotFoundError(f"root.path: rootfs {spec.root.path!r} does not exist or is not a directory")
    return spec


def load_process(path: str) -> Process:
    """An exec process.json (runc exec --process)."""
    return Process.from_dict(_read_json(path))
