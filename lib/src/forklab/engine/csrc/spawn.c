/* spawn.c - the four ways to create the child.
 *
 *   fork()   a copy of the parent. glibc's fork() is clone(CLONE_CHILD_SETTID |
 *            CLONE_CHILD_CLEARTID | SIGCHLD) plus atfork handlers; we call _Fork(), the same
 *            system call without the handlers (they take locks another thread may hold).
 *   vfork()  the child borrows the parent's memory and the parent sleeps until the child
 *            _exit()s or execs. The child must not return from the function that called vfork.
 *   clone()  glibc's wrapper: the child starts in a function, on a stack we give it.
 *   clone3() the system call takes a struct clone_args (Linux 5.3). glibc has no wrapper for
 *            the "child starts in a function" form, so a few lines of assembly below do it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <unistd.h>
#include <sys/mman.h>
#include "spawn.h"
#include "child.h"
#include "parent.h"
#include "probes.h"

#define FL_STACK_SIZE (256 * 1024)

/* struct clone_args from <linux/sched.h> (Linux 5.3); written out so old headers work too. */
struct fl_clone_args {
    uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
};

pid_t fl_fork_process(void)
{
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
    return _Fork();
#else
    return (pid_t)syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
#endif
}

/* A stack for the child, with a guard page below it: the stack grows down, so an overflow
 * faults on the guard instead of silently writing over whatever lies below. */
static char *map_stack(size_t *size)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    char *p = mmap(NULL, FL_STACK_SIZE + page, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    if (mprotect(p, page, PROT_NONE) != 0) {     /* no guard, no child: an overflow must not go unseen */
        int saved = errno;
        munmap(p, FL_STACK_SIZE + page);
        errno = saved;
        return NULL;
    }
    *size = FL_STACK_SIZE + page;
    return p;
}

void fl_release_stack(struct fl_spawned *child, struct fl_result *r)
{
    /* A child that may still run (not reaped, not joined) may still be on this stack. */
    if (child->stack && r->waited)
        munmap(child->stack, child->stack_size);
}

static long do_fork(struct fl_experiment *e)
{
    pid_t pid = fl_fork_process();
    if (pid == 0)
        RAW1(SYS_exit_group, fl_child_main(e));
    return pid;
}

/* do_vfork and do_clone stay functions of their own (noinline), as CPython's _posixsubprocess.c
 * keeps its vfork in do_fork_exec: a vfork child runs on its parent's stack while the parent is
 * suspended, and a CLONE_VM child shares every byte of its memory. Inlined into fl_spawn, the
 * compiler could keep values the parent needs afterwards in stack slots or registers the child
 * is free to clobber; a separate frame bounds what the child can touch. */
__attribute__((noinline)) static long do_vfork(struct fl_experiment *e)
{
    pid_t pid = vfork();
    if (pid == 0)
        RAW1(SYS_exit_group, fl_child_main(e));   /* never return: we are on the parent's stack */
    return pid;
}

__attribute__((noinline)) static long do_clone(struct fl_experiment *e, struct fl_spawned *s)
{
    struct fl_result *r = e->res;
    /* CLONE_PIDFD and CLONE_PARENT_SETTID share clone()'s ptid argument (hence their EINVAL). */
    void *ptid = (e->flags & CLONE_PIDFD) ? (void *)&r->pidfd_from_clone : (void *)&e->ctl->parent_tid_word;
    s->stack = map_stack(&s->stack_size);
    if (!s->stack)
        return fl_setup_failed(r, "map the child's stack");
    /* Pass the TOP of the block: the stack grows down from there. */
    return clone(fl_child_main, s->stack + s->stack_size, (int)(e->flags | (uint64_t)e->req->exit_signal),
                 e, ptid, NULL, (void *)&e->ctl->child_tid_word);
}

#if defined(__x86_64__)
/* long fl_clone3_call(args, size, fn, arg): clone3, and in the child call fn(arg) on the new stack,
 * then exit this thread (SYS_exit, not exit_group: a CLONE_THREAD child must not end the process). */
