/* fork_wait_floor.c - the floor make bench compares an experiment with: fork() a child that _exits at once
   and wait for it, N times (argv[1], default 1000). Prints the CPU time (user + system) of itself and its
   reaped children, and the wall time, in ns: "CPU WALL". Run by forklab.meters.benchmark (Floor), compiled with
   runner's flags plus -O2, the ordinary way. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/wait.h>

static long long cpu_ns(void)
{
    struct rusage self, children;
    getrusage(RUSAGE_SELF, &self);
    getrusage(RUSAGE_CHILDREN, &children);
    return (self.ru_utime.tv_sec + self.ru_stime.tv_sec + children.ru_utime.tv_sec + children.ru_stime.tv_sec)
           * 1000000000LL + (self.ru_utime.tv_usec + self.ru_stime.tv_usec + children.ru_utime.tv_usec
           + children.ru_stime.tv_usec) * 1000LL;
}

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 1000, status;
    long long cpu = cpu_ns(), wall = now_ns();
    for (int i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid == 0)
            _exit(0);
        if (pid < 0 || waitpid(pid, &status, 0) != pid)
            return 1;
    }
    printf("%lld %lld\n", cpu_ns() - cpu, now_ns() - wall);
    return 0;
}
