/* probes.h - looking at a process's own state, with raw system calls only.
 *
 * Both sides use these: the parent before and after the experiment, the child in between.
 * Because they only use raw.h, they are safe in a vfork or CLONE_VM child.
 */
#ifndef FORKLAB_PROBES_H
#define FORKLAB_PROBES_H

#include <fcntl.h>
#include <stdint.h>
#include <sys/stat.h>
#include "forklab.h"
#include "raw.h"
#include "server_setup.h"     /* fl_proc_pid_ns */

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


/* Is the caller the main thread of its process? Then /proc/self names the caller itself, and the
 * kernel instantiates one directory less than for /proc/thread-self (each is work in a fresh process). */
static inline const char *proc_self_dir(void)
{
    return RAW0(SYS_gettid) == RAW0(SYS_getpid) ? "/proc/self" : "/proc/thread-self";
}

/* path = proc_self_dir() + rest, e.g. "/proc/self/net/dev". */
static inline void proc_self_path(char *path, int size, const char *rest)
{
    fl_strcpy(path, proc_self_dir(), size);
    fl_strcpy(path + fl_strlen(path), rest, size - fl_strlen(path));
}

/* Who am I? getpid() and friends answer in the caller's own PID namespace; /proc (mounted by the
 * host) answers in the host's, so a child in a new PID namespace gets both views. pid_ns is the
 * caller's PID namespace inode (read_namespaces): when it is the one /proc shows, both views are
 * the same numbers and /proc is not read. */
static inline void read_identity(struct fl_side *s, uint64_t pid_ns)
{
    char buf[2048];
    long len = 0;
    s->pid = RAW0(SYS_getpid);
    s->tid = RAW0(SYS_gettid);
    s->ppid = RAW0(SYS_getppid);
    s->tgid = s->pid;                 /* getpid() returns the thread group id */
    s->uid = RAW0(SYS_getuid);
    s->host_err = 0;
    if (pid_ns && pid_ns == fl_proc_pid_ns) {
        s->host_tgid = s->host_pid = s->pid;
        s->host_tid = s->tid;
        s->host_ppid = s->ppid;
    } else if ((len = read_small_file("/proc/thread-self/status", buf, sizeof buf)) > 0 &&
               (s->host_tgid = status_field(buf, "Tgid:")) > 0) {
        s->host_tid = status_field(buf, "Pid:");     /* "Pid:" in status is the thread's id */
        s->host_ppid = status_field(buf, "PPid:");
        s->host_pid = s->host_tgid;
    } else {
        /* Not read (no free fd, say): -1 and the reason, never a number that could match another. */
        s->host_tgid = s->host_tid = s->host_ppid = s->host_pid = -1;
        s->host_err = len < 0 ? (int32_t)-len : 5 /* EIO: read, but no Tgid line */;
    }
}

/* pidfd ioctls that return a file for one of a process's namespaces (Linux 6.11), in the order of
 * fl_ns_names; fstat() of that file gives the namespace's inode, the same number /proc/.../ns shows. */
static const unsigned long fl_pidfd_ns_ioctl[FL_NS_COUNT] = {
    0xFF0A /* UTS */, 0xFF05 /* PID */, 0xFF03 /* MNT */, 0xFF04 /* NET */,
    0xFF02 /* IPC */, 0xFF09 /* USER */, 0xFF01 /* CGROUP */,
};
#define FL_PIDFD_THREAD 0200  /* O_EXCL: pidfd_open() of a thread, not only a process (Linux 6.9) */

/* The inode number of each namespace the calling thread is in: equal inodes = same namespace.
 * Where one cannot be read, its inode is 0 and err[] says why (a verdict then says "unknown").
 * Asked through a pidfd of the caller where the kernel can (6.11): no /proc entries for a fresh
 * process to instantiate (and flush when it exits), which costs more (docs/performance.md). Otherwise
 * readlink of /proc/.../ns/<name> ("uts:[4026531838]"), one folder opened once. */
static inline void read_namespaces(uint64_t ino[FL_NS_COUNT], int32_t err[FL_NS_COUNT])
{
    struct stat st;
    char link[64];
    int i;
    long pidfd = RAW2(SYS_pidfd_open, RAW0(SYS_gettid), FL_PIDFD_THREAD);
    for (i = 0; pidfd >= 0 && i < FL_NS_COUNT; i++) {
        long fd = RAW3(SYS_ioctl, pidfd, fl_pidfd_ns_ioctl[i], 0);
        if (fd < 0)
            break;                    /* a kernel before 6.11 (or no free fd): every one from /proc instead */
        long e = RAW2(SYS_fstat, fd, &st);
        ino[i] = e == 0 ? st.st_ino : 0;
        err[i] = e == 0 ? 0 : (int32_t)-e;
        RAW1(SYS_close, fd);
    }
    if (pidfd >= 0)
        RAW1(SYS_close, pidfd);
    if (pidfd >= 0 && i == FL_NS_COUNT)
        return;

    char path[32];
    proc_self_path(path, sizeof path, "/ns");
    long dfd = RAW4(SYS_openat, AT_FDCWD, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    for (i = 0; i < FL_NS_COUNT; i++) {
        long len = dfd >= 0 ? RAW4(SYS_readlinkat, dfd, fl_ns_names[i], link, sizeof link - 1) : dfd;
        const char *p = link;
        ino[i] = 0;
        err[i] = len < 0 ? (int32_t)-len : 0;
        if (len <= 0)
            continue;
        link[len] = 0;
        while (*p && *p != '[')
            p++;
        while (*p && *++p >= '0' && *p <= '9')      /* the number inside the brackets */
            ino[i] = ino[i] * 10 + (uint64_t)(*p - '0');
        if (ino[i] == 0)
            err[i] = 5;               /* EIO: a link without a number */
    }
    if (dfd >= 0)
        RAW1(SYS_close, dfd);
}

/* Network interfaces this thread's network namespace has (/proc/thread-self/net/dev has two
 * header lines, then one line per interface). */
static inline int count_net_interfaces(void)
{
    char buf[4096], path[32];
    int lines = 0;
    proc_self_path(path, sizeof path, "/net/dev");
    if (read_small_file(path, buf, sizeof buf) < 0)
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
