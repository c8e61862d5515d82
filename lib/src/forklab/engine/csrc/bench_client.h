/* bench_client.h - a bench as the process that forked it holds it (bench_client.c).
 *
 * fl_run() does all three steps at once, for one experiment. The bench server (server.c) forks a
 * bench in advance and hands it request after request, for as long as the bench says it is as it was
 * when it was forked (bench.c, bench_as_new); when it is not, the server forks the next bench while
 * its client reads the result, so the fork is not on the path of the next experiment.
 */
#ifndef FORKLAB_BENCH_CLIENT_H
#define FORKLAB_BENCH_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "forklab.h"
#include "bench_page.h"

struct fl_bench {
    pid_t pid;
    int pidfd;              /* opened only when the bench is slow to end; < 0: none */
    uint32_t requests;      /* how many requests it was handed */
    int again;              /* it can take another */
    int killed;             /* its process group was killed (once is enough; see kill_bench) */
    struct fl_page *page;
    size_t page_size;
};

/* Fork a bench that waits for its first request. 0, or -1 with errno (and *out explains). */
int fl_bench_start(struct fl_bench *b, struct fl_result *out);

/* Can the bench take a request? An idle bench is its owner's process, so the student may have killed
 * or stopped it. 1, or 0: it is gone or was stopped (then it is killed) - finish it and start another. */
int fl_bench_fit(struct fl_bench *b);

/* Hand the bench a request and wait until the result is complete, the bench dies or the
 * request's timeout passes (then the bench's process group is killed). Fills *out, and
 * b->again: whether the bench waits for another request (else it is ending: finish it). */
void fl_bench_go(struct fl_bench *b, const struct fl_request *req, struct fl_result *out);

/* End the bench (a bench waiting for a request, or one stopped half-way, is killed), reap it
 * and free the page. */
void fl_bench_finish(struct fl_bench *b);

#endif
