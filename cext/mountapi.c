/* The new mount API and openat2: mount onto a target held open, with the flags set on the mount
 * before it is attached (CVE-2021-30465 class races). Raw syscalls: glibc 2.36 has no openat2 and
 * its wrappers for the others are younger than some hosts we build on. -1 and errno on failure. */
#include "mountapi.h"

int pyrt_openat2(int dirfd, const char *path, uint64_t flags, uint64_t resolve)
{
    struct open_how how = { .flags = flags, .mode = 0, .resolve = resolve };
    return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
}

int pyrt_open_tree(int dirfd, const char *path, unsigned int flags)
{
    return (int)syscall(SYS_open_tree, dirfd, path, flags);
}

int pyrt_move_mount(int from_dirfd, const char *from_path, int to_dirfd, const char *to_path,
                    unsigned int flags)
{
    return (int)syscall(SYS_move_mount, from_dirfd, from_path, to_dirfd, to_path, flags);
}

int pyrt_mount_setattr(int dirfd, const char *path, unsigned int flags, uint64_t attr_set,
                       uint64_t attr_clr, uint64_t propagation)
{
    struct mount_attr attr = { .attr_set = attr_set, .attr_clr = attr_clr, .propagation = propagation };
    return (int)syscall(SYS_mount_setattr, dirfd, path, flags, &attr, sizeof(attr));
}

/* The id of the mount PATH (relative to DIRFD; "" with AT_EMPTY_PATH: DIRFD itself) is on,
 * as /proc/self/mountinfo numbers it, without reading a /proc we might not trust. */
long long pyrt_mount_id(int dirfd, const char *path, int flags)
{
    struct statx stx;
    if (statx(dirfd, path, flags | AT_STATX_DONT_SYNC, STATX_MNT_ID, &stx) < 0)
        return -1;
    if (!(stx.stx_mask & STATX_MNT_ID)) {
        errno = ENOSYS;
        return -1;
    }
    return (long long)stx.stx_mnt_id;
}

/* statfs f_type: which filesystem FD lives on (PROC_SUPER_MAGIC, SYSFS_MAGIC...). */
long long pyrt_fs_magic(int fd)
{
    struct statfs sfs;
    if (fstatfs(fd, &sfs) < 0)
        return -1;
    return (long long)(unsigned long)sfs.f_type;
}
