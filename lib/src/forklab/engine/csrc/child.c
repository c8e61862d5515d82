/* child.c - everything the experiment's child does.
 *
 * The child acts on each resource (writes a variable, closes an fd, moves an offset, changes
 * its cwd, umask and a signal disposition, ...) and writes what it did and saw into the shared
 * result page. The parent then looks at its own state: if the child's action shows there, the
 * resource is shared; if not, the child had a copy.
 *
 * Rules for this file (a vfork or CLONE_VM child shares the parent's memory and TLS):
 *   - only raw system calls (raw.h): no errno, no malloc, no stdio, no locks;
 *   - no return from the function that called vfork() - the caller _exit()s for us.
 */
#define _GNU_SOURCE
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <linux/kcmp.h>
#include "child.h"
#include "experiment.h"
#include "probes.h"

/* Writes "0 <outer> 1" into /proc/self/uid_map or gid_map: id 0 inside is <outer> outside.
 * Returns 0 or -errno. */
static long write_id_map(const char *path, int64_t outer)
{
    char line[40];
    int n = 0;
    long fd, err;

    line[n++] = '0';
    line[n++] = ' ';
    n += fl_itoa(outer, line + n);
    line[n++] = ' ';
    line[n++] = '1';
    fd = RAW3(SYS_openat, AT_FDCWD, path, O_WRONLY);
    if (fd < 0)
        return fd;
    err = RAW3(SYS_write, fd, line, n);
    RAW1(SYS_close, fd);
    return err < 0 ? err : 0;
}

/* The child of a new user namespace starts as the overflow uid (65534) with no mapping. It may
 * map exactly one id - its own - which is how `unshare -r` becomes "root" without privilege. */
static void map_own_ids(struct fl_result *r, int64_t outer_uid, int64_t outer_gid)
{
    long fd, err;

    r->child_uid_before_map = RAW0(SYS_getuid);
    err = write_id_map("/proc/self/uid_map", outer_uid);

    /* Unprivileged gid maps need setgroups(2) denied first (since Linux 3.19). */
    fd = RAW3(SYS_openat, AT_FDCWD, "/proc/self/setgroups", O_WRONLY);
    if (fd >= 0) {
        RAW3(SYS_write, fd, "deny", 4);
        RAW1(SYS_close, fd);
    }
    write_id_map("/proc/self/gid_map", outer_gid);
    r->uid_map_err = err < 0 ? (int32_t)-err : 0;
}

static void act_on_fs(struct fl_experiment *e, struct fl_result *r)
{
    long err = RAW1(SYS_chdir, r->cwd_child_set);
    if (err < 0)
        r->cwd_err = (int32_t)-err;
    r->umask_child_set = FL_CHILD_UMASK;
    RAW1(SYS_umask, FL_CHILD_UMASK);
}

static void act_on_signals(struct fl_result *r)
{
    struct fl_ksigaction ignore = { (void *)1 /* SIG_IGN */, 0, 0, 0 };
    uint64_t usr2 = 1ULL << (SIGUSR2 - 1);

    /* Inherited handlers: is the parent's SIGUSR1 handler installed here too? */
    r->child_saw_usr1_handler = signal_disposition(SIGUSR1) == 2;
    /* Handlers: the parent has SIGUSR2 at default; the child ignores it. */
    long err = RAW4(SYS_rt_sigaction, SIGUSR2, &ignore, 0, 8);
    r->sig_child_set = 1;
    /* Mask: the parent blocks SIGUSR2; the child unblocks it (the mask is per thread). */
    if (err == 0)
        err = RAW4(SYS_rt_sigprocmask, SIG_UNBLOCK, &usr2, 0, 8);
    if (err < 0)
        r->sig_err = (int32_t)-err;
}

/* System V semaphore undo list: semop(SEM_UNDO) records an adjustment that the kernel undoes
 * when the last task sharing the undo list exits. */
