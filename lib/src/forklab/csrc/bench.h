/* bench.h - what the parent (the bench) prepares for the child before creating it.
 *
 * The child only reads this and writes into the shared result page, so it works the same
 * whether the child got a copy of the parent's memory (fork) or the memory itself (CLONE_VM).
 */
#ifndef FORKLAB_BENCH_H
#define FORKLAB_BENCH_H

#include <stdint.h>
#include "forklab.h"

struct fl_bench {
    const struct fl_request *req;
    struct fl_result *res;          /* MAP_SHARED: every process of the experiment sees it */
    uint64_t flags;                 /* what the child was created with (0 for fork, vfork) */
    volatile int64_t *x;            /* the parent's variable (memory probe) */
    int fd_probe;                   /* the child closes this fd (fd table probe) */
    int off_fd;                     /* the child moves this fd's offset (file offset probe) */
    int64_t deadline_ns;            /* CLOCK_MONOTONIC time by which everything must be over */
    int64_t child_parent;           /* the getppid() the child must see (0: it cannot know; a new PID namespace) */
};

/* The bench server's System V semaphore, or -1 (then each experiment makes its own). */
extern int fl_server_semaphore;

/* The child's whole life: probes, report, wait to see the parent run, maybe misbehave.
 * Returns the child's exit status (a clone() child returns it from its start function). */
int fl_child_main(void *bench);

/* Mark the experiment as not prepared: outcome FL_SETUP, errno, and the step that failed; -1. */
int fl_setup_failed(struct fl_result *r, const char *where);

/* The value the child writes into the parent's variable, and where it moves the file offset. */
#define FL_CHILD_WRITES 7
#define FL_CHILD_OFFSET 42
#define FL_CHILD_UMASK  077
#define FL_CHILD_HOSTNAME "forklab-child"

#endif
