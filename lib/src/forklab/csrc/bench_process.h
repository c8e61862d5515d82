/* bench_process.h - a bench process can be forked in advance and handed its requests later.
 *
 * fl_run() does all three steps at once, for one experiment. The bench server (server.c) hands
 * one bench request after request, for as long as the bench says it is as it was when it was
 * forked (see bench_main in run.c); when it is not, the server forks the next bench while its
 * client reads the result, so the fork is not on the path of the next experiment.
 */
#ifndef FORKLAB_BENCH_PROCESS_H
#define FORKLAB_BENCH_PROCESS_H

#include <stddef.h>
#include <sys/types.h>
#include "forklab.h"

/* The page shared by the caller and the bench (and every process of the experiment). */
struct fl_page {
    struct fl_request request;
    uint32_t go;            /* set by the caller: request number go is there, start */
    uint32_t done;          /* set by the bench: the result of request number done is complete */
    uint32_t again;         /* set by the bench with done: it can take another request */
    struct fl_result result;
};

struct fl_bench_process {
    pid_t pid;
    int pidfd;              /* opened only when the bench is slow to end; < 0: none */
    uint32_t requests;      /* how many requests it was handed */
    int again;              /* it can take another */
    int killed;             /* its process group was killed (once is enough; see kill_bench) */
    struct fl_page *page;
    size_t page_size;
};

/* 1 (the default): the process that forks benches may have signal handlers of its own (Python's),
 * so each bench resets them to the default first. forklab-bench installs none and sets this to 0,
 * which saves every bench a system call per signal. */
extern int fl_bench_parent_has_handlers;

/* Fork a bench that waits for its first request. 0, or -1 with errno (and *out explains). */
int fl_bench_start(struct fl_bench_process *b, struct fl_result *out);

/* Can the bench take a request? An idle bench is its owner's process, so the student may have killed
 * or stopped it. 1, or 0: it is gone or was stopped (then it is killed) - finish it and start another. */
int fl_bench_fit(struct fl_bench_process *b);

/* Hand the bench a request and wait until the result is complete, the bench dies or the
 * request's timeout passes (then the bench's process group is killed). Fills *out, and
 * b->again: whether the bench waits for another request (else it is ending: finish it). */
void fl_bench_go(struct fl_bench_process *b, const struct fl_request *req, struct fl_result *out);

/* End the bench (a bench waiting for a request, or one stopped half-way, is killed), reap it
 * and free the page. */
void fl_bench_finish(struct fl_bench_process *b);

#endif
