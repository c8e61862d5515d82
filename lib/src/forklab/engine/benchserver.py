"""The bench server: a small helper process that runs the experiments of this Python process.

Why: fork() costs time in proportion to the memory of the process that forks - the kernel must
copy (and later tear down) its page tables: a Jupyter-sized process forks many times slower than
a small C program (figures: docs/performance.md). So the server is forklab-bench, a small C program
built beside the C core (csrc/server.c; statically linked where the system has a static libc, so a
bench has even fewer mappings to copy), started once with subprocess - which spawns with vfork and copies nothing. The
benches are forked from it, whatever the notebook holds; the notebook's own process is never forked
at all. A bench runs one experiment after another for as long as each leaves it as it was forked
(csrc/bench.c, bench_as_new; at most FL_BENCH_USES), which saves a process creation and exit per
experiment. There is no other way: where forklab-bench cannot be started, run() raises
BenchUnavailable, which says what to do. (FORKLAB_BENCH=direct, for tests only, forks the bench
from this process.)
What one experiment costs, beside a tiny C program's fork + wait: `make bench` (forklab.meters.benchmark);
the figures and their history: docs/performance.md.

Protocol: the server's first line says it is ready, with the sizes of a request and a result it was
built with and the id of the System V semaphore it made for the experiments. Then: write one struct
fl_request to its stdin, read one struct fl_result back. Each request carries FL_REQUEST_MAGIC, the
next sequence number (1, 2, 3, ... for each server) and a random nonce; the result carries a copy of
its request. The server ends on anything but its client's next request (bytes another process wrote
into the pipe); this side takes a result only if it carries back the very request it sent. An
exchange that was cut (a KeyboardInterrupt - Jupyter's interrupt button - while waiting, or no
answer in time) is never resumed: the server is ended and the next experiment gets a new one, so no
later request can be paired with an earlier answer.

Ending a server (csrc/bench_client.c says more): it is killed by its pid while it is our unreaped child; its
bench dies with it (PR_SET_PDEATHSIG), and every process of the experiment with its own parent
(PR_SET_PDEATHSIG again, set by the child itself). This side then checks that all of them are gone
before it says so, and removes the server's semaphore if the server could not.

The server ends when its stdin reaches end of file: when we close it at exit, or when this
process dies and the kernel closes it. (Not PR_SET_PDEATHSIG: that fires when the *thread* that
started the server ends, and threads come and go in a Jupyter kernel.)
"""
from __future__ import annotations

import atexit
import errno as _errno
import os
import resource
import select
import signal
import subprocess
import tempfile
import threading
import time

from forklab.engine import _core
from forklab.engine.errors import BenchFailed, BenchServerLost, BenchUnavailable
from forklab.host.procstat import all_processes, read_stat

ffi, lib = _core.ffi, _core.lib
REQUEST_SIZE = ffi.sizeof("struct fl_request")
RESULT_SIZE = ffi.sizeof("struct fl_result")
# The server says it is ready with the sizes it was built with: a server importing a rebuilt
# C core must not talk to a client holding the old one.
HELLO = b"forklab bench server ready"
SIZES = f" {REQUEST_SIZE} {RESULT_SIZE} ".encode()
STARTUP_TIMEOUT = 30.0      # a cold start on a slow disk
MARGIN = 2.0                # beyond the experiment's own timeout, which the server enforces itself
GONE_TIMEOUT = 2.0          # how long an ended server's processes get to vanish before we say they did
DISTURBED_TRIES = 3         # requests answered by another's result in a row before we give up

#: The server program. Tests point it elsewhere to see a missing or broken program reported.
PROGRAM = os.path.join(os.path.dirname(os.path.abspath(__file__)), "forklab-bench")

_REINSTALL = ("reinstall forklab (in the course folder: `make .venv/.installed-dev`, or "
              "`pip install -e lib`), then restart the kernel")


