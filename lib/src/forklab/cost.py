"""The cost model: what creating a process costs, against the size of the parent, split in two.

    >>> from forklab import cost
    >>> table = cost.measure(sizes_mib=(2, 64), repeats=3)
    >>> table.figure("fork", "create", 64) > table.figure("vfork", "create", 64)
    True

Two figures for every way of making a process, in microseconds (median of `repeats` runs), for a
parent holding `size_mib` MiB of private anonymous memory it has written to (so it is resident):

* **create**: from the call until it returns in the parent - fork() copying the parent's VMAs and
  page tables; vfork() and clone(CLONE_VM|CLONE_VFORK) creating a child that borrows the memory
  (the parent is suspended until the child _exits, here at once); posix_spawn() and subprocess
  creating the child *and* its exec of a tiny program (they return once the exec has happened).
* **teardown**: from the later of "the call returned in the parent" and "the child called _exit"
  until the parent's waitpid() returns - the child's exit (or exec) releasing its copy of the page
  tables, the exit being reported, the parent woken. For the rows that start a program
  ("fork+exec", "posix_spawn", "subprocess..."), it also holds the run of that tiny program (the
  meter itself, asked to _exit at once): the same few hundred microseconds for every such row.

The parent is COST_METER, a small C program (below) run in the C cells' sandbox: its children never
run Python. Memory is touched in 4 KiB pages (`pages="4k"`, MADV_NOHUGEPAGE) or, where the kernel
offers transparent huge pages, in 2 MiB pages (`pages="thp"`, MADV_HUGEPAGE); every row says how
much of it really was in huge pages. `subprocess_cost()` does the same from a fresh Python
interpreter for Python's subprocess module. `vma_cost()` holds the memory fixed and splits it into
more and more VMAs. No size larger than a quarter of the memory this machine (or this container's
memory cgroup) can spare is ever touched; bigger sizes are skipped, and the table says so.

Names the course cites (notebook 17 prints them): "fork create" / "fork teardown" of "a 256 MiB
parent" (4 KiB pages), and the "fork slope" in µs per MiB with its "fixed part" in µs (the smallest
parent's figure), from `CostTable.fit()`.
"""
from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from . import ccell, figure
from .machine import machine, memory_room

#: The primitives COST_METER times, in the order it times them.
PRIMITIVES = ("fork", "vfork", "clone(VM|VFORK)", "fork+exec", "posix_spawn")
#: What subprocess_cost() times: Python's subprocess, three ways (see notebook 17 for which system call each makes).
SUBPROCESS_MODES = ("subprocess", "subprocess+preexec_fn", "subprocess(close_fds=False)")
PAGES = ("4k", "thp")
PARTS = ("create", "teardown")
MIB = 1 << 20

COST_METER = r'''
/* cost_meter.c - how long does making a process take, in a parent of a given size?
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
'''

# A fresh Python interpreter holding SIZE MiB, timing subprocess.Popen + wait three ways. Only the
# interpreter is Python: every child it starts execs the C meter (which _exits at once).
SUBPROCESS_PARENT = r'''
import json, mmap, subprocess, sys, time
meter, repeats, sizes = sys.argv[1], int(sys.argv[2]), [int(s) for s in sys.argv[3:]]
modes = {"subprocess": {}, "subprocess+preexec_fn": {"preexec_fn": lambda: None},
         "subprocess(close_fds=False)": {"close_fds": False}}
for mib in sizes:
    memory = mmap.mmap(-1, max(mib, 1) << 20, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    if hasattr(mmap, "MADV_NOHUGEPAGE"):
        memory.madvise(mmap.MADV_NOHUGEPAGE)
    for at in range(0, len(memory), mmap.PAGESIZE):
        memory[at] = 1                                   # touched: resident, in page tables
    times = {mode: ([], []) for mode in modes}
    for _ in range(repeats):
        for mode, options in modes.items():
            t0 = time.monotonic_ns()
            child = subprocess.Popen([meter, "exit"], **options)
            t1 = time.monotonic_ns()
            child.wait(timeout=10)
            t2 = time.monotonic_ns()
            times[mode][0].append(t1 - t0)
            times[mode][1].append(t2 - t1)
    rss = next(int(l.split()[1]) for l in open("/proc/self/smaps_rollup") if l.startswith("Rss:"))
    for mode, (create, teardown) in times.items():
        print("row " + json.dumps([mode, mib, rss, sorted(create)[len(create) // 2],
                                   sorted(teardown)[len(teardown) // 2]]), flush=True)
    memory.close()
'''


