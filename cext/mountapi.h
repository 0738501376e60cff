#ifndef PYRT_MOUNTAPI_H
#define PYRT_MOUNTAPI_H
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/magic.h>
#include <linux/openat2.h>

int pyrt_openat2(int dirfd, const char *path, uint64_t flags, uint64_t resolve);
int pyrt_open_tree(int dirfd, const char *path, unsigned int flags);
int pyrt_move_mount(int from_dirfd, const char *from_path, int to_dirfd, const char *to_path,
                    unsigned int flags);
int pyrt_mount_setattr(int dirfd, const char *path, unsigned int flags, uint64_t attr_set,
                       uint64_t attr_clr, uint64_t propagation);
long long pyrt_mount_id(int dirfd, const char *path, int flags);
long long pyrt_fs_magic(int fd);
#endif
