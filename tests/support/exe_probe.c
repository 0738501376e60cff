/* The attacker's program of tests/integration/test_security_escapes.py (CVE-2019-5736 class).
 *
 * Placed in a hostile rootfs as /lib64/ld-linux-x86-64.so.2, it is the ELF interpreter of every
 * dynamic program the container runs: when a script starting with `#!/proc/self/exe` makes the
 * kernel load the runtime's own binary as the container's process (runc, or pyrt's Python), this
 * runs instead of that binary's code, with /proc/self/exe pointing at it. It opens
 * /proc/self/exe read-only (never for writing: the test must not damage anything) and prints
 * `exe DEV INO` of what it got, or `exe-denied ERRNO`, on stdout; the test compares DEV INO with
 * the host binary's.
 *
 * No libc (static-pie, raw syscalls): a static glibc would read the main program's headers
 * for its TLS. x86_64 only, like the VM the suite runs on. */
#include <fcntl.h>
#include <sys/syscall.h>

#if !defined(__x86_64__)
#error "exe_probe is written for x86_64"
#endif

static long sys3(long nr, long a, long b, long c)
{
    long ret;
    __asm__ volatile("syscall" : "=a"(ret) : "a"(nr), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
    return ret;
}

__asm__(".globl _start\n_start:\n  xor %rbp, %rbp\n  and $-16, %rsp\n  call probe_main\n  hlt\n");

static char *number(char *p, unsigned long v)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        *p++ = tmp[--n];
    return p;
}

static char *text(char *p, const char *s)
{
    while (*s)
        *p++ = *s++;
    return p;
}

__attribute__((used, noreturn)) void probe_main(void)
{
    char line[96], *p = line;
    unsigned long st[18];  /* struct stat on x86_64: st_dev, st_ino first */
    long fd = sys3(SYS_open, (long)"/proc/self/exe", O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0) {
        p = number(text(p, "exe-denied "), (unsigned long)-fd);
    } else if (sys3(SYS_fstat, fd, (long)st, 0) < 0) {
        p = text(p, "exe-fstat-failed");
    } else {
        p = number(text(number(text(p, "exe "), st[0]), " "), st[1]);
    }
    *p++ = '\n';
    sys3(SYS_write, 1, (long)line, p - line);
    for (;;)
        sys3(SYS_exit_group, 0, 0, 0);
}