static void act_on_semaphore(struct fl_experiment *e, struct fl_result *r)
{
    struct { unsigned short num; short op; short flg; } up = { 0, 1, 0x1000 /* SEM_UNDO */ };
    long err;
    if (e->ctl->sem_id < 0)
        return;
#ifdef SYS_semop
    err = RAW3(SYS_semop, e->ctl->sem_id, &up, 1);
#else
    err = RAW4(SYS_semtimedop, e->ctl->sem_id, &up, 1, 0);
#endif
    r->sem_child_err = err < 0 ? (int32_t)-err : 0;
}

/* I/O context: CLONE_IO shares it, and the I/O priority lives in it. Without CLONE_IO the
 * kernel gives the child a new context carrying only the parent's priority: read what we got. */
static void act_on_io(struct fl_result *r)
{
    r->ioprio_child_saw = (int32_t)RAW3(SYS_ioprio_get, 1 /* IOPRIO_WHO_PROCESS */, 0, 0);
    long err = RAW3(SYS_ioprio_set, 1 /* IOPRIO_WHO_PROCESS */, 0, r->ioprio_child_set);
    r->ioprio_child_err = err < 0 ? (int32_t)-err : 0;
}

/* In a namespace of its own, measured: both inodes read (neither is 0, which means "could not be
 * read") and different. Never just trusted from the flags. */
static int in_new(const struct fl_result *r, int ns)
{
    return r->ns_child[ns] && r->ns_parent[ns] && r->ns_child[ns] != r->ns_parent[ns];
}

/* A hostname only inside a new UTS namespace, a mount only inside a new mount namespace. */
static void act_on_namespaces(struct fl_experiment *e, struct fl_result *r)
{
    long err;

    if (in_new(r, FL_NS_UTS)) {
        err = RAW2(SYS_sethostname, FL_CHILD_HOSTNAME, fl_strlen(FL_CHILD_HOSTNAME));
        r->host_child_err = err < 0 ? (int32_t)-err : 0;
    }
    read_hostname(r->host_child_saw);

    if (in_new(r, FL_NS_MNT)) {
        /* First make every mount private, so nothing propagates back to the host. */
        err = RAW5(SYS_mount, 0, "/", 0, MS_REC | MS_PRIVATE, 0);
        if (err == 0)
            err = RAW5(SYS_mount, "forklab", r->mount_point, "tmpfs", 0, "size=64k");
        r->mount_child_err = err < 0 ? (int32_t)-err : 0;
    }
    r->mnt_dev_child_saw = device_of(r->mount_point);
    r->net_ifaces_child = count_net_interfaces();
}

/* kcmp(2): the kernel's own answer to "do these two tasks share X?". It needs both tasks'
 * ids in the caller's PID namespace, so a child in a new PID namespace cannot ask. */
static void ask_kcmp(struct fl_experiment *e, struct fl_result *r)
{
    static const int types[FL_KCMP_COUNT] = {
        KCMP_VM, KCMP_FILES, KCMP_FS, KCMP_SIGHAND, KCMP_SYSVSEM, KCMP_IO, KCMP_FILE,
    };
    long me = RAW0(SYS_gettid);
    for (int i = 0; i < FL_KCMP_COUNT; i++) {
        long ret;
        if (r->ns_child[FL_NS_PID] != r->ns_parent[FL_NS_PID])
            ret = -3; /* ESRCH: the parent has no pid in the child's PID namespace */
        else
            ret = RAW5(SYS_kcmp, me, r->parent.tid, types[i], e->off_fd, e->off_fd);
        r->kcmp[i] = ret < 0 ? -1 : ret == 0 ? 0 : 1;
        r->kcmp_err[i] = ret < 0 ? (int32_t)-ret : 0;
    }
}

/* The parent's state letter from /proc/<its host tid>/stat: 'D' while the kernel holds it in vfork()
 * (wait_for_vfork_done sleeps TASK_KILLABLE, which /proc shows as D), 'R' if it could run but has not
 * been scheduled yet. 0 if it could not be read. */
