"""A small sandbox supervisor: run one program, contain everything it forks, reap it all.

    python supervisor.py --timeout 5 --max-procs 64 --report out.json -- ./prog arg...

The Jupyter kernel starts this file with `subprocess` (posix_spawn/vfork: the kernel is never
copied). This fresh, single-threaded interpreter then

* makes itself a *child subreaper* (prctl PR_SET_CHILD_SUBREAPER): every orphan the program leaves
  is reparented to us, not to init, so we can count it, kill it and reap it;
* starts the program in a new session/process group, stdout and stderr inherited;
* every couple of milliseconds follows /proc/PID/task/TID/children down from itself and counts
  its living descendants (so the cost grows with the program's processes, never with the host's). More than
  max_procs alive at once, or the timeout reached: SIGKILL every descendant (by process group and
  one by one, for those that left the group) until none is left;
* ends only when it has no child left (waitpid gives ECHILD): every process was reaped.

Why polling decides: RLIMIT_NPROC counts *all* processes of the user (a student's other programs
too) and root ignores it; a pids cgroup is exact but needs a writable cgroup, which a student rarely
has. Polling behaves the same for everyone. A fork bomb may overshoot max_procs by what it makes
within one poll interval, so a hard backstop caps it at 2*max_procs+16 tasks: a pids cgroup when we
can create one (root), otherwise RLIMIT_NPROC set to the user's current count plus that (fork()
then fails with EAGAIN until the supervisor kills the lot). The program also runs at nice +5, so
that the supervisor gets the CPU back from a program that keeps it busy.

Only the standard library and procstat.py beside it: this file runs without importing forklab (quick to start).
"""
import ctypes
import json
import os
import signal
import subprocess
import sys
import time

# procstat.py lies beside this file. -I leaves this folder off sys.path, and importing the forklab
# package would cost the start-up time this file saves: so append the folder (after the standard
# library, which forklab/platform.py must not shadow) and load that one stdlib-only module.
sys.path.append(os.path.dirname(os.path.abspath(__file__)))
from procstat import all_processes, read_stat  # noqa: E402

PR_SET_CHILD_SUBREAPER = 36


def set_subreaper() -> bool:
    libc = ctypes.CDLL(None, use_errno=True)
    return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0


def parent_map() -> dict:
    """pid -> ppid for every process on the machine (from /proc/PID/stat)."""
    return {pid: st.ppid for pid, st in all_processes().items()}


def children_listed(pid: int) -> list:
    """The children of every thread of pid, from /proc/PID/task/TID/children (Linux 3.5,
    CONFIG_PROC_CHILDREN). A child of a non-leader thread is listed under that thread only."""
    kids = []
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return kids                 # gone meanwhile: its children come to us, the subreaper
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/children", "rb") as f:
                kids += [int(k) for k in f.read().split()]
        except OSError:
            pass
    return kids


# Kernels built without CONFIG_PROC_CHILDREN have no children files: scan every process instead.
HAVE_CHILDREN_FILES = os.path.exists(f"/proc/{os.getpid()}/task/{os.getpid()}/children")


def descendants(root: int) -> list:
    """Living (or zombie) processes below root. Walked down from root, so unrelated processes are
    never read: on a hub node with thousands of them, a cell pays only for its own. (The kernel
    builds each children list without stopping anyone, so a walk can miss a process born during
    it; the next poll, a few milliseconds later, sees it, and kill_all repeats until none is left.)"""
    if not HAVE_CHILDREN_FILES:
        return _descendants_by_scan(root)
    found, todo = [], [root]
    while todo:
        for kid in children_listed(todo.pop()):
            found.append(kid)
            todo.append(kid)
    return found


def _descendants_by_scan(root: int) -> list:
    children = {}
    for pid, ppid in parent_map().items():
        children.setdefault(ppid, []).append(pid)
    found, todo = [], [root]
    while todo:
        for kid in children.get(todo.pop(), ()):
            found.append(kid)
            todo.append(kid)
    return found


def backstop_cgroup(cap: int):
    """A fresh pids cgroup (v1 or v2) limited to cap tasks, or None if we may not create one."""
    for base in ("/sys/fs/cgroup/pids", "/sys/fs/cgroup"):
        path = os.path.join(base, f"forklab-{os.getpid()}")
        try:
            os.mkdir(path)
        except OSError:
            continue
        try:
            with open(os.path.join(path, "pids.max"), "w") as f:
                f.write(str(cap))
            return path
        except OSError:
            os.rmdir(path)
    return None


def user_task_count() -> int:
    """Tasks (threads included, as RLIMIT_NPROC counts them) of our real uid. Once per program,
    for the backstop; the owner is checked first, so other users' processes are never read."""
    uid, n = os.getuid(), 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.stat(f"/proc/{entry}").st_uid != uid:
                    continue
            except OSError:
                continue
            st = read_stat(entry)
            n += st.num_threads if st else 0
    return n


