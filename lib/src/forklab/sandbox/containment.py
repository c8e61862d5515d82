"""The walls around a C cell's program: what it may not signal or trace, and where its leftovers go.

A cell's program runs as the student, beside processes of the student that it must not reach: its
supervisor, the Jupyter kernel that started it, the bench server. The supervisor puts these walls up
in the program's process, between fork and exec; every process the program creates inherits them.

* **Landlock signal scope** (Linux 6.12, Landlock ABI 6; no privilege needed): a process in the
  domain may signal only processes of the same domain - `kill(getppid(), SIGKILL)`, `kill(-1, ...)`,
  `pidfd_send_signal` to anything outside fail with EPERM - and (any Landlock domain, since ABI 1,
  Linux 5.13) it may ptrace, `process_vm_readv` or open `/proc/PID/mem` of nothing outside
  (security/landlock/task.c: hook_task_kill, hook_ptrace_access_check).
* **A seccomp filter** (Linux 3.5; Docker's default profile allows seccomp(2)): on every kernel,
  kill, tkill, tgkill, rt_(tg)sigqueueinfo, ptrace, process_vm_readv/writev, prlimit64,
  pidfd_open and fcntl(F_SETOWN) aimed at a protected process (the supervisor, its ancestors - the
  Jupyter kernel - their threads and process groups, and the caller's other children such as the
  bench server) or at -1 ("every process I may signal") fail with EPERM. A filter sees numbers, not
  processes: it cannot tell a stranger's pid from the program's own child, so it protects a list
  taken when the cell starts. It cannot stop pidfd_send_signal through an opened /proc/PID of a
  protected process, a signal by pid to another program of the student's, nor a write to the Jupyter
  kernel's /proc/PID/mem (docs/architecture.md); Landlock closes those. 32-bit system calls
  are refused (ENOSYS): the filter's numbers are the native ones.
* The supervisor makes itself non-dumpable (PR_SET_DUMPABLE 0): without CAP_SYS_PTRACE nobody may
  then ptrace it or open its /proc/PID/mem, on every kernel (kernel/ptrace.c, __ptrace_may_access).
* **Private /tmp, /dev/shm and System V IPC** where a mount and IPC namespace may be made (root, or a
  user namespace): what the program leaves there disappears with its last process. Elsewhere the
  supervisor removes the System V objects the cell's processes made (see leftovers.py).

Only the standard library (the supervisor loads this file without the package), like procstat.py.
"""
import ctypes
import os
import platform
import struct

libc = ctypes.CDLL(None, use_errno=True)

PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, SECCOMP_MODE_FILTER, PR_SET_DUMPABLE = 38, 22, 2, 4
EPERM, ENOSYS = 1, 38

# --- Landlock (include/uapi/linux/landlock.h) ---------------------------------------------------
# 444 and 446 on x86_64 and arm64 (and most arches); MIPS adds 4000/5000/6000 and alpha 110 - not handled here
SYS_LANDLOCK_CREATE_RULESET, SYS_LANDLOCK_RESTRICT_SELF = 444, 446
LANDLOCK_CREATE_RULESET_VERSION = 1
LANDLOCK_SCOPE_SIGNAL = 1 << 1
ABI_WITH_SIGNAL_SCOPE = 6


LANDLOCK_ACCESS_FS_MAKE_BLOCK = 1 << 11
# A test hook: FORKLAB_LANDLOCK_ABI_MAX=5 makes this kernel look like Linux 6.10-6.11 (ABI 5; 5.13-6.9 offer
# 1-4: all without the signal scope, ABI 6, Linux 6.12), 0 like a kernel without Landlock; tools/confine's
# landlock-abi5 profile sets it.
ABI_MAX_HOOK = "FORKLAB_LANDLOCK_ABI_MAX"


def landlock_abi() -> int:
    """The Landlock ABI version this kernel offers (0: none, or refused by a seccomp filter)."""
    libc.syscall.restype = ctypes.c_long
    abi = libc.syscall(SYS_LANDLOCK_CREATE_RULESET, None, ctypes.c_size_t(0),
                       ctypes.c_uint32(LANDLOCK_CREATE_RULESET_VERSION))
    cap = os.environ.get(ABI_MAX_HOOK, "")
    if cap.isdigit():
        abi = min(abi, int(cap))
    return abi if abi > 0 else 0


