/* parent.h - the parent's side of one experiment (parent.c). */
#ifndef FORKLAB_PARENT_H
#define FORKLAB_PARENT_H

#include <stdint.h>
#include "forklab.h"
#include "experiment.h"

/* Run one experiment as the child's parent: prepare, create the child, read what changed, reap it.
 * Every outcome is written into *r; nothing is left open. */
void fl_run_experiment(const struct fl_request *req, struct fl_result *r, struct fl_control *ctl, int64_t deadline_ns);

/* Mark the experiment as not prepared: outcome FL_SETUP, errno, and the step that failed; -1. */
int fl_setup_failed(struct fl_result *r, const char *where);

#endif
