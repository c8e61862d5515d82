/* experiment.h - one experiment, as both of its sides see it: what the parent prepared for the child.
 *
 * The parent (parent.c: the bench, or the experimenter it forked) fills a struct fl_experiment, then
 * creates the child (spawn.c), which only reads it and writes into the shared result page (child.c).
 * So it works the same whether the child got a copy of the parent's memory (fork) or the memory
 * itself (CLONE_VM, vfork).
 */
#ifndef FORKLAB_EXPERIMENT_H
#define FORKLAB_EXPERIMENT_H

#include <stdint.h>
#include "forklab.h"

struct fl_experiment {
    const struct fl_request *req;
    struct fl_result *res;          /* MAP_SHARED: every process of the experiment sees it */
    uint64_t flags;                 /* what the child was created with (0 for fork, vfork) */
    volatile int64_t *x;            /* the parent's variable (memory probe) */
    int fd_probe;                   /* the child closes this fd (fd table probe) */
    int off_fd;                     /* the child moves this fd's offset (file offset probe) */
    int64_t deadline_ns;            /* CLOCK_MONOTONIC time by which everything must be over */
    int64_t child_parent;           /* the getppid() the child must see (0: it cannot know; a new PID namespace) */
};

/* The value the child writes into the parent's variable, and where it moves the file offset. */
#define FL_CHILD_WRITES 7
#define FL_CHILD_OFFSET 42
#define FL_CHILD_UMASK  077
#define FL_CHILD_HOSTNAME "forklab-child"

#endif
