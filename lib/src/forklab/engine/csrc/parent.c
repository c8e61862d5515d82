/* parent.c - the parent's side of one experiment: the process that creates the child (the bench, or
 * the experimenter the bench forked for it; bench.c), inside the sandboxed bench's process group.
 *
 * Order of events:
 *   1. prepare:   make the state the child will act on (a variable, fds, a semaphore, ...)
 *   2. before:    record the parent's own state
 *   3. create:    fork / vfork / clone / clone3 the child, which runs child.c
 *   4. wait:      for the child's report (futex), with a deadline
 *   5. after:     record the parent's state again - what changed, the child shared
 *   6. reap:      waitpid(__WALL), or for a thread: wait until it has vanished
 *   7. close:     the fds of step 1, so the bench is as it was for the next experiment
 *
 * The bench is a single-threaded process of its own with every signal blocked (bench.c), so
 * nothing here can disturb the Python kernel. It still avoids malloc and stdio: after a
 * fork from a multi-threaded process another thread may have held their locks.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/sem.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include "experiment.h"
#include "parent.h"
#include "probes.h"
#include "server_setup.h"
#include "spawn.h"

static volatile int64_t fl_x = 1;   /* the parent's variable: the child writes 7 into it */

static void note_usr1(int sig) { (void)sig; }

/* Record which step of preparing failed, and why; returns -1 so a step can end with it. */
int fl_setup_failed(struct fl_result *r, const char *where)
{
    r->outcome = FL_SETUP;
    r->error = errno;
    fl_strcpy(r->where, where, sizeof r->where);
    return -1;
}

/* 1 + 2: the state the child will act on, and how it looks from the parent before. */
static int prepare(struct fl_experiment *e, struct fl_result *r)
{
    struct sigaction sa;
    struct stat st;

    fl_x = 1;
    r->mem_before = fl_x;

    e->off_fd = (int)syscall(SYS_memfd_create, "forklab-offset", 0);
    if (e->off_fd < 0)
        return fl_setup_failed(r, "memfd_create");
    e->fd_probe = dup(e->off_fd);
    if (e->fd_probe < 0)
        return fl_setup_failed(r, "dup");
    r->fd_probe = e->fd_probe;
    r->fd_open_before = fcntl(e->fd_probe, F_GETFD) != -1;
    r->off_before = lseek(e->off_fd, 0, SEEK_CUR);
    if (!r->fd_open_before || r->off_before < 0)
        return fl_setup_failed(r, "fcntl/lseek on the probe fds");

    /* fs: start from "/" with umask 022; the child goes to /tmp (or /proc) with umask 077. */
    if (chdir("/") != 0)
        return fl_setup_failed(r, "chdir /");
    umask(022);
    r->umask_before = 022;
    if (!getcwd(r->cwd_before, sizeof r->cwd_before))
        return fl_setup_failed(r, "getcwd");
    fl_strcpy(r->cwd_child_set,
              stat("/tmp", &st) == 0 && S_ISDIR(st.st_mode) ? "/tmp" : "/proc", FL_PATH_MAX);
    fl_strcpy(r->mount_point, r->cwd_child_set, FL_PATH_MAX);

    /* signals: SIGUSR2 at default (the child will ignore it), SIGUSR1 with a handler (does the
     * child inherit it?), and every signal blocked (inherited from fl_run). */
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    if (sigaction(SIGUSR2, &sa, NULL) != 0)
        return fl_setup_failed(r, "sigaction SIGUSR2");
    sa.sa_handler = note_usr1;
    if (sigaction(SIGUSR1, &sa, NULL) != 0)
        return fl_setup_failed(r, "sigaction SIGUSR1");
    r->sig_before = signal_disposition(SIGUSR2);
    {
        sigset_t cur;
        if (sigprocmask(SIG_SETMASK, NULL, &cur) != 0)
            return fl_setup_failed(r, "sigprocmask");
        r->mask_blocked_before = sigismember(&cur, SIGUSR2);
    }

    /* A System V semaphore at 0: the bench server's own (made once, removed when it ends; its id is
     * in fl_server_semaphore), or a private one made for this experiment (removed by bench.c). SETVAL
     * also clears every process's undo entries for it, so each experiment starts from nothing. The
     * parent raises it by 1 with SEM_UNDO, so its own undo list holds an adjustment: a child given
     * a copy of that list would undo the parent's +1 too when it exits. */
    struct fl_control *ctl = e->ctl;
    ctl->sem_id = fl_server_semaphore;
    if (ctl->sem_id < 0) {
        ctl->sem_id = semget(IPC_PRIVATE, 1, 0600);
        ctl->sem_made = ctl->sem_id >= 0;
    }
    if (ctl->sem_id < 0 || semctl(ctl->sem_id, 0, SETVAL, 0) != 0) {
        r->sem_parent_err = errno;
    } else {
        struct sembuf up = { 0, 1, SEM_UNDO };
        if (semop(ctl->sem_id, &up, 1) != 0 || (r->sem_before = semctl(ctl->sem_id, 0, GETVAL)) < 0)
            r->sem_parent_err = errno;
    }
    if (r->sem_parent_err)
        r->sem_before = -1;

    /* I/O priority: setting one gives the parent an I/O context that CLONE_IO can share. */
    r->ioprio_before = (2 << 13) | 4;             /* best-effort class, level 4 */
    r->ioprio_child_set = (2 << 13) | 7;          /* best-effort class, level 7 */
    if (syscall(SYS_ioprio_set, 1, 0, r->ioprio_before) != 0 &&
        (r->ioprio_before = (int32_t)syscall(SYS_ioprio_get, 1, 0)) < 0)
        r->ioprio_err = errno;

    read_namespaces(r->ns_parent, r->ns_parent_err);
    read_identity(&r->parent, r->ns_parent[FL_NS_PID]);
    read_hostname(r->host_before);
    r->mnt_dev_before = device_of(r->mount_point);
    r->net_ifaces_parent = count_net_interfaces();

    e->x = &fl_x;
    e->res = r;
    return 0;
}

