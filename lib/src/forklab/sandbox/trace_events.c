/* trace_events: forklab's process-event recorder (issue 22, "a process has one tracer").
 *
 *     trace_events [--max-procs N] [--timeout SECONDS] [--registers] OUTFILE -- PROGRAM ARGS...
 *
 * Runs PROGRAM under ptrace and follows every process and thread it creates. Each event is one JSON line
 * in OUTFILE: its time (CLOCK_MONOTONIC, ns, taken when the tracer sees the stop), the process (pid) and the
 * lane (tid), and what happened: a creation (fork, vfork, clone, clone3 with its flags), an exec, a signal
 * sent or delivered, a write to fd 1 or 2 (the bytes), a pipe read or write, a reap, an exit with the
 * process's page faults and CPU time. forklab.sandbox.trace_events compiles it, runs it and reads the lines.
 *
 * Exit codes: 0 traced to the end, 2 bad usage, 3 ptrace refused here (the reason is printed and recorded),
 * 4 the timeout passed, 5 the process cap was reached (everything was killed), 1 anything else.
 *
 * Kernel behaviour relied on is from ptrace(2) and kernel/ptrace.c; each use says why in a comment. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <elf.h>
#include <linux/audit.h>

enum { EXIT_USAGE = 2, EXIT_REFUSED = 3, EXIT_TIMEOUT = 4, EXIT_CAP = 5 };
#define MAX_BYTES 4096            /* bytes of one write kept in the record; its full length is recorded too */
#define MAX_PATH 4096

/* ---------------------------------------------------------------- the record ------------------------- */

static FILE *out;
static long events;

static long long now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long) t.tv_sec * 1000000000LL + t.tv_nsec;
}

/* Every line starts the same way: time, event name, process and lane. The caller adds fields and "}\n". */
static void begin(const char *event, pid_t pid, pid_t tid)
{
    events++;
    fprintf(out, "{\"t\": %lld, \"event\": \"%s\", \"pid\": %d, \"tid\": %d", now_ns(), event, pid, tid);
}

static void end(void)
{
    fputs("}\n", out);
}

/* Bytes as a JSON string, one character per byte (\u00XX above 0x7e): Python gets the exact bytes back
 * with .encode("latin-1"), whatever the program wrote (UTF-8 or not). */
static void json_bytes(const char *key, const unsigned char *b, size_t n)
{
    fprintf(out, ", \"%s\": \"", key);
    for (size_t i = 0; i < n; i++) {
        unsigned c = b[i];
        if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c < 0x20 || c > 0x7e)
            fprintf(out, "\\u%04x", c);
        else
            fputc(c, out);
    }
    fputc('"', out);
}

static const char *signal_name(int sig)
{
    static const char *names[] = {
        "0", "SIGHUP", "SIGINT", "SIGQUIT", "SIGILL", "SIGTRAP", "SIGABRT", "SIGBUS", "SIGFPE", "SIGKILL",
        "SIGUSR1", "SIGSEGV", "SIGUSR2", "SIGPIPE", "SIGALRM", "SIGTERM", "SIGSTKFLT", "SIGCHLD", "SIGCONT",
        "SIGSTOP", "SIGTSTP", "SIGTTIN", "SIGTTOU", "SIGURG", "SIGXCPU", "SIGXFSZ", "SIGVTALRM", "SIGPROF",
        "SIGWINCH", "SIGIO", "SIGPWR", "SIGSYS"};
    static char rt[16];
    if (sig >= 0 && sig < (int) (sizeof names / sizeof names[0]))
        return names[sig];
    snprintf(rt, sizeof rt, "SIGRT%d", sig);
    return rt;
}

/* ---------------------------------------------------------------- the lanes -------------------------- */

/* One lane per task the tracer follows: a process (tid == pid) or a thread (CLONE_THREAD). */
struct lane {
    pid_t tid, pid;
    int seen;                     /* its first stop has been handled: a later PTRACE_EVENT_STOP is a group-stop */
    int in_syscall;               /* between syscall-enter and syscall-exit stops */
    long nr;                      /* the system call it is in */
    unsigned long long args[6];   /* its arguments, saved at entry (the return value overwrites arg 0 on arm64) */
    char path[MAX_PATH];          /* execve's path, read at entry: after a successful exec it is gone */
    long long exec_called;        /* when execve was entered: a vfork parent is released inside the call */
    int exited;                   /* its exit event was recorded */
    pid_t ppid_at_exit;
};

static struct lane *lanes;
static int nlanes, max_procs = 64, lanes_room;

static struct lane *find(pid_t tid)
{
    for (int i = 0; i < nlanes; i++)
        if (lanes[i].tid == tid)
            return &lanes[i];
    return NULL;
}

