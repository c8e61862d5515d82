/* server.c - forklab-bench, the bench server as a small C program.
 *
 * benchserver.py starts this once per Python process. It reads one struct fl_request at a time
 * from stdin, hands it to a bench process forked from this small one, and writes the struct
 * fl_result to stdout. A bench takes request after request for as long as each experiment leaves
 * it as it was forked (bench.c, bench_as_new) - up to FL_BENCH_USES of them; then the next bench is
 * forked, and the last one reaped, while the client reads the result: neither is on the path of
 * the next experiment.
 *
 * Why a separate program: fork() costs time in proportion to the forking process's memory (the
 * kernel copies, and later tears down, its page tables), and this process is tiny.
 * (What each of these choices saved, measured: docs/performance.md, "The C core".)
 *
 * Protocol (benchserver.py is the other side): the first line says the server is ready, with the
 * sizes it was built with and the id of the System V semaphore it made for the experiments. Then each
 * request carries FL_REQUEST_MAGIC and the next sequence number (1, 2, 3, ...), and each result
 * carries a copy of its request. Anything else on stdin - bytes another process wrote into the pipe,
 * or a client that lost count - is not guessed at: the server ends, its bench and the experiment with
 * it, and the client starts another server. The client in turn takes a result only if it carries
 * its own request back (sequence number and a random nonce).
 */
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/ipc.h>
#include <sys/sem.h>
#include "forklab.h"
#include "bench.h"
#include "bench_client.h"
#include "server_setup.h"

/* Read exactly size bytes: 1 done, 0 at a clean end of file, -1 on a short read or an error. */
static int read_exactly(int fd, void *buf, size_t size)
{
    size_t got = 0;
    while (got < size) {
        ssize_t n = read(fd, (char *)buf + got, size - got);
        if (n <= 0)
            return got == 0 && n == 0 ? 0 : -1;
        got += (size_t)n;
    }
    return 1;
}

static int write_all(int fd, const void *buf, size_t size)
{
    size_t done = 0;
    while (done < size) {
        ssize_t n = write(fd, (const char *)buf + done, size - done);
        if (n <= 0)
            return -1;
        done += (size_t)n;
    }
    return 0;
}

/* One experiment, one CPU. The server, its bench and the experiment's processes take turns - each
 * waits for the next - so nothing of one experiment runs in parallel; spread over CPUs, every
 * hand-over is a wake-up sent to another CPU (an interrupt; on a virtual machine, an exit to the
 * hypervisor) and the data moves between caches. So while a request is served, the server and the
 * bench it hands it to keep to the CPU the server woke up on (the scheduler's choice; the bench's
 * children inherit it), and the server lets go again before it waits for the next request, so
 * the scheduler still spreads the work between experiments. */
static cpu_set_t all_cpus;

static void keep_to_this_cpu(pid_t bench)
{
    cpu_set_t one;
    int cpu = sched_getcpu();
    if (cpu < 0)
        return;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    sched_setaffinity(0, sizeof one, &one);
    if (bench > 0)
        sched_setaffinity(bench, sizeof one, &one);
}

/* The semaphore the experiments use (parent.c): made once here, removed when the server ends. If the
 * server is killed instead, the client removes it (it read the id from the ready line). */
static int make_semaphore(void)
{
    return semget(IPC_PRIVATE, 1, 0600);
}

int main(int argc, char **argv)
{
    struct fl_request req;
    struct fl_result res;
    struct fl_bench bench, used;
    char hello[128];
    uint32_t expected = 1;
    int status = 0;

    if (argc != 2 || fl_server_prepare(atoi(argv[1])) != 0)
        return 1;          /* started by hand, or our parent is already gone */
    fl_bench_parent_has_handlers = 0;                   /* this program installs no signal handler */
    fl_server_semaphore = make_semaphore();             /* -1 if refused: then one per experiment */
    int n = snprintf(hello, sizeof hello, "forklab bench server ready %zu %zu %d\n",
                     sizeof req, sizeof res, fl_server_semaphore);
    if (write_all(1, hello, (size_t)n) != 0)
        status = 1;

    int can_pin = sched_getaffinity(0, sizeof all_cpus, &all_cpus) == 0;
    int ready = status == 0 && fl_bench_start(&bench, &res) == 0;
    while (status == 0 && read_exactly(0, &req, sizeof req) == 1) {
        if (req.magic != FL_REQUEST_MAGIC || req.seq != expected) {
            status = 3;                                 /* not our client's next request: end */
            break;
        }
        expected++;
        if (ready && !fl_bench_fit(&bench)) {          /* killed or stopped while it waited */
            fl_bench_finish(&bench);
            ready = 0;
        }
        if (can_pin)
            keep_to_this_cpu(ready ? bench.pid : 0);
        if (!ready)
            ready = fl_bench_start(&bench, &res) == 0;  /* if this fails, res says why */
        if (ready)
            fl_bench_go(&bench, &req, &res);
        res.request = req;                              /* what this result answers */
        if (write_all(1, &res, sizeof res) != 0)
            break;
        if (ready && !bench.again) {                    /* while the client reads: */
            used = bench;
            ready = fl_bench_start(&bench, &res) == 0;  /* fork the next bench */
            fl_bench_finish(&used);                     /* and reap the one that ran */
        }
        if (can_pin)
            sched_setaffinity(0, sizeof all_cpus, &all_cpus);   /* the next bench stays asleep until then */
    }
    if (ready)
        fl_bench_finish(&bench);                        /* it waits for a request: tell it to end */
    if (fl_server_semaphore >= 0)
        semctl(fl_server_semaphore, 0, IPC_RMID);
    return status;
}