__asm__(".text\n"
        ".globl fl_clone3_call\n"
        ".type fl_clone3_call,@function\n"
        "fl_clone3_call:\n"
        "  mov %rdx, %r8\n"         /* fn  - r8 and r9 survive the syscall */
        "  mov %rcx, %r9\n"         /* arg */
        "  mov $435, %eax\n"        /* SYS_clone3 */
        "  syscall\n"
        "  test %rax, %rax\n"
        "  jnz 1f\n"
        "  xor %ebp, %ebp\n"        /* child: outermost frame on the new stack */
        "  mov %r9, %rdi\n"
        "  call *%r8\n"
        "  mov %eax, %edi\n"
        "  mov $60, %eax\n"         /* SYS_exit */
        "  syscall\n"
        "  hlt\n"
        "1: ret\n");
#define FL_HAVE_CLONE3_CALL 1
#elif defined(__aarch64__)
__asm__(".text\n"
        ".globl fl_clone3_call\n"
        ".type fl_clone3_call,%function\n"
        "fl_clone3_call:\n"
        "  mov x8, #435\n"          /* SYS_clone3; x2 (fn) and x3 (arg) survive the svc */
        "  svc #0\n"
        "  cbnz x0, 1f\n"
        "  mov x29, xzr\n"
        "  mov x0, x3\n"
        "  blr x2\n"
        "  mov x8, #93\n"           /* SYS_exit */
        "  svc #0\n"
        "1: ret\n");
#define FL_HAVE_CLONE3_CALL 1
#endif
long fl_clone3_call(struct fl_clone_args *args, size_t size, int (*fn)(void *), void *arg);

static long do_clone3(struct fl_experiment *e, struct fl_spawned *s)
{
    struct fl_result *r = e->res;
    struct fl_clone_args args = {
        .flags = e->flags,
        .pidfd = (uint64_t)(uintptr_t)&r->pidfd_from_clone,
        .child_tid = (uint64_t)(uintptr_t)&e->ctl->child_tid_word,
        .parent_tid = (uint64_t)(uintptr_t)&e->ctl->parent_tid_word,
        .exit_signal = (uint64_t)e->req->exit_signal,
    };
    long ret;

    if (!(e->flags & CLONE_VM)) {
        /* No stack given: the child runs on its copy of ours and returns here, like fork(). */
        ret = RAW2(SYS_clone3, &args, sizeof args);
        if (ret == 0)
            RAW1(SYS_exit_group, fl_child_main(e));
        return ret;
    }
#ifdef FL_HAVE_CLONE3_CALL
    s->stack = map_stack(&s->stack_size);
    if (!s->stack) {
        fl_setup_failed(r, "map the child's stack");
        return -r->error;
    }
    args.stack = (uint64_t)(uintptr_t)s->stack;      /* clone3 takes the block and its size */
    args.stack_size = s->stack_size;
    return fl_clone3_call(&args, sizeof args, fl_child_main, e);
#else
    return -ENOSYS;
#endif
}

struct fl_spawned fl_spawn(struct fl_experiment *e)
{
    struct fl_spawned s = { .id = -1, .error = 0, .pidfd = -1 };
    struct fl_result *r = e->res;
    int64_t t0;

    r->pidfd_from_clone = -1;
    e->ctl->child_tid_word = 0xffffffffu;     /* so that "the kernel wrote/cleared it" is visible */
    e->ctl->parent_tid_word = 0xffffffffu;
    /* Whom the child will see as its parent (child.c checks it is still there). */
    e->child_parent = (e->flags & CLONE_NEWPID) ? 0
                    : (e->flags & (CLONE_PARENT | CLONE_THREAD)) ? getppid() : getpid();

    t0 = raw_now_ns();
    switch (e->req->primitive) {
    case FL_FORK:
        s.id = do_fork(e);
        break;
    case FL_VFORK:
        s.id = do_vfork(e);
        break;
    case FL_CLONE:
        s.id = do_clone(e, &s);
        break;
    case FL_CLONE3:
        s.id = do_clone3(e, &s);
        if (s.id < 0) {                   /* a raw system call returns -errno */
            errno = (int)-s.id;
            s.id = -1;
        }
        break;
    default:
        errno = EINVAL;
    }
    r->parent_resumed_ns = raw_now_ns();
    s.call_ns = r->parent_resumed_ns - t0;
    if (s.id < 0) {
        s.error = errno;
        if (s.stack)
            munmap(s.stack, s.stack_size);
        s.stack = NULL;
    }
    /* A kernel older than 5.2 ignores CLONE_PIDFD and leaves the word at -1: nothing relies on it. */
    if (s.id > 0 && (e->flags & CLONE_PIDFD))
        s.pidfd = r->pidfd_from_clone;
    return s;
}
