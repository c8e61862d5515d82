/* child.h - the experiment's child's side (child.c): raw system calls only, safe under vfork and CLONE_VM. */
#ifndef FORKLAB_CHILD_H
#define FORKLAB_CHILD_H

/* The child's whole life: probes, report, wait to see the parent run, maybe misbehave. experiment
 * is a struct fl_experiment (experiment.h); a void pointer because clone() starts the child with it.
 * Returns the child's exit status (a clone() child returns it from its start function). */
int fl_child_main(void *experiment);

#endif
