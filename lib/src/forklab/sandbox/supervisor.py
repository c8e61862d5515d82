"""A small sandbox supervisor: run one program, contain everything it forks, reap it all.

    python supervisor.py --timeout 5 --max-procs 64 --report out.json -- ./prog arg...

The Jupyter kernel starts this file with `subprocess` (posix_spawn/vfork: the kernel is never
copied). This fresh, single-threaded interpreter then

* makes itself a *child subreaper* (prctl PR_SET_CHILD_SUBREAPER): every orphan the program leaves
  is reparented to us, not to init, so we can count it, kill it and reap it;
* starts the program in a new session/process group, its stdout and stderr pipes to us;
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

The program's stdout and stderr are pipes read here (the first --output-limit bytes of each are kept
in --output DIR, the rest is read and dropped), and the program starts behind the walls of
containment.py (no signal, trace or limit can reach us or our ancestors; its own /tmp, /dev/shm and
IPC where allowed; with --pid-namespace, its own PID namespace too, where the program is PID 2 under
an init of ours - containment.run_as_init - which reports the program's status through a pipe); where
it has no IPC namespace, what its processes left is removed at the end (leftovers.py). SIGTERM from
the caller ends the cell now (an interrupt).

Only the standard library and procstat.py, containment.py, leftovers.py beside it: this file runs
without importing forklab (quick to start).
"""
import ctypes
import json
import os
import selectors
import signal
import subprocess
import sys
import time

# This file runs as a script (`python -I -S supervisor.py`): no site, and no forklab package, whose
# import would cost the start-up time a script saves. The standard-library-only modules it needs lie
# beside it and in forklab/host: append those folders (after the standard library,
# so nothing there can shadow it) and import those modules by their bare names.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path += [_HERE, os.path.join(os.path.dirname(_HERE), "host")]
from procstat import all_processes, read_stat  # noqa: E402
import containment  # noqa: E402
import leftovers  # noqa: E402

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
        return descendants_by_scan(root)
    found, todo = [], [root]
    while todo:
        for kid in children_listed(todo.pop()):
            found.append(kid)
            todo.append(kid)
    return found


def descendants_by_scan(root: int) -> list:
    """Processes below root found from every process's parent in /proc (where no children files exist)."""
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
                owner = os.stat(f"/proc/{entry}").st_uid
                # a non-dumpable process (such as another cell's supervisor, or this one) shows as
                # root's in /proc: its real uid is in its status file
                if owner != uid and not (owner == 0 and _real_uid(entry) == uid):
                    continue
            except OSError:
                continue
            st = read_stat(entry)
            n += st.num_threads if st else 0
    return n


def _real_uid(pid) -> int:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("Uid:"))


def program_setup(cgroup, nproc_limit, walls_fd, protect, private_tmp, keep, pid_namespace=False,
                  main_status_fd=None):
    """Runs in the program's process just before exec (the supervisor is single-threaded): the
    process cap, then the walls (containment.py). What went up is written to walls_fd, as JSON.
    With pid_namespace, this process becomes the door to a PID namespace whose init (of ours)
    forks the program and writes its wait status to main_status_fd (containment.run_as_init)."""
    # decided here, in the supervisor, so the child only makes system calls
    abi = containment.landlock_abi()
    landlock = abi >= containment.ABI_WITH_SIGNAL_SCOPE
    pidfd_signal = containment.have_pidfd_send_signal()
    filters = {(scoped, in_ns): containment.signal_filter(protect, no_landlock=not scoped, pid_namespace=in_ns,
                                                          pidfd_signal=pidfd_signal)
               for scoped in ((True, False) if landlock else (False,)) for in_ns in (True, False)}

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
        try:     # when memory runs out, the kernel's OOM killer takes the program, not the caller
            with open("/proc/self/oom_score_adj", "w") as f:
                f.write("1000")
        except OSError:
            pass
        walls = {"private_tmp_ipc": False, "pid_namespace": False}
        containment.dumpable_again()
        if private_tmp:
            try:
                made = containment.private_tmp_and_ipc(keep, pid_namespace)
                walls["private_tmp_ipc"] = bool(made)
                walls["pid_namespace"] = made == "pid"
                if pid_namespace and made and made != "pid":
                    walls["pid_namespace_refused"] = containment.PID_NAMESPACE_REFUSED[0]
            except OSError as e:
                walls["private_tmp_ipc_error"] = str(e)
        if walls["pid_namespace"]:
            walls["own_proc"] = containment.run_as_init(main_status_fd)     # returns in the program only
        if not containment.no_new_privs():
            walls["error"] = "the kernel refused no_new_privs (prctl), which the cell's walls need"
        else:
            walls["landlock_signal_scope"] = landlock and containment.scope_signals()
            # without the scope (Linux 5.13-6.11) and without a PID namespace, any Landlock domain still
            # keeps ptrace and /proc/PID/mem of the Jupyter kernel out of reach
            walls["landlock_ptrace_scope"] = walls["landlock_signal_scope"] or (
                not walls["pid_namespace"] and abi >= 1 and containment.landlock_domain())
            walls["seccomp_signal_filter"] = containment.install_filter(
                filters[walls["landlock_signal_scope"], walls["pid_namespace"]])
            if not walls["seccomp_signal_filter"]:
                walls["error"] = ("the kernel refused the cell's seccomp filter (is CONFIG_SECCOMP_FILTER "
                                  "off?): the program would be able to signal its supervisor, so it is not run")
        os.write(walls_fd, json.dumps(walls).encode())
        if "error" in walls:
            raise OSError(walls["error"])
    return setup


