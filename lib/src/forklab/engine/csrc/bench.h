/* bench.h - the bench process's own side (bench.c): its loop over requests. */
#ifndef FORKLAB_BENCH_H
#define FORKLAB_BENCH_H

#include <sys/types.h>
#include "bench_page.h"

/* 1 (the default): the process that forks benches may have signal handlers of its own (Python's),
 * so each bench resets them to the default first. forklab-bench installs none and sets this to 0,
 * which saves every bench a system call per signal. */
extern int fl_bench_parent_has_handlers;

/* The bench's life, called in the freshly forked bench (all signals blocked): serve the requests that
 * come on page, one experiment each, then _exit. parent is the client's pid: if it is gone already,
 * the bench ends at once. Never returns. */
__attribute__((noreturn)) void fl_bench_main(struct fl_page *page, pid_t parent);

#endif
