/* fork_time.c - how long does fork() take to return in a parent of the given size (MiB)? The child is
   reaped outside the timed part: what we time is the kernel building the child (page tables included),
   not how soon the scheduler lets the child run.
   Run by forklab.meters.cow.fork_cost() in the C cells' sandbox, compiled with runner's flags.
   Usage: fork_time REPEATS SIZE_MIB...   Prints per size "row MIB MEDIAN_US BEST_US". */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    int repeats = atoi(argv[1]);
    double t[64];
    if (repeats > 64) repeats = 64;
    for (int i = 2; i < argc; i++) {
        size_t mb = atol(argv[i]), len = mb << 20;
        char *region = NULL;
        if (len) {
            region = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (region == MAP_FAILED) { perror("mmap"); return 1; }
            madvise(region, len, MADV_NOHUGEPAGE);
            memset(region, 1, len);               /* touched: its page table entries are real */
        }
        for (int r = 0; r < repeats; r++) {
            double t0 = now_us();
            pid_t pid = fork();
            if (pid < 0) { perror("fork"); return 1; }
            if (pid == 0) _exit(0);
            t[r] = now_us() - t0;
            waitpid(pid, NULL, 0);
        }
        qsort(t, repeats, sizeof t[0], cmp);
        printf("row %zu %.1f %.1f\n", mb, t[repeats / 2], t[0]);
        fflush(stdout);
        if (region) munmap(region, len);
    }
    return 0;
}
