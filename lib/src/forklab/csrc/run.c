/* run.c - fl_run(): one experiment, sandboxed.
 *
 *   Python process (many threads)          never forks the experiment's child itself
 *     └─ bench        single-threaded, all signals blocked, own process group,
 *        │            killed if Python dies (PR_SET_PDEATHSIG), reaps orphans (subreaper)
 *        └─ [experimenter]  only when the parent may be stuck (vfork) or the child would become
 *           │               the bench's parent's child (CLONE_PARENT): then the bench keeps watch
 *           └─ child         runs child.c; dies with its parent (PR_SET_PDEATHSIG), as each level does
 *
 * Request and result travel through one MAP_SHARED page (struct fl_page). The caller waits for
 * the bench's "done" with a timeout and, if it must, kills the bench's process group; it always
 * reaps the bench in the end. The bench server forks each bench in advance and hands it one
 * request after another for as long as the bench is as it was forked (bench_as_new).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/sem.h>
#include <sys/wait.h>
#include "forklab.h"
#include "spawn.h"
#include "raw.h"
#include "probes.h"
#include "bench_process.h"

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
static void keep_watch(const struct fl_request *req, struct fl_result *r, int64_t start, int64_t timeout_ns)
{
    pid_t exp = fl_fork_process();
    if (exp == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        fl_experiment(req, r, start + timeout_ns * EXPERIMENTER_SHARE / 100);
        _exit(0);
    }
    if (exp < 0) {
        fl_setup_failed(r, "fork experimenter");
        return;
    }
    reap_all(r, start + timeout_ns * BENCH_SHARE / 100, exp);
}

/* May this bench take another request? Only if the experiment left it as it was when it was
 * forked. Each experiment closes the fds it opened (bench.c) and removes its semaphore (below), and
 * whatever a child can change in the bench through a resource it shares - the variable (CLONE_VM),
 * the fd table (CLONE_FILES), cwd and umask (CLONE_FS), SIGUSR2's disposition (CLONE_SIGHAND), the
 * I/O priority (CLONE_IO) - the next experiment's prepare() sets again before it records anything.
 * A namespace, a hostname or a mount is only ever the child's. What is left to check: the
 * experiment ended as planned, every child is gone (a CLONE_THREAD child too: it was joined), and
 * no signal but SIGCHLD (the exit signal of each child, blocked here) waits to be delivered.
 * lib/tests/test_bench_reuse.py runs every kind of experiment the course offers on one bench, and
 * after each compares a plain fork()'s readings with those of a bench forked for it. */
static int bench_as_new(const struct fl_request *req, const struct fl_result *r)
{
    sigset_t pending;
    if (req->child_action != FL_ACT_NONE || (r->outcome != FL_OK && r->outcome != FL_REFUSED))
        return 0;
    if (r->sem_made || sigpending(&pending) != 0)
        return 0;
    sigdelset(&pending, SIGCHLD);
    return sigisemptyset(&pending);
}

/* One request, start to end, in the bench. Returns whether the bench may take another. */
static int bench_serve(struct fl_page *page)
{
    struct fl_result *r = &page->result;
    struct fl_request req = page->request;
    int64_t start = r->t[FL_T_START];
    int64_t timeout_ns = (int64_t)req.timeout_ms * 1000000;

    r->bench_pid = getpid();
    r->t[FL_T_BENCH] = raw_now_ns();
    if (needs_keeper(&req))
        keep_watch(&req, r, start, timeout_ns);
    else
        fl_experiment(&req, r, start + timeout_ns * BENCH_SHARE / 100);

    reap_all(r, start + timeout_ns * BENCH_SHARE / 100, 0);
    /* The experiment read the semaphore when the child had gone (bench.c); now remove it. */
    if (r->sem_made && semctl(r->sem_id, 0, IPC_RMID) == 0)
        r->sem_made = 0;
    r->t[FL_T_BENCH_END] = raw_now_ns();
    return bench_as_new(&req, r);
}

#define QUIT 0xffffffffu     /* page->go: no more requests, end */

