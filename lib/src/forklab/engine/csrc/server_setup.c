/* server_setup.c - what a process that forks benches sets up once, before the first bench.
 *
 * The bench server (server.c) calls fl_server_prepare() when it starts: it learns which PID namespace
 * /proc shows ids in, and keeps its namespaces' files open, so that every bench and child it forks
 * answers "who am I" and "which namespaces am I in" more cheaply. fl_server_semaphore holds the id
 * of the System V semaphore the server made for the experiments (server.c), which Python removes with
 * fl_semaphore_remove() if the server was killed.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/sem.h>
#include "forklab.h"
#include "probes.h"
#include "server_setup.h"

uint64_t fl_proc_pid_ns = 0;
int fl_server_semaphore = -1;

/* Hold a file of each of our namespaces open, for as long as the server lives, at fds 50-56 (away
 * from the low numbers an experiment shows, and inside the fd table every process starts with).
 * Each bench and child asks its own namespaces through a pidfd (read_namespaces); the kernel keeps
 * a namespace's file system entry only while a file refers to it, so without these every one of
 * those questions would build that entry anew and free it again. Answers do not change: each
 * process still reads its own namespaces. */
static void keep_namespace_files(void)
{
    int pidfd = (int)syscall(SYS_pidfd_open, getpid(), 0);
    for (int i = 0; pidfd >= 0 && i < FL_NS_COUNT; i++) {
        int fd = ioctl(pidfd, fl_pidfd_ns_ioctl[i], 0);
        if (fd < 0)
            break;                       /* before Linux 6.11: nothing to keep */
        (void)fcntl(fd, F_DUPFD_CLOEXEC, 50 + i);   /* if it fails: keeping it is only an optimisation */
        close(fd);
    }
    if (pidfd >= 0)
        close(pidfd);
}

int fl_server_prepare(int32_t parent_pid)
{
    char buf[2048];
    uint64_t ns[FL_NS_COUNT];
    int32_t ns_err[FL_NS_COUNT];

    /* No PR_SET_PDEATHSIG here: it fires when the parent *thread* ends, and the Python thread
     * that started the server may end long before the process. The server ends instead when
     * its stdin reaches end of file, which happens when the parent process is gone. */
    if (getppid() != parent_pid)
        return -1;
    /* Which PID namespace does /proc show ids in? Ours, if our NSpid line (Linux 4.1) has one
     * entry: the ids in every namespace from /proc's down to ours. Then a bench or child that
     * reads its own PID namespace and finds this one knows its /proc ids without reading /proc. */
    const char *line = read_small_file("/proc/self/status", buf, sizeof buf) > 0 ? strstr(buf, "\nNSpid:") : NULL;
    if (line) {
        int fields = 0;
        for (const char *p = line + 7; *p && *p != '\n'; p++)
            fields += *p >= '0' && *p <= '9' && !(p[1] >= '0' && p[1] <= '9');
        read_namespaces(ns, ns_err);
        if (fields == 1)
            fl_proc_pid_ns = ns[FL_NS_PID];
    }
    keep_namespace_files();
    return 0;
}

int fl_semaphore_remove(int32_t id)
{
    return semctl(id, 0, IPC_RMID);
}
