#ifndef PYRT_CLONE_H
#define PYRT_CLONE_H
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <sys/types.h>

/* fork() whose child starts in the cgroup v2 directory CGROUP_FD (clone3 CLONE_INTO_CGROUP),
 * with Python's own fork bookkeeping around it as os.fork() does. -1 and errno on failure. */
long pyrt_fork_into_cgroup(int cgroup_fd);
#endif