static int32_t parent_state(struct fl_result *r)
{
    char path[48], buf[512];
    int n = 0;
    if (r->parent.host_tid <= 0)
        return 0;
    fl_strcpy(path, "/proc/", sizeof path);
    n = fl_strlen(path);
    n += fl_itoa(r->parent.host_tid, path + n);
    fl_strcpy(path + n, "/stat", (int)sizeof path - n);
    if (read_small_file(path, buf, sizeof buf) <= 0)
        return 0;
    const char *close = 0;
    for (const char *p = buf; *p; p++)
        if (*p == ')')
            close = p;                            /* the name may hold ')': the last one ends it */
    return close && close[1] == ' ' ? close[2] : 0;
}

/* Report, then give the parent a chance to run before ending: a parent that was able to run
 * sets parent_ran. A vfork parent is suspended, so this child waits its whole grace period. */
static void report_and_watch_parent(struct fl_experiment *e, struct fl_result *r)
{
    int64_t start = raw_now_ns(), waited = 0, grace = (int64_t)e->req->grace_ms * 1000000;

    __atomic_store_n(&r->child_reported, 1, __ATOMIC_SEQ_CST);
    __atomic_store_n(&e->ctl->child_done, 1, __ATOMIC_SEQ_CST);
    raw_futex_wake(&e->ctl->child_done);

    while (!__atomic_load_n(&e->ctl->parent_ran, __ATOMIC_SEQ_CST) && waited < grace) {
        raw_futex_wait(&e->ctl->parent_ran, 0, grace - waited);
        waited = raw_now_ns() - start;
    }
    r->child_saw_parent_run = __atomic_load_n(&e->ctl->parent_ran, __ATOMIC_SEQ_CST) != 0;
    r->child_waited_ns = raw_now_ns() - start;
    if (!r->child_saw_parent_run)
        r->parent_state_seen = parent_state(r);  /* held in the call, or only not scheduled yet? */
}

/* The child must not outlive the sandbox: if its parent dies (the bench, killed because it was stopped,
 * or with the bench server), the kernel sends it SIGKILL. Its parent may have died before this line:
 * then it has another parent already, and it ends at once. (A child in a new PID namespace sees its
 * parent as 0 either way, so it cannot check; the bench's process group, which it is in, is killed too.) */
static int outlived_its_parent(struct fl_experiment *e)
{
    RAW2(SYS_prctl, 1 /* PR_SET_PDEATHSIG */, 9 /* SIGKILL */);
    return e->child_parent && RAW0(SYS_getppid) != e->child_parent;
}

int fl_child_main(void *experiment)
{
    struct fl_experiment *e = experiment;
    struct fl_result *r = e->res;

    if (outlived_its_parent(e))
        return 1;
    read_namespaces(r->ns_child, r->ns_child_err);
    read_identity(&r->child, r->ns_child[FL_NS_PID]);
    if (e->flags & CLONE_NEWUSER) {
        map_own_ids(r, r->parent.uid, RAW0(SYS_getgid));
        r->child.uid = RAW0(SYS_getuid);
    }

    r->mem_child_wrote = FL_CHILD_WRITES;          /* memory */
    *e->x = FL_CHILD_WRITES;

    long err = RAW1(SYS_close, e->fd_probe);       /* fd table */
    r->fd_child_close_err = err < 0 ? (int32_t)-err : 0;

    r->off_child_set = FL_CHILD_OFFSET;            /* open file description */
    err = RAW3(SYS_lseek, e->off_fd, FL_CHILD_OFFSET, 0 /* SEEK_SET */);
    if (err < 0)
        r->off_err = (int32_t)-err;

    act_on_fs(e, r);
    act_on_signals(r);
    act_on_semaphore(e, r);
    act_on_io(r);
    act_on_namespaces(e, r);
    ask_kcmp(e, r);

    report_and_watch_parent(e, r);
    r->child_end_ns = raw_now_ns();                /* its part is over: the parent compares (vfork) */

    if (e->req->child_action == FL_ACT_HANG)
        for (;;)
            raw_sleep_ns(1000000000LL);
    if (e->req->child_action == FL_ACT_CRASH)
        *(volatile int *)0 = 1;                    /* SIGSEGV, on purpose */
    return 0;
}
