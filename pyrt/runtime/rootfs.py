"""The container's filesystem: mounts in config order, devices, /dev links, pivot_root, masked and
read-only paths. Runs inside the init, in the container's (new) mount namespace.
"""
from __future__ import annotations

import errno
import os
import stat

from pyrt import trace
from pyrt.errors import RuntimeSetupError
from pyrt.linux import paths
from pyrt.linux.syscalls import (MOUNT_ATTR, MS, MNT_DETACH, PROC_SUPER_MAGIC, SYSFS_MAGIC, UMOUNT_NOFOLLOW,
                                  fs_magic,
                                  mount, mount_id, mount_setattr, move_mount, open_tree_clone, pivot_root,
                                  umount2)
from pyrt.spec.mountflags import PROPAGATION_OPTIONS  # rootfsPropagation's flags: the config's table

MS_BIND, MS_REC, MS_REMOUNT, MS_RDONLY = MS["MS_BIND"], MS["MS_REC"], MS["MS_REMOUNT"], MS["MS_RDONLY"]
MS_SLAVE, MS_PRIVATE, MS_MOVE = MS["MS_SLAVE"], MS["MS_PRIVATE"], MS["MS_MOVE"]
MS_NOSUID, MS_NODEV, MS_NOEXEC = MS["MS_NOSUID"], MS["MS_NODEV"], MS["MS_NOEXEC"]

# The devices every container gets (runtime-spec "default devices"): name, major, minor; in
# runc's order, which shows in mountinfo when they are bind-mounted in a user namespace.
DEFAULT_DEVICES = (("null", 1, 3), ("random", 1, 8), ("full", 1, 7), ("tty", 5, 0),
                   ("zero", 1, 5), ("urandom", 1, 9))
DEV_SYMLINKS = (("/proc/self/fd", "/dev/fd"), ("/proc/self/fd/0", "/dev/stdin"),
                ("/proc/self/fd/1", "/dev/stdout"), ("/proc/self/fd/2", "/dev/stderr"))
# statvfs f_flag bits -> mount flags that a bind remount must keep (the kernel refuses to clear
# flags locked by a less privileged mount namespace).
_ST_TO_MS = ((os.ST_RDONLY, MS_RDONLY), (os.ST_NOSUID, MS_NOSUID), (os.ST_NODEV, MS_NODEV),
             (os.ST_NOEXEC, MS_NOEXEC), (os.ST_NOATIME, MS["MS_NOATIME"]),
             (os.ST_NODIRATIME, MS["MS_NODIRATIME"]), (os.ST_RELATIME, MS["MS_RELATIME"]))


def _fail(what: str, e: OSError) -> RuntimeSetupError:
    return RuntimeSetupError(f"{what}: {os.strerror(e.errno).lower() if e.errno else e}")


def _mount_flags(path: str) -> int:
    """The MS_* flags of the mount PATH is on, as statvfs reports them."""
    f_flag = os.statvfs(path).f_flag
    return sum(ms_bit for st_bit, ms_bit in _ST_TO_MS if f_flag & st_bit)


def remount_bind(path: str, flags: int, what: str) -> None:
    """Remount the bind mount at PATH with FLAGS, keeping flags the kernel locked on it."""
    try:
        mount(None, path, None, MS_BIND | MS_REMOUNT | flags)
    except OSError as e:
        if e.errno != errno.EPERM:
            raise _fail(what, e) from None
        try:
            mount(None, path, None, MS_BIND | MS_REMOUNT | flags | _mount_flags(path))
        except OSError as e2:
            raise _fail(what, e2) from None


