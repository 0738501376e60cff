/* libseccomp is declared directly in seccomp.cdef; this file holds its function-like
 * macros, and the loader that puts runc's -ENOSYS stub in front of libseccomp's program. */
#define _GNU_SOURCE
/* Angle brackets: found through -Icext, so its #include_next reaches libseccomp. */
#include <seccomp.h>
#include <errno.h>
#include <linux/filter.h>
#include <stddef.h>
#include <linux/seccomp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define X32_SYSCALL_BIT 0x40000000U
#define STUB_MAX 256

uint32_t pyrt_scmp_act_errno(uint32_t ret) { return SCMP_ACT_ERRNO(ret); }
uint32_t pyrt_scmp_act_trace(uint32_t ret) { return SCMP_ACT_TRACE(ret); }

static struct sock_filter insn(uint16_t code, uint8_t jt, uint8_t jf, uint32_t k)
{
    struct sock_filter f = { code, jt, jf, k };
    return f;
}

/* Syscalls numbered above the largest one the profile names (per architecture) get
 * -ENOSYS instead of the default action: a program can then fall back from a syscall
 * newer than the profile, as with runc. Layout of the stub:
 *     ld arch; jeq arch_i -> section_i ...; ja filter
 *     section_i: ld nr; [jset x32bit -> x32 test]; jgt last -> enosys, else filter
 *     enosys: ret ERRNO(ENOSYS)
 *     filter: libseccomp's program, unchanged */
static int build_stub(const struct pyrt_enosys *a, unsigned int n, struct sock_filter *out)
{
    unsigned int size[16], start[16], header = n + 2, pos = header;
    if (n > 16)
        return -EINVAL;
    for (unsigned int i = 0; i < n; i++) {
        size[i] = a[i].has_x32 ? 4 : 2;
        start[i] = pos;
        pos += size[i];
    }
    unsigned int enosys = pos, filter = pos + 1;
    out[0] = insn(BPF_LD | BPF_W | BPF_ABS, 0, 0, offsetof(struct seccomp_data, arch));
    for (unsigned int i = 0; i < n; i++)
        out[1 + i] = insn(BPF_JMP | BPF_JEQ | BPF_K, start[i] - (2 + i), 0, a[i].audit_arch);
    out[n + 1] = insn(BPF_JMP | BPF_JA, 0, 0, filter - (n + 2));
    for (unsigned int i = 0; i < n; i++) {
        unsigned int s = start[i];
        out[s] = insn(BPF_LD | BPF_W | BPF_ABS, 0, 0, offsetof(struct seccomp_data, nr));
        if (a[i].has_x32) {
            out[s + 1] = insn(BPF_JMP | BPF_JSET | BPF_K, 1, 0, X32_SYSCALL_BIT);
            out[s + 2] = insn(BPF_JMP | BPF_JGT | BPF_K, enosys - (s + 3), filter - (s + 3), a[i].last);
            out[s + 3] = insn(BPF_JMP | BPF_JGT | BPF_K, enosys - (s + 4), filter - (s + 4), a[i].last_x32);
        } else {
            out[s + 1] = insn(BPF_JMP | BPF_JGT | BPF_K, enosys - (s + 2), filter - (s + 2), a[i].last);
        }
    }
    out[enosys] = insn(BPF_RET | BPF_K, 0, 0, SCMP_ACT_ERRNO(ENOSYS));
    return (int)filter;
}

int pyrt_seccomp_load_enosys(scmp_filter_ctx ctx, const struct pyrt_enosys *arches, unsigned int n,
                             unsigned int flags)
{
    struct sock_filter *prog = NULL;
    int rc, fd = memfd_create("pyrt-seccomp-bpf", MFD_CLOEXEC);
    if (fd < 0)
        return -errno;
    rc = seccomp_export_bpf(ctx, fd);
    if (rc < 0)
        goto out;
    off_t bytes = lseek(fd, 0, SEEK_END);
    if (bytes < 0 || bytes % sizeof(struct sock_filter)) {
        rc = -EINVAL;
        goto out;
    }
    size_t body = (size_t)bytes / sizeof(struct sock_filter);
    prog = calloc(STUB_MAX + body, sizeof(struct sock_filter));
    if (!prog) {
        rc = -ENOMEM;
        goto out;
    }
    int stub = build_stub(arches, n, prog);
    if (stub < 0) {
        rc = stub;
        goto out;
    }
    if (stub + body > BPF_MAXINSNS) {
        rc = -E2BIG;
        goto out;
    }
    if (pread(fd, prog + stub, (size_t)bytes, 0) != bytes) {
        rc = -EIO;
        goto out;
    }
    struct sock_fprog fprog = { (unsigned short)(stub + body), prog };
    rc = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &fprog) < 0 ? -errno : 0;
out:
    free(prog);
    close(fd);
    return rc;
}
