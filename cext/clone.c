/* clone3(CLONE_INTO_CGROUP): a child born in its cgroup v2 directory.
 *
 * Why: moving a process with a cgroup.procs write takes the kernel's cgroup_threadgroup_rwsem
 * for writing, whose first use waits out an RCU grace period (~12 ms here, on every
 * `pyrt-runc create`). A child created straight into the cgroup takes only its read side.
 * The Python-visible behaviour is os.fork()'s: the same PyOS_*Fork hooks run around it. */
#include "clone.h"

#include <Python.h>
#include <errno.h>
#include <linux/sched.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif

long pyrt_fork_into_cgroup(int cgroup_fd)
{
#ifdef SYS_clone3
    struct clone_args args;
    long pid;
    int saved_errno;
    /* cffi calls us without the GIL; the fork hooks need it, as in os.fork(). */
    PyGILState_STATE gil = PyGILState_Ensure();

    memset(&args, 0, sizeof(args));
    args.flags = CLONE_INTO_CGROUP;
    args.exit_signal = SIGCHLD;
    args.cgroup = (uint64_t)cgroup_fd;
    PyOS_BeforeFork();
    pid = syscall(SYS_clone3, &args, sizeof(args));
    saved_errno = errno;
    if (pid == 0)
        PyOS_AfterFork_Child();
    else
        PyOS_AfterFork_Parent();
    PyGILState_Release(gil);
    errno = saved_errno;
    return pid;
#else
    (void)cgroup_fd;
    errno = ENOSYS;
    return -1;
#endif
}
