/* bench_client.c - the client's handle on a bench: fork it, hand it requests, end it.
 *
 * The client is the process that forks benches: the bench server (server.c), or the Python process
 * itself for fl_run(). Request and result travel through one MAP_SHARED page (bench_page.h). The
 * client waits for the bench's "done" with a timeout and, if it must, kills the bench's process
 * group; it always reaps the bench in the end.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/sem.h>
#include <sys/wait.h>
#include "forklab.h"
#include "bench.h"
#include "bench_client.h"
#include "bench_page.h"
#include "parent.h"
#include "raw.h"
#include "spawn.h"

static void setup_error(struct fl_result *out, const char *where)
{
    int saved = errno;
    memset(out, 0, sizeof *out);
    errno = saved;
    fl_setup_failed(out, where);
}

int fl_bench_start(struct fl_bench *b, struct fl_result *out)
{
    sigset_t all, old;
    pid_t parent = getpid();

    b->page_size = (sizeof *b->page + 4095) & ~(size_t)4095;
    b->page = mmap(NULL, b->page_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (b->page == MAP_FAILED) {
        setup_error(out, "mmap result page");
        return -1;
    }
    b->page->control.sem_id = -1;

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
        fl_bench_main(b->page, parent);
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
static int bench_state(struct fl_bench *b)
{
    siginfo_t si = { 0 };
    if (waitid(P_PID, (id_t)b->pid, &si, WEXITED | WSTOPPED | WNOHANG | WNOWAIT | __WALL) != 0 || si.si_pid == 0)
        return 0;
    return si.si_code;
}

/* Kill the bench's process group: the bench, the experiment's child and, where there is one, the
 * experimenter (all in that group; bench.c never makes another). Signalled only while the bench is our
 * unreaped child (b->pid > 0; cleared the moment it is reaped): until then its pid - and so the
 * group's id - cannot be given to anyone else. Nothing else is ever signalled by number: whatever
 * an experiment started dies with its parent (PR_SET_PDEATHSIG), so no id read from the page (an
 * experimenter's, already reaped and perhaps another user's process now) is needed. */
static void kill_bench(struct fl_bench *b)
{
    if (b->pid > 0 && !b->killed) {
        kill(-b->pid, SIGKILL);
        b->killed = 1;
    }
}

int fl_bench_fit(struct fl_bench *b)
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

void fl_bench_go(struct fl_bench *b, const struct fl_request *req, struct fl_result *out)
{
    struct fl_page *page = b->page;
    uint32_t n = ++b->requests;
    int64_t start = raw_now_ns();
    int64_t deadline = start + (int64_t)req->timeout_ms * 1000000;
    int timed_out = 0, stopped = 0;

    memset(&page->result, 0, sizeof page->result);       /* the bench is waiting: nobody else writes */
    memset(&page->control, 0, sizeof page->control);
    page->control.sem_id = -1;
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

void fl_bench_finish(struct fl_bench *b)
{
    int status;
    if (b->pid > 0) {
        if (__atomic_load_n(&b->page->done, __ATOMIC_SEQ_CST) != b->requests && !b->killed)
            kill_bench(b);               /* stopped half-way: end it */
        else if (b->again) {             /* waiting for a request: tell it there is none */
            __atomic_store_n(&b->page->go, FL_PAGE_QUIT, __ATOMIC_SEQ_CST);
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
    if (b->page->control.sem_made)     /* the bench did not get to remove it */
        semctl(b->page->control.sem_id, 0, IPC_RMID);
    munmap(b->page, b->page_size);
    b->page = NULL;
    b->pid = -1;
    b->pidfd = -1;
}

void fl_run(const struct fl_request *req, struct fl_result *out)
{
    struct fl_bench b;
    if (fl_bench_start(&b, out) != 0)
        return;
    fl_bench_go(&b, req, out);
    fl_bench_finish(&b);
}
