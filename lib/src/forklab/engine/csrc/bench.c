/* bench.c - the bench: the sandboxed process that runs experiments, one request after another.
 *
 *   Python process (many threads)          never forks the experiment's child itself
 *     └─ bench        single-threaded, all signals blocked, own process group,
 *        │            killed if Python dies (PR_SET_PDEATHSIG), reaps orphans (subreaper)
 *        └─ [experimenter]  only when the parent may be stuck (vfork) or the child would become
 *           │               the bench's parent's child (CLONE_PARENT): then the bench keeps watch
 *           └─ child         runs child.c; dies with its parent (PR_SET_PDEATHSIG), as each level does
 *
 * The bench is forked by its client (bench_client.c) and waits on the shared page (bench_page.h) for
 * request number 1, 2, 3, ...; for each it runs one experiment (parent.c, child.c), reaps everything
 * the experiment started and says whether it is still as it was forked (bench_as_new). If not, or
 * after FL_BENCH_USES requests, it ends and its client forks another.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/sem.h>
#include <sys/wait.h>
#include "bench.h"
#include "bench_page.h"
#include "parent.h"
#include "raw.h"
#include "spawn.h"

int fl_bench_parent_has_handlers = 1;

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

/* Is pid our child, not yet reaped? (waitid answers ECHILD for anyone else's.) */
static int is_my_child(pid_t pid)
{
    siginfo_t si = { 0 };
    return waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT | __WALL) == 0;
}

/* Reap every child we have (the subreaper gets orphans too), until none is left or the
 * deadline; then kill what remains and reap that. Only our own unreaped children are killed,
 * by pid: a child not yet reaped keeps its pid, so the number cannot belong to anyone else. Their
 * own children (a vfork child of the experimenter) die with them (PR_SET_PDEATHSIG, child.c). */
static void reap_all(struct fl_result *r, int64_t deadline_ns, pid_t experimenter)
{
    int status;
    for (;;) {
        pid_t got = waitpid(-1, &status, __WALL | WNOHANG);
        if (got > 0) {
            if (got == r->child_id_from_parent && !r->waited) {
                r->waited = 1;            /* a CLONE_PARENT child: ours, not the experimenter's */
                r->wait_status = status;
            }
            if (got == experimenter) {
                experimenter = 0;         /* reaped: its pid is no longer ours to signal */
                /* Killed before it finished (a crashing CLONE_THREAD child takes its whole thread
                 * group, the experimenter with it): what the page holds is half an experiment. */
                if (WIFSIGNALED(status) && r->outcome == FL_OK) {
                    r->outcome = FL_CRASHED;
                    r->bench_status = status;
                }
            }
            continue;
        }
        if (got < 0 && errno == ECHILD)
            return;
        if (raw_now_ns() > deadline_ns) {
            if (r->outcome == FL_OK)
                r->outcome = FL_TIMEOUT;
            if (experimenter > 0)
                kill(experimenter, SIGKILL);
            if (r->child_id_from_parent > 0 && !r->waited && is_my_child((pid_t)r->child_id_from_parent))
                kill((pid_t)r->child_id_from_parent, SIGKILL);   /* a CLONE_PARENT child: ours */
            while (waitpid(-1, &status, __WALL) > 0 || errno == EINTR)
                ;
            return;
        }
        raw_sleep_ns(100000);
    }
}

/* The bench keeps watch over an experimenter that may be stuck (a vfork parent sleeps until
 * its child ends - if the child never ends, neither does the parent). The experimenter stays in
 * the bench's process group, so killing that group reaches everything an experiment started. */
static void keep_watch(const struct fl_request *req, struct fl_result *r, struct fl_control *ctl,
                       int64_t start, int64_t timeout_ns)
{
    pid_t exp = fl_fork_process();
    if (exp == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        fl_run_experiment(req, r, ctl, start + timeout_ns * EXPERIMENTER_SHARE / 100);
        _exit(0);
    }
    if (exp < 0) {
        fl_setup_failed(r, "fork experimenter");
        return;
    }
    reap_all(r, start + timeout_ns * BENCH_SHARE / 100, exp);
}