class CostMeterFailed(RuntimeError):
    """The measuring program could not run here; the message says what happened."""


# --- how much memory may we touch? -------------------------------------------------------------

def _meminfo_kib(name: str) -> int | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith(name + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def spare_mib() -> int:
    """Memory this machine can spare now, in MiB: MemAvailable, or less if a memory cgroup limits us."""
    avail = _meminfo_kib("MemAvailable")
    spare = avail * 1024 if avail is not None else 512 * MIB
    room = memory_room()
    if room is not None:
        spare = min(spare, room)
    return spare // MIB


def largest_allowed_mib() -> int:
    """The largest parent we touch: a quarter of what can be spared (the child's page tables, the
    interpreter and whatever else runs need the rest)."""
    return spare_mib() // 4


def _sizes_within_reach(sizes_mib) -> tuple[list[int], list[int]]:
    sizes = [int(s) for s in sizes_mib]
    bad = [s for s in sizes if s < 1 or s > 1 << 20]
    if bad or not sizes:
        raise ValueError(f"sizes_mib must be whole numbers of MiB from 1 up, e.g. (2, 16, 64, 256); got {list(sizes_mib)}")
    cap = largest_allowed_mib()
    return [s for s in sizes if s <= cap], [s for s in sizes if s > cap]


def thp_mode() -> str:
    """The kernel's transparent huge page setting: "always", "madvise", "never", or "unavailable"."""
    return machine().thp


# --- the measurements -----------------------------------------------------------------------------

@dataclass(frozen=True)
class CostRow:
    primitive: str        # one of PRIMITIVES or SUBPROCESS_MODES
    pages: str            # "4k" or "thp" (what was asked for; huge_kib says what the kernel gave)
    size_mib: int         # touched private memory the parent held
    create_us: float      # median, µs: the call until it returned in the parent
    teardown_us: float    # median, µs: until waitpid() returned (see the module's docstring)
    huge_kib: int = 0     # of the parent's memory, in transparent huge pages (AnonHugePages)
    rss_kib: int = 0      # the parent's whole resident set (its program, libc, stack: a little more)

    @property
    def total_us(self) -> float:
        return self.create_us + self.teardown_us

    def part(self, part: str) -> float:
        if part not in PARTS + ("total",):
            raise ValueError(f"part must be one of {', '.join(PARTS + ('total',))}; got {part!r}")
        return getattr(self, f"{part}_us")


@dataclass
class CostTable:
    rows: list
    repeats: int
    skipped_mib: list = field(default_factory=list)   # sizes over largest_allowed_mib(): not touched
    thp: str = "unavailable"

    # -- looking things up
    def primitives(self) -> list[str]:
        return list(dict.fromkeys(r.primitive for r in self.rows))

    def sizes(self) -> list[int]:
        return sorted({r.size_mib for r in self.rows})

    def row(self, primitive: str, size_mib: int, pages: str = "4k") -> CostRow:
        for r in self.rows:
            if r.primitive == primitive and r.size_mib == size_mib and r.pages == pages:
                return r
        have = sorted({(r.primitive, r.pages) for r in self.rows})
        raise KeyError(f"no row for {primitive!r} at {size_mib} MiB in {pages!r} pages; the table has "
                       f"{have} at sizes {self.sizes()} MiB")

    def figure(self, primitive: str, part: str, size_mib: int, pages: str = "4k") -> float:
        """One figure the course cites, e.g. figure("fork", "create", 256): µs, median."""
        return self.row(primitive, size_mib, pages).part(part)

    def series(self, primitive: str, part: str, pages: str = "4k") -> tuple[list[int], list[float]]:
        rows = sorted((r for r in self.rows if r.primitive == primitive and r.pages == pages),
                      key=lambda r: r.size_mib)
        return [r.size_mib for r in rows], [r.part(part) for r in rows]

    def huge_pages_used(self) -> bool:
        """Did the kernel really give the "thp" rows' memory in huge pages (at least half of it)?"""
        thp = [r for r in self.rows if r.pages == "thp" and r.size_mib >= 4]
        return bool(thp) and all(r.huge_kib * 2 >= r.size_mib * 1024 for r in thp)

    # -- the model
    def fit(self, primitive: str, part: str = "create", pages: str = "4k") -> tuple[float, float]:
        """(fixed part in µs, µs per MiB): the smallest parent's figure, and what each further MiB added
        up to the largest parent. (A least-squares line through every size, fit_line(), lets the
        largest sizes - slower per MiB once page tables outgrow the caches - pull its fixed part below
        zero; these two are the figures the course cites.)"""
        sizes, times = self.series(primitive, part, pages)
        if len(sizes) < 2:
            raise ValueError(f"a slope needs two sizes; the table has {sizes} MiB")
        return times[0], (times[-1] - times[0]) / (sizes[-1] - sizes[0])

    def grows(self, primitive: str, part: str = "create", pages: str = "4k") -> bool:
        """Clearly slower in the largest parent than in the smallest (3x, and 200 µs more)?"""
        _, times = self.series(primitive, part, pages)
        return len(times) >= 2 and times[-1] > 3 * times[0] and times[-1] - times[0] > 200

    # -- showing it
    def table(self, pages: str | None = None) -> str:
        """One line per row; the sizes and names line up, the measured figures (which vary) end the line."""
        width = max([len(self._label(r)) for r in self.rows] + [10])
        lines = [f"{'':{width}} {'parent':>8}   median of {self.repeats}: create, teardown"]
        for r in sorted(self.rows, key=lambda r: (r.pages, self.primitives().index(r.primitive), r.size_mib)):
            if pages is None or r.pages == pages:
                lines.append(f"{self._label(r):{width}} {r.size_mib:>4} MiB   {r.create_us:.0f} µs, {r.teardown_us:.0f} µs")
        if self.skipped_mib:
            lines.append(f"skipped: {', '.join(map(str, self.skipped_mib))} MiB - more than a quarter of the "
                         f"memory this machine can spare now")
        return "\n".join(lines)

    @staticmethod
    def _label(r: CostRow) -> str:
        return f"{r.primitive} ({'huge pages' if r.pages == 'thp' else '4 KiB pages'})"

    def plot(self, primitives=None, pages=PAGES, axes=None):
        """create (left) and teardown (right) against the parent's size; 4 KiB pages solid, huge dashed."""
        import matplotlib.pyplot as plt
        shown_here = axes is None          # shown with its text equivalent (forklab.figure) unless drawn into axes
        if axes is None:
            _, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
        primitives = primitives or self.primitives()
        colours = {p: f"C{i}" for i, p in enumerate(PRIMITIVES + SUBPROCESS_MODES)}
        for ax, part in zip(axes, PARTS):
            for p in primitives:
                for kind in pages:
                    sizes, times = self.series(p, part, kind)
                    if sizes:
                        ax.plot(sizes, [t / 1000 for t in times], "o-" if kind == "4k" else "s--",
                                color=colours.get(p), label=f"{p}" + (" (huge pages)" if kind == "thp" else ""))
            ax.set_xlabel("parent's touched memory (MiB)")
            ax.set_title(part + (": the call until it returns" if part == "create" else ": until waitpid returns"))
            ax.grid(alpha=0.3)
        axes[0].set_ylabel("median time (ms)")
        axes[1].legend(fontsize="small")
        if shown_here:
            figure.show(axes[0].figure, self.alt_text(primitives, pages))
        return axes

    def alt_text(self, primitives=None, pages=PAGES) -> str:
        """What plot() shows, in words (its text equivalent for a screen reader): each line's points."""
        primitives = primitives or self.primitives()
        parts = []
        for part in PARTS:
            lines = []
            for p in primitives:
                for kind in pages:
                    sizes, times = self.series(p, part, kind)
                    if sizes:
                        name = p + (" (huge pages)" if kind == "thp" else "")
                        ends = [(f"{s} MiB", t / 1000) for s, t in zip(sizes, times)]
                        ends = ends if len(ends) < 3 else [ends[0], ends[-1]]     # short: a screen reader reads it all
                        lines.append(f"{name}: " + figure.series(ends, "ms", digits=2))
            what = "create, the call until it returns" if part == "create" else "teardown, until waitpid returns"
            parts.append(f"{what}: " + "; ".join(lines))
        return (f"Two line plots, the median time of {self.repeats} runs against the parent's touched memory "
                f"(smallest and largest parent; every size is in the table). "
                + ". ".join(p[0].upper() + p[1:] for p in parts) + ".")


def fit_line(xs, ys) -> tuple[float, float]:
    """(intercept, slope) of the least-squares line through the points (xs, ys)."""
    xs, ys = [float(x) for x in xs], [float(y) for y in ys]
    if len(xs) != len(ys) or len(set(xs)) < 2:
        raise ValueError("fit_line needs at least two points with different x")
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
    return my - slope * mx, slope


def _check_repeats(repeats: int) -> int:
    if not 1 <= int(repeats) <= 101:
        raise ValueError(f"repeats must be from 1 to 101 (the median of that many runs); got {repeats}")
    return int(repeats)


def _meter(tmp: Path) -> Path:
    ok, output, binary = ccell.compile_c(COST_METER, tmp)
    if not ok:
        raise CostMeterFailed(f"the cost meter did not compile here:\n{output}")
    return binary


def _run_meter(argv, timeout: float) -> list[list[str]]:
    r = ccell.run_supervised([str(a) for a in argv], timeout=timeout, max_procs=8)
    if r.returncode != 0 or r.timed_out:
        raise CostMeterFailed(f"the cost meter failed: {r.status_line()}\n{r.stderr}")
    return [line.split() for line in r.stdout.splitlines()]


def measure(sizes_mib=(2, 16, 64, 256), repeats: int = 5, pages=PAGES, timeout: float = 60.0) -> CostTable:
    """Time fork, vfork, clone(VM|VFORK), fork+exec and posix_spawn in a C parent of each size."""
    repeats = _check_repeats(repeats)
    pages = [pages] if isinstance(pages, str) else list(pages)
    if not pages or any(p not in PAGES for p in pages):
        raise ValueError(f"pages must be among {PAGES} ('4k': 4 KiB pages, 'thp': transparent huge pages); got {pages}")
    sizes, skipped = _sizes_within_reach(sizes_mib)
    rows = []
    with tempfile.TemporaryDirectory(prefix="forklab-cost-") as tmp:
        meter = _meter(Path(tmp))
        for kind in pages:
            if not sizes:
                break
            for words in _run_meter([meter, repeats, kind, *sizes], timeout):
                if words[0] == "row":
                    name, mib, huge, rss, create_ns, teardown_ns = words[1:]
                    rows.append(CostRow(name, kind, int(mib), int(create_ns) / 1000, int(teardown_ns) / 1000,
                                        huge_kib=max(int(huge), 0), rss_kib=max(int(rss), 0)))
    return CostTable(rows=rows, repeats=repeats, skipped_mib=skipped, thp=thp_mode())


def subprocess_cost(sizes_mib=(2, 64, 256), repeats: int = 5, timeout: float = 60.0) -> CostTable:
    """Time subprocess.Popen + wait in a fresh Python interpreter holding each size (4 KiB pages),
    by default, with a preexec_fn, and with close_fds=False."""
    repeats = _check_repeats(repeats)
    sizes, skipped = _sizes_within_reach(sizes_mib)
    rows = []
    with tempfile.TemporaryDirectory(prefix="forklab-cost-") as tmp:
        meter = _meter(Path(tmp))
        if sizes:
            argv = [sys.executable, "-I", "-c", SUBPROCESS_PARENT, meter, repeats, *sizes]
            for words in _run_meter(argv, timeout):
                if words and words[0] == "row":
                    mode, mib, rss, create_ns, teardown_ns = json.loads(" ".join(words[1:]))
                    rows.append(CostRow(mode, "4k", mib, create_ns / 1000, teardown_ns / 1000, rss_kib=rss))
    return CostTable(rows=rows, repeats=repeats, skipped_mib=skipped, thp=thp_mode())


@dataclass(frozen=True)
class VmaRow:
    vmas: int
    size_mib: int
    create_us: float
    teardown_us: float


def vma_cost(counts=(1, 256, 4096), size_mib: int = 16, repeats: int = 5, timeout: float = 60.0) -> list[VmaRow]:
    """fork() of a parent whose size_mib MiB (4 KiB pages) are split into each count of VMAs."""
    repeats = _check_repeats(repeats)
    pages = (int(size_mib) * MIB) // os.sysconf("SC_PAGE_SIZE")
    counts = [int(c) for c in counts]
    if any(c < 1 or c > pages for c in counts) or not counts:
        raise ValueError(f"each count of VMAs must be from 1 to the {pages} pages of {size_mib} MiB; got {counts}")
    limit = _max_map_count()
    if limit is not None and max(counts) > limit - 1000:
        raise ValueError(f"{max(counts)} VMAs is too close to this kernel's vm.max_map_count ({limit})")
    sizes, _ = _sizes_within_reach([size_mib])
    if not sizes:
        raise ValueError(f"{size_mib} MiB is more than a quarter of the memory this machine can spare now")
    with tempfile.TemporaryDirectory(prefix="forklab-cost-") as tmp:
        meter = _meter(Path(tmp))
        words = _run_meter([meter, "vmas", repeats, size_mib, *counts], timeout)
    return [VmaRow(int(w[1]), int(w[2]), int(w[3]) / 1000, int(w[4]) / 1000) for w in words if w[0] == "vmas"]


#: The kinds of mapping mapping_cost() forks with, and what each is.
MAPPINGS = {"none": "no extra memory",
            "private": "MAP_PRIVATE|MAP_ANONYMOUS",
            "shared": "MAP_SHARED|MAP_ANONYMOUS",
            "file": "MAP_SHARED of a file"}


@dataclass(frozen=True)
class MappingRow:
    kind: str             # one of MAPPINGS
    size_mib: int         # memory written to, page by page, in that mapping (0 for "none")
    rss_kib: int          # the parent's whole resident set while it forked
    create_us: float      # median, µs
    teardown_us: float    # median, µs

    @property
    def mapping(self) -> str:
        return MAPPINGS[self.kind]


def mapping_cost(size_mib: int = 256, repeats: int = 5, timeout: float = 60.0) -> list[MappingRow]:
    """fork() of a parent holding size_mib MiB, written to page by page (resident, 4 KiB pages), in a private
    anonymous mapping, a shared anonymous one, a shared mapping of a file - and of the same parent without it.
    Only memory whose mapping has anonymous pages of its own makes fork() copy page-table entries."""
    repeats = _check_repeats(repeats)
    sizes, _ = _sizes_within_reach([size_mib])
    if not sizes:
        raise ValueError(f"{size_mib} MiB is more than a quarter of the memory this machine can spare now "
                         f"({largest_allowed_mib()} MiB); choose a smaller size_mib")
    with tempfile.TemporaryDirectory(prefix="forklab-cost-") as tmp:
        meter = _meter(Path(tmp))
        words = _run_meter([meter, "mappings", repeats, sizes[0], tmp], timeout)
    return [MappingRow(w[1], int(w[2]), int(w[3]), int(w[4]) / 1000, int(w[5]) / 1000)
            for w in words if w[0] == "mapping"]


@dataclass(frozen=True)
class WritesAfterFork:
    """One parent writing one byte into each of its pages: without a fork, after a fork whose child still
    holds its copy, and (the other side) a child writing every page of its copy. Faults are minor faults
    (getrusage), times in µs."""
    size_mib: int
    pages: int
    unforked_faults: int
    unforked_write_us: float
    fork_create_us: float
    parent_faults: int
    parent_write_us: float
    child_faults: int
    child_write_us: float

    def faults_match_pages(self, faults: int, slack: float = 0.02) -> bool:
        """About one fault per page written: within `slack` of the page count (a few more are the stack's)."""
        return abs(faults - self.pages) <= max(16, slack * self.pages)


def writes_after_fork(size_mib: int = 64, timeout: float = 60.0) -> WritesAfterFork:
    """The parent's own bill after fork(): its pages are write-protected too (see WritesAfterFork)."""
    sizes, _ = _sizes_within_reach([size_mib])
    if not sizes or 2 * sizes[0] > largest_allowed_mib():      # parent and child end up with a copy each
        raise ValueError(f"{size_mib} MiB twice (the parent's pages and their copies) is more than a quarter of the "
                         f"memory this machine can spare now ({largest_allowed_mib()} MiB); choose a smaller size_mib")
    with tempfile.TemporaryDirectory(prefix="forklab-cost-") as tmp:
        meter = _meter(Path(tmp))
        words = next(w for w in _run_meter([meter, "writes", sizes[0]], timeout) if w[0] == "writes")
    mib, pages, uf, uns, fns, pf, pns, cf, cns = (int(w) for w in words[1:])
    return WritesAfterFork(mib, pages, uf, uns / 1000, fns / 1000, pf, pns / 1000, cf, cns / 1000)


def _max_map_count() -> int | None:
    return machine().max_map_count


def main(argv=None) -> int:
    """make bench: the cost model's figures on this machine (what notebook 17 prints, with more runs)."""
    import argparse
    parser = argparse.ArgumentParser(description="fork, vfork, clone(VM|VFORK), fork+exec, posix_spawn and "
                                                 "subprocess against the parent's size: create and teardown, µs")
    parser.add_argument("--sizes", default="2,16,64,256", help="parent sizes in MiB, comma-separated")
    parser.add_argument("--repeats", type=int, default=11)
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    table = measure(sizes_mib=sizes, repeats=args.repeats)
    print(table.table())
    print(subprocess_cost(sizes_mib=(sizes[0], sizes[-1]), repeats=args.repeats).table())
    if len(table.sizes()) >= 2:
        fixed, per_mib = table.fit("fork")
        print(f"fork create: {fixed:.0f} µs for the {table.sizes()[0]} MiB parent + {per_mib:.1f} µs per further MiB "
              f"(transparent huge pages: {table.thp}, used: {table.huge_pages_used()})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
