#ifndef PYRT_SECCOMP_H
#define PYRT_SECCOMP_H
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdint.h>
/* This file shadows libseccomp's <seccomp.h> on the -Icext path: skip past it. */
#include_next <seccomp.h>

/* One architecture of the -ENOSYS stub: syscalls above LAST (and, for x32 calls on
 * x86_64, above LAST_X32) return ENOSYS. 0xffffffff: no limit. */
struct pyrt_enosys {
    uint32_t audit_arch;
    uint32_t last;
    uint32_t last_x32;
    int has_x32;
};

uint32_t pyrt_scmp_act_errno(uint32_t ret);
uint32_t pyrt_scmp_act_trace(uint32_t ret);
int pyrt_seccomp_load_enosys(scmp_filter_ctx ctx, const struct pyrt_enosys *arches, unsigned int n,
                             unsigned int flags);
#endif
