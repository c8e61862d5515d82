/* raw.h - system calls that never touch errno, and small helpers built only on them.
 *
 * Why: a CLONE_VM child shares its parent's memory and, unless CLONE_SETTLS gives it its own,
 * its parent's thread-local storage too - errno included. glibc's syscall() and most wrappers
 * write errno on failure, and malloc/stdio take locks that the parent may hold. So the child
 * (and only the child) calls the kernel through these: the result is returned, -errno on failure,
 * and nothing else in memory changes. This is the discipline of CPython's _posixsubprocess.c.
 */
#ifndef FORKLAB_RAW_H
#define FORKLAB_RAW_H

#include <stdint.h>
#include <sys/syscall.h>
#include "kernel_compat.h"      /* the numbers older headers lack: pidfd_open, clone3, ... */

#if defined(__x86_64__)
static inline long raw_syscall6(long n, long a, long b, long c, long d, long e, long f)
{
    long ret;
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    register long r9 __asm__("r9") = f;
    __asm__ volatile ("syscall"
                      : "=a"(ret)
                      : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                      : "rcx", "r11", "memory");
    return ret;
}
#elif defined(__aarch64__)
static inline long raw_syscall6(long n, long a, long b, long c, long d, long e, long f)
{
    register long x8 __asm__("x8") = n;
    register long x0 __asm__("x0") = a;
    register long x1 __asm__("x1") = b;
    register long x2 __asm__("x2") = c;
    register long x3 __asm__("x3") = d;
    register long x4 __asm__("x4") = e;
    register long x5 __asm__("x5") = f;
    __asm__ volatile ("svc 0"
                      : "+r"(x0)
                      : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5)
                      : "memory");
    return x0;
}
#else
#error "forklab's raw system calls are written for x86_64 and aarch64 only"
#endif

#define RAW0(n)                raw_syscall6((n), 0, 0, 0, 0, 0, 0)
#define RAW1(n, a)             raw_syscall6((n), (long)(a), 0, 0, 0, 0, 0)
#define RAW2(n, a, b)          raw_syscall6((n), (long)(a), (long)(b), 0, 0, 0, 0)
#define RAW3(n, a, b, c)       raw_syscall6((n), (long)(a), (long)(b), (long)(c), 0, 0, 0)
#define RAW4(n, a, b, c, d)    raw_syscall6((n), (long)(a), (long)(b), (long)(c), (long)(d), 0, 0)
#define RAW5(n, a, b, c, d, e) raw_syscall6((n), (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), 0)

/* Futexes on a MAP_SHARED page: the plain (not FUTEX_PRIVATE_FLAG) operations, because the
 * waiter and the waker may be different processes. */
#define FL_FUTEX_WAIT 0
#define FL_FUTEX_WAKE 1

static inline int64_t raw_now_ns(void)
{
    struct { long sec, nsec; } ts;
    RAW2(SYS_clock_gettime, 1 /* CLOCK_MONOTONIC */, &ts);
    return (int64_t)ts.sec * 1000000000LL + ts.nsec;
}

/* Sleep until *word != expected, or until timeout_ns passes (whichever comes first). */
static inline void raw_futex_wait(volatile uint32_t *word, uint32_t expected, int64_t timeout_ns)
{
    struct { long sec, nsec; } ts;
    if (timeout_ns <= 0)
        return;
    ts.sec = timeout_ns / 1000000000LL;
    ts.nsec = timeout_ns % 1000000000LL;
    RAW4(SYS_futex, word, FL_FUTEX_WAIT, expected, &ts);
}

static inline void raw_futex_wake(volatile uint32_t *word)
{
    RAW3(SYS_futex, word, FL_FUTEX_WAKE, 0x7fffffff);
}

static inline void raw_sleep_ns(int64_t ns)
{
    struct { long sec, nsec; } ts = { ns / 1000000000LL, ns % 1000000000LL };
    RAW2(SYS_nanosleep, &ts, 0);
}

/* String helpers that call nothing: safe anywhere. */
static inline int fl_strlen(const char *s)
{
    int n = 0;
    while (s[n])
        n++;
    return n;
}

static inline void fl_strcpy(char *dst, const char *src, int size)
{
    int i = 0;
    for (; i < size - 1 && src[i]; i++)
        dst[i] = src[i];
    dst[i] = 0;
}

/* Writes the decimal form of v into buf (at least 24 bytes); returns its length. */
static inline int fl_itoa(int64_t v, char *buf)
{
    char tmp[24];
    int n = 0, len = 0;
    uint64_t u = v < 0 ? (uint64_t)(-v) : (uint64_t)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        buf[len++] = '-';
    while (n)
        buf[len++] = tmp[--n];
    buf[len] = 0;
    return len;
}

#endif
