/* Thin wrappers over the syscalls Python's stdlib lacks. They return -1 and
 * leave errno set; pyrt.linux turns that into OSError with the path involved. */
#include "syscalls.h"

int pyrt_unshare(int flags) { return unshare(flags); }
int pyrt_setns(int fd, int nstype) { return setns(fd, nstype); }

int pyrt_pivot_root(const char *new_root, const char *put_old)
{
    /* glibc 2.36 has no wrapper for pivot_root */
    return (int)syscall(SYS_pivot_root, new_root, put_old);
}

int pyrt_mount(const char *source, const char *target, const char *fstype,
               unsigned long flags, const char *data)
{
    return mount(source, target, fstype, flags, data);
}

int pyrt_umount2(const char *target, int flags) { return umount2(target, flags); }
int pyrt_sethostname(const char *name, size_t len) { return sethostname(name, len); }
int pyrt_setdomainname(const char *name, size_t len) { return setdomainname(name, len); }
int pyrt_personality(unsigned long persona) { return personality(persona); }

/* `run` and `exec` wait for a grandchild (the container's PID 1): becoming a subreaper makes it
 * reparent to us when the intermediate child exits. */
int pyrt_set_child_subreaper(int on) { return prctl(PR_SET_CHILD_SUBREAPER, (unsigned long)on, 0, 0, 0); }