def _read_exactly(fd: int, size: int, deadline: float) -> bytes | None:
    """size bytes from fd; b"" at end of file; None if the deadline (monotonic) passes first."""
    chunks, got = [], 0
    while got < size:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            return None
        chunk = os.read(fd, size - got)
        if not chunk:
            return b""
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def _why_not_started(e: OSError, program: str) -> str:
    """A sentence for an OSError from starting the server: what happened and what to do."""
    if e.errno in (_errno.EMFILE, _errno.ENFILE):
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        scope = "this process has" if e.errno == _errno.EMFILE else "the whole system has"
        return (f"{scope} too many open files ({os.strerror(e.errno)}; this process may open {soft}): "
                "close some (files, sockets) or raise the limit with resource.setrlimit(RLIMIT_NOFILE), "
                "then run the experiment again")
    if e.errno == _errno.ENOENT:
        return f"{program} is missing: forklab's C core was not built completely; {_REINSTALL}"
    if e.errno in (_errno.ENOEXEC, _errno.EACCES):
        return (f"{program} is not a program this machine can run ({os.strerror(e.errno)}): it was built "
                f"for another machine or is damaged; {_REINSTALL}")
    if e.errno in (_errno.EAGAIN, _errno.ENOMEM):
        return (f"the system refused a new process ({os.strerror(e.errno)}: too many processes or too little "
                "memory right now); try again when fewer are running")
    return f"starting {program} failed: {os.strerror(e.errno or 0)}"


def _descendants(pid: int) -> dict[int, int]:
    """pid -> start time of every process below pid now (the start time tells a reused pid apart)."""
    procs = all_processes()
    below, todo = {}, [pid]
    while todo:
        parent = todo.pop()
        for p, st in procs.items():
            if st.ppid == parent and p not in below:
                below[p] = _start_time(p)
                todo.append(p)
    return below


def _start_time(pid: int) -> int | None:
    st = read_stat(pid)
    return None if st is None else st.starttime


def _still_there(procs: dict[int, int]) -> list[int]:
    """Those of procs that still exist (the same processes: same start time), zombies excluded."""
    left = []
    for p, started in procs.items():
        st = read_stat(p)
        if st is not None and st.state != "Z" and _start_time(p) == started:
            left.append(p)
    return left