/* 5: the parent's state after the child acted. */
static void observe_after(struct fl_experiment *e, struct fl_result *r)
{
    sigset_t cur;
    mode_t old;

    r->mem_after = fl_x;
    r->fd_open_after = fcntl(e->fd_probe, F_GETFD) != -1;
    if (!r->fd_open_after && errno != EBADF)
        r->fd_probe_err = errno;
    r->off_after = lseek(e->off_fd, 0, SEEK_CUR);
    if (r->off_after < 0)
        r->off_err = errno;
    if (!getcwd(r->cwd_after, sizeof r->cwd_after)) {
        r->cwd_err = errno;
        fl_strcpy(r->cwd_after, "(unknown)", FL_PATH_MAX);
    }
    old = umask(022);
    r->umask_after = old;
    r->sig_after = signal_disposition(SIGUSR2);
    if (r->sig_after < 0 && !r->sig_err)
        r->sig_err = EINVAL;          /* rt_sigaction refused to read SIGUSR2 (a raw call: no errno) */
    if (sigprocmask(SIG_SETMASK, NULL, &cur) != 0)
        r->sig_err = errno;
    else
        r->mask_blocked_after = sigismember(&cur, SIGUSR2);
    r->sem_after_child_done = e->ctl->sem_id >= 0 ? semctl(e->ctl->sem_id, 0, GETVAL) : -1;
    r->ioprio_after = (int32_t)syscall(SYS_ioprio_get, 1, 0);
    if (r->ioprio_after < 0 && !r->ioprio_err)
        r->ioprio_err = errno;
    read_hostname(r->host_after);
    r->mnt_dev_after = device_of(r->mount_point);
}

/* 4: wait until the child has reported, or the deadline. */
static int wait_for_report(struct fl_experiment *e, struct fl_result *r)
{
    for (;;) {
        if (__atomic_load_n(&e->ctl->child_done, __ATOMIC_SEQ_CST))
            return 0;
        int64_t left = e->deadline_ns - raw_now_ns();
        if (left <= 0)
            return -1;
        /* Wake up now and then: a child that died before reporting never wakes us. */
        raw_futex_wait(&e->ctl->child_done, 0, left < 20000000 ? left : 20000000);
        if (r->waited == 0 && !(e->flags & CLONE_THREAD) && !(e->flags & CLONE_PARENT)) {
            siginfo_t si = { 0 };
            if (waitid(P_PID, (id_t)r->child_id_from_parent, &si,
                       WEXITED | WNOHANG | WNOWAIT | __WALL) == 0 && si.si_pid != 0)
                return 0; /* the child is gone; observe what it managed to do */
        }
    }
}

/* 6: reap a child process (any exit signal, hence __WALL), with the deadline. */
static int reap_process(struct fl_experiment *e, struct fl_result *r, pid_t pid)
{
    int status;
    int pidfd = -1;                 /* opened only if the child is not gone yet; -2: none to be had */
    for (;;) {
        pid_t got = waitpid(pid, &status, __WALL | WNOHANG);
        if (got == pid) {
            r->waited = 1;
            r->wait_status = status;
            break;
        }
        if (got < 0 && errno != EINTR)
            break;
        int64_t left = e->deadline_ns - raw_now_ns();
        if (left <= 0) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, __WALL);
            if (pidfd >= 0)
                close(pidfd);
            return -1;
        }
        if (pidfd == -1) {
            pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
            if (pidfd < 0)
                pidfd = -2;
        }
        if (pidfd >= 0) {
            struct pollfd p = { pidfd, POLLIN, 0 };
            poll(&p, 1, (int)(left / 1000000) + 1);
        } else {
            raw_sleep_ns(200000); /* no pidfd_open (Linux < 5.3): poll every 0.2 ms */
        }
    }
    if (pidfd >= 0)
        close(pidfd);
    return 0;
}

