/* pyrt-runc-fast: pyrt-runc's front door for callers that run one verb per process (containerd's
 * shim). For `state`, `kill`, `delete` and `start` it asks pyrt-runc's resident helper
 * (pyrt/cli/runc_helper.py, which documents the protocol) to run the verb; otherwise, or when no
 * helper answers or it declines, it executes pyrt-runc (PYRT_RUNC, set at build time) with the
 * same arguments. Why C: this program exists to cost less than a Python interpreter's start-up.
 * It decides nothing about the verb: the helper does, with pyrt's own code.
 *
 * Built by rootfs-tools/fast-launcher.py: cc -O2 -DPYRT_RUNC='"..."' -o pyrt-runc-fast runc-front.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#ifndef PYRT_RUNC
#error "build with -DPYRT_RUNC='\"/path/to/pyrt-runc\"'"
#endif
#define DEFAULT_SOCKET "/run/pyrt-runc-helper.sock"
#define MAX_REQUEST (1 << 20)

extern char **environ;

/* pyrt-runc's global flags that take a value (pyrt/cli/pyrt_runc.py GLOBAL_OPTS): skipped to
 * find the verb. A flag missing here only means the helper is not asked. */
static const char *const VALUE_FLAGS[] = {"--root", "--log", "--log-format", "--rootless", "--criu", NULL};
static const char *const VERBS[] = {"state", "kill", "delete", "start", NULL};

static int listed(const char *s, const char *const *list) {
    for (; *list; list++)
        if (strcmp(s, *list) == 0)
            return 1;
    return 0;
}

static const char *verb_of(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        if (argv[i][0] != '-')
            return argv[i];
        if (listed(argv[i], VALUE_FLAGS))
            i++;
    }
    return NULL;
}

struct buf {
    char *data;
    size_t len;
};

static int put(struct buf *b, const char *s) {
    size_t n = strlen(s) + 1;
    if (b->len + n > MAX_REQUEST)
        return -1;
    memcpy(b->data + b->len, s, n);
    b->len += n;
    return 0;
}

static int put_int(struct buf *b, long v, const char *fmt) {
    char num[32];
    snprintf(num, sizeof num, fmt, v);
    return put(b, num);
}

/* The request of runc_helper.Request; -1 when it does not fit. */
static int build(struct buf *b, int argc, char **argv) {
    char cwd[4096];
    int envc = 0;
    mode_t mask = umask(0);
    umask(mask);
    if (!getcwd(cwd, sizeof cwd))
        return -1;
    for (char **e = environ; *e; e++)
        envc++;
    if (put(b, "1") || put_int(b, argc - 1, "%ld"))
        return -1;
    for (int i = 1; i < argc; i++)
        if (put(b, argv[i]))
            return -1;
    if (put_int(b, envc, "%ld"))
        return -1;
    for (char **e = environ; *e; e++)
        if (put(b, *e))
            return -1;
    if (put(b, cwd) || put_int(b, (long)mask, "%lo"))
        return -1;
    return 0;
}

/* Ask the helper. Returns the verb's exit code, or -1: run pyrt-runc here (nothing ran there). */
static int ask_helper(int argc, char **argv) {
    const char *path = getenv("PYRT_RUNC_HELPER");
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (!path || !*path)
        path = DEFAULT_SOCKET;
    if (strlen(path) >= sizeof addr.sun_path)
        return -1;
    strcpy(addr.sun_path, path);
    for (int fd = 0; fd < 3; fd++)      /* a closed stdio fd: nothing to hand over */
        if (fcntl(fd, F_GETFD) < 0)
            return -1;

    struct buf b = {.data = malloc(MAX_REQUEST), .len = 0};
    if (!b.data || build(&b, argc, argv)) {
        free(b.data);
        return -1;
    }
    /* non-blocking connect: a helper too busy to take us (backlog full) is no helper */
    int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (s < 0 || connect(s, (struct sockaddr *)&addr, sizeof addr) < 0) {
        if (s >= 0)
            close(s);
        free(b.data);
        return -1;
    }
    int flags = fcntl(s, F_GETFL);
    fcntl(s, F_SETFL, flags & ~O_NONBLOCK);

    int fds[3] = {0, 1, 2};
    char ctl[CMSG_SPACE(sizeof fds)];
    memset(ctl, 0, sizeof ctl);
    struct iovec iov = {.iov_base = b.data, .iov_len = b.len};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof ctl};
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof fds);
    memcpy(CMSG_DATA(c), fds, sizeof fds);
    ssize_t sent;
    do
        sent = sendmsg(s, &msg, MSG_NOSIGNAL);
    while (sent < 0 && errno == EINTR);
    free(b.data);
    if (sent < 0) {
        close(s);
        return -1;
    }

    char reply[2];
    ssize_t n;
    do
        n = recv(s, reply, sizeof reply, 0);
    while (n < 0 && errno == EINTR);
    if (n != 1 || reply[0] != 'R') {    /* declined, or gone before running anything */
        close(s);
        return -1;
    }
    do
        n = recv(s, reply, sizeof reply, 0);
    while (n < 0 && errno == EINTR);
    close(s);
    if (n == 2 && reply[0] == 'X')
        return (unsigned char)reply[1];
    fprintf(stderr, "pyrt-runc: the helper at %s ended while running %s; its outcome is unknown\n",
            path, verb_of(argc, argv));
    return 1;
}

int main(int argc, char **argv) {
    const char *verb = verb_of(argc, argv);
    if (verb && listed(verb, VERBS)) {
        int code = ask_helper(argc, argv);
        if (code >= 0)
            return code;
    }
    argv[0] = PYRT_RUNC;
    execv(PYRT_RUNC, argv);
    fprintf(stderr, "pyrt-runc: cannot run %s: %s\n", PYRT_RUNC, strerror(errno));
    return 127;
}