class BenchServer:
    """The client side: one server per Python process, shared by its threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen | None = None
        self._owner = 0
        self._seq = 0               # the last request number sent to this server
        self._semaphore = -1        # the server's System V semaphore (removed here if the server cannot)

    @property
    def pid(self) -> int | None:
        proc = self._proc
        return proc.pid if proc is not None and self._owner == os.getpid() and proc.poll() is None else None

    def _start(self) -> None:
        program = PROGRAM
        if not os.access(program, os.X_OK):
            why = _errno.EACCES if os.path.exists(program) else _errno.ENOENT
            raise BenchUnavailable(why, f"the forklab bench server could not be started: "
                                   f"{_why_not_started(OSError(why, ''), program)}.")
        proc, semaphore = None, -1
        try:
            with tempfile.TemporaryFile() as errors:
                proc = subprocess.Popen([program, str(os.getpid())], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=errors, bufsize=0, close_fds=True,
                                        cwd="/")
                hello = self._hello(proc)
                if hello.startswith(HELLO + SIZES):
                    semaphore = int(hello[len(HELLO + SIZES):])
                else:
                    errors.seek(0)
                    why = errors.read().decode(errors="replace")[-500:] or f"it said {hello!r}"
                    if hello.startswith(HELLO):
                        why = ("forklab's C core was rebuilt while this Python process was running; "
                               "restart the kernel (or the interpreter) to use the new one")
                    raise BenchUnavailable(_errno.EIO, f"the forklab bench server did not start: {why}")
        except BaseException as e:
            # Whatever stopped us (a KeyboardInterrupt too), no server may stay behind unowned: a
            # Popen dropped while its process runs is kept alive by subprocess, pipes and all.
            if proc is not None:
                _kill_and_reap(proc)
                if semaphore >= 0:
                    lib.fl_semaphore_remove(semaphore)
                _close(proc)
            if isinstance(e, OSError) and not isinstance(e, BenchFailed):
                raise BenchUnavailable(e.errno or _errno.EIO, "the forklab bench server could not be started: "
                                       f"{_why_not_started(e, program)}.") from None
            raise
        self._proc, self._owner, self._seq, self._semaphore = proc, os.getpid(), 0, semaphore

    @staticmethod
    def _hello(proc) -> bytes:
        hello, deadline = b"", time.monotonic() + STARTUP_TIMEOUT
        while not hello.endswith(b"\n") and len(hello) < 200:     # one line, byte by byte
            byte = _read_exactly(proc.stdout.fileno(), 1, deadline)
            if not byte:
                break
            hello += byte
        return hello.rstrip(b"\n")

    def _reaped(self, proc) -> None:
        """The server has been reaped: remove its semaphore if it could not (it was killed)."""
        if proc.returncode is not None and proc.returncode < 0 and self._semaphore >= 0:
            lib.fl_semaphore_remove(self._semaphore)
        self._semaphore = -1
        _close(proc)

    def _end(self, proc) -> list[int]:
        """Kill the server (our unreaped child: its pid is ours), reap it, and wait until every process
        it had started is gone. Returns the pids of those still there after GONE_TIMEOUT. Runs to the
        end even if interrupted (the interrupt is raised after)."""
        self._proc = None
        below = {}
        try:
            if proc.poll() is None:
                below = _descendants(proc.pid)
        finally:
            try:
                _kill_and_reap(proc)
            finally:
                self._reaped(proc)
        deadline = time.monotonic() + GONE_TIMEOUT
        while (left := _still_there(below)) and time.monotonic() < deadline:
            time.sleep(0.01)
        return left

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or self._owner != os.getpid():
            return
        try:
            proc.stdin.close()                 # end of file: the server ends its bench and returns
            proc.wait(timeout=2)
            self._reaped(proc)
        except subprocess.TimeoutExpired:
            self._end(proc)

    def _forget_after_fork(self) -> None:
        """In a forked child: the pipes belong to the parent's server; leave them alone."""
        self._lock = threading.Lock()
        if self._proc is not None:
            for pipe in (self._proc.stdin, self._proc.stdout):
                try:
                    os.close(pipe.fileno())
                except OSError:
                    pass
        self._proc = None
        self._semaphore = -1

    def run(self, req, res, timeout: float) -> None:
        """Like lib.fl_run(req, res), through the server: res is the answer to req and to nothing else.
        The experiment's own outcomes come back in res; BenchServerLost when the server was lost."""
        req.magic = lib.FL_REQUEST_MAGIC
        with self._lock:
            for _ in range(DISTURBED_TRIES):
                if self.pid is None:
                    if self._proc is not None:        # it died while idle (killed by the student, the OOM killer)
                        self._reaped(self._proc)
                        self._proc = None
                    self._start()
                proc = self._proc
                self._seq += 1
                req.seq = self._seq
                req.nonce = int.from_bytes(os.urandom(8), "little")
                start = time.monotonic()
                try:
                    try:
                        os.write(proc.stdin.fileno(), ffi.buffer(req))
                    except BrokenPipeError:
                        got = 0                        # it ended before it read the request
                    else:
                        got = _read_into(proc.stdout.fileno(), ffi.buffer(res), start + timeout + MARGIN)
                except BaseException:
                    # Cut half-way (KeyboardInterrupt): the server will answer a request nobody waits
                    # for. Never read that answer as another's: end this server.
                    self._end(proc)
                    raise
                if got == RESULT_SIZE and ffi.buffer(ffi.addressof(res, "request"))[:] == ffi.buffer(req)[:]:
                    return
                if got == RESULT_SIZE:                # an answer to another's request: written into its pipe
                    self._end(proc)
                    continue
                if got is None:
                    raise self._no_answer(proc, time.monotonic() - start, timeout)
                proc.wait()                            # it ended (short answer): how?
                self._proc = None
                self._reaped(proc)
                if proc.returncode == 3:               # it refused what it read: another's bytes in its pipe
                    continue
                raise BenchServerLost(_errno.EIO, _lost_sentence(proc.returncode))
            raise BenchServerLost(_errno.EIO, (
                f"the bench server's input was disturbed {DISTURBED_TRIES} times in a row: another process "
                "is writing into the pipe this Python process uses to send it experiments. Its answers were "
                "thrown away, never shown as yours. Stop that process and run the experiment again."))

    def _no_answer(self, proc, waited: float, timeout: float) -> BenchServerLost:
        st = read_stat(proc.pid)
        state = st.state if st else None
        left = self._end(proc)
        fate = ("forklab killed it - and with it its bench and every process of the experiment, which "
                "are gone now" if not left else
                f"forklab killed it, but {len(left)} of the processes it had started (pids "
                f"{', '.join(map(str, left))}) were still there {GONE_TIMEOUT:g} s later")
        if state in ("T", "t"):
            how = ("was stopped (SIGSTOP or a stop signal from outside)" if state == "T" else
                   "is held by a debugger (ptrace)")
            return BenchServerLost(_errno.ETIMEDOUT, (
                f"the bench server (pid {proc.pid}) {how}, so it could not answer; after waiting "
                f"{waited:.1f} s {fate}. Nothing was observed; the next experiment starts a new server."))
        return BenchServerLost(_errno.ETIMEDOUT, (
            f"the bench server (pid {proc.pid}) did not answer within {waited:.1f} s (the experiment's limit "
            f"was {timeout:g} s, which the server enforces itself); {fate}. Nothing was observed; the next "
            "experiment starts a new server."))


