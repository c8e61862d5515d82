"""Try, in a throw-away process, what this machine allows a process like the caller: forklab/host/machine.py's helper.

    python -I -S machine_probe.py        prints one line of JSON

machine.py starts this file with `subprocess` (vfork + exec: the caller, a multi-threaded Jupyter kernel,
is never forked). This fresh, single-threaded interpreter then forks a throw-away child for every attempt
that changes the process trying it (unshare, ptrace): the child makes the attempt and ends with 0 or the
errno as its exit status, so nothing that was tried outlives the attempt. It inherits the caller's
credentials, seccomp filter and no_new_privs, so what it is allowed is what the caller is allowed.

Only the standard library: it runs without forklab on its path.
"""
import ctypes
import errno
import json
import os
import sys

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long

# include/uapi/linux/sched.h
NAMESPACE_FLAGS = {"user": 0x10000000, "mnt": 0x00020000, "uts": 0x04000000, "ipc": 0x08000000,
                   "pid": 0x20000000, "net": 0x40000000, "cgroup": 0x02000000, "time": 0x00000080}
CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNS = 0x10000000, 0x20000000, 0x00020000
MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REC, MS_PRIVATE = 2, 4, 8, 16384, 1 << 18
PTRACE_TRACEME = 0
# the same number on x86_64 and arm64 (and most arches: asm-generic/unistd.h)
SYS_CLONE3, SYS_LANDLOCK_CREATE_RULESET = 435, 444
LANDLOCK_CREATE_RULESET_VERSION = 1


def errno_name(code: int) -> str:
    """"OK" for 0, the errno's name, or "no answer" (255: a child that could not say)."""
    return "OK" if code == 0 else "no answer" if code == 255 else errno.errorcode.get(code, str(code))


def in_a_child(attempt) -> int:
    """Run attempt() in a throw-away child; its answer (0: it worked, else an errno) is the child's exit
    status. 255: the child died of a signal or could not answer."""
    pid = os.fork()
    if pid == 0:
        try:
            code = attempt()
        except OSError as e:
            code = e.errno or 255
        except BaseException:
            code = 255
        os._exit(code if 0 <= code < 255 else 255)
    _, status = os.waitpid(pid, 0)
    return os.WEXITSTATUS(status) if os.WIFEXITED(status) else 255


def unshare(flags: int) -> int:
    return 0 if libc.unshare(flags) == 0 else ctypes.get_errno()


def ptrace_traceme() -> int:
    # what a tracer such as strace needs of a child it started: a seccomp filter, kernel.yama.ptrace_scope
    # = 3 (or 2 without CAP_SYS_PTRACE) refuse it (security/yama/yama_lsm.c, yama_ptrace_traceme)
    return 0 if libc.ptrace(PTRACE_TRACEME, 0, None, None) == 0 else ctypes.get_errno()


def as_init_of_new_namespaces(what: str) -> int:
    """`what` tried by PID 1 of new user, PID and mount namespaces (ns_last_pid belongs to the writer's
    PID namespace; a fresh procfs is mounted over /proc in a mount namespace of its own)."""
    if libc.unshare(CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS) != 0:
        return 1000 + ctypes.get_errno()          # not tried: no namespaces
    init = os.fork()
    if init == 0:
        err = 0
        try:
            if what == "ns-last-pid":
                fd = os.open("/proc/sys/kernel/ns_last_pid", os.O_WRONLY)   # as notebook 16's program does
                os.write(fd, b"1")     # this namespace's own counter: it has handed out PID 1 already
            elif libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None) != 0 or \
                    libc.mount(b"proc", b"/proc", b"proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, None) != 0:
                err = ctypes.get_errno()
        except OSError as e:
            err = e.errno
        os._exit(err)
    _, status = os.waitpid(init, 0)
    return os.WEXITSTATUS(status) if os.WIFEXITED(status) else 255


def in_new_namespaces(what: str) -> list:
    """["works" | "refused" | "untried", errno name] for as_init_of_new_namespaces(what)."""
    pid = os.fork()
    if pid == 0:                 # the unshare must not change this process: one more throw-away level
        code = as_init_of_new_namespaces(what)
        os._exit(254 if code >= 1000 else min(code, 253))    # 254: not tried, else the errno (0: it worked)
    _, status = os.waitpid(pid, 0)
    code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else 255
    if code == 254:
        return ["untried", "namespaces refused"]
    if code == 255:
        return ["untried", "no answer"]
    return ["works" if code == 0 else "refused", errno_name(code)]


def main() -> None:
    facts = {}
    # clone3 with a zero size fails before it does anything: EINVAL where the call exists (kernel/fork.c,
    # copy_clone_args_from_user: a size below CLONE_ARGS_SIZE_VER0), ENOSYS where the kernel (before 5.3)
    # or a seccomp filter (Docker's default profile) lacks it
    libc.syscall(SYS_CLONE3, None, ctypes.c_size_t(0))
    facts["clone3_errno"] = errno_name(ctypes.get_errno())
    abi = libc.syscall(SYS_LANDLOCK_CREATE_RULESET, None, ctypes.c_size_t(0),
                       ctypes.c_uint32(LANDLOCK_CREATE_RULESET_VERSION))
    facts["landlock_abi"] = abi if abi > 0 else 0
    facts["unshare"] = {name: errno_name(in_a_child(lambda f=flag: unshare(f)))
                        for name, flag in NAMESPACE_FLAGS.items()}
    facts["unshare_with_user"] = {name: errno_name(in_a_child(lambda f=flag: unshare(f | CLONE_NEWUSER)))
                                  for name, flag in NAMESPACE_FLAGS.items()}
    facts["ptrace"] = errno_name(in_a_child(ptrace_traceme))
    facts["ns_last_pid"] = in_new_namespaces("ns-last-pid")
    facts["proc_mount"] = in_new_namespaces("proc-mount")
    print(json.dumps(facts), flush=True)


if __name__ == "__main__":
    sys.exit(main())