def read_main_status(status: dict, fd) -> None:
    """In a PID namespace the program is init's child: init writes its wait status to a pipe."""
    if fd is None or status["returncode"] is not None:
        return
    try:
        data = os.read(fd, 4)
    except BlockingIOError:
        return
    if len(data) == 4:
        wstatus = int.from_bytes(data, sys.byteorder, signed=True)
        status["main_ended_at"] = time.monotonic()
        status["returncode"] = (-os.WTERMSIG(wstatus) if os.WIFSIGNALED(wstatus)
                                else os.WEXITSTATUS(wstatus))


MAIN_STATUS = [None]    # the pipe init writes the program's wait status to (PID namespace only)


def reap(status: dict, main_pid: int) -> bool:
    """Reap every child that has ended; record the main program's status. False once none is left.
    (In a PID namespace main_pid is the door: its end only tells that init and the cell are gone.)"""
    read_main_status(status, MAIN_STATUS[0])
    while True:
        try:
            pid, wstatus = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return False
        if pid == 0:
            return True
        status["reaped"] += 1
        read_main_status(status, MAIN_STATUS[0])
        if pid == main_pid and status["returncode"] is None:
            status["main_ended_at"] = time.monotonic()
            status["returncode"] = (-os.WTERMSIG(wstatus) if os.WIFSIGNALED(wstatus)
                                    else os.WEXITSTATUS(wstatus))


def kill_all(me: int, pgid: int, status: dict, main_pid: int, output) -> None:
    """SIGKILL the program's group and every descendant until nothing is left, reaping as we go."""
    status["we_killed"] = True
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
        output.read_some(0.001)     # a writer blocked on a full pipe must not delay its death


class Output:
    """The program's stdout and stderr, read here as they come: the first `limit` bytes of each
    are kept, the rest is read and dropped (so a program writing without end neither blocks nor
    fills anyone's memory)."""

    def __init__(self, limit: int):
        self.limit = limit
        self.pipes = {}
        self.kept = {"stdout": bytearray(), "stderr": bytearray()}
        self.total = {"stdout": 0, "stderr": 0}
        self.selector = selectors.DefaultSelector()

    def pipe(self, name: str) -> int:
        """A pipe for the program's `name` stream; returns the end to give the program."""
        r, w = os.pipe()
        self.selector.register(r, selectors.EVENT_READ, name)
        self.pipes[name] = r
        return w

    def read_some(self, timeout: float) -> None:
        """Wait up to timeout for output and read what is there (at most 1 MiB, then the caller
        gets to look at the program's processes again)."""
        if not self.pipes:
            time.sleep(timeout)
            return
        for _ in range(16):
            ready = self.selector.select(timeout)
            if not ready:
                return
            for key, _ in ready:
                name = key.data
                data = os.read(key.fd, 65536)
                if not data:                        # every writer is gone
                    self.selector.unregister(key.fd)
                    os.close(key.fd)
                    del self.pipes[name]
                    continue
                self.total[name] += len(data)
                room = self.limit - len(self.kept[name])
                if room > 0:
                    self.kept[name] += data[:room]
            if not self.pipes:
                return
            timeout = 0

    def drain(self, seconds: float) -> None:
        """Read until every writer is gone (all reaped: at once), or `seconds` passed."""
        deadline = time.monotonic() + seconds
        while self.pipes and time.monotonic() < deadline:
            self.read_some(0.05)
        for fd in self.pipes.values():
            os.close(fd)
        self.pipes.clear()

    def save(self, folder: str) -> None:
        for name, data in self.kept.items():
            with open(os.path.join(folder, name), "wb") as f:
                f.write(data)