def _lost_sentence(returncode: int) -> str:
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        how = f"was killed by {name}"
    else:
        how = f"ended (exit status {returncode})"
    return (f"the bench server {how} during the experiment; its bench and the experiment's processes "
            "died with it. Nothing was observed; the next experiment starts a new server.")


def _kill_and_reap(proc) -> None:
    """SIGKILL a server we have not reaped (Popen signals only then) and reap it; an interrupt that comes
    meanwhile is raised once it is reaped."""
    interrupted = None
    try:
        proc.kill()
    except KeyboardInterrupt as e:
        interrupted = e
        proc.kill()
    while True:
        try:
            proc.wait()
            break
        except KeyboardInterrupt as e:
            interrupted = e
    if interrupted is not None:
        raise interrupted


def _close(proc) -> None:
    for pipe in (proc.stdin, proc.stdout):
        try:
            pipe.close()
        except OSError:
            pass


def _read_into(fd: int, buffer, deadline: float) -> int | None:
    """Fill buffer from fd: how many bytes came before end of file; None if the deadline
    (monotonic) passed first. Reads straight into the result struct, without copies."""
    view, got, size = memoryview(buffer), 0, len(buffer)
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    while got < size:
        left = deadline - time.monotonic()
        if left <= 0 or not poller.poll(left * 1000):
            return None
        n = os.readv(fd, [view[got:]])
        if not n:
            break
        got += n
    return got


_server = BenchServer()
atexit.register(_server.stop)
os.register_at_fork(after_in_child=_server._forget_after_fork)


def server_pid() -> int | None:
    """The bench server's PID, if it is running (tests look for leftovers beside it)."""
    return _server.pid


def stop_server() -> None:
    """Stop the bench server and its benches, removing its semaphore; the next experiment starts a new
    one (tests and the soak start afresh, e.g. under another resource limit)."""
    _server.stop()


def run_experiment(req, res, timeout: float) -> None:
    """Run one experiment through the bench server (forklab-bench). FORKLAB_BENCH=direct, a hook for
    tests, forks the bench from this process instead. Raises BenchUnavailable if the server cannot be
    started, BenchServerLost if it was lost during the experiment; the experiment's own outcomes
    (refused, timed out, crashed) come back in res."""
    if os.environ.get("FORKLAB_BENCH") == "direct":
        lib.fl_run(req, res)    # releases the GIL while it runs
        return
    _server.run(req, res, timeout)
