/* server_setup.h - what the bench server sets up once, for every bench it forks (server_setup.c). */
#ifndef FORKLAB_SERVER_SETUP_H
#define FORKLAB_SERVER_SETUP_H

#include <stdint.h>

/* The inode of the PID namespace /proc shows ids in, when the bench server found it to be its own
 * (its NSpid line has one entry): then a process in that same namespace - checked with its own
 * namespace reading - has the same ids in /proc as getpid() and friends return, and need not read
 * /proc to learn them (probes.h, read_identity). 0: not known (read /proc). Set by fl_server_prepare(). */
extern uint64_t fl_proc_pid_ns;

/* The bench server's System V semaphore, which every experiment uses (parent.c), or -1 (then each
 * experiment makes its own). Made and removed by server.c; Python removes it with fl_semaphore_remove()
 * when the server was killed. */
extern int fl_server_semaphore;

/* For the bench server, first thing: 0 if our parent is parent_pid, else -1 (it is already gone). */
int fl_server_prepare(int32_t parent_pid);

#endif
