/* cow_meter.c - the copy-on-write meter: a child writes into its parent's pages, and we count.
   Run by forklab.meters.cow (measure(), faults_for_writes()) in the C cells' sandbox, compiled with runner's flags.
   Usage: cow_meter PAGES N|@OFFSET,OFFSET... ...   (one forked child per argument after PAGES)
   Prints "page SIZE", then per child "row WRITES FAULTS PRIVATE0 PRIVATE1 SHARED0 SHARED1" (KiB). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static char buf[8192];                      /* touched before fork: reading smaps costs no fault */

static long field(const char *name) {       /* a "Name:   123 kB" line of smaps_rollup, in KiB */
    int fd = open("/proc/self/smaps_rollup", O_RDONLY);
    if (fd < 0) return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return -1;
    buf[n] = 0;
    char *p = strstr(buf, name);
    return p ? strtol(p + strlen(name) + 1, NULL, 10) : -1;
}

static long minflt(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_minflt;
}

/* What the child writes, one experiment per argument: "N" is one byte in each of the first N pages;
   "@a,b,c" is one byte at each of those offsets (two in one page: still one copy). */
static long write_bytes(volatile char *region, long page, const char *what) {
    long writes = 0;
    if (what[0] != '@') {
        for (long k = atol(what); writes < k; writes++)
            region[writes * page] = 2;            /* first write to a shared page: a fault */
        return writes;
    }
    for (const char *p = what + 1; *p; writes++) {
        char *end;
        region[strtol(p, &end, 10)] = 2;
        p = *end == ',' ? end + 1 : end;
    }
    return writes;
}

int main(int argc, char **argv) {
    long page = sysconf(_SC_PAGESIZE), pages = atol(argv[1]);
    char *region = mmap(NULL, pages * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (region == MAP_FAILED) { perror("mmap"); return 1; }
    madvise(region, pages * page, MADV_NOHUGEPAGE);   /* 4 KiB pages: one write, one copied page */
    memset(region, 1, pages * page);                  /* every page now really exists */
    memset(buf, 0, sizeof buf);
    printf("page %ld\n", page);
    fflush(stdout);
    for (int i = 2; i < argc; i++) {
        pid_t pid = fork();
        if (pid < 0) { perror("fork"); return 1; }
        if (pid == 0) {
            /* getrusage() writes its answer onto our stack after counting: the first call may
               copy that stack page, so make it once before counting for real. */
            minflt();
            long priv0 = field("Private_Dirty:"), shared0 = field("Shared_Dirty:"), f0 = minflt();
            long n = write_bytes(region, page, argv[i]);
            long f1 = minflt(), priv1 = field("Private_Dirty:"), shared1 = field("Shared_Dirty:");
            printf("row %ld %ld %ld %ld %ld %ld\n", n, f1 - f0, priv0, priv1, shared0, shared1);
            fflush(stdout);
            _exit(0);
        }
        if (waitpid(pid, NULL, 0) < 0) { perror("waitpid"); return 1; }
    }
    return 0;
}
