/* bench_process.h - a bench process can be forked in advance and handed its request later.
 *
 * fl_run() does all three steps at once. The bench server (server.c) forks the next bench while
 * its client reads the previous result, so the fork is not on the path of the next experiment.
 */
#ifndef FORKLAB_BENCH_PROCESS_H
#define FORKLAB_BENCH_PROCESS_H

#include <stddef.h>
#include <sys/types.h>
#include "forklab.h"

/* The page shared by the caller and the bench (and every process of the experiment). */
struct fl_page {
    struct fl_request request;
    uint32_t go;            /* set by the caller: the request is there, start */
    uint32_t done;          /* set by the bench: the result is complete */
    struct fl_result result;
};

struct fl_bench_process {
    pid_t pid;
    int pidfd;              /* opened only when the bench is slow to end; < 0: none */
    struct fl_page *page;
    size_t page_size;
};

/* 1 (the default): the process that forks benches may have signal handlers of its own (Python's),
 * so each bench resets them to the default first. forklab-bench installs none and sets this to 0,
 * which saves every bench a system call per signal. */
extern int fl_bench_parent_has_handlers;

/* Fork a bench that waits for its request. 0, or -1 with errno (and *out explains). */
int fl_bench_start(struct fl_bench_process *b, struct fl_result *out);

/* Hand the bench its request and wait until the result is complete, the bench dies or the
 * request's timeout passes (then the bench's process groups are killed). Fills *out. */
void fl_bench_go(struct fl_bench_process *b, const struct fl_request *req, struct fl_result *out);

/* Reap the bench (killing it if it is still there after a short while) and free the page. */
void fl_bench_finish(struct fl_bench_process *b);

#endif