STOP = []   # set by SIGTERM: the caller was interrupted and wants the cell ended now


def supervise(argv: list, timeout: float, max_procs: int, stdin_path, output_dir, output_limit: int,
              protect, private_tmp: bool, cwd, pid_namespace: bool = False) -> dict:
    status = {"returncode": None, "main_ended_at": None, "timed_out": False, "too_many_procs": False,
              "max_seen": 0, "reaped": 0, "subreaper": set_subreaper(), "start_error": None,
              "we_killed": False, "interrupted": False, "out_of_memory": False, "walls": {},
              "removed": []}
    me = os.getpid()
    cap = 2 * max_procs + 16
    cgroup = backstop_cgroup(cap) if os.getuid() == 0 else None
    nproc = None if cgroup or os.getuid() == 0 else user_task_count() + cap
    status["backstop"] = "pids cgroup" if cgroup else ("RLIMIT_NPROC" if nproc else "none")
    output = Output(output_limit)
    if output_dir:
        out_w, err_w = output.pipe("stdout"), output.pipe("stderr")
    else:
        out_w = err_w = None
    walls_r, walls_w = os.pipe()
    stdin = open(stdin_path, "rb") if stdin_path else subprocess.DEVNULL
    ipc_before = leftovers.snapshot()
    files_before = leftovers.files_snapshot() if private_tmp else None
    started = time.time()
    ooms_before = oom_kills()
    targets = containment.protected_targets(me, read_stat, protect)
    main_r = main_w = None
    if pid_namespace and private_tmp:
        main_r, main_w = os.pipe()
        os.set_blocking(main_r, False)
        MAIN_STATUS[0] = main_r
    try:
        proc = subprocess.Popen(argv, stdin=stdin, stdout=out_w, stderr=err_w, cwd=cwd,
                                start_new_session=True, close_fds=True,
                                preexec_fn=program_setup(cgroup, nproc, walls_w, targets, private_tmp,
                                                         [cwd or os.getcwd()], pid_namespace, main_w))
    except (OSError, subprocess.SubprocessError) as e:
        proc, error = None, f"{type(e).__name__}: {e}"
    finally:
        for fd in (out_w, err_w, walls_w, main_w):     # ours closed: only the program holds these now
            if fd is not None:
                os.close(fd)
        if stdin_path:
            stdin.close()
    with os.fdopen(walls_r, "rb") as f:     # what the program's walls are (written before its exec)
        status["walls"] = json.loads(f.read(4096) or b"{}")
    if proc is None:
        status["start_error"] = status["walls"].pop("error", None) or error
        output.drain(0)
        if cgroup:
            os.rmdir(cgroup)
        return status
    try:
        status["program_pid"] = proc.pid
        # in a PID namespace two processes of ours stand between us and the program: the door and init
        helpers = 2 if status["walls"].get("pid_namespace") else 0
        seen = watch(proc, status, me, timeout, max_procs, output, helpers)
        output.drain(2.0)
        if output_dir:
            output.save(output_dir)
        status["output_bytes"] = output.total
        if (status["returncode"] == -signal.SIGKILL and not status["we_killed"]
                and oom_kills() > ooms_before):
            status["out_of_memory"] = True
        if not status["walls"].get("private_tmp_ipc"):
            status["removed"] = leftovers.remove_made_by(seen, ipc_before, started if private_tmp else None,
                                                         os.getuid())
            if files_before is not None:
                status["removed"] += leftovers.remove_new_files(files_before, started, os.getuid())
        return status
    finally:
        if cgroup:
            for _ in range(100):  # empty once every task is reaped; the kernel may lag a moment
                try:
                    os.rmdir(cgroup)
                    break
                except OSError:
                    time.sleep(0.01)