static void bench_main(struct fl_page *page, pid_t parent)
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
            if (go == QUIT)
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

static void setup_error(struct fl_result *out, const char *where)
{
    int saved = errno;
    memset(out, 0, sizeof *out);
    errno = saved;
    fl_setup_failed(out, where);
}

int fl_bench_start(struct fl_bench_process *b, struct fl_result *out)
{
    sigset_t all, old;
    pid_t parent = getpid();

    b->page_size = (sizeof *b->page + 4095) & ~(size_t)4095;
    b->page = mmap(NULL, b->page_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (b->page == MAP_FAILED) {
        setup_error(out, "mmap result page");
        return -1;
    }
    b->page->result.sem_id = -1;

    /* Block every signal around the fork, so the bench starts with all of them blocked and no
     * handler of ours (Python's, say) can run in it; the calling thread gets its mask back. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    /* EAGAIN (too many processes right now) is often momentary: try a few times. */
    for (int attempt = 0;; attempt++) {
        b->pid = fl_fork_process();
        if (b->pid >= 0 || errno != EAGAIN || attempt == 5)
            break;
        raw_sleep_ns(1000000LL << attempt);
    }
    if (b->pid == 0)
        bench_main(b->page, parent);
    int saved = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    errno = saved;
    if (b->pid < 0) {
        setup_error(out, "fork bench");
        munmap(b->page, b->page_size);
        b->page = NULL;
        return -1;
    }
    setpgid(b->pid, b->pid);   /* also from this side, so kill(-pid) works from the start */
    b->pidfd = -1;             /* opened only if the bench is slow to end (fl_bench_finish) */
    b->requests = 0;
    b->again = 1;              /* it waits for its first request */
    b->killed = 0;
    return 0;
}

/* Has the bench died or been stopped (before saying it is done)? Looks without reaping it.
 * 0: neither; CLD_STOPPED: stopped (the student's SIGSTOP, say); another CLD_*: it ended. */
static int bench_state(struct fl_bench_process *b)
{
    siginfo_t si = { 0 };
    if (waitid(P_PID, (id_t)b->pid, &si, WEXITED | WSTOPPED | WNOHANG | WNOWAIT | __WALL) != 0 || si.si_pid == 0)
        return 0;
    return si.si_code;
}

/* Kill the bench's process group: the bench, the experiment's child and, where there is one, the
 * experimenter (all in that group; run.c never makes another). Signalled only while the bench is our
 * unreaped child (b->pid > 0; cleared the moment it is reaped): until then its pid - and so the
 * group's id - cannot be given to anyone else. Nothing else is ever signalled by number: whatever
 * an experiment started dies with its parent (PR_SET_PDEATHSIG), so no id read from the page (an
 * experimenter's, already reaped and perhaps another user's process now) is needed. */
static void kill_bench(struct fl_bench_process *b)
{
    if (b->pid > 0 && !b->killed) {
        kill(-b->pid, SIGKILL);
        b->killed = 1;
    }
}

int fl_bench_fit(struct fl_bench_process *b)
{
    siginfo_t si = { 0 };
    if (b->pid <= 0 || !b->again)
        return 0;
    if (waitid(P_PID, (id_t)b->pid, &si, WEXITED | WSTOPPED | WNOHANG | WNOWAIT | __WALL) == 0 && si.si_pid == 0)
        return 1;
    kill_bench(b);                   /* stopped: end it (a dead one is only reaped) */
    b->again = 0;
    return 0;
}

void fl_bench_go(struct fl_bench_process *b, const struct fl_request *req, struct fl_result *out)
{
    struct fl_page *page = b->page;
    uint32_t n = ++b->requests;
    int64_t start = raw_now_ns();
    int64_t deadline = start + (int64_t)req->timeout_ms * 1000000;
    int timed_out = 0, stopped = 0;

    memset(&page->result, 0, sizeof page->result);       /* the bench is waiting: nobody else writes */
    page->result.sem_id = -1;
    page->request = *req;
    page->result.t[FL_T_START] = start;
    __atomic_store_n(&page->go, n, __ATOMIC_SEQ_CST);
    raw_futex_wake(&page->go);

    while (__atomic_load_n(&page->done, __ATOMIC_SEQ_CST) != n) {
        int64_t left = deadline - raw_now_ns();
        if (left <= 0) {
            timed_out = 1;
            kill_bench(b);
            break;
        }
        /* Wake up now and then: a bench that dies never says it is done. */
        raw_futex_wait(&page->done, n - 1, left < 5000000 ? left : 5000000);
        int state = __atomic_load_n(&page->done, __ATOMIC_SEQ_CST) != n ? bench_state(b) : 0;
        if (state == CLD_STOPPED || state == CLD_TRAPPED) {   /* it would never finish: end it, say why */
            stopped = 1;
            kill_bench(b);
            break;
        }
        if (state)
            break;                       /* died */
    }
    memcpy(out, &page->result, sizeof *out);
    out->t[FL_T_END] = raw_now_ns();
    b->again = 0;
    if (timed_out)
        out->outcome = FL_TIMEOUT;
    else if (stopped)
        out->outcome = FL_STOPPED;
    else if (__atomic_load_n(&page->done, __ATOMIC_SEQ_CST) != n) {
        int status = 0;                  /* died: reap it now to learn how */
        while (waitpid(b->pid, &status, __WALL) < 0 && errno == EINTR)
            ;
        b->pid = -1;
        out->bench_status = status;
        if (WIFSIGNALED(status)) {
            out->outcome = FL_CRASHED;
        } else {                         /* it ended without finishing: the page holds half a result */
            out->outcome = FL_SETUP;
            out->error = EIO;
            fl_strcpy(out->where, "the bench ended early", sizeof out->where);
        }
    } else
        b->again = (int)__atomic_load_n(&page->again, __ATOMIC_SEQ_CST);
}

void fl_bench_finish(struct fl_bench_process *b)
{
    int status;
    if (b->pid > 0) {
        if (__atomic_load_n(&b->page->done, __ATOMIC_SEQ_CST) != b->requests && !b->killed)
            kill_bench(b);               /* stopped half-way: end it */
        else if (b->again) {             /* waiting for a request: tell it there is none */
            __atomic_store_n(&b->page->go, QUIT, __ATOMIC_SEQ_CST);
            raw_futex_wake(&b->page->go);
        }
        int64_t deadline = raw_now_ns() + 1000000000LL;
        for (;;) {                       /* a bench that is done exits at once; give it a second */
            pid_t got = waitpid(b->pid, &status, __WALL | WNOHANG);
            if (got == b->pid || (got < 0 && errno != EINTR))
                break;
            if (raw_now_ns() > deadline) {
                kill_bench(b);
                while (waitpid(b->pid, &status, __WALL) < 0 && errno == EINTR)
                    ;
                break;
            }
            if (b->pidfd == -1) {         /* -2: tried, none (Linux < 5.3) */
                int fd = (int)syscall(SYS_pidfd_open, b->pid, 0);
                b->pidfd = fd >= 0 ? fd : -2;
            }
            if (b->pidfd >= 0) {
                struct pollfd p = { b->pidfd, POLLIN, 0 };
                poll(&p, 1, 100);
            } else {
                raw_sleep_ns(100000);
            }
        }
    }
    if (b->pidfd >= 0)
        close(b->pidfd);
    if (b->page->result.sem_made)      /* the bench did not get to remove it */
        semctl(b->page->result.sem_id, 0, IPC_RMID);
    munmap(b->page, b->page_size);
    b->page = NULL;
    b->pid = -1;
    b->pidfd = -1;
}

void fl_run(const struct fl_request *req, struct fl_result *out)
{
    struct fl_bench_process b;
    if (fl_bench_start(&b, out) != 0)
        return;
    fl_bench_go(&b, req, out);
    fl_bench_finish(&b);
}

uint64_t fl_proc_pid_ns = 0;

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
int fl_bench_parent_has_handlers = 1;

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
