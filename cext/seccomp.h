#ifndef PYRT_SECCOMP_H
#define PYRT_SECCOMP_H
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdint.h>
/* This file shadows libseccomp's <seccomp.h> on the -Icext path: skip past it. */
#include_next <seccomp.h>

uint32_t pyrt_scmp_act_errno(uint32_t ret);
uint32_t pyrt_scmp_act_trace(uint32_t ret);
#endif