static struct lane *add(pid_t tid, pid_t pid)
{
    struct lane *l = find(tid);
    if (l)
        return l;
    if (nlanes == lanes_room)
        return NULL;
    l = &lanes[nlanes++];
    memset(l, 0, sizeof *l);
    l->tid = tid;
    l->pid = pid;
    return l;
}

static void drop(pid_t tid)
{
    struct lane *l = find(tid);
    if (l)
        *l = lanes[--nlanes];
}

/* ---------------------------------------------------------------- reading the tracee ----------------- */

/* process_vm_readv first (one call, no fd); /proc/PID/mem where it is refused. Both need the same
 * ptrace access the tracer already has (ptrace(2): "ptrace access mode checking"). */
static ssize_t peek(pid_t tid, unsigned long long addr, void *buf, size_t len)
{
    struct iovec local = {buf, len}, remote = {(void *) (uintptr_t) addr, len};
    ssize_t n = process_vm_readv(tid, &local, 1, &remote, 1, 0);
    if (n >= 0)
        return n;
    char file[64];
    snprintf(file, sizeof file, "/proc/%d/mem", tid);
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    n = pread(fd, buf, len, (off_t) addr);
    close(fd);
    return n;
}

/* A NUL-terminated string, read a page at a time (a read that crosses into an unmapped page fails). */
static void peek_string(pid_t tid, unsigned long long addr, char *buf, size_t room)
{
    size_t got = 0;
    buf[0] = 0;
    while (got + 1 < room) {
        size_t chunk = 4096 - ((addr + got) % 4096);
        if (chunk > room - 1 - got)
            chunk = room - 1 - got;
        ssize_t n = peek(tid, addr + got, buf + got, chunk);
        if (n <= 0)
            break;
        buf[got + n] = 0;
        if (memchr(buf + got, 0, n))
            return;
        got += n;
    }
    buf[got] = 0;
}

/* /proc/PID/stat fields after the command name: the state is field 3 (proc(5)). */
struct stat_fields { pid_t ppid; unsigned long minflt, majflt, utime, stime; };

static int read_stat(const char *file, struct stat_fields *s)
{
    char text[1024];
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, text, sizeof text - 1);
    close(fd);
    if (n <= 0)
        return -1;
    text[n] = 0;
    char *after = strrchr(text, ')');     /* the command name may hold spaces and ')' */
    if (!after)
        return -1;
    return sscanf(after + 2, "%*c %d %*d %*d %*d %*d %*u %lu %*u %lu %*u %lu %lu",
                  &s->ppid, &s->minflt, &s->majflt, &s->utime, &s->stime) == 5 ? 0 : -1;
}

/* "pipe:[12345]" -> 12345: which pipe an fd is, so a write and the read that gets its bytes can be paired. */
static unsigned long pipe_of(pid_t tid, long long fd)
{
    char link[64], target[64];
    snprintf(link, sizeof link, "/proc/%d/fd/%lld", tid, fd);
    ssize_t n = readlink(link, target, sizeof target - 1);
    if (n <= 0)
        return 0;
    target[n] = 0;
    unsigned long ino = 0;
    return sscanf(target, "pipe:[%lu]", &ino) == 1 ? ino : 0;
}

/* ---------------------------------------------------------------- system calls ----------------------- */

/* PTRACE_GET_SYSCALL_INFO (Linux 5.3, ptrace(2)) says entry or exit and gives number, arguments and return
 * value on every architecture. Older kernels (RHEL 8's 4.18) answer EIO: then the registers are read and
 * entry/exit is the lane's own toggle (ptrace(2), "Syscall-stops": the stops alternate). */
static int use_registers;

/* The kernel's struct ptrace_syscall_info (include/uapi/linux/ptrace.h), spelled out so that a C library
 * older than the kernel (glibc < 2.32) still compiles this. */
#define GET_SYSCALL_INFO 0x420e
#if defined(__x86_64__)
#define NATIVE_ARCH AUDIT_ARCH_X86_64
#else
#define NATIVE_ARCH AUDIT_ARCH_AARCH64
#endif
struct syscall_info {
    uint8_t op;                   /* 1 entry, 2 exit, 3 seccomp */
    uint8_t pad[3];
    uint32_t arch;
    uint64_t ip, sp;
    union {
        struct { uint64_t nr, args[6]; } entry;
        struct { int64_t rval; uint8_t is_error; } exit;
    };
};

struct call { int entry; long nr; unsigned long long args[6]; long long ret; };