def landlock_domain() -> bool:
    """Enter a Landlock domain without the signal scope (ABI 1, Linux 5.13): any domain forbids
    ptrace, process_vm_readv/writev and /proc/PID/mem of processes outside it (hook_ptrace_access_check
    in security/landlock/task.c). A ruleset must handle some access right: this one handles only
    "make a block device" (which needs CAP_MKNOD anyway) with no rule allowing it. It also makes mount
    fail (hook_sb_mount: a domain that restricts the file system): used only where the program has no
    namespace of its own, where it could not mount anyway."""
    return _enter_landlock(struct.pack("Q", LANDLOCK_ACCESS_FS_MAKE_BLOCK))


def scope_signals() -> bool:
    """Enter a Landlock domain that only scopes signals (no file access is restricted, so mounts in
    a new namespace still work). landlock_restrict_self needs no_new_privs first (or CAP_SYS_ADMIN in
    the caller's user namespace; the supervisor sets no_new_privs), and landlock_abi() >= 6 (else EINVAL)."""
    return _enter_landlock(struct.pack("QQQ", 0, 0, LANDLOCK_SCOPE_SIGNAL))  # handled_access_fs, _net, scoped


def _enter_landlock(attr: bytes) -> bool:
    """Create a ruleset from a packed landlock_ruleset_attr and restrict this process to it."""
    buf = ctypes.create_string_buffer(attr, len(attr))
    fd = libc.syscall(SYS_LANDLOCK_CREATE_RULESET, buf, ctypes.c_size_t(len(attr)), ctypes.c_uint32(0))
    if fd < 0:
        return False
    try:
        return libc.syscall(SYS_LANDLOCK_RESTRICT_SELF, ctypes.c_int(fd), ctypes.c_uint32(0)) == 0
    finally:
        os.close(fd)


# --- the seccomp filter, in classic BPF (linux/filter.h, linux/seccomp.h) -------------------------
BPF_LD_W_ABS, BPF_JEQ_K, BPF_JGE_K, BPF_RET_K = 0x20, 0x15, 0x35, 0x06
SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO = 0x7FFF0000, 0x00050000
OFF_NR, OFF_ARCH = 0, 4
OFF_ARG_LOW = (16, 24, 32)          # struct seccomp_data.args[i], low 32 bits (little-endian): a pid_t
MINUS_ONE = 0xFFFFFFFF
MAX_PROTECTED = 200                 # keeps every jump within cBPF's 8-bit offsets

# Which argument of each call names the target process.
ARCHES = {
    "x86_64": dict(audit=0xC000003E, x32_bit=0x40000000, nr=dict(
        kill=(62, 0), tkill=(200, 0), tgkill=(234, 0), rt_sigqueueinfo=(129, 0),
        rt_tgsigqueueinfo=(297, 0), ptrace=(101, 1), process_vm_readv=(310, 0),
        process_vm_writev=(311, 0), prlimit64=(302, 0), pidfd_open=(434, 0)),
        fcntl=72, ioctl=16, pidfd_send_signal=424),
    "aarch64": dict(audit=0xC00000B7, x32_bit=None, nr=dict(
        kill=(129, 0), tkill=(130, 0), tgkill=(131, 0), rt_sigqueueinfo=(138, 0),
        rt_tgsigqueueinfo=(240, 0), ptrace=(117, 1), process_vm_readv=(270, 0),
        process_vm_writev=(271, 0), prlimit64=(261, 0), pidfd_open=(434, 0)),
        fcntl=25, ioctl=29, pidfd_send_signal=424),
}
CAN_BROADCAST = ("kill", "rt_sigqueueinfo")       # pid -1: every process the caller may signal
# SIGIO to an owner: fcntl(fd, F_SETOWN, pid) then O_ASYNC makes the kernel signal pid (SIGIO ends a
# process that does not handle it; F_SETSIG can pick another signal). F_SETOWN_EX and the ioctls
# FIOSETOWN / SIOCSPGRP name the owner through a pointer, which a filter cannot read.
F_SETOWN, F_SETOWN_EX, FIOSETOWN, SIOCSPGRP = 8, 15, 0x8901, 0x8902


def _stmt(code, k):
    return struct.pack("HBBI", code, 0, 0, k)


def _jump(code, k, jt, jf):
    return struct.pack("HBBI", code, jt, jf, k)