# --- preparation before pivot_root ------------------------------------------------------------
def prepare(spec, rootfs: str, *, cgroup_paths: dict[str, str] | None = None) -> None:
    """Make ROOTFS a mount of its own and mount everything config.json lists into it. Without a
    mount namespace in the config the runtime's is inherited (runtime-spec MUST): then its /
    is left as it is, and release_inherited() undoes what we mount here."""
    inherited = spec.linux.namespace("mount") is None
    if not inherited:
        # Our copy of the host's mounts must not propagate back: rslave unless rootfsPropagation
        # says otherwise (e.g. rshared, for volumes that share mounts with the host), as runc and
        # crun do. The value is for the container's root and is applied to it again once it is /.
        prop = spec.linux.rootfs_propagation or "rslave"
        try:
            mount(None, "/", None, PROPAGATION_OPTIONS[prop])
        except OSError as e:
            raise _fail(f"make / {prop}", e) from None
        _parent_mount_bindable(rootfs)
    # pivot_root needs the new root to be a mount point; a recursive self-bind makes it one.
    try:
        mount(rootfs, rootfs, None, MS_BIND | MS_REC)
        if inherited:
            # nothing we mount in the runtime's namespace may spread to the peers of its mounts
            mount(None, rootfs, None, MS_PRIVATE | MS_REC)
    except OSError as e:
        raise _fail(f"bind rootfs {rootfs}", e) from None
    # opened after the self-bind, so that targets are looked up in the bind, not beneath it
    root = Root(rootfs)
    try:
        for m in spec.mounts:
            mount_entry(m, root, spec.bundle, cgroup_paths or {}, cgroupns=spec.has_new("cgroup"))
        if not any(m.destination == "/dev" and m.is_bind for m in spec.mounts):
            create_devices(root, spec)
            dev_symlinks(root)
    finally:
        root.close()


def _parent_mount_bindable(rootfs: str) -> None:
    """Fix the mount holding ROOTFS when it is shared or unbindable: pivot_root refuses a new
    root whose parent mount is shared, a shared one would also send our mounts back to the
    host, and the self-bind of an unbindable one fails (EINVAL). A shared one becomes a slave,
    not private as in runc: the rootfs bind then still receives the host's mounts, which
    rootfsPropagation "slave" promises. An unbindable one becomes private (MS_SLAVE would
    leave it unbindable)."""
    best, flag = "", 0
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            mp = fields[4]
            if (rootfs == mp or rootfs.startswith(mp.rstrip("/") + "/")) and len(mp) >= len(best):
                best = mp
                opts = fields[6:fields.index("-")]
                flag = (MS_SLAVE if any(x.startswith("shared:") for x in opts) else
                        MS_PRIVATE if "unbindable" in opts else 0)
    if best and flag:
        try:
            mount(None, best, None, flag)
        except OSError as e:
            raise _fail(f"make {best} {'slave' if flag == MS_SLAVE else 'private'}", e) from None


def release_inherited(rootfs: str, unless_top: str | None = None) -> None:
    """Undo prepare() in the runtime's own mount namespace (a config without a mount namespace):
    lazily detach the rootfs self-bind, which takes every mount made in it along. Only when the
    topmost mount on ROOTFS looks like that bind (a bind of the directory beneath it, never a
    mount of another filesystem such as the caller's overlay) and is not UNLESS_TOP (the id
    top_mount() gave before create began). Nothing there (released, or another mount
    namespace): nothing to do."""
    rootfs = os.path.realpath(rootfs)
    mounts = _mounts()
    top = _top(mounts, rootfs)
    if top is None or top[0] == unless_top or top[1] not in mounts:
        return
    parent = mounts[top[1]]
    inner = os.path.normpath(os.path.join(parent[3], os.path.relpath(rootfs, parent[4])))
    if top[2] != parent[2] or top[3] != inner:
        return
    try:
        umount2(rootfs, MNT_DETACH | UMOUNT_NOFOLLOW)
    except OSError as e:
        raise _fail(f"unmount rootfs {rootfs}", e) from None


def top_mount(rootfs: str) -> str | None:
    """The id of the topmost mount on ROOTFS, or None."""
    top = _top(_mounts(), os.path.realpath(rootfs))
    return top[0] if top else None


def _mounts() -> dict[str, tuple[str, str, str, str, str]]:
    """id -> (id, parent id, dev, root, mount point) from our mountinfo, in its order."""
    out = {}
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                x = line.split()
                out[x[0]] = (x[0], x[1], x[2], _unescape(x[3]), _unescape(x[4]))
    except OSError:
        pass
    return out


def _top(mounts: dict, path: str):
    top = None
    for m in mounts.values():
        if m[4] == path:
            top = m
    return top


def _unescape(field: str) -> str:
    """mountinfo's octal escapes (\\040 for a space...) back to characters."""
    if "\\" not in field:
        return field
    import re
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


