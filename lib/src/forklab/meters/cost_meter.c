/* cost_meter.c - how long does making a process take, in a parent of a given size?
   Run by forklab.meters.cost (every measurement of notebook 17) in the C cells' sandbox, compiled by runner.compile_c
   with the C cells' flags.
   Usage: cost_meter REPEATS 4k|thp SIZE_MIB...      (time every primitive for every size)
          cost_meter vmas REPEATS MIB NVMAS...        (fork, with the same memory in NVMAS mappings)
          cost_meter mappings REPEATS MIB DIR         (fork, with MIB written to in each kind of mapping)
          cost_meter writes MIB                       (the parent's and the child's writes after fork)
          cost_meter exit                             (the tiny program the spawned children run) */
#define _GNU_SOURCE
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <sys/resource.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define HUGE (2UL << 20)                     /* a transparent huge page on x86-64 and arm64 */
#define MAX_REPEATS 101
enum { FORK, VFORK, CLONE_VM_VFORK, FORK_EXEC, POSIX_SPAWN, NPRIM };
static const char *names[NPRIM] = { "fork", "vfork", "clone(VM|VFORK)", "fork+exec", "posix_spawn" };

extern char **environ;
static char *exit_argv[] = { "/proc/self/exe", "exit", NULL };
static char self[4096];                      /* this program's own path: what the children exec */
static volatile long long *child_exit_ns;    /* MAP_SHARED: the child writes when it calls _exit */

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);     /* one clock for every process on the machine */
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int exit_at_once(void *arg)           /* the clone(CLONE_VM|CLONE_VFORK) child's function */
{
    (void) arg;
    *child_exit_ns = now_ns();
    _exit(0);
}

/* One run: make a child with primitive p, wait for it; create and teardown in nanoseconds. */
static int one_run(int p, char *clone_stack_top, long long *create, long long *teardown)
{
    pid_t pid = -1;
    *child_exit_ns = 0;
    long long t0 = now_ns();
    switch (p) {
    case FORK:
        pid = fork();
        if (pid == 0) { *child_exit_ns = now_ns(); _exit(0); }
        break;
    case VFORK:
        pid = vfork();                       /* the parent waits here until the child's _exit */
        if (pid == 0) { *child_exit_ns = now_ns(); _exit(0); }
        break;
    case CLONE_VM_VFORK:
        pid = clone(exit_at_once, clone_stack_top, CLONE_VM | CLONE_VFORK | SIGCHLD, NULL);
        break;
    case FORK_EXEC:
        pid = fork();
        if (pid == 0) { execve(self, exit_argv, environ); _exit(127); }
        break;
    case POSIX_SPAWN:
        if (posix_spawn(&pid, self, NULL, NULL, exit_argv, environ) != 0) pid = -1;
        break;
    }
    long long t1 = now_ns();
    if (pid < 0) { perror(names[p]); return -1; }
    int status;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "%s: the child did not exit cleanly\n", names[p]);
        return -1;
    }
    long long t2 = now_ns();
    long long start = *child_exit_ns > t1 ? *child_exit_ns : t1;   /* both sides done with "create" */
    *create = t1 - t0;
    *teardown = t2 - start;
    return 0;
}

static int by_value(const void *a, const void *b)
{
    long long x = *(const long long *) a, y = *(const long long *) b;
    return (x > y) - (x < y);
}

static long long median(long long *v, int n)
{
    qsort(v, n, sizeof v[0], by_value);
    return v[n / 2];
}

static long smaps_kib(const char *name)      /* a "Name:   123 kB" line of /proc/self/smaps_rollup */
{
    static char buf[4096];
    FILE *f = fopen("/proc/self/smaps_rollup", "r");
    if (f == NULL) return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *at = strstr(buf, name);
    return at ? strtol(at + strlen(name), NULL, 10) : -1;
}

/* size bytes of private anonymous memory, written to so it is resident, in the pages asked for */
static char *touched_memory(size_t size, int huge, size_t *mapped)
{
    *mapped = size + HUGE;                   /* room to start on a 2 MiB boundary */
    char *raw = mmap(NULL, *mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) { perror("mmap"); exit(1); }
    char *start = (char *) (((unsigned long) raw + HUGE - 1) & ~(HUGE - 1));
    madvise(raw, *mapped, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);  /* EINVAL without THP: 4 KiB it is */
    memset(start, 1, size);
    return raw;
}

