/* probes.h - looking at a process's own state, with raw system calls only.
 *
 * Both sides use these: the parent before and after the experiment, the child in between.
 * Because they only use raw.h, they are safe in a vfork or CLONE_VM child.
 */
#ifndef FORKLAB_PROBES_H
#define FORKLAB_PROBES_H

#include <fcntl.h>
#include <sys/stat.h>
#include "raw.h"

/* Namespace names, in the order of fl_result.ns_parent / ns_child (files in /proc/thread-self/ns). */
static const char *const fl_ns_names[FL_NS_COUNT] = { "uts", "pid", "mnt", "net", "ipc", "user", "cgroup" };
#define FL_NS_UTS 0
#define FL_NS_PID 1
#define FL_NS_MNT 2
#define FL_NS_NET 3
#define FL_NS_IPC 4
#define FL_NS_USER 5
#define FL_NS_CGROUP 6

/* Reads a small /proc file into buf (NUL-terminated). Returns its length or -errno. */
static inline long read_small_file(const char *path, char *buf, long size)
{
    long fd = RAW4(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC, 0);
    long len = 0, n;
    if (fd < 0)
        return fd;
    while (len < size - 1 && (n = RAW3(SYS_read, fd, buf + len, size - 1 - len)) > 0)
        len += n;
    RAW1(SYS_close, fd);
    buf[len] = 0;
    return len;
}

/* The number after "\n<key>" in a /proc/.../status text, or -1. */
static inline int64_t status_field(const char *text, const char *key)
{
    int klen = fl_strlen(key);
    for (const char *p = text; *p; p++) {
        if (p != text && p[-1] != '\n')
            continue;
        int i = 0;
        while (i < klen && p[i] == key[i])
            i++;
        if (i < klen)
            continue;
        p += klen;
        while (*p == ' ' || *p == '\t')
            p++;
        int64_t v = 0;
        while (*p >= '0' && *p <= '9')
            v = v * 10 + (*p++ - '0');
        return v;
    }
    return -1;
}

/* Who am I? getpid() and friends answer in the caller's own PID namespace; /proc (mounted
 * by the host) answers in the host's, so a child in a new PID namespace gets both views. */
static inline void read_identity(struct fl_side *s)
{
    char buf[2048];
    s->pid = RAW0(SYS_getpid);
    s->tid = RAW0(SYS_gettid);
    s->ppid = RAW0(SYS_getppid);
    s->tgid = s->pid;                 /* getpid() returns the thread group id */
    s->uid = RAW0(SYS_getuid);
    if (read_small_file("/proc/thread-self/status", buf, sizeof buf) > 0) {
        s->host_tgid = status_field(buf, "Tgid:");
        s->host_tid = status_field(buf, "Pid:");     /* "Pid:" in status is the thread's id */
        s->host_ppid = status_field(buf, "PPid:");
        s->host_pid = s->host_tgid;
    } else {
        s->host_tgid = s->host_tid = s->host_ppid = s->host_pid = -1;
    }
}

/* The inode number of each namespace the calling thread is in: equal inodes = same namespace.
 * (Opening the folder once and stat-ing relative to it saves walking /proc/thread-self 7 times.) */
static inline void read_namespaces(uint64_t ino[FL_NS_COUNT])
{
    struct stat st;
    long dir = RAW4(SYS_openat, AT_FDCWD, "/proc/thread-self/ns", O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    for (int i = 0; i < FL_NS_COUNT; i++)
        ino[i] = dir >= 0 && RAW4(SYS_newfstatat, dir, fl_ns_names[i], &st, 0) == 0 ? st.st_ino : 0;
    if (dir >= 0)
        RAW1(SYS_close, dir);
}

/* Network interfaces this thread's network namespace has (/proc/thread-self/net/dev has two
 * header lines, then one line per interface). */
static inline int count_net_interfaces(void)
{
    char buf[4096];
    int lines = 0;
    if (read_small_file("/proc/thread-self/net/dev", buf, sizeof buf) < 0)
        return -1;
    for (char *p = buf; *p; p++)
        lines += *p == '\n';
    return lines - 2;
}

static inline int64_t device_of(const char *path)
{
    struct stat st;
    return RAW4(SYS_newfstatat, AT_FDCWD, path, &st, 0) == 0 ? (int64_t)st.st_dev : -1;
}

static inline void read_hostname(char *out)
{
    struct { char sysname[65], nodename[65], release[65], version[65], machine[65], domain[65]; } u;
    if (RAW1(SYS_uname, &u) == 0)
        fl_strcpy(out, u.nodename, FL_HOST_MAX);
    else
        out[0] = 0;
}

/* A kernel sigaction, as rt_sigaction(2) takes it. */
struct fl_ksigaction {
    void *handler;
    unsigned long flags;
    void *restorer;
    uint64_t mask;
};

/* 0 default, 1 ignored, 2 a handler function. */
static inline int signal_disposition(int sig)
{
    struct fl_ksigaction old;
    if (RAW4(SYS_rt_sigaction, sig, 0, &old, 8) != 0)
        return -1;
    return old.handler == (void *)0 ? 0 : old.handler == (void *)1 ? 1 : 2;
}

#endif