/* May this bench take another request? Only if the experiment left it as it was when it was
 * forked. Each experiment closes the fds it opened (parent.c) and removes its semaphore (below), and
 * whatever a child can change in the bench through a resource it shares - the variable (CLONE_VM),
 * the fd table (CLONE_FILES), cwd and umask (CLONE_FS), SIGUSR2's disposition (CLONE_SIGHAND), the
 * I/O priority (CLONE_IO) - the next experiment's prepare() sets again before it records anything.
 * A namespace, a hostname or a mount is only ever the child's. What is left to check: the
 * experiment ended as planned, every child is gone (a CLONE_THREAD child too: it was joined), and
 * no signal but SIGCHLD (the exit signal of each child, blocked here) waits to be delivered.
 * lib/tests/test_bench_reuse.py runs every kind of experiment the course offers on one bench, and
 * after each compares a plain fork()'s readings with those of a bench forked for it. */
static int bench_as_new(const struct fl_request *req, const struct fl_result *r, const struct fl_control *ctl)
{
    sigset_t pending;
    if (req->child_action != FL_ACT_NONE || (r->outcome != FL_OK && r->outcome != FL_REFUSED))
        return 0;
    if (ctl->sem_made || sigpending(&pending) != 0)
        return 0;
    sigdelset(&pending, SIGCHLD);
    return sigisemptyset(&pending);
}

/* One request, start to end, in the bench. Returns whether the bench may take another. */
static int bench_serve(struct fl_page *page)
{
    struct fl_result *r = &page->result;
    struct fl_control *ctl = &page->control;
    struct fl_request req = page->request;
    int64_t start = r->t[FL_T_START];
    int64_t timeout_ns = (int64_t)req.timeout_ms * 1000000;

    r->bench_pid = getpid();
    r->t[FL_T_BENCH] = raw_now_ns();
    if (needs_keeper(&req))
        keep_watch(&req, r, ctl, start, timeout_ns);
    else
        fl_run_experiment(&req, r, ctl, start + timeout_ns * BENCH_SHARE / 100);

    reap_all(r, start + timeout_ns * BENCH_SHARE / 100, 0);
    /* The experiment read the semaphore when the child had gone (parent.c); now remove it. */
    if (ctl->sem_made && semctl(ctl->sem_id, 0, IPC_RMID) == 0)
        ctl->sem_made = 0;
    r->t[FL_T_BENCH_END] = raw_now_ns();
    return bench_as_new(&req, r, ctl);
}

void fl_bench_main(struct fl_page *page, pid_t parent)
{
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);       /* if our parent dies, so does the bench */
    if (getppid() != parent)                /* ... and it may have died already */
        _exit(1);
    prctl(PR_SET_CHILD_SUBREAPER, 1);       /* orphans come to us, not to init */
    prctl(PR_SET_DUMPABLE, 1);              /* kcmp needs ptrace-read access to us */
    if (fl_bench_parent_has_handlers)
        reset_signal_handlers();

    for (uint32_t n = 1;; n++) {
        uint32_t go;
        while ((go = __atomic_load_n(&page->go, __ATOMIC_SEQ_CST)) != n) {   /* wait for request n */
            if (go == FL_PAGE_QUIT)
                _exit(0);
            raw_futex_wait(&page->go, go, 1000000000LL);
        }
        int again = bench_serve(page) && n < FL_BENCH_USES;
        __atomic_store_n(&page->again, again, __ATOMIC_SEQ_CST);
        __atomic_store_n(&page->done, n, __ATOMIC_SEQ_CST);
        raw_futex_wake(&page->done);
        if (!again)
            _exit(0);
    }
}