def have_pidfd_send_signal() -> bool:
    """Whether this kernel has pidfd_send_signal (Linux 5.1): asked with fd -1, EBADF says it exists.
    Where it has none, the filter leaves it alone, so a program still sees the kernel's ENOSYS."""
    libc.syscall.restype = ctypes.c_long
    if libc.syscall(424, -1, 0, None, 0) == 0:
        return True
    return ctypes.get_errno() != ENOSYS


def signal_filter(protected, arch=None, no_landlock=True, pid_namespace=False, pidfd_signal=True) -> bytes:
    """The filter: EPERM for a signal, trace or limit aimed at a protected pid (or -pgid) or at -1.
    In a PID namespace of the cell's own nothing outside has a pid the program could name, and -1
    means "every process of the cell": nothing is protected by number then. With neither Landlock's
    signal scope nor a PID namespace, pidfd_send_signal is refused outright: its target is an fd
    (perhaps an opened /proc/PID of the supervisor or the Jupyter kernel), which a filter cannot judge."""
    a = ARCHES[arch or platform.machine()]
    if pid_namespace:
        protected = ()
    # in the caller's order (the supervisor and the kernel first), so a long list loses the least
    values = list(dict.fromkeys(int(v) & 0xFFFFFFFF for v in protected if v not in (0, None)))[:MAX_PROTECTED]
    allow, deny = _stmt(BPF_RET_K, SECCOMP_RET_ALLOW), _stmt(BPF_RET_K, SECCOMP_RET_ERRNO | EPERM)
    prog = [_stmt(BPF_LD_W_ABS, OFF_ARCH),
            _jump(BPF_JEQ_K, a["audit"], 1, 0),
            _stmt(BPF_RET_K, SECCOMP_RET_ERRNO | ENOSYS),       # a 32-bit call: other numbers
            _stmt(BPF_LD_W_ABS, OFF_NR)]
    if a["x32_bit"]:
        prog += [_jump(BPF_JGE_K, a["x32_bit"], 0, 1), _stmt(BPF_RET_K, SECCOMP_RET_ERRNO | ENOSYS)]
    if no_landlock and not pid_namespace and pidfd_signal:
        prog += [_jump(BPF_JEQ_K, a["pidfd_send_signal"], 0, 1), deny]
    if no_landlock:
        # ioctl(fd, FIOSETOWN or SIOCSPGRP, &pid): refused (Landlock's scope covers SIGIO where present)
        prog += [_jump(BPF_JEQ_K, a["ioctl"], 0, 5), _stmt(BPF_LD_W_ABS, OFF_ARG_LOW[1]),
                 _jump(BPF_JEQ_K, FIOSETOWN, 2, 0), _jump(BPF_JEQ_K, SIOCSPGRP, 1, 0), allow, deny]
    # fcntl(fd, F_SETOWN, pid): the pid is checked like kill's; F_SETOWN_EX refused without Landlock
    owner = [_stmt(BPF_LD_W_ABS, OFF_ARG_LOW[2])]
    for i, v in enumerate(values):
        owner.append(_jump(BPF_JEQ_K, v, len(values) - i, 0))
    owner += [allow, deny]
    setown_ex = [_jump(BPF_JEQ_K, F_SETOWN_EX, 0, 1), deny] if no_landlock else []
    fcntl = [_stmt(BPF_LD_W_ABS, OFF_ARG_LOW[1])] + setown_ex + [_jump(BPF_JEQ_K, F_SETOWN, 1, 0), allow] + owner
    prog += [_jump(BPF_JEQ_K, a["fcntl"], 0, len(fcntl))] + fcntl
    prog.append(_stmt(BPF_LD_W_ABS, OFF_NR))            # the checks below compare the call's number again
    for name, (nr, arg) in a["nr"].items():
        targets = values + ([MINUS_ONE] if name in CAN_BROADCAST and not pid_namespace else [])
        # block: load the target; one test per protected value, each jumping to the block's deny
        block = [_stmt(BPF_LD_W_ABS, OFF_ARG_LOW[arg])]
        for i, v in enumerate(targets):
            block.append(_jump(BPF_JEQ_K, v, len(targets) - i, 0))
        block += [allow, deny]
        prog += [_jump(BPF_JEQ_K, nr, 0, len(block))] + block
    prog.append(allow)
    return b"".join(prog)


def install_filter(program: bytes) -> bool:
    count = len(program) // 8
    buf = ctypes.create_string_buffer(program, len(program))
    fprog = ctypes.create_string_buffer(struct.pack("HxxxxxxQ", count, ctypes.addressof(buf)))
    return libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, fprog, 0, 0) == 0


