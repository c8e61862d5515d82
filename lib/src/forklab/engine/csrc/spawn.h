/* spawn.h - creating the experiment's child: fork, vfork, clone or clone3. */
#ifndef FORKLAB_SPAWN_H
#define FORKLAB_SPAWN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "experiment.h"

struct fl_spawned {
    long id;            /* what the call returned: the child's pid (or tid), or -1 */
    int error;          /* errno when the kernel refused */
    int pidfd;          /* from CLONE_PIDFD, or -1 */
    int64_t call_ns;    /* how long the call kept the parent */
    char *stack;        /* the child's stack mapping (clone with CLONE_VM), or NULL */
    size_t stack_size;
};

/* Create the experiment's child the way e->req asks; it runs fl_child_main(e) (child.c). */
struct fl_spawned fl_spawn(struct fl_experiment *e);

/* Unmap the child's stack - only once the child is known to be gone. */
void fl_release_stack(struct fl_spawned *child, struct fl_result *r);

/* fork() without glibc's atfork handlers (they take locks another thread may hold): for the bench and
 * the experimenter, and the child of FL_FORK. */
pid_t fl_fork_process(void);

#endif
