/* spawn.h - creating the experiment's child: fork, vfork, clone or clone3. */
#ifndef FORKLAB_SPAWN_H
#define FORKLAB_SPAWN_H

#include <stddef.h>
#include <stdint.h>
#include "bench.h"

struct fl_spawned {
    long id;            /* what the call returned: the child's pid (or tid), or -1 */
    int error;          /* errno when the kernel refused */
    int pidfd;          /* from CLONE_PIDFD, or -1 */
    int64_t call_ns;    /* how long the call kept the parent */
    char *stack;        /* the child's stack mapping (clone with CLONE_VM), or NULL */
    size_t stack_size;
};

struct fl_spawned fl_spawn(struct fl_bench *b);

/* Unmap the child's stack - only once the child is known to be gone. */
void fl_release_stack(struct fl_spawned *child, struct fl_result *r);

void fl_experiment(const struct fl_request *req, struct fl_result *r, int64_t deadline_ns);

#endif
