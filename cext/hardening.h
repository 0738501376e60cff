#ifndef PYRT_HARDENING_H
#define PYRT_HARDENING_H
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stddef.h>
#include <linux/magic.h>

int pyrt_set_dumpable(int on);
int pyrt_get_dumpable(void);
int pyrt_close_range(unsigned int first, unsigned int last, unsigned int flags);
long pyrt_fstatfs_type(int fd);
int pyrt_exec_stub_memfd(void);
#endif
