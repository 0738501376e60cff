#ifndef PYRT_DEVFILTER_H
#define PYRT_DEVFILTER_H
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <linux/bpf.h>

/* cgroup v2 device access control: load a BPF_PROG_TYPE_CGROUP_DEVICE program and attach it
 * to a cgroup directory. Return the fd / 0, or -1 with errno set. */
int pyrt_bpf_load_cgroup_device(const void *insns, unsigned int insn_cnt, const char *license,
                                char *log_buf, unsigned int log_size);
int pyrt_bpf_attach_cgroup_device(int prog_fd, int cgroup_fd, unsigned int flags);
int pyrt_bpf_detach_cgroup_device(int prog_fd, int cgroup_fd);
#endif