def oom_kills() -> int:
    """How many processes the kernel's OOM killer has killed: machine-wide (/proc/vmstat, Linux
    4.13) plus our memory cgroup's count (a container's limit; cgroup v2 memory.events, v1
    memory.oom_control). Read before and after: a rise means an OOM kill happened meanwhile."""
    n = 0
    try:
        with open("/proc/vmstat") as f:
            n += sum(int(line.split()[1]) for line in f if line.startswith("oom_kill "))
        with open("/proc/self/cgroup") as f:
            lines = f.read().splitlines()
    except OSError:
        return n
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers == "":
            files = [f"/sys/fs/cgroup{path}/memory.events", f"/sys/fs/cgroup/unified{path}/memory.events"]
        elif "memory" in controllers.split(","):
            files = [f"/sys/fs/cgroup/memory{path}/memory.oom_control"]
        else:
            continue
        for name in files:
            try:
                with open(name) as f:
                    n += sum(int(line.split()[1]) for line in f if line.startswith("oom_kill "))
            except (OSError, ValueError, IndexError):
                pass
    return n


def watch(proc, status, me, timeout, max_procs, output, helpers=0) -> set:
    """Follow the program until nothing of it is left; returns every pid seen (for leftovers)."""
    proc.returncode = 0  # we reap with os.waitpid ourselves: keep Popen from trying later
    pgid = proc.pid
    seen = {proc.pid}
    start = time.monotonic()
    interval = 0.0005
    while True:
        if not reap(status, proc.pid):
            break
        below = descendants(me)
        seen.update(below)
        alive = max(0, len(below) - helpers)
        status["max_seen"] = max(status["max_seen"], alive)
        if alive > max_procs:
            status["too_many_procs"] = True
            kill_all(me, pgid, status, proc.pid, output)
            break
        if time.monotonic() - start > timeout or STOP:
            status["timed_out"] = not STOP
            status["interrupted"] = bool(STOP)
            kill_all(me, pgid, status, proc.pid, output)
            break
        output.read_some(interval)
        # quick looks at first (most cells end within a few ms), then gentler on a shared CPU
        interval = min(interval * 1.5, 0.005 if time.monotonic() - start < 1.0 else 0.02)
    reap(status, proc.pid)
    # killed after main had ended by itself: the timeout caught leftover descendants only
    status["main_ended_first"] = status["timed_out"] and status["main_ended_at"] is not None and \
        status["main_ended_at"] - start <= timeout
    status.pop("main_ended_at")
    return seen


def main(args: list) -> int:
    timeout, max_procs, report, stdin_path = 5.0, 64, None, None
    output_dir, output_limit, protect, private_tmp, cwd = None, 1 << 20, [], False, None
    pid_namespace = False
    while args and args[0] != "--":
        opt = args.pop(0)
        if opt == "--private-tmp":
            private_tmp = True
            continue
        if opt == "--pid-namespace":
            pid_namespace = True
            continue
        val = args.pop(0)
        if opt == "--timeout":
            timeout = float(val)
        elif opt == "--max-procs":
            max_procs = int(val)
        elif opt == "--report":
            report = val
        elif opt == "--stdin":
            stdin_path = val
        elif opt == "--output":
            output_dir = val
        elif opt == "--output-limit":
            output_limit = int(val)
        elif opt == "--protect":
            protect.append(int(val))
        elif opt == "--cwd":
            cwd = val
        else:
            print(f"supervisor: unknown option {opt}", file=sys.stderr)
            return 2
    argv = args[1:]
    containment.not_dumpable()          # before the program exists: it may never trace us
    signal.signal(signal.SIGTERM, lambda *_: STOP.append(True))
    status = supervise(argv, timeout, max_procs, stdin_path, output_dir, output_limit, protect,
                       private_tmp, cwd, pid_namespace)
    with open(report, "w") as f:
        json.dump(status, f)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