def program_setup(cgroup, nproc_limit):
    """Runs in the program's process just before exec (the supervisor is single-threaded)."""
    def setup():
        if cgroup:
            with open(os.path.join(cgroup, "cgroup.procs"), "w") as f:
                f.write(str(os.getpid()))
        elif nproc_limit:
            import resource
            soft, hard = resource.getrlimit(resource.RLIMIT_NPROC)
            if hard == resource.RLIM_INFINITY or nproc_limit < hard:
                resource.setrlimit(resource.RLIMIT_NPROC, (nproc_limit, nproc_limit))
        os.nice(5)
    return setup


def reap(status: dict, main_pid: int) -> bool:
    """Reap every child that has ended; record the main program's status. False once none is left."""
    while True:
        try:
            pid, wstatus = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return False
        if pid == 0:
            return True
        status["reaped"] += 1
        if pid == main_pid:
            status["main_ended_at"] = time.monotonic()
            status["returncode"] = (-os.WTERMSIG(wstatus) if os.WIFSIGNALED(wstatus)
                                    else os.WEXITSTATUS(wstatus))


def kill_all(me: int, pgid: int, status: dict, main_pid: int) -> None:
    """SIGKILL the program's group and every descendant until nothing is left, reaping as we go."""
    deadline = time.monotonic() + 10.0
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        for pid in descendants(me):
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        if not reap(status, main_pid):
            return
        time.sleep(0.001)


def supervise(argv: list, timeout: float, max_procs: int, stdin_path: str | None) -> dict:
    status = {"returncode": None, "main_ended_at": None, "timed_out": False, "too_many_procs": False, "max_seen": 0,
              "reaped": 0, "subreaper": set_subreaper(), "start_error": None}
    me = os.getpid()
    cap = 2 * max_procs + 16
    cgroup = backstop_cgroup(cap) if os.getuid() == 0 else None
    nproc = None if cgroup or os.getuid() == 0 else user_task_count() + cap
    status["backstop"] = "pids cgroup" if cgroup else ("RLIMIT_NPROC" if nproc else "none")
    stdin = open(stdin_path, "rb") if stdin_path else subprocess.DEVNULL
    try:
        proc = subprocess.Popen(argv, stdin=stdin, start_new_session=True, close_fds=True,
                                preexec_fn=program_setup(cgroup, nproc))
    except (OSError, subprocess.SubprocessError) as e:
        status["start_error"] = f"{type(e).__name__}: {e}"
        if cgroup:
            os.rmdir(cgroup)
        return status
    finally:
        if stdin_path:
            stdin.close()
    try:
        return watch(proc, status, me, timeout, max_procs)
    finally:
        if cgroup:
            for _ in range(100):  # empty once every task is reaped; the kernel may lag a moment
                try:
                    os.rmdir(cgroup)
                    break
                except OSError:
                    time.sleep(0.01)


def watch(proc, status, me, timeout, max_procs) -> dict:
    proc.returncode = 0  # we reap with os.waitpid ourselves: keep Popen from trying later
    pgid = proc.pid
    start = time.monotonic()
    interval = 0.0005
    while True:
        if not reap(status, proc.pid):
            break
        alive = len(descendants(me))
        status["max_seen"] = max(status["max_seen"], alive)
        if alive > max_procs:
            status["too_many_procs"] = True
            kill_all(me, pgid, status, proc.pid)
            break
        if time.monotonic() - start > timeout:
            status["timed_out"] = True
            kill_all(me, pgid, status, proc.pid)
            break
        time.sleep(interval)
        # quick looks at first (most cells end within a few ms), then gentler on a shared CPU
        interval = min(interval * 1.5, 0.005 if time.monotonic() - start < 1.0 else 0.02)
    reap(status, proc.pid)
    # killed after main had ended by itself: the timeout caught leftover descendants only
    status["main_ended_first"] = status["timed_out"] and status["main_ended_at"] is not None and \
        status["main_ended_at"] - start <= timeout
    status.pop("main_ended_at")
    return status


def main(args: list) -> int:
    timeout, max_procs, report, stdin_path = 5.0, 64, None, None
    while args and args[0] != "--":
        opt, val = args[0], args[1]
        args = args[2:]
        if opt == "--timeout":
            timeout = float(val)
        elif opt == "--max-procs":
            max_procs = int(val)
        elif opt == "--report":
            report = val
        elif opt == "--stdin":
            stdin_path = val
        else:
            print(f"supervisor: unknown option {opt}", file=sys.stderr)
            return 2
    argv = args[1:]
    status = supervise(argv, timeout, max_procs, stdin_path)
    with open(report, "w") as f:
        json.dump(status, f)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
