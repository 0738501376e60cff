/* probe: print as one JSON object what a process sees of its container.
 *
 * Built static (no libc needed inside the rootfs) by build.sh. Arguments are
 * actions, done after the report is gathered and reported in "actions":
 *   empty=PATH   does PATH read as empty (masked)? "empty", "nonempty", "missing", "error:ERRNO"
 *   write=PATH   open(PATH, O_WRONLY|O_CREAT): 0 or errno
 *   mkdir=PATH   mkdir(PATH): 0 or errno
 *   read=PATH    the first line of PATH, or "error:ERRNO"
 *   stat=PATH    "TYPE MODE UID:GID MAJOR:MINOR" (lstat), or "error:ERRNO"
 *   ls=PATH      the sorted entries of directory PATH: NAME, NAME/ for a directory,
 *                NAME@TARGET for a symlink
 *   link=PATH    readlink(PATH) (e.g. link=/proc/self/ns/net), or "error:ERRNO"
 *   syscall=NR   the raw syscall NR with all arguments 0: 0 or errno (for seccomp tests; pick
 *                numbers a filter refuses or the kernel lacks)
 *   exit=N       exit with N after printing
 *   signal=N     raise(N) after printing (a pid-1 probe ignores it: that is the kernel's rule)
 *   sleep=N      sleep N seconds after printing (to be killed from outside)
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/sysmacros.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

extern char **environ;

static void jstr(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}

static void key(const char *k, int *first)
{
    if (!*first)
        putchar(',');
    *first = 0;
    jstr(k);
    putchar(':');
}

static void kstr(const char *k, const char *v, int *first) { key(k, first); jstr(v); }
static void kint(const char *k, long long v, int *first) { key(k, first); printf("%lld", v); }

/* Calls FN on each line (newline stripped) of PATH; *FIRST tracks JSON commas. */
static void each_line(const char *path, void (*fn)(char *line, int *first), int *first)
{
    char line[4096];
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        fn(line, first);
    }
    fclose(f);
}

static void status_line(char *line, int *first)
{
    static const char *wanted[] = { "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb",
                                    "NoNewPrivs", "Seccomp", "Seccomp_filters", NULL };
    char *colon = strchr(line, ':');
    if (!colon)
        return;
    *colon = 0;
    for (int i = 0; wanted[i]; i++)
        if (strcmp(line, wanted[i]) == 0)
            kstr(line, colon + 1 + strspn(colon + 1, " \t"), first);
}