static int registers(pid_t tid, struct lane *l, struct call *c)
{
    c->entry = !l->in_syscall;
#if defined(__x86_64__)
    struct user_regs_struct r;
    if (ptrace(PTRACE_GETREGS, tid, 0, &r) < 0)
        return -1;
    c->nr = (long) r.orig_rax;
    unsigned long long a[6] = {r.rdi, r.rsi, r.rdx, r.r10, r.r8, r.r9};
    memcpy(c->args, a, sizeof a);
    c->ret = (long long) r.rax;
#elif defined(__aarch64__)
    struct user_regs_struct r;             /* glibc's sys/user.h: regs[31], sp, pc, pstate */
    struct iovec v = {&r, sizeof r};
    if (ptrace(PTRACE_GETREGSET, tid, (void *) NT_PRSTATUS, &v) < 0)
        return -1;
    c->nr = (long) r.regs[8];
    memcpy(c->args, r.regs, sizeof c->args);
    c->ret = (long long) r.regs[0];
#else
#error "trace_events reads system calls on x86_64 and aarch64 only"
#endif
    return 0;
}

static int syscall_info(pid_t tid, struct lane *l, struct call *c)
{
    struct syscall_info info;
    if (use_registers)
        return registers(tid, l, c);
    if (ptrace(GET_SYSCALL_INFO, tid, (void *) sizeof info, &info) <= 0) {
        if (errno != EIO && errno != EINVAL)
            return -1;
        use_registers = 1;
        return registers(tid, l, c);
    }
    c->entry = info.op == 1;
    if (c->entry) {
        /* A 32-bit program (x86_64's int 0x80) numbers its calls differently: read none of them. */
        c->nr = info.arch == NATIVE_ARCH ? (long) info.entry.nr : -1;
        memcpy(c->args, info.entry.args, sizeof c->args);
    } else {
        c->nr = l->nr;
        c->ret = info.exit.rval;
    }
    return 0;
}

static const char *creation_call(long nr)
{
#ifdef SYS_fork
    if (nr == SYS_fork) return "fork";
#endif
#ifdef SYS_vfork
    if (nr == SYS_vfork) return "vfork";
#endif
#ifdef SYS_clone3
    if (nr == SYS_clone3) return "clone3";
#endif
    return "clone";
}

/* ---------------------------------------------------------------- the events ------------------------- */

static const struct { unsigned long long bit; const char *name; } clone_flags[] = {
    {0x00000100, "CLONE_VM"}, {0x00000200, "CLONE_FS"}, {0x00000400, "CLONE_FILES"},
    {0x00000800, "CLONE_SIGHAND"}, {0x00001000, "CLONE_PIDFD"}, {0x00002000, "CLONE_PTRACE"},
    {0x00004000, "CLONE_VFORK"}, {0x00008000, "CLONE_PARENT"}, {0x00010000, "CLONE_THREAD"},
    {0x00020000, "CLONE_NEWNS"}, {0x00040000, "CLONE_SYSVSEM"}, {0x00080000, "CLONE_SETTLS"},
    {0x00100000, "CLONE_PARENT_SETTID"}, {0x00200000, "CLONE_CHILD_CLEARTID"}, {0x00400000, "CLONE_DETACHED"},
    {0x00800000, "CLONE_UNTRACED"}, {0x01000000, "CLONE_CHILD_SETTID"}, {0x02000000, "CLONE_NEWCGROUP"},
    {0x04000000, "CLONE_NEWUTS"}, {0x08000000, "CLONE_NEWIPC"}, {0x10000000, "CLONE_NEWUSER"},
    {0x20000000, "CLONE_NEWPID"}, {0x40000000, "CLONE_NEWNET"}, {0x80000000ULL, "CLONE_IO"},
    {0x100000000ULL, "CLONE_CLEAR_SIGHAND"}, {0x200000000ULL, "CLONE_INTO_CGROUP"},
};

/* clone() packs the exit signal in the low byte of flags (CSIGNAL); clone3() has a field for it, and there
 * 0x80 is CLONE_NEWTIME (include/uapi/linux/sched.h). fork and vfork pass no flags: say what they mean. */
static void creation_flags(pid_t tid, struct lane *parent, unsigned long long *flags, int *exit_signal)
{
    const char *call = creation_call(parent->nr);
    if (!strcmp(call, "clone3")) {
        unsigned long long args[5] = {0};   /* struct clone_args: flags, pidfd, child_tid, parent_tid, exit_signal */
        peek(tid, parent->args[0], args, sizeof args);
        *flags = args[0];
        *exit_signal = (int) args[4];
    } else if (!strcmp(call, "clone")) {
        *flags = parent->args[0] & ~0xffULL;
        *exit_signal = (int) (parent->args[0] & 0xff);
    } else {
        *flags = !strcmp(call, "vfork") ? 0x4100 : 0;     /* vfork = CLONE_VM|CLONE_VFORK (kernel/fork.c) */
        *exit_signal = SIGCHLD;
    }
}

