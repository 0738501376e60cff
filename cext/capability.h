#ifndef PYRT_CAPABILITY_H
#define PYRT_CAPABILITY_H
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdint.h>
#include <sys/prctl.h>
#include <linux/capability.h>

int pyrt_prctl(int option, unsigned long a2, unsigned long a3, unsigned long a4, unsigned long a5);
int pyrt_capget(uint64_t sets[3]);
int pyrt_capset(const uint64_t sets[3]);
#endif
