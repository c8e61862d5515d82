/* forklab.h - the one interface between Python and the C side.
 *
 * cffi reads this file into ffi.cdef() and the C files #include it (directly or through the header
 * of the file they call), so both sides always agree on the layout. It declares the two functions
 * Python calls; every other function is declared in the header of the .c file that defines it.
 * Keep it plain: fixed-size types, simple integer #defines, no #include but <stdint.h>.
 *
 * (cdef does not understand the include guard and #include below; build.py drops those lines.)
 *
 * One experiment: Python fills a struct fl_request, calls fl_run(), and reads a struct
 * fl_result. fl_run() never creates the experiment's child from the calling (Python) process:
 * it forks a single-threaded "bench" process, and the bench runs the experiment.
 *
 * Words: the "bench" is that sandboxed process (bench.c) and the bench server (server.c) the small
 * program that forks benches and hands them requests; an "experiment" is one request's run: its
 * parent's side (parent.c), its child's side (child.c) and the creation of the child (spawn.c).
 */

#ifndef FORKLAB_H
#define FORKLAB_H
#include <stdint.h>

/* How the child is created (fl_request.primitive). */
#define FL_FORK   0
#define FL_VFORK  1
#define FL_CLONE  2
#define FL_CLONE3 3

/* Something the child does on purpose after its probes (fl_request.child_action). */
#define FL_ACT_NONE  0
#define FL_ACT_HANG  1     /* never ends: the timeout must kill it */
#define FL_ACT_CRASH 2     /* writes through a NULL pointer: SIGSEGV */

/* What became of the experiment (fl_result.outcome). */
#define FL_OK          0   /* the child ran its probes and reported */
#define FL_REFUSED     1   /* the kernel refused to create the child: see error */
#define FL_TIMEOUT     2   /* the child did not finish in time and was killed */
#define FL_CRASHED     3   /* the bench was killed by a signal (a crashing CLONE_THREAD child does that) */
#define FL_SETUP       4   /* the bench could not prepare the experiment: see error and where */
#define FL_NO_REPORT   5   /* the child ended without finishing its probes (see wait_status) */
#define FL_STOPPED     6   /* the bench was stopped (SIGSTOP) during the experiment: it was killed */

/* Namespaces, in the order of fl_result.ns_parent / ns_child. */
#define FL_NS_COUNT 7      /* uts, pid, mnt, net, ipc, user, cgroup */

/* kcmp(2) questions, in the order of fl_result.kcmp: VM, FILES, FS, SIGHAND, SYSVSEM, IO, FILE. */
#define FL_KCMP_COUNT 7

/* Steps of an experiment, timed in fl_result.t[] (CLOCK_MONOTONIC ns). */
#define FL_T_START     0   /* fl_run() called */
#define FL_T_BENCH     1   /* the bench runs */
#define FL_T_PREPARED  2   /* the parent has prepared and recorded its state */
#define FL_T_CREATED   3   /* fork/vfork/clone returned in the parent */
#define FL_T_REPORTED  4   /* the parent saw the child's report */
#define FL_T_REAPED    5   /* the child was reaped or joined */
#define FL_T_BENCH_END 6   /* the bench is about to exit */
#define FL_T_END       7   /* fl_run() reaped the bench */
#define FL_T_COUNT     8

/* How many experiments the bench server hands one bench. Each leaves the bench as it was forked
 * (bench.c checks what it can: bench_as_new), so this only bounds what nobody thought of. */
#define FL_BENCH_USES 100

/* Every request starts with this number: stray bytes (or a request from another version) are not a
 * request, and the server that reads them ends rather than guess (server.c). */
#define FL_REQUEST_MAGIC 0x666c6231u     /* "flb1" */

#define FL_PATH_MAX 128
#define FL_HOST_MAX 72

struct fl_request {
    uint32_t magic;         /* FL_REQUEST_MAGIC */
    uint32_t seq;           /* 1, 2, 3, ... from each client to its server; the server refuses any other */
    uint64_t nonce;         /* chosen at random by the client; the result carries the whole request back */
    int32_t  primitive;     /* FL_FORK ... FL_CLONE3 */
    int32_t  exit_signal;   /* SIGCHLD or 0; Python refuses any other (it would kill the parent) */
    uint64_t flags;         /* CLONE_* bits, for clone and clone3 */
    int32_t  timeout_ms;    /* the whole experiment, bench included */
    int32_t  grace_ms;      /* how long the child waits to see its parent run before it ends */
    int32_t  child_action;  /* FL_ACT_* */
    int32_t  reserved;
};

/* One process as it saw itself. host_* are read from /proc/thread-self/status, which shows the
 * ids as the host's /proc sees them (they differ from getpid() in a new PID namespace). */
struct fl_side {
    int64_t pid, tid, ppid, tgid, uid;
    int64_t host_pid, host_tid, host_ppid, host_tgid;
    int32_t host_err;           /* 0, or the errno that kept the host_* ids from being read (then -1) */
    int32_t reserved;
};

/* What one experiment saw: readings only. What its processes wait on and what is left to clean up
 * is not here but in struct fl_control (experiment.h), which Python never sees. */
struct fl_result {
    struct fl_request request;  /* a copy of the request this result answers (the client checks it) */
    int32_t outcome;            /* FL_OK ... */
    int32_t error;              /* errno, for FL_REFUSED and FL_SETUP */
    char    where[48];          /* the step that failed, for FL_SETUP */
    int32_t waited;             /* 1: wait_status is the child's; 2: a thread, joined when it vanished */
    int32_t wait_status;        /* raw status from waitpid() */
    int32_t bench_status;       /* raw status of the bench itself, filled by fl_run() */
    int32_t child_reported;     /* the child finished its probes */