static void rlimits(int *first)
{
    static const struct { const char *name; int res; } lim[] = {
        { "RLIMIT_CPU", RLIMIT_CPU }, { "RLIMIT_FSIZE", RLIMIT_FSIZE },
        { "RLIMIT_DATA", RLIMIT_DATA }, { "RLIMIT_STACK", RLIMIT_STACK },
        { "RLIMIT_CORE", RLIMIT_CORE }, { "RLIMIT_RSS", RLIMIT_RSS },
        { "RLIMIT_NPROC", RLIMIT_NPROC }, { "RLIMIT_NOFILE", RLIMIT_NOFILE },
        { "RLIMIT_MEMLOCK", RLIMIT_MEMLOCK }, { "RLIMIT_AS", RLIMIT_AS },
        { "RLIMIT_LOCKS", RLIMIT_LOCKS }, { "RLIMIT_SIGPENDING", RLIMIT_SIGPENDING },
        { "RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE }, { "RLIMIT_NICE", RLIMIT_NICE },
        { "RLIMIT_RTPRIO", RLIMIT_RTPRIO }, { "RLIMIT_RTTIME", RLIMIT_RTTIME },
    };
    key("rlimits", first);
    putchar('{');
    for (size_t i = 0; i < sizeof lim / sizeof lim[0]; i++) {
        struct rlimit r;
        if (getrlimit(lim[i].res, &r) != 0)
            continue;
        printf("%s", i ? "," : "");
        jstr(lim[i].name);
        /* -1 stands for RLIM_INFINITY */
        printf(":[%lld,%lld]", r.rlim_cur == RLIM_INFINITY ? -1LL : (long long)r.rlim_cur,
               r.rlim_max == RLIM_INFINITY ? -1LL : (long long)r.rlim_max);
    }
    putchar('}');
}

/* Optional fields without their peer-group numbers: "shared", "master", ... */
static void optional_tags(char *fields)
{
    int first = 1;
    putchar('[');
    for (char *t = strtok(fields, " "); t; t = strtok(NULL, " ")) {
        t[strcspn(t, ":")] = 0;
        printf("%s", first ? "" : ",");
        first = 0;
        jstr(t);
    }
    putchar(']');
}

static void mount_line(char *line, int *first)
{
    char *sep = strstr(line, " - ");
    if (!sep)
        return;
    *sep = 0;
    /* before " - ": id parent maj:min root mountpoint opts [optional...] */
    char *fld[6];
    char *p = line;
    for (int i = 0; i < 6; i++) {
        fld[i] = p;
        p = strchr(p, ' ');
        if (!p) { p = fld[i] + strlen(fld[i]); break; }
        *p++ = 0;
    }
    char *optional = p;
    /* after: fstype source superopts */
    char *type = sep + 3, *src = strchr(type, ' ');
    char *super = "";
    if (src) {
        *src++ = 0;
        char *sp = strchr(src, ' ');
        if (sp) { *sp = 0; super = sp + 1; }
    } else {
        src = "";
    }
    printf("%s{", *first ? "" : ",");
    *first = 0;
    int f2 = 1;
    kstr("mnt", fld[4], &f2);
    kstr("root", fld[3], &f2);
    kstr("opts", fld[5], &f2);
    key("optional", &f2);
    optional_tags(optional);
    kstr("type", type, &f2);
    kstr("source", src, &f2);
    kstr("super", super, &f2);
    putchar('}');
}

static void read_first_line(const char *path, char *buf, size_t len)
{
    buf[0] = 0;
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    if (fgets(buf, (int)len, f))
        buf[strcspn(buf, "\n")] = 0;
    fclose(f);
}

static const char *empty_check(const char *path, char *buf)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return errno == ENOENT ? "missing" : (sprintf(buf, "error:%d", errno), buf);
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (!d)
            return sprintf(buf, "error:%d", errno), buf;
        int entries = 0;
        struct dirent *e;
        while ((e = readdir(d)))
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
                entries++;
        closedir(d);
        return entries ? "nonempty" : "empty";
    }
    int fd = open(path, O_RDONLY | O_NONBLOCK);
    if (fd < 0)
        return sprintf(buf, "error:%d", errno), buf;
    char c;
    ssize_t r = read(fd, &c, 1);
    int err = errno;
    close(fd);
    if (r < 0)
        return sprintf(buf, "error:%d", err), buf;
    return r ? "nonempty" : "empty";
}

static void kread(const char *k, const char *path, int *first)
{
    char buf[4096];
    FILE *f = fopen(path, "r");
    if (!f) {
        sprintf(buf, "error:%d", errno);
    } else {
        if (!fgets(buf, sizeof buf, f))
            buf[0] = 0;
        buf[strcspn(buf, "\n")] = 0;
        fclose(f);
    }
    kstr(k, buf, first);
}

static void kstat(const char *k, const char *path, int *first)
{
    char buf[128];
    struct stat st;
    if (lstat(path, &st) != 0) {
        sprintf(buf, "error:%d", errno);
    } else {
        char t = S_ISDIR(st.st_mode) ? 'd' : S_ISCHR(st.st_mode) ? 'c' : S_ISBLK(st.st_mode) ? 'b'
               : S_ISLNK(st.st_mode) ? 'l' : S_ISFIFO(st.st_mode) ? 'p' : S_ISSOCK(st.st_mode) ? 's' : '-';
        sprintf(buf, "%c %04o %u:%u %u:%u", t, (unsigned)(st.st_mode & 07777), (unsigned)st.st_uid,
                (unsigned)st.st_gid, major(st.st_rdev), minor(st.st_rdev));
    }
    kstr(k, buf, first);
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void kls(const char *k, const char *path, int *first)
{
    char *names[1024];
    int n = 0;
    DIR *d = opendir(path);
    key(k, first);
    if (!d) {
        printf("\"error:%d\"", errno);
        return;
    }
    struct dirent *e;
    while ((e = readdir(d)) && n < 1024) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char full[4096], target[4096], entry[8300];
        snprintf(full, sizeof full, "%s/%s", path, e->d_name);
        struct stat st;
        ssize_t len;
        if (lstat(full, &st) == 0 && S_ISLNK(st.st_mode) && (len = readlink(full, target, sizeof target - 1)) >= 0) {
            target[len] = 0;
            snprintf(entry, sizeof entry, "%s@%s", e->d_name, target);
        } else {
            snprintf(entry, sizeof entry, "%s%s", e->d_name, S_ISDIR(st.st_mode) ? "/" : "");
        }
        names[n++] = strdup(entry);
    }
    closedir(d);
    qsort(names, n, sizeof names[0], by_name);
    putchar('[');
    for (int i = 0; i < n; i++) {
        printf("%s", i ? "," : "");
        jstr(names[i]);
        free(names[i]);
    }
    putchar(']');
}