static void record_creation(pid_t tid, struct lane *parent, int event, pid_t child)
{
    unsigned long long flags;
    int exit_signal;
    creation_flags(tid, parent, &flags, &exit_signal);
    int thread = (flags & 0x00010000) != 0;
    begin("create", parent->pid, tid);
    fprintf(out, ", \"call\": \"%s\", \"ptrace_event\": \"%s\", \"child\": %d, \"thread\": %s, \"flags\": [",
            creation_call(parent->nr),
            event == PTRACE_EVENT_FORK ? "fork" : event == PTRACE_EVENT_VFORK ? "vfork" : "clone",
            child, thread ? "true" : "false");
    const char *sep = "";
    if (!strcmp(creation_call(parent->nr), "clone3") && (flags & 0x80)) {
        fputs("\"CLONE_NEWTIME\"", out);
        sep = ", ";
    }
    for (size_t i = 0; i < sizeof clone_flags / sizeof clone_flags[0]; i++)
        if (flags & clone_flags[i].bit) {
            fprintf(out, "%s\"%s\"", sep, clone_flags[i].name);
            sep = ", ";
        }
    fprintf(out, "], \"exit_signal\": \"%s\"", exit_signal ? signal_name(exit_signal) : "none");
    end();
    struct lane *l = add(child, thread ? parent->pid : child);
    if (l)
        l->pid = thread ? parent->pid : child;   /* the child's first stop may have come before this event */
}

static void record_exit(pid_t tid, struct lane *l, int status)
{
    char file[64];
    struct stat_fields s;
    int ok;
    /* A process's figures include its dead threads (proc(5)); a thread's lane shows its own. */
    if (tid == l->pid)
        snprintf(file, sizeof file, "/proc/%d/stat", tid);
    else
        snprintf(file, sizeof file, "/proc/%d/task/%d/stat", l->pid, tid);
    ok = read_stat(file, &s) == 0;
    begin("exit", l->pid, tid);
    fprintf(out, ", \"thread\": %s", tid != l->pid ? "true" : "false");
    if (WIFSIGNALED(status))
        fprintf(out, ", \"status\": null, \"signal\": \"%s\"", signal_name(WTERMSIG(status)));
    else
        fprintf(out, ", \"status\": %d, \"signal\": null", WEXITSTATUS(status));
    if (ok) {
        long tick = sysconf(_SC_CLK_TCK);
        fprintf(out, ", \"ppid\": %d, \"minflt\": %lu, \"majflt\": %lu, \"utime_ns\": %lld, \"stime_ns\": %lld",
                s.ppid, s.minflt, s.majflt, (long long) s.utime * 1000000000LL / tick,
                (long long) s.stime * 1000000000LL / tick);
        l->ppid_at_exit = s.ppid;
    }
    end();
    l->exited = 1;
}

/* The output files whose writes are put in order (see hold_write): one at a time, identified by inode. */
static struct { pid_t writer; dev_t dev; ino_t ino; pid_t held[4096]; int nheld; } output;

static void record_write(pid_t tid, struct lane *l, long long ret)
{
    int fd = (int) l->args[0];
    unsigned long pipe = pipe_of(tid, fd);
    if (fd != 1 && fd != 2) {
        if (pipe && ret >= 0) {
            begin("pipe_write", l->pid, tid);
            fprintf(out, ", \"fd\": %d, \"pipe\": %lu, \"len\": %lld", fd, pipe, ret);
            end();
        }
        return;
    }
    unsigned char bytes[MAX_BYTES];
    size_t keep = ret > 0 ? (size_t) (ret < MAX_BYTES ? ret : MAX_BYTES) : 0;
    ssize_t got = keep ? peek(tid, l->args[1], bytes, keep) : 0;
    begin("write", l->pid, tid);
    fprintf(out, ", \"fd\": %d, \"len\": %lld", fd, ret);
    if (pipe)
        fprintf(out, ", \"pipe\": %lu", pipe);
    json_bytes("bytes", bytes, got > 0 ? (size_t) got : 0);
    end();
}

static void record_read(pid_t tid, struct lane *l, long long ret)
{
    unsigned long pipe = pipe_of(tid, (long long) l->args[0]);
    if (!pipe || ret < 0)
        return;
    begin("pipe_read", l->pid, tid);
    fprintf(out, ", \"fd\": %d, \"pipe\": %lu, \"len\": %lld", (int) l->args[0], pipe, ret);
    end();
}

static void record_signal_sent(pid_t tid, struct lane *l)
{
    long nr = l->nr;
    long long target = (long long) l->args[0];
    int sig = (int) l->args[1];
    const char *call = nr == SYS_kill ? "kill" : nr == SYS_tkill ? "tkill" : "tgkill";
    if (nr == SYS_tgkill) {
        target = (long long) l->args[1];
        sig = (int) l->args[2];
    }
    begin("signal_sent", l->pid, tid);
    fprintf(out, ", \"call\": \"%s\", \"target\": %lld, \"signal\": \"%s\"", call, target, signal_name(sig));
    end();
}