# Mounts whose target lies inside /proc that runc allows (files lxcfs emulates).
LXCFS_PROC = frozenset(("/proc/cpuinfo", "/proc/diskstats", "/proc/meminfo", "/proc/stat", "/proc/swaps",
                        "/proc/uptime", "/proc/loadavg", "/proc/slabinfo", "/proc/net/dev",
                        "/proc/sys/kernel/ns_last_pid"))
# MS_* flags of a bind -> MOUNT_ATTR_* bits set on its clone before it is attached.
_MS_TO_ATTR = ((MS_RDONLY, MOUNT_ATTR["MOUNT_ATTR_RDONLY"]), (MS_NOSUID, MOUNT_ATTR["MOUNT_ATTR_NOSUID"]),
               (MS_NODEV, MOUNT_ATTR["MOUNT_ATTR_NODEV"]), (MS_NOEXEC, MOUNT_ATTR["MOUNT_ATTR_NOEXEC"]),
               (MS["MS_NODIRATIME"], MOUNT_ATTR["MOUNT_ATTR_NODIRATIME"]))
_MS_TO_ATIME = ((MS["MS_NOATIME"], MOUNT_ATTR["MOUNT_ATTR_NOATIME"]),
                (MS["MS_STRICTATIME"], MOUNT_ATTR["MOUNT_ATTR_STRICTATIME"]),
                (MS["MS_RELATIME"], MOUNT_ATTR["MOUNT_ATTR_RELATIME"]))


class Root:
    """The rootfs, open: every mount target is opened beneath it (see paths.open_in_root) and
    mounted onto through that fd, never through a path a container process could swap."""

    def __init__(self, path: str):
        self.path = os.path.realpath(path)
        self.fd = os.open(self.path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)

    def close(self) -> None:
        os.close(self.fd)

    def open(self, dest: str, what: str, create: str | None = None) -> int:
        try:
            return paths.open_in_root(self.path, self.fd, dest, create)
        except paths.EscapeError as e:
            raise RuntimeSetupError(f"mount target {dest}: {e.strerror}") from None
        except paths.MaliciousPathError as e:
            raise RuntimeSetupError(f"{what}: {e.strerror}") from None
        except OSError as e:
            raise _fail(f"{what}: {'create' if create else 'open'} {dest}", e) from None

    def inside(self, fd: int) -> str:
        """Where FD is, as the container will see it ("/proc", "/vol/x")."""
        real = os.readlink(f"/proc/self/fd/{fd}")
        return "/" + os.path.relpath(real, self.path).removeprefix(".").lstrip("/")


def _fs_magic(path: str) -> int:
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return 0
    try:
        return fs_magic(fd, path)
    except OSError:
        return 0
    finally:
        os.close(fd)


def check_proc_sys(inside: str, m, src: str | None, what: str) -> None:
    """runc's checks (CVE-2019-16884, CVE-2023-27561 class), on the target as resolved: only a
    real procfs goes on /proc and only sysfs on /sys, nothing inside /proc but lxcfs's files,
    and proc/sysfs only on the ordinary directory named (not through a symlink)."""
    if m.type in ("proc", "sysfs") and inside != os.path.normpath("/" + m.destination.lstrip("/")):
        raise RuntimeSetupError(f'{what}: filesystem "{m.type}" must be mounted on ordinary directory '
                                f"(resolves to {inside})")
    if inside == "/proc":
        if not (m.type == "proc" or (src is not None and _fs_magic(src) == PROC_SUPER_MAGIC)):
            raise RuntimeSetupError(f'{what}: "{inside}" cannot be mounted because it is not of type proc')
    elif inside.startswith("/proc/") and inside not in LXCFS_PROC:
        raise RuntimeSetupError(f'{what}: "{inside}" cannot be mounted because it is inside /proc')
    elif inside == "/sys":
        if not (m.type == "sysfs" or (src is not None and _fs_magic(src) == SYSFS_MAGIC)):
            raise RuntimeSetupError(f'{what}: "{inside}" cannot be mounted because it is not of type sysfs')


def require_procfs(path: str = "/proc") -> None:
    """Refuse unless PATH is a real procfs (statfs magic), before trusting what it says: the
    init's protections read /proc, and a rootfs may have put a directory of its own there."""
    if _fs_magic(path) != PROC_SUPER_MAGIC:
        raise RuntimeSetupError(f"{path} is not a procfs mount: refusing to trust it")


