/* What keeps the host out of the container's reach while pyrt's own processes sit in its
 * namespaces (docs/security.md): non-dumpable, close_range, statfs magic, and the exec stub.
 *
 * The exec stub: a pyrt process's /proc/self/exe is the host's Python binary. Were the init
 * to execve the container's program itself, a program starting with `#!/proc/self/exe` (or an
 * ELF whose interpreter resolves there) would have the kernel load the host's Python as the
 * container's process, holding a handle on the host binary (CVE-2019-5736). So the init execs
 * this stub from a sealed memfd, and the stub execs the container's program: at that execve
 * /proc/self/exe is an anonymous, unwritable copy of the stub, never a host file.
 *
 * This file is compiled twice: as part of pyrt._cext, and with -DPYRT_EXEC_STUB as the static
 * stub itself (cext/build_cext.py), whose bytes the first build embeds. */
#include "hardening.h"

#ifdef PYRT_EXEC_STUB
/* The stub: no libc (a static glibc would make it ~700 KB, ~3 ms to copy into the memfd and
 * to start), only execve, write and exit_group through the raw syscall instruction. */
#include <errno.h>
#include <fcntl.h>
#include <sys/syscall.h>

static long sys3(long nr, long a, long b, long c)
{
#if defined(__x86_64__)
    long ret;
    __asm__ volatile("syscall" : "=a"(ret) : "a"(nr), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
    return ret;
#elif defined(__aarch64__)
    register long x8 __asm__("x8") = nr;
    register long x0 __asm__("x0") = a;
    register long x1 __asm__("x1") = b;
    register long x2 __asm__("x2") = c;
    __asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2) : "memory");
    return x0;
#else
#error "the exec stub knows x86_64 and aarch64 only"
#endif
}

/* The kernel's entry: the stack holds argc, argv[], NULL, envp[]. */
#if defined(__x86_64__)
__asm__(".globl _start\n_start:\n  xor %rbp, %rbp\n  mov %rsp, %rdi\n  and $-16, %rsp\n  call stub_main\n  hlt\n");
#elif defined(__aarch64__)
__asm__(".globl _start\n_start:\n  mov x0, sp\n  bl stub_main\n");
#endif

static void put(const char *s)
{
    long n = 0;
    while (s[n])
        n++;
    sys3(SYS_write, 2, (long)s, n);
}

/* strerror's words, lower-case as runc (Go) prints them, for what execve can answer. */
static const char *reason(long e)
{
    switch (e) {
    case ENOENT: return "no such file or directory";
    case EACCES: return "permission denied";
    case EPERM: return "operation not permitted";
    case ENOEXEC: return "exec format error";
    case ENOTDIR: return "not a directory";
    case EISDIR: return "is a directory";
    case ELOOP: return "too many levels of symbolic links";
    case ENAMETOOLONG: return "file name too long";
    case ETXTBSY: return "text file busy";
    case E2BIG: return "argument list too long";
    case ENOMEM: return "cannot allocate memory";
    case EINVAL: return "invalid argument";
    case EIO: return "input/output error";
    case ELIBBAD: return "accessing a corrupted shared library";
    default: return "execve failed";
    }
}

/* argv: the exec fifo's write end ("-1": none), the path to execute, then the program's own
 * argv (argv[0] included). The fifo's end reaches us open and is marked close-on-exec here, so
 * that it closes when the program is executed, not when the stub is: `start` reads that
 * end-of-file as "the container's process has been executed" before poststart hooks. */
__attribute__((used, noreturn)) void stub_main(long *sp)
{
    long argc = sp[0];
    char **argv = (char **)(sp + 1);
    char **envp = argv + argc + 1;
    if (argc >= 3) {
        long fd = 0;
        for (const char *d = argv[0]; *d >= '0' && *d <= '9'; d++)
            fd = fd * 10 + (*d - '0');
        if (argv[0][0] != '-')
            sys3(SYS_fcntl, fd, F_SETFD, FD_CLOEXEC);
        long err = -sys3(SYS_execve, (long)argv[1], (long)(argv + 2), (long)envp);
        put("pyrt-runc: exec ");
        put(argv[1]);
        put(": ");
        put(reason(err));
        put("\n");
    }
    for (;;)
        sys3(SYS_exit_group, 127, 0, 0);
}

#else
#include <errno.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/vfs.h>

#include "pyrt-exec-stub.h"  /* generated: pyrt_exec_stub_image[], pyrt_exec_stub_size */

#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

int pyrt_set_dumpable(int on) { return prctl(PR_SET_DUMPABLE, (unsigned long)on, 0, 0, 0); }
int pyrt_get_dumpable(void) { return prctl(PR_GET_DUMPABLE, 0, 0, 0, 0); }

int pyrt_close_range(unsigned int first, unsigned int last, unsigned int flags)
{
    return (int)syscall(SYS_close_range, first, last, flags);
}

long pyrt_fstatfs_type(int fd)
{
    struct statfs s;
    if (fstatfs(fd, &s) < 0)
        return -1;
    return (long)s.f_type;
}

/* The stub in a memfd that can never change again (sealed against writes, growing and
 * shrinking, and against removing the seals); close-on-exec. -1 and errno on failure. */
int pyrt_exec_stub_memfd(void)
{
    /* MFD_EXEC: executable even where vm.memfd_noexec makes memfds noexec by default;
     * kernels before 6.3 do not know the flag (EINVAL): ask without it. */
    int fd = memfd_create("pyrt-exec-stub", MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_EXEC);
    if (fd < 0 && errno == EINVAL)
        fd = memfd_create("pyrt-exec-stub", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0)
        return -1;
    size_t done = 0;
    while (done < pyrt_exec_stub_size) {
        ssize_t n = write(fd, pyrt_exec_stub_image + done, pyrt_exec_stub_size - done);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            goto fail;
        }
        done += (size_t)n;
    }
    if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0)
        goto fail;
    return fd;
fail:;
    int e = errno;
    close(fd);
    errno = e;
    return -1;
}
#endif