static int time_sizes(int repeats, int huge, int nsizes, char **sizes)
{
    char *stack = mmap(NULL, 1 << 16, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED) { perror("mmap"); return 1; }
    for (int s = 0; s < nsizes; s++) {
        size_t mib = strtoul(sizes[s], NULL, 10), mapped;
        char *region = touched_memory(mib << 20, huge, &mapped);
        long huge_kib = smaps_kib("AnonHugePages:"), rss_kib = smaps_kib("Rss:");
        long long create[NPRIM][MAX_REPEATS], teardown[NPRIM][MAX_REPEATS];
        for (int r = 0; r < repeats; r++)    /* round robin: every primitive meets the same noise */
            for (int p = 0; p < NPRIM; p++)
                if (one_run(p, stack + (1 << 16), &create[p][r], &teardown[p][r]) != 0) return 1;
        for (int p = 0; p < NPRIM; p++)
            printf("row %s %zu %ld %ld %lld %lld\n", names[p], mib, huge_kib, rss_kib,
                   median(create[p], repeats), median(teardown[p], repeats));
        fflush(stdout);
        munmap(region, mapped);              /* free it before the next size */
    }
    return 0;
}

/* The same memory in more mappings: fork copies one VMA at a time. Neighbours with different
   protections cannot merge, so alternating PROT_READ and PROT_READ|PROT_WRITE makes nvmas of them. */
static int time_vmas(int repeats, size_t mib, int n, char **counts)
{
    for (int c = 0; c < n; c++) {
        long nvmas = strtol(counts[c], NULL, 10), page = sysconf(_SC_PAGESIZE);
        size_t size = mib << 20, mapped;
        char *region = touched_memory(size, 0, &mapped);
        long pages = size / page, per = pages / nvmas > 0 ? pages / nvmas : 1;
        for (long v = 1; v < nvmas && (v + 1) * per <= pages; v += 2)
            if (mprotect(region + v * per * page, per * page, PROT_READ) != 0) { perror("mprotect"); return 1; }
        long long create[MAX_REPEATS], teardown[MAX_REPEATS];
        for (int r = 0; r < repeats; r++)
            if (one_run(FORK, NULL, &create[r], &teardown[r]) != 0) return 1;
        printf("vmas %ld %zu %lld %lld\n", nvmas, mib, median(create, repeats), median(teardown, repeats));
        fflush(stdout);
        munmap(region, mapped);
    }
    return 0;
}

/* The same memory, written to page by page, mapped four ways. fork() copies page-table entries only for a
   mapping with anonymous pages of its own (an anon_vma: private memory that was written to); for any other
   it skips copy_page_range() - vma_needs_copy() in mm/memory.c - and the child's faults fill them later. */
enum { NO_MAPPING, PRIVATE_ANON, SHARED_ANON, SHARED_FILE, NKINDS };
static const char *kinds[NKINDS] = { "none", "private", "shared", "file" };

static char *mapping(int kind, size_t size, const char *dir)
{
    int fd = -1, flags = kind == PRIVATE_ANON ? MAP_PRIVATE | MAP_ANONYMOUS : MAP_SHARED;
    if (kind == SHARED_ANON) flags |= MAP_ANONYMOUS;
    if (kind == SHARED_FILE) {                    /* a real file, gone from its folder once mapped */
        char path[4096];
        snprintf(path, sizeof path, "%s/mapped-file-XXXXXX", dir);
        fd = mkstemp(path);
        if (fd < 0 || unlink(path) != 0 || ftruncate(fd, size) != 0) { perror(path); exit(1); }
    }
    char *m = mmap(NULL, size, PROT_READ | PROT_WRITE, flags, fd, 0);
    if (m == MAP_FAILED) { perror("mmap"); exit(1); }
    if (fd >= 0) close(fd);
    madvise(m, size, MADV_NOHUGEPAGE);           /* 4 KiB pages in every kind: one entry per page */
    memset(m, 1, size);                           /* every page written: resident, in the page tables */
    return m;
}

static int time_mappings(int repeats, size_t mib, const char *dir)
{
    for (int k = 0; k < NKINDS; k++) {
        size_t size = mib << 20;
        char *m = k == NO_MAPPING ? NULL : mapping(k, size, dir);
        long long create[MAX_REPEATS], teardown[MAX_REPEATS];
        for (int r = 0; r < repeats; r++)
            if (one_run(FORK, NULL, &create[r], &teardown[r]) != 0) return 1;
        printf("mapping %s %zu %ld %lld %lld\n", kinds[k], k == NO_MAPPING ? 0 : mib, smaps_kib("Rss:"),
               median(create, repeats), median(teardown, repeats));
        fflush(stdout);
        if (m) munmap(m, size);
    }
    return 0;
}