def bind_clone(src: str, target_fd: int, flags: int, what: str) -> int:
    """Bind SRC (MS_REC in FLAGS: with its submounts) onto the target TARGET_FD holds open, its
    read-only/nosuid/nodev/noexec/atime bits set on the detached clone before it is attached
    (open_tree + mount_setattr + move_mount): no moment exists where it is writable, nor a
    second lookup by path. Like runc 1.1 the bits go on the top mount only. Returns the new
    mount's id. Kernels before 5.12: bind, then remount through the same fd."""
    rec = bool(flags & MS_REC)
    attrs = sum(attr for ms_bit, attr in _MS_TO_ATTR if flags & ms_bit)
    atime = next((attr for ms_bit, attr in _MS_TO_ATIME if flags & ms_bit), None)
    try:
        mnt = open_tree_clone(src, rec)
    except OSError as e:
        if e.errno == errno.ENOSYS:
            return _bind_remount(src, target_fd, flags, what)
        raise _fail(f"{what}: source {src}", e) from None
    try:
        if attrs or atime is not None:
            clear = MOUNT_ATTR["MOUNT_ATTR__ATIME"] if atime is not None else 0
            try:
                mount_setattr(mnt, attrs | (atime or 0), clear, path=src)
            except OSError as e:
                if e.errno != errno.EPERM or atime is None:
                    raise _fail(what, e) from None
                # atime locked by a less privileged mount namespace: keep it, set the rest
                mount_setattr(mnt, attrs, path=src)
        move_mount(mnt, target_fd)
        return mount_id(mnt)
    except OSError as e:
        raise _fail(what, e) from None
    finally:
        os.close(mnt)


def _bind_remount(src: str, target_fd: int, flags: int, what: str) -> int:
    fd_path = f"/proc/self/fd/{target_fd}"
    try:
        mount(src, fd_path, None, MS_BIND | (flags & MS_REC))
        mnt = os.open(fd_path, os.O_PATH | os.O_CLOEXEC)  # the magic link lands on the new mount's root
    except OSError as e:
        raise _fail(what, e) from None
    try:
        extra = flags & ~(MS_BIND | MS_REC)
        if extra:
            remount_bind(f"/proc/self/fd/{mnt}", extra, what)
        return mount_id(mnt)
    finally:
        os.close(mnt)


def _landed(root: Root, dest: str, what: str, *, mnt_id: int | None = None,
            under: tuple[int, os.stat_result] | None = None) -> int:
    """Reopen DEST after mounting and prove the mount is there: its id is MNT_ID, or (a mount
    by type, whose id we do not get) it covers the directory UNDER = (mount id, stat of its
    parent) described before mounting. An fd on the mount's root, or RuntimeSetupError."""
    fd = root.open(dest, what)
    try:
        got = mount_id(fd)
        ok = got == mnt_id if mnt_id is not None else (
            got != under[0] and _same_file(os.stat("..", dir_fd=fd), under[1]))
    except BaseException:
        os.close(fd)
        raise
    if not ok:
        os.close(fd)
        raise RuntimeSetupError(f"{what}: possibly malicious path detected: the mount did not land on {dest}")
    return fd