/* 6, for a CLONE_THREAD child: it cannot be waited for. It is gone when tgkill(tid, 0) says
 * ESRCH (and, with CLONE_CHILD_CLEARTID, when the kernel has zeroed the tid word). */
static int join_thread(struct fl_experiment *e, struct fl_result *r, pid_t tid)
{
    while (syscall(SYS_tgkill, getpid(), tid, 0) == 0) {
        if (raw_now_ns() > e->deadline_ns)
            return -1;
        if (e->flags & CLONE_CHILD_CLEARTID) {
            uint32_t word = __atomic_load_n(&e->ctl->child_tid_word, __ATOMIC_SEQ_CST);
            if (word)
                raw_futex_wait(&e->ctl->child_tid_word, word, 1000000);
        } else {
            raw_sleep_ns(50000);
        }
    }
    r->waited = 2;
    return 0;
}

/* 6, for a CLONE_PARENT child: it is our parent's child, which reaps it; wait until it has. */
static int wait_until_reaped_by_parent(struct fl_experiment *e, pid_t pid)
{
    while (kill(pid, 0) == 0 || errno == EPERM) {
        if (raw_now_ns() > e->deadline_ns)
            return -1;
        raw_sleep_ns(100000);
    }
    return 0;
}

/* The experiment itself, run by the process that will be the child's parent. */
static void create_and_watch(struct fl_experiment *e, struct fl_result *r);

/* 7: close the probes' fds that are still open here (a CLONE_FILES child closed fd_probe for us). */
static void close_probes(struct fl_experiment *e)
{
    if (e->fd_probe >= 0 && fcntl(e->fd_probe, F_GETFD) != -1)
        close(e->fd_probe);
    if (e->off_fd >= 0)
        close(e->off_fd);
}

void fl_run_experiment(const struct fl_request *req, struct fl_result *r, struct fl_control *ctl, int64_t deadline_ns)
{
    struct fl_experiment e = { 0 };

    e.req = req;
    e.ctl = ctl;
    e.deadline_ns = deadline_ns;
    e.flags = req->primitive == FL_CLONE || req->primitive == FL_CLONE3 ? req->flags : 0;
    e.off_fd = e.fd_probe = -1;
    if (prepare(&e, r) == 0)
        create_and_watch(&e, r);
    close_probes(&e);
}

/* 3 to 6. (The fd that fd_probe names is free again only once the child has gone, and nothing
 * opens an fd after that, so close_probes() cannot close another file by that number.) */
static void create_and_watch(struct fl_experiment *e, struct fl_result *r)
{
    struct fl_spawned child;

    r->t[FL_T_PREPARED] = raw_now_ns();

    child = fl_spawn(e);                            /* 3: create (spawn.c) */
    __atomic_store_n(&e->ctl->parent_ran, 1, __ATOMIC_SEQ_CST);
    raw_futex_wake(&e->ctl->parent_ran);
    r->t[FL_T_CREATED] = raw_now_ns();

    if (child.id < 0 && r->outcome == FL_SETUP)
        return;                                     /* not the kernel's refusal: our own setup failed */
    if (child.id < 0) {
        r->outcome = FL_REFUSED;
        r->error = child.error;
        return;
    }
    r->child_id_from_parent = child.id;
    r->parent_blocked_ns = child.call_ns;

    int timed_out = wait_for_report(e, r) != 0;
    r->t[FL_T_REPORTED] = raw_now_ns();
    observe_after(e, r);

    if (e->flags & CLONE_THREAD)
        timed_out |= join_thread(e, r, child.id) != 0;
    else if (!(e->flags & CLONE_PARENT))              /* a CLONE_PARENT child is our parent's */
        timed_out |= reap_process(e, r, child.id) != 0;
    else
        timed_out |= wait_until_reaped_by_parent(e, child.id) != 0;
    /* The child is gone and its undo list, if it had one of its own, applied; we, its parent, are
     * alive, so an undo list shared with us has not been. */
    if (!timed_out && e->ctl->sem_id >= 0 && !r->sem_parent_err) {
        r->sem_after_exit = semctl(e->ctl->sem_id, 0, GETVAL);
        r->sem_after_exit_read = r->sem_after_exit >= 0;
    }
    r->t[FL_T_REAPED] = raw_now_ns();
    if (child.pidfd >= 0)
        close(child.pidfd);
    fl_release_stack(&child, r);

    if (timed_out)
        r->outcome = FL_TIMEOUT;
    else if (!r->child_reported)
        r->outcome = FL_NO_REPORT;
    else
        r->outcome = FL_OK;
}