int main(int argc, char **argv)
{
    int first = 1, exit_code = 0, sig = 0, nap = 0;
    char buf[4096];
    struct utsname u;
    uname(&u);
    mode_t mask = umask(0);
    umask(mask);

    putchar('{');
    kint("pid", getpid(), &first);
    kint("ppid", getppid(), &first);
    kint("sid_is_pid", getsid(0) == getpid(), &first);
    kstr("hostname", u.nodename, &first);
    kstr("domainname", u.domainname, &first);
    kint("uid", getuid(), &first);
    kint("euid", geteuid(), &first);
    kint("gid", getgid(), &first);
    kint("egid", getegid(), &first);
    gid_t groups[256];
    int ng = getgroups(256, groups);
    key("groups", &first);
    putchar('[');
    for (int i = 0; i < ng; i++)
        printf("%s%u", i ? "," : "", (unsigned)groups[i]);
    putchar(']');
    kstr("cwd", getcwd(buf, sizeof buf) ? buf : "", &first);
    key("env", &first);
    putchar('[');
    for (char **e = environ; *e; e++) {
        printf("%s", e == environ ? "" : ",");
        jstr(*e);
    }
    putchar(']');
    kint("umask", mask, &first);
    kint("personality", personality(0xffffffff), &first);
    read_first_line("/proc/self/oom_score_adj", buf, sizeof buf);
    kstr("oom_score_adj", buf, &first);
    kint("stdin_isatty", isatty(0), &first);
    int f2 = 1;
    key("status", &first);
    putchar('{');
    each_line("/proc/self/status", status_line, &f2);
    putchar('}');
    rlimits(&first);
    key("mounts", &first);
    putchar('[');
    f2 = 1;
    each_line("/proc/self/mountinfo", mount_line, &f2);
    putchar(']');

    key("actions", &first);
    putchar('{');
    f2 = 1;
    for (int i = 1; i < argc; i++) {
        char *eq = strchr(argv[i], '=');
        if (!eq)
            continue;
        *eq = 0;
        const char *what = argv[i], *arg = eq + 1;
        fflush(stdout); /* what came before survives an action that kills us (seccomp) */
        char k[4200];
        snprintf(k, sizeof k, "%s=%s", what, arg);
        if (strcmp(what, "empty") == 0) {
            kstr(k, empty_check(arg, buf), &f2);
        } else if (strcmp(what, "write") == 0) {
            int fd = open(arg, O_WRONLY | O_CREAT, 0644);
            kint(k, fd < 0 ? errno : 0, &f2);
            if (fd >= 0)
                close(fd);
        } else if (strcmp(what, "mkdir") == 0) {
            kint(k, mkdir(arg, 0755) != 0 ? errno : 0, &f2);
        } else if (strcmp(what, "read") == 0) {
            kread(k, arg, &f2);
        } else if (strcmp(what, "stat") == 0) {
            kstat(k, arg, &f2);
        } else if (strcmp(what, "ls") == 0) {
            kls(k, arg, &f2);
        } else if (strcmp(what, "link") == 0) {
            char target[4096];
            ssize_t len = readlink(arg, target, sizeof target - 1);
            if (len < 0)
                sprintf(target, "error:%d", errno);
            else
                target[len] = 0;
            kstr(k, target, &f2);
        } else if (strcmp(what, "syscall") == 0) {
            long rc = syscall(atol(arg), 0L, 0L, 0L, 0L, 0L, 0L);
            kint(k, rc < 0 ? errno : 0, &f2);
        } else if (strcmp(what, "exit") == 0) {
            exit_code = atoi(arg);
        } else if (strcmp(what, "signal") == 0) {
            sig = atoi(arg);
        } else if (strcmp(what, "sleep") == 0) {
            nap = atoi(arg);
        }
    }
    puts("}}");
    fflush(stdout);
    if (sig)
        raise(sig);
    if (nap)
        sleep(nap);
    return exit_code;
}