/* A wait that returned a pid reaped it, unless it only reported a stop or a continue (WUNTRACED,
 * WCONTINUED: the status says) or WNOWAIT left it a zombie (waitid(2)). */
static void record_reap(pid_t tid, struct lane *l, long long ret)
{
    pid_t child = 0;
    if (l->nr == SYS_wait4 && ret > 0) {
        int status = 0;
        if (l->args[1] && peek(tid, l->args[1], &status, sizeof status) == sizeof status &&
            !WIFEXITED(status) && !WIFSIGNALED(status))
            return;
        child = (pid_t) ret;
    } else if (l->nr == SYS_waitid && ret == 0 && l->args[2] && !(l->args[3] & WNOWAIT)) {
        siginfo_t info;
        if (peek(tid, l->args[2], &info, sizeof info) != sizeof info)
            return;
        if (info.si_code != CLD_EXITED && info.si_code != CLD_KILLED && info.si_code != CLD_DUMPED)
            return;
        child = info.si_pid;
    }
    if (child <= 0)
        return;
    /* What the wait asked for, as wait4's pid argument (wait(2)): -1 any child, 0 or below -1 a process
     * group, above 0 that child. waitid's P_ALL is -1, P_PGID -id (0: the caller's group), P_PID and
     * P_PIDFD (one child) the child. An order model branches over the children a wait could have returned. */
    long long asked = (int) l->args[0];
    if (l->nr == SYS_waitid)
        asked = l->args[0] == P_ALL ? -1 : l->args[0] == P_PGID ? -(long long) (int) l->args[1] : child;
    begin("reap", l->pid, tid);
    fprintf(out, ", \"call\": \"%s\", \"child\": %d, \"asked\": %lld", l->nr == SYS_wait4 ? "wait4" : "waitid",
            child, asked);
    end();
}

static void record_exec_failed(pid_t tid, struct lane *l, long long ret)
{
    begin("exec_failed", l->pid, tid);
    json_bytes("path", (unsigned char *) l->path, strlen(l->path));
    fprintf(out, ", \"errno\": %lld", -ret);
    end();
}

/* ---------------------------------------------------------------- writes in their real order --------- */

/* The tracer sees stops in its own order, not the kernel's: two processes writing to the same pipe could be
 * recorded in the wrong order. So while one lane is inside a write to an output file, another lane that
 * enters a write to that same file is held at its syscall-enter stop and resumed when the first write
 * returns: the recorded order of writes to one output is the order their bytes reached it. */
static int same_output(pid_t tid, int fd, dev_t *dev, ino_t *ino)
{
    char link[64];
    struct stat st;
    snprintf(link, sizeof link, "/proc/%d/fd/%d", tid, fd);
    if (stat(link, &st) < 0)
        return 0;
    *dev = st.st_dev;
    *ino = st.st_ino;
    return 1;
}

/* Returns 1 when the lane must wait (it stays stopped; release_write resumes it). */
static int hold_write(pid_t tid, int fd)
{
    dev_t dev;
    ino_t ino;
    if ((fd != 1 && fd != 2) || !same_output(tid, fd, &dev, &ino))
        return 0;
    if (!output.writer) {
        output.writer = tid;
        output.dev = dev;
        output.ino = ino;
        return 0;
    }
    if (dev != output.dev || ino != output.ino || output.nheld == 4096)
        return 0;
    output.held[output.nheld++] = tid;
    return 1;
}

static void release_write(pid_t tid)
{
    for (int i = 0; i < output.nheld; i++)
        if (output.held[i] == tid) {        /* a held lane that died */
            output.held[i] = output.held[--output.nheld];
            return;
        }
    if (output.writer != tid)
        return;
    output.writer = 0;
    if (output.nheld) {
        output.writer = output.held[0];
        memmove(output.held, output.held + 1, --output.nheld * sizeof output.held[0]);
        ptrace(PTRACE_SYSCALL, output.writer, 0, 0);
    }
}

/* ---------------------------------------------------------------- stops ------------------------------ */

