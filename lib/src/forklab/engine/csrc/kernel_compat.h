/* kernel_compat.h - the system call numbers and clone flags newer than the oldest headers we build on.
 *
 * Kernel headers describe the kernel they came with, not the one we will run on: RHEL 8 ships
 * Linux 4.18's, conda-forge's sysroot and Ubuntu 18.04 older ones. glibc's <sys/syscall.h> defines
 * SYS_x only if those headers have __NR_x, and <sched.h> has only the clone flags glibc knew. So
 * each number or flag the C core needs from a newer kernel is written out here, once, with the
 * version that brought it. On an older kernel a missing system call answers ENOSYS, and clone()
 * silently ignores a flag it does not know (it never checked; clone3 does) - the code copes with both.
 */
#ifndef FORKLAB_KERNEL_COMPAT_H
#define FORKLAB_KERNEL_COMPAT_H

#include <sched.h>
#include <sys/syscall.h>

/* System call numbers from 424 (Linux 5.1) on are the same on x86_64 and aarch64. */
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434       /* Linux 5.3; before it, wait without a pidfd */
#endif
#ifndef SYS_clone3
#define SYS_clone3 435           /* Linux 5.3; before it, ENOSYS: the experiment is refused */
#endif
#ifndef SYS_memfd_create         /* Linux 3.17, older than 4.18 but not than every sysroot */
#if defined(__x86_64__)
#define SYS_memfd_create 319
#elif defined(__aarch64__)
#define SYS_memfd_create 279
#endif
#endif

#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000   /* Linux 5.2; an older kernel ignores it and writes no pidfd */
#endif

#endif