def _same_file(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def _describe(fd: int) -> tuple[int, os.stat_result]:
    return mount_id(fd), os.stat("..", dir_fd=fd)


def _mount_by_type(root: Root, m, dest_fd: int, source: str, fstype: str, flags: int, data,
                   what: str) -> int:
    under = _describe(dest_fd)
    mount(source, f"/proc/self/fd/{dest_fd}", fstype, flags, data)
    return _landed(root, m.destination, what, under=under)


def mount_entry(m, root: Root, bundle: str, cgroup_paths: dict[str, str], cgroupns: bool = False) -> None:
    what = f'mount "{m.source or m.type}" on {m.destination}'
    src = None
    if m.is_bind:
        src = m.source if os.path.isabs(m.source) else os.path.join(bundle, m.source)
        try:
            is_dir = stat.S_ISDIR(os.stat(src).st_mode)
        except OSError as e:
            raise _fail(f"{what}: source {src}", e) from None
    else:
        is_dir = True
    dest_fd = root.open(m.destination, what, create="dir" if is_dir else "file")
    try:
        check_proc_sys(root.inside(dest_fd), m, src, what)
        if m.type == "cgroup" and hierarchy_paths(cgroup_paths):
            mounted = _mount_cgroup_v1(m, root, dest_fd, cgroup_paths, what, cgroupns)
        elif m.type in ("cgroup", "cgroup2"):
            mounted = _mount_cgroup_v2(m, root, dest_fd, cgroup_paths, what)
        elif m.is_bind:
            mnt_id = bind_clone(src, dest_fd, m.flags, what)
            mounted = _landed(root, m.destination, what, mnt_id=mnt_id)
        else:
            try:
                mounted = _mount_by_type(root, m, dest_fd, m.source or m.type, m.type, m.flags, m.data or None, what)
            except OSError as e:
                if m.type != "sysfs" or e.errno != errno.EPERM:
                    raise _fail(what, e) from None
                # Without its own network namespace sysfs cannot be mounted: bind the host's.
                mnt_id = bind_clone("/sys", dest_fd, MS_REC | (m.flags & ~MS_REC), what)
                mounted = _landed(root, m.destination, what, mnt_id=mnt_id)
    finally:
        os.close(dest_fd)
    try:
        if m.type == "proc" and fs_magic(mounted) != PROC_SUPER_MAGIC:
            raise RuntimeSetupError(f"{what}: the mount is not a procfs")
        for p in m.propagation:
            try:
                mount(None, f"/proc/self/fd/{mounted}", None, p)
            except OSError as e:
                raise _fail(f"{what}: propagation", e) from None
    finally:
        os.close(mounted)


def _mount_cgroup_v1(m, root: Root, dest_fd: int, cgroup_paths: dict[str, str], what: str,
                     cgroupns: bool) -> int:
    """A `cgroup` mount on a v1/hybrid host, as runc makes it: a tmpfs holding one entry per v1
    hierarchy: a bind of the container's own cgroup directory, or, inside a cgroup namespace
    (whose root already is that directory), the hierarchy mounted afresh. Like runc, the tmpfs
    itself stays writable and a hybrid host's cgroup2 tree is left out. The entries are made in
    the fresh tmpfs through its fd: nobody else can reach it yet."""
    base = m.flags & (MS_NOSUID | MS_NODEV | MS_NOEXEC | MS["MS_RELATIME"])
    try:
        tmpfs = _mount_by_type(root, m, dest_fd, "tmpfs", "tmpfs", base, "mode=755", what)
    except OSError as e:
        raise _fail(what, e) from None
    for name, host_dir in hierarchy_paths(cgroup_paths).items():
        try:
            os.mkdir(name, 0o755, dir_fd=tmpfs)
            sub = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=tmpfs)
        except OSError as e:
            os.close(tmpfs)
            raise _fail(f"{what}: {name}", e) from None
        try:
            if cgroupns:
                # runc's source and data: the directory name, and name=<x> for named hierarchies
                source, data = ("systemd", "name=systemd") if name == "systemd" else ("cgroup", name)
                flags = MS_NOSUID | MS_NODEV | MS_NOEXEC | (m.flags & MS_RDONLY)
                try:
                    mount(source, f"/proc/self/fd/{sub}", "cgroup", flags, data)
                except OSError as e:
                    raise _fail(f"{what}: {name}", e) from None
            else:
                bind_clone(host_dir, sub, MS_REC | (m.flags & ~(MS_BIND | MS_REC)), f"{what}: bind {host_dir}")
        except BaseException:
            os.close(tmpfs)
            raise
        finally:
            os.close(sub)
    return tmpfs


def _mount_cgroup_v2(m, root: Root, dest_fd: int, cgroup_paths: dict[str, str], what: str) -> int:
    """Pure cgroup v2: mount cgroup2 (its root is our cgroup inside a cgroup namespace); where
    the kernel refuses (no cgroup namespace), bind our own cgroup directory instead."""
    flags = m.flags & ~(MS_BIND | MS_REC)
    try:
        return _mount_by_type(root, m, dest_fd, "cgroup2", "cgroup2", flags, None, what)
    except OSError as e:
        if e.errno not in (errno.EPERM, errno.EBUSY):
            raise _fail(what, e) from None
    own = os.path.join("/sys/fs/cgroup", cgroup_paths.get("unified", "/").lstrip("/"))
    mnt_id = bind_clone(own, dest_fd, MS_REC | flags, f"{what}: bind {own}")
    return _landed(root, m.destination, what, mnt_id=mnt_id)