static int syscall_stop(pid_t tid, struct lane *l)
{
    struct call c;
    if (syscall_info(tid, l, &c) < 0)
        return 0;
    if (c.entry) {
        l->in_syscall = 1;
        l->nr = c.nr;
        memcpy(l->args, c.args, sizeof l->args);
        if (c.nr == SYS_execve || c.nr == SYS_execveat)
            l->exec_called = now_ns();
        if (c.nr == SYS_execve || c.nr == SYS_execveat)
            peek_string(tid, c.args[c.nr == SYS_execve ? 0 : 1], l->path, sizeof l->path);
        if (c.nr == SYS_kill || c.nr == SYS_tkill || c.nr == SYS_tgkill)
            record_signal_sent(tid, l);   /* at entry: the sending happens before any delivery it causes */
        if (c.nr == SYS_write)
            return hold_write(tid, (int) c.args[0]);
        return 0;
    }
    l->in_syscall = 0;
    if (l->nr == SYS_write) {
        record_write(tid, l, c.ret);
        release_write(tid);
    } else if (l->nr == SYS_read)
        record_read(tid, l, c.ret);
    else if (l->nr == SYS_wait4 || l->nr == SYS_waitid)
        record_reap(tid, l, c.ret);
    else if ((l->nr == SYS_execve || l->nr == SYS_execveat) && c.ret < 0)
        record_exec_failed(tid, l, c.ret);
    return 0;
}

/* PTRACE_EVENT_EXEC: the exec succeeded. In a multi-threaded process the exec'ing thread takes the leader's
 * id and every other thread is gone (ptrace(2), "execve(2) under ptrace"); GETEVENTMSG gives its former id. */
static void exec_stop(pid_t tid, struct lane *l)
{
    unsigned long former = 0;
    ptrace(PTRACE_GETEVENTMSG, tid, 0, &former);
    struct lane *was = find((pid_t) former);
    if (was && was != l) {
        memcpy(l->path, was->path, sizeof l->path);
        l->exec_called = was->exec_called;
        drop((pid_t) former);
        l = find(tid);
    }
    l->in_syscall = 1;                 /* the execve's syscall-exit stop is still to come */
    l->nr = SYS_execve;
    begin("exec", l->pid, tid);
    json_bytes("path", (unsigned char *) l->path, strlen(l->path));
    fprintf(out, ", \"former_tid\": %lu, \"called\": %lld", former, l->exec_called);
    end();
}

static int limit_hit, killing;

/* SIGKILL ends a lane even in a ptrace-stop. A child whose fork was under way shows up later as a new
 * lane: handle_stop kills it then (killing stays set). */
static void kill_everything(void)
{
    killing = 1;
    for (int i = 0; i < nlanes; i++)
        kill(lanes[i].tid, SIGKILL);
}

/* More lanes than --max-procs: say so once, and kill everything (a fork bomb stops here). */
static void cap_reached(pid_t pid, pid_t tid)
{
    if (!limit_hit) {
        begin("limit", pid, tid);
        fprintf(out, ", \"why\": \"max_procs\", \"max_procs\": %d", max_procs);
        end();
    }
    limit_hit = 1;
    kill_everything();
}

static void creation_stop(pid_t tid, struct lane *l, int event)
{
    unsigned long child = 0;
    ptrace(PTRACE_GETEVENTMSG, tid, 0, &child);
    record_creation(tid, l, event, (pid_t) child);
    if (!find((pid_t) child) || nlanes > max_procs) {
        kill((pid_t) child, SIGKILL);
        cap_reached(l->pid, tid);
    }
}

/* Under PTRACE_SEIZE a new child's first stop and a group-stop are both PTRACE_EVENT_STOP (ptrace(2),
 * "Group-stop"); the end of a group-stop (SIGCONT) is PTRACE_EVENT_STOP with SIGTRAP. A group-stop is
 * left stopped with PTRACE_LISTEN, as it would be without a tracer. */
static int event_stop(pid_t tid, struct lane *l, int sig)
{
    if (!l->seen)
        return 0;
    if (sig == SIGTRAP) {
        begin("continued", l->pid, tid);
        end();
        return 0;
    }
    begin("stopped", l->pid, tid);
    fprintf(out, ", \"signal\": \"%s\"", signal_name(sig));
    end();
    ptrace(PTRACE_LISTEN, tid, 0, 0);
    return 1;
}

/* A signal-delivery-stop: the signal is about to be delivered. Record it and hand it back (re-inject). */
static int signal_stop(pid_t tid, struct lane *l, int sig)
{
    siginfo_t info;
    memset(&info, 0, sizeof info);
    ptrace(PTRACE_GETSIGINFO, tid, 0, &info);
    begin("signal", l->pid, tid);
    fprintf(out, ", \"signal\": \"%s\", \"from\": %d, \"code\": %d", signal_name(sig),
            info.si_code <= 0 || sig == SIGCHLD ? info.si_pid : 0, info.si_code);
    end();
    return sig;
}