/* The bill after fork(): fork() write-protects the PARENT's entries as well as the child's, so while the
   child holds its copy, the parent's first write to each page faults and copies it. */
static long minor_faults(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_minflt;
}

static void write_every_page(volatile char *m, long pages, long page, char value)
{
    for (long i = 0; i < pages; i++) m[i * page] = value;
}

static int time_writes(size_t mib)
{
    long page = sysconf(_SC_PAGESIZE), pages = (long) (mib << 20) / page;
    char *m = mapping(PRIVATE_ANON, mib << 20, NULL);
    /* without a fork: the pages are writable already */
    long f0 = minor_faults(); long long t0 = now_ns();
    write_every_page(m, pages, page, 2);
    long long unforked_ns = now_ns() - t0; long unforked_faults = minor_faults() - f0;
    /* fork; the child holds its copy (it waits on a pipe) while the parent writes */
    int hold[2];
    if (pipe(hold) != 0) { perror("pipe"); return 1; }
    t0 = now_ns();
    pid_t pid = fork();
    if (pid == 0) { char c; close(hold[1]); while (read(hold[0], &c, 1) < 0) { } _exit(0); }
    long long fork_ns = now_ns() - t0;
    if (pid < 0) { perror("fork"); return 1; }
    close(hold[0]);
    f0 = minor_faults(); t0 = now_ns();
    write_every_page(m, pages, page, 3);
    long long parent_ns = now_ns() - t0; long parent_faults = minor_faults() - f0;
    close(hold[1]);                               /* the child's read returns 0: it ends */
    if (waitpid(pid, NULL, 0) != pid) { perror("waitpid"); return 1; }
    /* the other side, as notebook 02 counts it: a child writing every page of its copy */
    pid = fork();
    if (pid == 0) {
        long f = minor_faults(); long long t = now_ns();
        write_every_page(m, pages, page, 4);
        child_exit_ns[1] = minor_faults() - f;
        child_exit_ns[2] = now_ns() - t;
        _exit(0);
    }
    if (pid < 0 || waitpid(pid, NULL, 0) != pid) { perror("fork"); return 1; }
    printf("writes %zu %ld %ld %lld %lld %ld %lld %lld %lld\n", mib, pages, unforked_faults, unforked_ns, fork_ns,
           parent_faults, parent_ns, child_exit_ns[1], child_exit_ns[2]);
    munmap(m, mib << 20);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "exit") == 0)
        _exit(0);                            /* the spawned program: start, and end at once */
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n < 0) { perror("readlink"); return 1; }
    self[n] = 0;
    exit_argv[0] = self;
    child_exit_ns = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (child_exit_ns == MAP_FAILED) { perror("mmap"); return 1; }
    if (argc >= 5 && strcmp(argv[1], "vmas") == 0) {
        int repeats = atoi(argv[2]);
        if (repeats < 1 || repeats > MAX_REPEATS) { fprintf(stderr, "repeats: 1 to %d\n", MAX_REPEATS); return 2; }
        return time_vmas(repeats, strtoul(argv[3], NULL, 10), argc - 4, argv + 4);
    }
    if (argc == 5 && strcmp(argv[1], "mappings") == 0) {
        int repeats = atoi(argv[2]);
        if (repeats < 1 || repeats > MAX_REPEATS) { fprintf(stderr, "repeats: 1 to %d\n", MAX_REPEATS); return 2; }
        return time_mappings(repeats, strtoul(argv[3], NULL, 10), argv[4]);
    }
    if (argc == 3 && strcmp(argv[1], "writes") == 0)
        return time_writes(strtoul(argv[2], NULL, 10));
    if (argc < 4) { fprintf(stderr, "usage: cost_meter REPEATS 4k|thp SIZE_MIB...\n"); return 2; }
    int repeats = atoi(argv[1]);
    if (repeats < 1 || repeats > MAX_REPEATS) { fprintf(stderr, "repeats: 1 to %d\n", MAX_REPEATS); return 2; }
    return time_sizes(repeats, strcmp(argv[2], "thp") == 0, argc - 3, argv + 3);
}
