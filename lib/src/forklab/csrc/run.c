/* run.c - fl_run(): one experiment, sandboxed.
 *
 *   Python process (many threads)          never forks the experiment's child itself
 *     └─ bench        fresh, single-threaded, all signals blocked, own process group,
 *        │            killed if Python dies (PR_SET_PDEATHSIG), reaps orphans (subreaper)
 *        └─ [experimenter]  only when the parent may be stuck (vfork) or the child would become
 *           │               the bench's parent's child (CLONE_PARENT): then the bench keeps watch
 *           └─ child         runs child.c
 *
 * Results travel through one MAP_SHARED page. The Python side waits on a pidfd with a
 * timeout and, if it must, kills the bench's process groups; it always reaps the bench.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/sem.h>
#include <sys/wait.h>
#include "forklab.h"
#include "spawn.h"
#include "raw.h"

pid_t fl_fork_process(void);

/* The bench's deadline comes a little before Python's, so that the bench normally reports a
 * timeout itself and Python's kill is only the backstop. */
#define BENCH_SHARE 90   /* percent of the timeout */
#define EXPERIMENTER_SHARE 80

static int needs_keeper(const struct fl_request *req)
{
    uint64_t f = req->primitive >= FL_CLONE ? req->flags : 0;
    return req->primitive == FL_VFORK || (f & CLONE_VFORK) || (f & CLONE_PARENT);
}

/* Python's signal handlers point into the interpreter: never run them here. */
static void reset_signal_handlers(void)
{
    for (int sig = 1; sig < NSIG; sig++) {
        struct sigaction sa;
        if (sig == SIGKILL || sig == SIGSTOP || sigaction(sig, NULL, &sa) != 0)
            continue;
        if (sa.sa_handler != SIG_DFL && sa.sa_handler != SIG_IGN) {
            sa.sa_handler = SIG_DFL;
            sa.sa_flags = 0;
            sigaction(sig, &sa, NULL);
        }
    }
}

/* Reap every child we have (the subreaper gets orphans too), until none is left or the
 * deadline; then kill what remains and reap that. */
static void reap_all(struct fl_result *r, int64_t deadline_ns, pid_t kill_group)
{
    int status;
    for (;;) {
        pid_t got = waitpid(-1, &status, __WALL | WNOHANG);
        if (got > 0) {
            if (got == r->child_id_from_parent && !r->waited) {
                r->waited = 1;            /* a CLONE_PARENT child: ours, not the experimenter's */
                r->wait_status = status;
            }
            continue;
        }
        if (got < 0 && errno == ECHILD)
            return;
        if (raw_now_ns() > deadline_ns) {
            if (r->outcome == FL_OK)
                r->outcome = FL_TIMEOUT;
            if (kill_group > 0)
                kill(-kill_group, SIGKILL);
            while (waitpid(-1, &status, __WALL) > 0 || errno == EINTR)
                ;
            return;
        }
        raw_sleep_ns(100000);
    }
}

/* The bench keeps watch over an experimenter that may be stuck (a vfork parent sleeps until
 * its child ends - if the child never ends, neither does the parent). */
static void keep_watch(const struct fl_request *req, struct fl_result *r, int64_t start, int64_t timeout_ns)
{
    pid_t exp = fl_fork_process();
    if (exp == 0) {
        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        fl_experiment(req, r, start + timeout_ns * EXPERIMENTER_SHARE / 100);
        _exit(0);
    }
    if (exp < 0) {
        r->outcome = FL_SETUP;
        r->error = errno;
        memcpy(r->where, "fork experimenter", 18);
        return;
    }
    setpgid(exp, exp);
    reap_all(r, start + timeout_ns * BENCH_SHARE / 100, exp);
}

