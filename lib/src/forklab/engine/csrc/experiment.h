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

/* What the experiment's processes hand over with, and what is left to clean up: never a reading, so
 * not in struct fl_result. It lives in the bench's page beside the result (bench_page.h), MAP_SHARED,
 * for the same reasons: a fork child's writes must reach its parent (a vfork or CLONE_VM child writes
 * the very same memory anyway), the kernel writes the tid words from the child's side
 * (CLONE_CHILD_CLEARTID clears the word in the child's memory when it exits), and the bench and its
 * client must find sem_made even when an experimenter process ran the experiment. */
struct fl_control {
    uint32_t child_done;            /* futex: the child has reported (the parent waits on it) */
    uint32_t parent_ran;            /* futex: the call returned in the parent (the child waits on it) */
    uint32_t child_tid_word;        /* CLONE_CHILD_SETTID writes the tid here, CLONE_CHILD_CLEARTID clears it */
    uint32_t parent_tid_word;       /* CLONE_PARENT_SETTID writes the tid here */
    int32_t sem_id;                 /* the experiment's System V semaphore, or -1 */
    int32_t sem_made;               /* 1: this experiment made it (no server's one): the bench removes it,
                                     * or its client if the bench could not */
};

struct fl_experiment {
    const struct fl_request *req;
    struct fl_result *res;          /* MAP_SHARED: every process of the experiment sees it */
    struct fl_control *ctl;         /* MAP_SHARED too, beside res */
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