/* One stop of one lane: record what it means, then resume it (with the signal to deliver, if any). */
static void handle_stop(pid_t tid, int status)
{
    struct lane *l = find(tid);
    if (!l && !killing && !(l = add(tid, tid)))   /* a new child's first stop, before its creator's event */
        cap_reached(0, tid);
    if (killing) {                    /* a killed lane may still stop at PTRACE_EVENT_EXIT: let it go on */
        kill(tid, SIGKILL);
        ptrace(PTRACE_CONT, tid, 0, 0);
        return;
    }
    int sig = WSTOPSIG(status), event = (unsigned) status >> 16, inject = 0;
    if (sig == (SIGTRAP | 0x80)) {
        if (syscall_stop(tid, l))
            return;
    } else if (event == PTRACE_EVENT_FORK || event == PTRACE_EVENT_VFORK || event == PTRACE_EVENT_CLONE) {
        creation_stop(tid, l, event);
        l = find(tid);
    } else if (event == PTRACE_EVENT_VFORK_DONE) {
        begin("vfork_done", l->pid, tid);
        end();
    } else if (event == PTRACE_EVENT_EXEC) {
        exec_stop(tid, l);
        l = find(tid);
    } else if (event == PTRACE_EVENT_EXIT) {
        unsigned long code = 0;
        ptrace(PTRACE_GETEVENTMSG, tid, 0, &code);
        record_exit(tid, l, (int) code);
    } else if (event == PTRACE_EVENT_STOP) {
        if (event_stop(tid, l, sig))
            return;
    } else {
        inject = signal_stop(tid, l, sig);
    }
    if (l)
        l->seen = 1;
    ptrace(PTRACE_SYSCALL, tid, 0, (void *) (long) inject);
}

static void record_tracer_reap(pid_t tid)
{
    begin("reap", 0, 0);
    fprintf(out, ", \"call\": \"tracer\", \"child\": %d", tid);
    end();
}

/* The wait status says a lane is gone. Its exit event was recorded at PTRACE_EVENT_EXIT, except when a
 * SIGKILL ended it before that stop could happen. The tracer's wait reaped it if the tracer is its parent:
 * the program, or an orphan given to the tracer as subreaper (prctl(2) PR_SET_CHILD_SUBREAPER). Otherwise
 * it stays a zombie for its real parent (ptrace(2): the tracer is told first), and if that parent dies
 * first the zombie comes to the tracer, whose wait reports it a second time: that is the reap. */
static void handle_gone(pid_t tid, int status)
{
    struct lane *l = find(tid);
    if (!l) {
        record_tracer_reap(tid);
        return;
    }
    if (!l->exited)
        record_exit(tid, l, status);
    int mine = l->ppid_at_exit ? l->ppid_at_exit == getpid() : kill(tid, 0) < 0;
    if (tid == l->pid && mine)
        record_tracer_reap(tid);
    release_write(tid);
    drop(tid);
}

/* ---------------------------------------------------------------- start and refusal ------------------ */

static volatile sig_atomic_t timed_out;

static void on_alarm(int sig)
{
    timed_out = 1;
}

/* Why PTRACE_SEIZE failed, in one sentence a student can act on. */
static void explain_refusal(pid_t child, int err, char *why, size_t room)
{
    char file[64], line[256];
    int tracer = 0, scope = -1, seccomp = 0;
    snprintf(file, sizeof file, "/proc/%d/status", child);
    FILE *f = fopen(file, "re");
    while (f && fgets(line, sizeof line, f))
        sscanf(line, "TracerPid: %d", &tracer);
    if (f)
        fclose(f);
    f = fopen("/proc/self/status", "re");
    while (f && fgets(line, sizeof line, f))
        sscanf(line, "Seccomp: %d", &seccomp);
    if (f)
        fclose(f);
    f = fopen("/proc/sys/kernel/yama/ptrace_scope", "re");
    if (f && fscanf(f, "%d", &scope) != 1)
        scope = -1;
    if (f)
        fclose(f);
    if (tracer)
        snprintf(why, room, "the program is already traced by process %d (a debugger or strace follows this "
                 "process's children), and a process has only one tracer", tracer);
    else if (scope == 3)
        snprintf(why, room, "this machine forbids ptrace to everyone (kernel.yama.ptrace_scope = 3)");
    else if (scope == 2)
        snprintf(why, room, "this machine allows ptrace only with CAP_SYS_PTRACE (kernel.yama.ptrace_scope = 2)");
    else if (seccomp == 2)
        snprintf(why, room, "a seccomp filter on this process refuses ptrace (a container's profile)");
    else
        snprintf(why, room, "the kernel refused ptrace here (%s)", strerror(err));
}

/* The program's process: stop itself so the tracer can seize it before it runs a single instruction of
 * PROGRAM, then exec it. A seized, stopped task re-traps as PTRACE_EVENT_STOP (kernel/ptrace.c,
 * ptrace_attach). */
