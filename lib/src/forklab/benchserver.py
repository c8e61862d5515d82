"""The bench server: a small helper process that runs the experiments of this Python process.

Why: fork() costs time in proportion to the memory of the process that forks - the kernel must
copy (and later tear down) its page tables. Measured on the course machine: a Jupyter-sized
process holding 219 MB took 17 ms per bare fork + wait, a bare Python interpreter ~1 ms, a small
C program ~0.2 ms. So the server is forklab-bench, a small C program built beside the C core
(csrc/server.c; statically linked where the system has a static libc, so a bench has even fewer
mappings to copy), started once with subprocess - which spawns with vfork and copies nothing. The
benches are forked from it, whatever the notebook holds; the notebook's own process is never forked
at all. A bench runs one experiment after another for as long as each leaves it as it was forked
(csrc/run.c, bench_as_new; at most FL_BENCH_USES), which saves a process creation and exit per
experiment. Where forklab-bench is missing, a Python interpreter serves instead (a bench per
experiment).
What one experiment costs in CPU, beside a tiny C program's fork + wait: `make bench` (forklab.benchmark).

Protocol: write one struct fl_request to the server's stdin, read one struct fl_result back.
The server ends when its stdin reaches end of file: when we close it at exit, or when this
process dies and the kernel closes it. (Not PR_SET_PDEATHSIG: that fires when the *thread* that
started the server ends, and threads come and go in a Jupyter kernel.) Each bench dies with the
server (the server is single-threaded, so PR_SET_PDEATHSIG is right there).
Set FORKLAB_BENCH=direct to run experiments from this process instead (no server).
"""
from __future__ import annotations

import atexit
import os
import select
import subprocess
import sys
import tempfile
import threading
import time

from . import _core
from .errors import BenchFailed

ffi, lib = _core.ffi, _core.lib
REQUEST_SIZE = ffi.sizeof("struct fl_request")
RESULT_SIZE = ffi.sizeof("struct fl_result")
# The server says it is ready with the sizes it was built with: a server importing a rebuilt
# C core must not talk to a client holding the old one.
HELLO = b"forklab bench server ready"
READY = HELLO + f" {REQUEST_SIZE} {RESULT_SIZE}\n".encode()
STARTUP_TIMEOUT = 30.0      # a cold interpreter on a slow disk
MARGIN = 2.0                # beyond the experiment's own timeout, which fl_run() enforces itself


def _read_exactly(fd: int, size: int, deadline: float | None) -> bytes | None:
    """size bytes from fd; b"" at end of file; None if the deadline (monotonic) passes first."""
    chunks, got = [], 0
    while got < size:
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and (left <= 0 or not select.select([fd], [], [], left)[0]):
            return None
        chunk = os.read(fd, size - got)
        if not chunk:
            return b""
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def serve() -> None:
    """The server's main loop in Python (runs in the helper process when forklab-bench is missing)."""
    if lib.fl_server_prepare(int(sys.argv[1])) != 0:
        return
    req, res = ffi.new("struct fl_request *"), ffi.new("struct fl_result *")
    os.write(1, READY)
    while True:
        data = _read_exactly(0, REQUEST_SIZE, None)
        if not data:
            return
        ffi.buffer(req)[:] = data
        lib.fl_run(req, res)
        view = memoryview(bytes(ffi.buffer(res)))
        while view:
            view = view[os.write(1, view):]


class BenchServer:
    """The client side: one server per Python process, shared by its threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen | None = None
        self._owner = 0

    @property
    def pid(self) -> int | None:
        proc = self._proc
        return proc.pid if proc is not None and self._owner == os.getpid() and proc.poll() is None else None

    def _start(self) -> None:
        program = os.path.join(os.path.dirname(os.path.abspath(__file__)), "forklab-bench")
        if os.access(program, os.X_OK):
            argv = [program, str(os.getpid())]
        else:
            code = (f"import sys; sys.path[:0] = {[p for p in sys.path if p]!r}; "
                    "from forklab.benchserver import serve; serve()")
            argv = [sys.executable, "-c", code, str(os.getpid())]
        errors = tempfile.TemporaryFile()
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=errors, bufsize=0, close_fds=True,
                                cwd="/")
        hello, deadline = b"", time.monotonic() + STARTUP_TIMEOUT
        while not hello.endswith(b"\n") and len(hello) < 200:     # one line, byte by byte
            byte = _read_exactly(proc.stdout.fileno(), 1, deadline)
            if not byte:
                break
            hello += byte
        if hello != READY:
            proc.kill()
            proc.wait()
            errors.seek(0)
            why = errors.read().decode(errors="replace")[-500:]
            if hello.startswith(HELLO):
                why = ("forklab's C core was rebuilt while this Python process was running; "
                       "restart the kernel (or the interpreter) to use the new one")
            raise BenchFailed(5, f"the forklab bench server did not start: {why}")
        errors.close()
        self._proc, self._owner = proc, os.getpid()

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or self._owner != os.getpid():
            return
        proc.stdin.close()                 # end of file: the server returns
        try:
            proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()

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

    def run(self, req, res, timeout: float) -> None:
        """Like lib.fl_run(req, res), through the server. Never raises for the experiment's sake."""
        with self._lock:
            for attempt in (1, 2):
                if self.pid is None:      # (a killed server's waiting bench may still hold the pipe)
                    self._start()
                proc = self._proc
                try:
                    os.write(proc.stdin.fileno(), ffi.buffer(req))
                except BrokenPipeError:           # the server is gone: start another once
                    proc.kill()
                    proc.wait()
                    self._proc = None
                    continue
                got = _read_into(proc.stdout.fileno(), ffi.buffer(res), time.monotonic() + timeout + MARGIN)
                if got == RESULT_SIZE:
                    return
                # No answer in time (None), or the server died (short): end it; its bench dies with it.
                alive = got is None
                proc.kill()
                proc.wait()
                self._proc = None
                ffi.buffer(res)[:] = b"\0" * RESULT_SIZE
                res.outcome = lib.FL_TIMEOUT if alive else lib.FL_SETUP
                res.error = 0 if alive else 5   # EIO
                ffi.memmove(res.where, b"bench server", 12)
                return


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


def run_experiment(req, res, timeout: float) -> None:
    """Run one experiment: through the bench server, or directly if FORKLAB_BENCH=direct."""
    if os.environ.get("FORKLAB_BENCH") != "direct":
        try:
            return _server.run(req, res, timeout)
        except BenchFailed:
            raise
        except OSError:
            pass            # no server here (an unusual embedding): fork the bench from this process
    lib.fl_run(req, res)    # releases the GIL while it runs