def no_new_privs() -> bool:
    """Needed by an unprivileged seccomp filter and by Landlock; setuid programs then gain nothing."""
    return libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0


def not_dumpable() -> bool:
    """No process without CAP_SYS_PTRACE may ptrace us or open our /proc/PID/mem from now on."""
    return libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == 0


def dumpable_again() -> None:
    """In the program's process before exec (exec would do it anyway): a non-dumpable process's
    /proc/self files belong to root, so it could not write its own uid_map."""
    libc.prctl(PR_SET_DUMPABLE, 1, 0, 0, 0)


# --- whom to protect ----------------------------------------------------------------------------

def _threads(pid):
    try:
        return [int(t) for t in os.listdir(f"/proc/{pid}/task")]
    except OSError:
        return []


def protected_targets(me: int, read_stat, extra=()) -> list:
    """What the program must not reach, as kill() would name it: the supervisor and every ancestor
    (pids, threads, -process groups, -sessions), then `extra` (the caller's bench server, ...).
    read_stat is procstat's (forklab.host), which the supervisor loads beside this module."""
    found, pid = [], me
    while pid > 1:
        st = read_stat(pid)
        if st is None:
            break
        found += [pid, -st.pgrp, -st.session] + _threads(pid)
        pid = st.ppid
    for pid in extra:
        st = read_stat(pid)
        if st:
            found += [pid, -st.pgrp]
    return list(dict.fromkeys(v for v in found if v not in (0, -0)))


# --- private /tmp, /dev/shm and IPC ---------------------------------------------------------------
CLONE_NEWNS, CLONE_NEWIPC, CLONE_NEWUSER, CLONE_NEWPID = 0x00020000, 0x08000000, 0x10000000, 0x20000000
MS_REC, MS_PRIVATE, MS_BIND, MS_NOSUID, MS_NODEV, MS_NOEXEC = 0x4000, 1 << 18, 0x1000, 2, 4, 8
O_PATH = 0o10000000


def _mount(source, target, fstype, flags, data=None) -> bool:
    return libc.mount(source and source.encode(), target.encode(), fstype and fstype.encode(),
                      ctypes.c_ulong(flags), data and data.encode()) == 0


def _write(path, text) -> bool:
    try:
        with open(path, "w") as f:
            f.write(text)
        return True
    except OSError:
        return False


def private_tmp_and_ipc(keep=(), pid_namespace=False):
    """Give this process (and what it execs) its own /tmp, /dev/shm and System V IPC: a new mount
    and IPC namespace (inside a user namespace of its own when not root), fresh tmpfs on both
    folders. Folders under /tmp listed in `keep` (the cell's own folder) stay visible at the same
    path. With `pid_namespace`, the children of this process go into a new PID namespace too (see
    run_as_init). Returns False, with nothing changed, where namespaces are refused; "pid" when the
    PID namespace was made as well, True otherwise (then PID_NAMESPACE_REFUSED[0] says why not)."""
    uid, gid = os.geteuid(), os.getegid()
    for flags in (CLONE_NEWNS | CLONE_NEWIPC,):
        if uid == 0 and libc.unshare(flags) == 0:
            break
        if libc.unshare(flags | CLONE_NEWUSER) == 0:
            # map ourselves onto ourselves: the program stays the same, unprivileged user inside
            if not (_write("/proc/self/setgroups", "deny") and _write("/proc/self/uid_map", f"{uid} {uid} 1")
                    and _write("/proc/self/gid_map", f"{gid} {gid} 1")):
                raise OSError("could not map the user into the cell's user namespace")
            break
    else:
        return False
    if not _mount(None, "/", None, MS_REC | MS_PRIVATE):      # nothing we mount may leak out
        raise OSError(ctypes.get_errno(), "could not make the cell's mounts private")
    kept = []
    for path in keep:
        real = os.path.realpath(path)
        if real.startswith("/tmp/"):
            kept.append((real, os.open(real, O_PATH | os.O_DIRECTORY)))
    for folder in ("/tmp", "/dev/shm"):
        if os.path.isdir(folder) and not _mount("tmpfs", folder, "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777"):
            raise OSError(ctypes.get_errno(), f"could not mount a private {folder}")
    for real, fd in kept:           # the cell's own folder, at its usual path, on top of the new /tmp
        os.makedirs(real, mode=0o700, exist_ok=True)
        if not _mount(f"/proc/self/fd/{fd}", real, None, MS_BIND | MS_REC):
            raise OSError(ctypes.get_errno(), f"could not keep {real} in the cell's /tmp")
        os.close(fd)
    if not pid_namespace:
        return True
    # Only where the namespace could have a /proc of its own: with the machine's /proc, getpid() would
    # name another process's /proc entry (a container's masked /proc refuses a fresh one)
    if not fresh_proc_allowed():
        PID_NAMESPACE_REFUSED[0] = "a fresh /proc is refused here (a container's masked /proc)"
        return True
    if libc.unshare(CLONE_NEWPID) != 0:
        PID_NAMESPACE_REFUSED[0] = f"unshare(CLONE_NEWPID): {os.strerror(ctypes.get_errno())}"
        return True
    return "pid"