def hierarchy_paths(own: dict[str, str]) -> dict[str, str]:
    """Mounted v1 cgroup hierarchies: dir name under /sys/fs/cgroup -> our cgroup's directory in it.
    OWN maps a hierarchy name to our cgroup path (from /proc/self/cgroup, read after the parent
    placed us in the container's cgroup)."""
    out = {}
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            fstype = fields[fields.index("-") + 1]
            if fstype != "cgroup":
                continue
            mp = fields[4]
            name = os.path.basename(mp)
            rel = own.get(name, "/")
            d = os.path.join(mp, rel.lstrip("/"))
            out[name] = d if os.path.isdir(d) else mp
    return out


def own_cgroups() -> dict[str, str]:
    """Our cgroup per hierarchy, keyed as the directories under /sys/fs/cgroup are named
    ("systemd" for name=systemd, "unified" for the cgroup2 tree)."""
    from pyrt.cgroups.layout import own_cgroups as parse  # preloaded by the init (not for exec)
    with open("/proc/self/cgroup") as f:
        v2, v1 = parse(f.read())
    out = {c.removeprefix("name="): path for c, path in v1.items()}
    if v2 is not None:
        out["unified"] = v2
    return out


def create_devices(root: Root, spec) -> None:
    """Default devices plus linux.devices. mknod, or (in a user namespace, where mknod is not
    allowed) a bind mount of the host's node, as runc does. Each node is made under an fd of
    its directory (linux.devices may name a path in a volume another container can change)."""
    in_userns = spec.has_new("user") or bool(spec.linux.namespace("user"))
    want = [(f"/dev/{n}", "c", ma, mi, 0o666, None, None) for n, ma, mi in DEFAULT_DEVICES]
    for d in spec.linux.devices:
        want.append((d.path, d.type, d.major, d.minor, d.file_mode if d.file_mode is not None else 0o666,
                     d.uid, d.gid))
    old = os.umask(0)
    try:
        for path, typ, major, minor, mode, uid, gid in want:
            what = f"device {path}"
            if in_userns:
                fd = root.open(path, what, create="file")
                try:
                    mnt_id = bind_clone(path, fd, 0, f"{what}: bind from host")
                finally:
                    os.close(fd)
                os.close(_landed(root, path, what, mnt_id=mnt_id))
                continue
            kind = {"c": stat.S_IFCHR, "u": stat.S_IFCHR, "b": stat.S_IFBLK, "p": stat.S_IFIFO}[typ]
            parent, name = _open_parent(root, path, what)
            try:
                _unlink_at(parent, name)
                if trace.on:
                    trace.step(f"mknod({path!r}, {typ} {major}:{minor}, {mode:04o})")
                os.mknod(name, kind | mode, os.makedev(major, minor), dir_fd=parent)
                if uid is not None or gid is not None:
                    os.chown(name, uid if uid is not None else -1, gid if gid is not None else -1,
                             dir_fd=parent, follow_symlinks=False)
            except OSError as e:
                raise _fail(f"{what}: mknod", e) from None
            finally:
                os.close(parent)
    finally:
        os.umask(old)


def _unlink_at(parent: int, name: str) -> None:
    """NAME in the directory PARENT gone, if it was there (what is laid down replaces it)."""
    try:
        os.unlink(name, dir_fd=parent)
    except FileNotFoundError:
        pass


def _open_parent(root: Root, path: str, what: str) -> tuple[int, str]:
    """An fd on the directory of PATH (made if missing), and PATH's last component."""
    return root.open(os.path.dirname(path), what, create="dir"), os.path.basename(path)