static void bench_main(const struct fl_request *req, struct fl_result *r, pid_t python, int64_t start)
{
    int64_t timeout_ns = (int64_t)req->timeout_ms * 1000000;

    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);       /* if Python dies, so does the bench */
    if (getppid() != python)                /* ... and it may have died already */
        _exit(1);
    prctl(PR_SET_CHILD_SUBREAPER, 1);       /* orphans come to us, not to init */
    prctl(PR_SET_DUMPABLE, 1);              /* kcmp needs ptrace-read access to us */
    reset_signal_handlers();

    r->bench_pid = getpid();
    r->t[FL_T_BENCH] = raw_now_ns();
    if (needs_keeper(req))
        keep_watch(req, r, start, timeout_ns);
    else
        fl_experiment(req, r, start + timeout_ns * BENCH_SHARE / 100);

    reap_all(r, start + timeout_ns * BENCH_SHARE / 100, 0);
    /* Only after every task sharing it is gone is the semaphore's undo applied. */
    if (r->sem_id >= 0) {
        r->sem_after_exit = semctl(r->sem_id, 0, GETVAL);
        if (semctl(r->sem_id, 0, IPC_RMID) == 0)
            r->sem_id = -1;
    }
    r->t[FL_T_BENCH_END] = raw_now_ns();
    _exit(0);
}

void fl_run(const struct fl_request *req, struct fl_result *out)
{
    size_t size = (sizeof *out + 4095) & ~(size_t)4095;
    int64_t start = raw_now_ns();
    int64_t timeout_ns = (int64_t)req->timeout_ms * 1000000;
    sigset_t all, old;
    struct fl_result *r;
    int status = 0, timed_out = 0;
    pid_t bench, python = getpid();

    memset(out, 0, sizeof *out);
    r = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (r == MAP_FAILED) {
        out->outcome = FL_SETUP;
        out->error = errno;
        memcpy(out->where, "mmap result page", 17);
        return;
    }
    r->sem_id = -1;
    r->t[FL_T_START] = start;

    /* Block every signal around the fork, so the bench starts with all of them blocked and no
     * Python handler can run in it; the calling thread gets its mask back right after. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    /* EAGAIN (too many processes right now) is often momentary: try a few times. */
    for (int attempt = 0;; attempt++) {
        bench = fl_fork_process();
        if (bench >= 0 || errno != EAGAIN || attempt == 5)
            break;
        raw_sleep_ns(1000000LL << attempt);
    }
    if (bench == 0)
        bench_main(req, r, python, start);
    pthread_sigmask(SIG_SETMASK, &old, NULL);

    if (bench < 0) {
        out->outcome = FL_SETUP;
        out->error = errno;
        memcpy(out->where, "fork bench", 11);
        munmap(r, size);
        return;
    }
    setpgid(bench, bench);   /* also from this side, so kill(-bench) works from the start */

    int pidfd = (int)syscall(SYS_pidfd_open, bench, 0);
    for (;;) {
        pid_t got = waitpid(bench, &status, __WALL | WNOHANG);
        if (got == bench)
            break;
        int64_t left = start + timeout_ns - raw_now_ns();
        if (left <= 0) {
            timed_out = 1;
            kill(-bench, SIGKILL);
            /* a stuck experimenter has a group of its own */
            pid_t exp = r->parent.host_pid;
            if (exp > 0 && exp != bench)
                kill(-exp, SIGKILL);
            while (waitpid(bench, &status, __WALL) < 0 && errno == EINTR)
                ;
            break;
        }
        if (pidfd >= 0) {
            struct pollfd p = { pidfd, POLLIN, 0 };
            poll(&p, 1, (int)(left / 1000000) + 1);
        } else {
            raw_sleep_ns(100000);
        }
    }
    if (pidfd >= 0)
        close(pidfd);

    if (r->sem_id >= 0)      /* the bench did not get to remove it */
        semctl(r->sem_id, 0, IPC_RMID);
    memcpy(out, r, sizeof *out);
    munmap(r, size);
    out->t[FL_T_END] = raw_now_ns();
    out->bench_status = status;
    if (timed_out)
        out->outcome = FL_TIMEOUT;
    else if (WIFSIGNALED(status) && out->outcome != FL_TIMEOUT)
        out->outcome = FL_CRASHED;
}

int64_t fl_bare_fork_wait_ns(void)
{
    int64_t t0 = raw_now_ns();
    pid_t pid = fl_fork_process();
    if (pid == 0)
        RAW1(SYS_exit_group, 0);
    if (pid < 0)
        return -errno;
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    return raw_now_ns() - t0;
}

int fl_server_prepare(int32_t parent_pid)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    return getppid() == parent_pid ? 0 : -1;
}