static pid_t start(char **argv)
{
    pid_t child = fork();
    if (child == 0) {
        raise(SIGSTOP);
        execvp(argv[0], argv);
        fprintf(stderr, "trace_events: cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    return child;
}

static int seize(pid_t child)
{
    int status;
    if (waitpid(child, &status, WUNTRACED) != child || !WIFSTOPPED(status))
        return -1;
    long options = PTRACE_O_TRACESYSGOOD | PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK | PTRACE_O_TRACECLONE |
                   PTRACE_O_TRACEEXEC | PTRACE_O_TRACEEXIT | PTRACE_O_TRACEVFORKDONE | PTRACE_O_EXITKILL;
    if (ptrace(PTRACE_SEIZE, child, 0, (void *) options) < 0)
        return errno;
    if (waitpid(child, &status, __WALL) != child)
        return -1;
    return ptrace(PTRACE_SYSCALL, child, 0, 0) < 0 ? errno : 0;
}

static int refuse(pid_t child, int err)
{
    char why[300];
    explain_refusal(child, err, why, sizeof why);
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    fprintf(stderr, "trace_events: cannot trace the program: %s.\n", why);
    begin("refused", 0, 0);
    json_bytes("why", (unsigned char *) why, strlen(why));
    end();
    return EXIT_REFUSED;
}

/* ---------------------------------------------------------------- the loop --------------------------- */

/* Wait for stops until every lane is gone and every zombie left to the tracer is reaped (ECHILD). The timeout (and a signal to the tracer) kills everything; a
 * second, short alarm bounds the wait for the killed to be reported. */
static int trace(void)
{
    int code = 0, draining = 0;
    for (;;) {
        int status;
        pid_t tid = waitpid(-1, &status, __WALL);
        if (tid < 0 && errno == EINTR && timed_out) {
            if (draining)
                break;
            begin("limit", 0, 0);
            fputs(", \"why\": \"timeout\"", out);
            end();
            kill_everything();
            code = EXIT_TIMEOUT;
            draining = 1;
            timed_out = 0;
            alarm(2);
            continue;
        }
        if (tid < 0 && errno == ECHILD)
            break;
        if (tid < 0)
            continue;
        if (WIFSTOPPED(status))
            handle_stop(tid, status);
        else
            handle_gone(tid, status);
        if (limit_hit && !draining) {
            draining = 1;
            code = EXIT_CAP;
            alarm(2);
        }
    }
    return code;
}

static int usage(void)
{
    fprintf(stderr, "usage: trace_events [--max-procs N] [--timeout SECONDS] [--registers] OUTFILE -- "
            "PROGRAM [ARGS...]\n");
    return EXIT_USAGE;
}

int main(int argc, char **argv)
{
    unsigned timeout = 60;
    int i = 1;
    for (; i < argc && !strncmp(argv[i], "--", 2) && strcmp(argv[i], "--"); i++) {
        if (!strcmp(argv[i], "--max-procs") && i + 1 < argc)
            max_procs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--timeout") && i + 1 < argc)
            timeout = (unsigned) atoi(argv[++i]);
        else if (!strcmp(argv[i], "--registers"))
            use_registers = 1;
        else
            return usage();
    }
    if (i + 2 >= argc || strcmp(argv[i + 1], "--") || max_procs < 1 || max_procs > 4096 || timeout < 1)
        return usage();
    out = fopen(argv[i], "we");
    if (!out) {
        fprintf(stderr, "trace_events: cannot write %s: %s\n", argv[i], strerror(errno));
        return 1;
    }
    setvbuf(out, NULL, _IOLBF, 0);               /* every event is in the file even if the tracer is killed */
    lanes_room = max_procs + 1;
    lanes = calloc(lanes_room, sizeof *lanes);
    /* Orphans are given to the tracer rather than to init: it sees and reaps every process it follows. */
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    struct sigaction sa = {.sa_handler = on_alarm};   /* no SA_RESTART: waitpid returns EINTR */
    sigaction(SIGALRM, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    pid_t child = start(argv + i + 2);
    if (child < 0 || !lanes) {
        fprintf(stderr, "trace_events: cannot start the program: %s\n", strerror(errno));
        return 1;
    }
    alarm(timeout);
    int err = seize(child);
    if (err)
        return refuse(child, err < 0 ? EPERM : err);
    struct lane *root = add(child, child);
    root->seen = 1;
    begin("start", child, child);
    fprintf(out, ", \"tracer\": %d, \"registers\": %s", getpid(), use_registers ? "true" : "false");
    end();
    int code = trace();
    begin("end", 0, 0);
    fprintf(out, ", \"events\": %ld, \"registers\": %s", events, use_registers ? "true" : "false");
    end();
    fclose(out);
    return code;
}