def dev_symlinks(root: Root) -> None:
    links = list(DEV_SYMLINKS)
    if os.path.exists("/proc/kcore"):
        links.append(("/proc/kcore", "/dev/core"))
    # /dev/ptmx points into the container's own devpts instance
    links.append(("pts/ptmx", "/dev/ptmx"))
    for src, link in links:
        what = f"symlink {link}"
        parent, name = _open_parent(root, link, what)
        try:
            if link == "/dev/ptmx":
                _unlink_at(parent, name)
            if trace.on:
                trace.step(f"symlink({src!r}, {link!r})")
            os.symlink(src, name, dir_fd=parent)
        except FileExistsError:
            pass
        except OSError as e:
            raise _fail(what, e) from None
        finally:
            os.close(parent)


# --- switching root -----------------------------------------------------------------------------
def switch_root(rootfs: str, no_pivot: bool, *, propagation: str = "", inherited: bool = False) -> None:
    """Make ROOTFS the process's /: pivot_root and detach the old root, or (--no-pivot) move the
    mount over / and chroot (needed when / is a ramfs, where pivot_root is not allowed), or
    (INHERITED, the runtime's mount namespace) only chroot: pivot_root there would move the
    root of every process in it. Then rootfsPropagation PROPAGATION goes on the new /."""
    if inherited:
        try:
            os.chroot(rootfs)
            os.chdir("/")
        except OSError as e:
            raise _fail("chroot", e) from None
    elif no_pivot:
        try:
            os.chdir(rootfs)
            mount(rootfs, "/", None, MS_MOVE)
            os.chroot(".")
            os.chdir("/")
        except OSError as e:
            raise _fail("move root", e) from None
    else:
        _pivot(rootfs)
    if propagation:
        root_propagation(propagation)


def root_propagation(propagation: str) -> None:
    """rootfsPropagation on the container's / (runtime-spec, Rootfs Mount Propagation): shared is
    a new peer group of its own (made private first, so not the host's peer: the spec's "this
    does not mean that it's shared with the host", crun's result); slave keeps receiving the
    host's mounts (the rootfs bind was made from a slave); private and unbindable as named."""
    flag = PROPAGATION_OPTIONS[propagation]
    try:
        if flag & MS["MS_SHARED"]:
            mount(None, "/", None, MS_PRIVATE | (flag & MS_REC))
        mount(None, "/", None, flag)
    except OSError as e:
        raise _fail(f"make / {propagation}", e) from None


def _pivot(rootfs: str) -> None:
    old = os.open("/", os.O_DIRECTORY | os.O_RDONLY | os.O_CLOEXEC)
    new = os.open(rootfs, os.O_DIRECTORY | os.O_RDONLY | os.O_CLOEXEC)
    try:
        # pivot_root(".", "."): the old root lands on top of the new one, then is lazily detached;
        # no put_old directory needs to exist in the rootfs.
        os.fchdir(new)
        pivot_root(".", ".")
        os.fchdir(old)
        # slave first, so unmounting it does not propagate to the host's mounts
        mount(None, ".", None, MS_SLAVE | MS_REC)
        umount2(".", MNT_DETACH)
        os.chdir("/")
    except OSError as e:
        raise _fail("pivot_root", e) from None
    finally:
        os.close(old)
        os.close(new)


# --- after pivot_root -----------------------------------------------------------------------------
def readonly_root() -> None:
    remount_bind("/", MS_RDONLY, "remount / read-only")


def readonly_path(path: str) -> None:
    try:
        mount(path, path, None, MS_BIND | MS_REC)
    except OSError as e:
        if e.errno == errno.ENOENT:
            return
        raise _fail(f"readonly path {path}", e) from None
    # runc keeps the source's nosuid/nodev/noexec (podman's /proc has all three): a bind remount
    # would otherwise clear them and /proc/sys would become ro but suid/dev/exec.
    kept = _mount_flags(path) & (MS_NOSUID | MS_NODEV | MS_NOEXEC)
    remount_bind(path, MS_RDONLY | MS_REC | kept, f"readonly path {path}")


def mask_path(path: str) -> None:
    """Hide PATH: /dev/null over a file, an empty read-only tmpfs over a directory."""
    try:
        mount("/dev/null", path, None, MS_BIND)
    except OSError as e:
        if e.errno == errno.ENOENT:
            return
        if e.errno != errno.ENOTDIR:
            raise _fail(f"masked path {path}", e) from None
        try:
            mount("tmpfs", path, "tmpfs", MS_RDONLY, None)
        except OSError as e2:
            raise _fail(f"masked path {path}", e2) from None