PID_NAMESPACE_REFUSED = [None]


def fresh_proc_allowed() -> bool:
    """Whether PID 1 of a new PID namespace made here may mount its own /proc: the kernel refuses it
    where the mounted /proc is not fully visible (fs/namespace.c, mount_too_revealing - a container's
    read-only and masked /proc paths). Tried by throw-away children, in a throw-away PID and mount
    namespace: nothing here changes."""
    probe = os.fork()
    if probe == 0:
        code = 1
        if libc.unshare(CLONE_NEWPID) == 0:
            init = os.fork()
            if init == 0:
                ok = (libc.unshare(CLONE_NEWNS) == 0 and _mount(None, "/", None, MS_REC | MS_PRIVATE)
                      and _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC))
                os._exit(0 if ok else 1)
            _, status = os.waitpid(init, 0)
            code = os.waitstatus_to_exitcode(status)
        os._exit(code)
    _, status = os.waitpid(probe, 0)
    return os.waitstatus_to_exitcode(status) == 0


# --- a PID namespace of the cell's own, with an init of ours -------------------------------------
PR_SET_PDEATHSIG = 1


def _quiet_fds(keep) -> None:
    """A helper that never execs must not hold the caller's pipes (Popen's error pipe, the
    program's stdout): stdin/stdout/stderr to /dev/null, every other fd but `keep` closed."""
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    top = 3
    for fd in sorted(keep) + [1 << 20]:
        if fd >= top:
            os.closerange(top, fd)
            top = fd + 1


def run_as_init(main_status_fd: int) -> bool:
    """After unshare(CLONE_NEWPID) this process stays outside; its next child is PID 1 of the new
    namespace. Fork that init (this process then only waits for it: the "door" the supervisor sees),
    and let init mount the namespace's own /proc and fork the program, PID 2. Returns only in the
    program's process: True if /proc shows the namespace's processes only.

    Init ignores every signal it can (a process of its namespace cannot even SIGKILL it: the kernel
    drops signals to a namespace's init that has no handler for them, kernel/signal.c
    sig_task_ignored), reaps every process of the namespace, orphans included, writes the program's
    wait status to main_status_fd, and ends when none is left. When it ends or is killed, the kernel
    kills every process left in the namespace (kernel/pid_namespace.c, zap_pid_ns_processes)."""
    import signal as sig
    everything = set(sig.valid_signals())
    old_mask = sig.pthread_sigmask(sig.SIG_BLOCK, everything)   # nothing reaches init before it ignores
    init = os.fork()
    if init:                                    # the door, outside the namespace: wait for init, then go
        _quiet_fds(())
        while True:
            try:
                os.waitpid(init, 0)
                break
            except InterruptedError:
                continue
        os._exit(0)
    libc.prctl(PR_SET_PDEATHSIG, sig.SIGKILL, 0, 0, 0)      # the door killed: init (and the cell) too
    not_dumpable()
    proc_ok = _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    program = os.fork()
    if program == 0:
        sig.pthread_sigmask(sig.SIG_SETMASK, old_mask)
        dumpable_again()
        return proc_ok
    _quiet_fds({main_status_fd})
    for n in everything - {sig.SIGKILL, sig.SIGSTOP, sig.SIGCHLD}:
        try:
            sig.signal(n, sig.SIG_IGN)
        except (OSError, ValueError):
            pass
    sig.pthread_sigmask(sig.SIG_SETMASK, set())
    while True:
        try:
            pid, status = os.waitpid(-1, 0)
        except ChildProcessError:
            os._exit(0)
        except InterruptedError:
            continue
        if pid == program:
            os.write(main_status_fd, struct.pack("i", status))