    struct fl_side parent;      /* the process that called fork/vfork/clone */
    struct fl_side child;
    int64_t child_id_from_parent;   /* what the call returned to the parent */

    /* memory: a variable of the parent's */
    int64_t mem_before, mem_child_wrote, mem_after;
    /* fd table: an fd the child closes */
    int32_t fd_probe, fd_open_before, fd_open_after, fd_child_close_err;
    /* file offset: an fd whose offset the child moves */
    int64_t off_before, off_child_set, off_after;
    /* fs: cwd and umask */
    char    cwd_before[FL_PATH_MAX], cwd_child_set[FL_PATH_MAX], cwd_after[FL_PATH_MAX];
    int32_t umask_before, umask_child_set, umask_after;
    /* signal handlers: SIGUSR2's disposition (0 default, 1 ignore, 2 a handler) */
    int32_t sig_before, sig_child_set, sig_after;
    int32_t child_saw_usr1_handler;      /* the parent's SIGUSR1 handler was installed in the child */
    /* signal mask: is SIGUSR2 blocked in the parent (the child unblocks it) */
    int32_t mask_blocked_before, mask_blocked_after;
    /* System V semaphore undo list: the parent does semop(+1, SEM_UNDO) first (sem_before is the
     * value after it), then the child does the same and ends; sem_after_exit is read by the
     * parent, still alive, once the child is gone (sem_after_exit_read says it could be) */
    int32_t sem_before, sem_child_err, sem_after_child_done, sem_after_exit, sem_after_exit_read;
    /* I/O context: the child reads the I/O priority it started with, then sets its own */
    int32_t ioprio_before, ioprio_child_saw, ioprio_child_set, ioprio_child_err, ioprio_after;
    /* namespaces: inode numbers of /proc/thread-self/ns/<name>; 0 and an errno where it could not be read */
    uint64_t ns_parent[FL_NS_COUNT], ns_child[FL_NS_COUNT];
    int32_t ns_parent_err[FL_NS_COUNT], ns_child_err[FL_NS_COUNT];
    /* errnos of the probes that can fail (0: it worked). A verdict that rests on a failed probe is
     * "unknown", never "shared" or "copied" (verdicts.py). */
    int32_t fd_probe_err;       /* fcntl(F_GETFD) on fd_probe, before or after */
    int32_t off_err;            /* lseek on the offset fd: the parent's, before or after, or the child's */
    int32_t cwd_err;            /* getcwd in the parent, or the child's chdir */
    int32_t sig_err;            /* rt_sigaction / sigprocmask, in the parent or the child */
    int32_t sem_parent_err;     /* the parent's semget/semop/semctl */
    int32_t ioprio_err;         /* the parent's ioprio_set/ioprio_get */
    int32_t probe_reserved;
    /* UTS: hostname; the child sets one only inside a new UTS namespace */
    char    host_before[FL_HOST_MAX], host_child_saw[FL_HOST_MAX], host_after[FL_HOST_MAX];
    int32_t host_child_err;
    /* mount: the child mounts a tmpfs only inside a new mount namespace */
    char    mount_point[FL_PATH_MAX];
    int64_t mnt_dev_before, mnt_dev_child_saw, mnt_dev_after;
    int32_t mount_child_err;
    /* network: interfaces listed in /proc/thread-self/net/dev */
    int32_t net_ifaces_parent, net_ifaces_child;
    /* user namespace: the child maps its own uid/gid to 0 */
    int32_t uid_map_err;
    int64_t child_uid_before_map;
    /* vfork behaviour: did the parent run before the child ended? */
    int32_t child_saw_parent_run;
    int64_t parent_blocked_ns;      /* how long the fork/vfork/clone call took in the parent */
    int64_t child_waited_ns;        /* how long the child waited to see the parent run */
    int64_t parent_resumed_ns;      /* CLOCK_MONOTONIC when the call returned in the parent */
    int64_t child_end_ns;           /* CLOCK_MONOTONIC when the child ended its part (just before it exits) */
    int32_t parent_state_seen;      /* the parent's state letter in /proc ('D': held in the call, 'R', 'S', ...)
                                     * as the child read it after waiting in vain; 0: not read */
    int32_t reserved2;
    /* kcmp(2): 0 same object, 1 different, -1 not answered (errno in kcmp_err) */
    int32_t kcmp[FL_KCMP_COUNT];
    int32_t kcmp_err[FL_KCMP_COUNT];
    int32_t pidfd_from_clone;   /* what CLONE_PIDFD wrote (-1: nothing; a kernel before 5.2 ignores the flag) */
    int32_t bench_pid;
    /* where the time goes: CLOCK_MONOTONIC ns at each FL_T_* step (0 = not reached) */
    int64_t t[FL_T_COUNT];
};

/* Run one experiment in a bench process forked for it. Never raises, never leaves a process behind:
 * every outcome, including a timeout or a crash, is written into *res. (bench_client.c) */
void fl_run(const struct fl_request *req, struct fl_result *res);

/* Remove the System V semaphore a bench server made (its id is in the server's ready line), when the
 * server could not remove it itself (it was killed). 0, or -1 with errno. (server_setup.c) */
int fl_semaphore_remove(int32_t id);

#endif
