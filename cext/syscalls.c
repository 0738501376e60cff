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

/* Every signal back to its default disposition and none blocked, as the container's program
 * expects (ignored dispositions and the mask survive execve). Raw rt_sigaction: glibc's
 * sigaction() refuses the two realtime signals it reserves (32, 33), which the caller that
 * started us may still have ignored, and Python's signal module refuses them too. */
struct pyrt_kernel_sigaction {
    void (*handler)(int);
    unsigned long flags;
    void (*restorer)(void);
    unsigned long mask;
};

int pyrt_default_signals(void)
{
    struct pyrt_kernel_sigaction sa = { .handler = SIG_DFL };
    sigset_t none;
    for (int sig = 1; sig < _NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            syscall(SYS_rt_sigaction, sig, &sa, NULL, sizeof(sa.mask));
    sigemptyset(&none);
    return sigprocmask(SIG_SETMASK, &none, NULL);
}
