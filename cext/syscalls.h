#ifndef PYRT_SYSCALLS_H
#define PYRT_SYSCALLS_H
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

int pyrt_unshare(int flags);
int pyrt_setns(int fd, int nstype);
int pyrt_pivot_root(const char *new_root, const char *put_old);
int pyrt_mount(const char *source, const char *target, const char *fstype,
               unsigned long flags, const char *data);
int pyrt_umount2(const char *target, int flags);
int pyrt_sethostname(const char *name, size_t len);
int pyrt_setdomainname(const char *name, size_t len);
int pyrt_personality(unsigned long persona);
int pyrt_set_child_subreaper(int on);
int pyrt_default_signals(void);
#endif
