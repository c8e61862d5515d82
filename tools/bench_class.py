#!/usr/bin/env python3
"""make bench-class: a whole class on one machine - N student kernels driving the course at once.

    python tools/bench_class.py [--kernels 20] [--rounds 10] [--c-cells 3]

Starts N Python kernels with jupyter_client (what a hub's N single-user servers would run; the hub
itself costs nothing per experiment), then, all kernels at the same time:
  1. the flag explorer's sequence from notebook 12, --rounds times: CLONE_VM, CLONE_SIGHAND (refused,
     explained), the suggested fix, then every preset - each step one experiment in the sandbox,
     timed in the kernel from the change to the redrawn picture;
  2. --c-cells %%c cells each: a C program that forks, waits and prints, compiled and run supervised.
Prints p50/p95 latency of both, CPU time per experiment and per %%c cell (kernel + its bench server +
everything they reaped: the bench processes, the compiler, the supervisor; from /proc/PID/stat), and
the memory an idle student costs (kernel + bench server: RSS and PSS from /proc/PID/smaps_rollup).
Figures, not assertions: a busy machine changes them. Every kernel is shut down at the end, and each
bench server is checked to be gone (they end with their kernel).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from jupyter_client.manager import AsyncKernelManager

from forklab.host.procstat import tree_cpu_seconds as cpu_seconds   # utime + stime of a pid and what it reaped


SETUP = """\
import json, os, time
from forklab.explorer.widgets import explore
from forklab.explorer.presets import PRESETS
from forklab.engine.benchserver import server_pid
get_ipython().run_line_magic("load_ext", "forklab.course.cell_magic")
_ex = explore()
_steps = [lambda: setattr(_ex, "flags", ("CLONE_VM",)),
          lambda: setattr(_ex, "flags", ("CLONE_SIGHAND",)),     # refused: EINVAL, with a fix
          _ex.apply_fix]
_steps += [lambda name=name: _ex.preset(name) for name in PRESETS]
assert _ex.observation is not None, _ex.error or _ex.problem
print(json.dumps({"kernel": os.getpid(), "bench": server_pid(), "steps": len(_steps)}))
"""

TOGGLES = """\
_lat, _bad = [], []
for _ in range({rounds}):
    for _step in _steps:
        _before = _ex.last_timing
        _t = time.perf_counter()
        _step()
        _lat.append((time.perf_counter() - _t) * 1000)
        if _ex.last_timing is _before or (_ex.observation is None and _ex.error is None):
            _bad.append(repr(_ex.problem))
print(json.dumps({{"ms": _lat, "bad": _bad}}))
"""

C_PROGRAM = r"""#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>
int main(void) {
    pid_t pid = fork();
    if (pid == 0) _exit(7);
    int status;
    waitpid(pid, &status, 0);
    printf("child %d exited with %d\n", (int)pid, WEXITSTATUS(status));
    return 0;
}
"""

C_CELLS = """\
import io, contextlib
_lat, _bad = [], []
for _ in range({cells}):
    _out = io.StringIO()
    _t = time.perf_counter()
    with contextlib.redirect_stdout(_out):
        get_ipython().run_cell_magic("c", "", {program!r})
    _lat.append((time.perf_counter() - _t) * 1000)
    if "exited with 7" not in _out.getvalue() or "[exit status 0]" not in _out.getvalue():
        _bad.append(_out.getvalue())
print(json.dumps({{"ms": _lat, "bad": _bad}}))
"""


def memory_kb(pid: int) -> dict[str, int]:
    with open(f"/proc/{pid}/smaps_rollup") as f:
        next(f)                                    # the address range of the rollup
        rows = dict(line.split(":", 1) for line in f if ":" in line)
    return {k: int(rows[k].split()[0]) for k in ("Rss", "Pss") if k in rows}


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


class Student:
    """One kernel and its client (asyncio: every kernel is driven from one event loop, no threads)."""

    def __init__(self):
        self.km = AsyncKernelManager(kernel_name="python3")
        self.kc = None
        self.pids: dict = {}

    async def start(self, cwd: str):
        await self.km.start_kernel(cwd=cwd, stderr=subprocess.DEVNULL)   # each kernel's start-up warnings
        self.kc = self.km.client()
        self.kc.start_channels()
        await self.kc.wait_for_ready(timeout=120)

    async def run(self, code: str, timeout: float = 600) -> dict:
        out, errors = [], []

        def hook(msg):
            if msg["msg_type"] == "stream" and msg["content"]["name"] == "stdout":
                out.append(msg["content"]["text"])
            elif msg["msg_type"] == "error":
                errors.append(f"{msg['content']['ename']}: {msg['content']['evalue']}")
        await self.kc.execute_interactive(code, timeout=timeout, output_hook=hook, allow_stdin=False)
        if errors:
            raise RuntimeError(f"a kernel failed: {errors[0]}")
        return json.loads("".join(out).strip().splitlines()[-1])

    def cpu(self) -> tuple[float, float]:
        """(kernel, bench server + the benches it reaped) CPU seconds so far. The kernel's figure
        includes what it reaped: the compiler and the supervisor of %%c cells."""
        return cpu_seconds(self.pids["kernel"]), cpu_seconds(self.pids["bench"])

    async def stop(self):
        if self.kc is not None:
            self.kc.stop_channels()
        try:
            await self.km.shutdown_kernel(now=False)    # the kernel ends; its bench server sees end of file
        except Exception as e:                           # never leave a kernel behind
            print(f"kernel shutdown failed ({type(e).__name__}: {e}); killing it", file=sys.stderr)
            await self.km.shutdown_kernel(now=True)


async def phase(students, code: str, per_kernel: int, what: str) -> dict:
    """Run code in every kernel at the same time: latencies as the kernels measured them, CPU from /proc."""
    cpu0, wall0 = [s.cpu() for s in students], time.monotonic()
    results = await asyncio.gather(*(s.run(code) for s in students))
    wall, cpu1 = time.monotonic() - wall0, [s.cpu() for s in students]
    kernel = sum(b[0] - a[0] for a, b in zip(cpu0, cpu1))
    bench = sum(b[1] - a[1] for a, b in zip(cpu0, cpu1))
    bad = [b for r in results for b in r["bad"]]
    if bad:
        raise RuntimeError(f"{len(bad)} {what} went wrong, e.g. {bad[0][:300]}")
    ms = [x for r in results for x in r["ms"]]
    count = len(students) * per_kernel
    return {"n": count, "p50_ms": percentile(ms, 50), "p95_ms": percentile(ms, 95), "max_ms": max(ms),
            "cpu_ms_each": (kernel + bench) / count * 1000, "bench_cpu_ms_each": bench / count * 1000,
            "wall_s": wall, "per_s": count / wall}


async def drive(args, tmp: str) -> tuple[dict, dict, list, list, int]:
    students = [Student() for _ in range(args.kernels)]
    started = time.monotonic()
    try:
        for s in students:          # one at a time: 20 interpreters starting at once only thrash
            await s.start(tmp)
        for s in students:
            s.pids = await s.run(SETUP)
        steps = students[0].pids["steps"]
        print(f"{args.kernels} kernels started and warmed up in {time.monotonic() - started:.1f} s "
              f"({os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} before the run)")
        await asyncio.sleep(2)      # let them settle: idle memory is what a student costs between cells
        mem = [(memory_kb(s.pids["kernel"]), memory_kb(s.pids["bench"])) for s in students]
        toggles = await phase(students, TOGGLES.format(rounds=args.rounds), steps * args.rounds, "toggles")
        ccells = await phase(students, C_CELLS.format(cells=args.c_cells, program=C_PROGRAM), args.c_cells,
                             "%%c cells")
        return toggles, ccells, mem, [s.pids["bench"] for s in students], steps
    finally:
        await asyncio.gather(*(s.stop() for s in students), return_exceptions=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kernels", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=10, help="times each kernel runs the explorer's sequence")
    ap.add_argument("--c-cells", type=int, default=3, help="%%c cells each kernel runs")
    args = ap.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="forklab-bench-class-") as tmp:
        toggles, ccells, mem, bench_pids, steps = asyncio.run(drive(args, tmp))
    left = [pid for pid in bench_pids if os.path.exists(f"/proc/{pid}")]
    deadline = time.monotonic() + 10
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = [pid for pid in left if os.path.exists(f"/proc/{pid}")]

    def mb(kb):
        return f"{kb / 1024:.1f} MB"
    print(f"flag explorer, {args.kernels} kernels at once, {toggles['n']} experiments "
          f"({steps} steps x {args.rounds} rounds each): change -> redrawn picture "
          f"p50 {toggles['p50_ms']:.1f} ms, p95 {toggles['p95_ms']:.1f} ms, max {toggles['max_ms']:.0f} ms; "
          f"{toggles['per_s']:.0f} experiments/s")
    print(f"  CPU per experiment: {toggles['cpu_ms_each']:.2f} ms, of which the sandbox (bench server and the "
          f"bench it forks) {toggles['bench_cpu_ms_each']:.2f} ms, the kernel (forklab.run, the widget's "
          f"redraw) the rest")
    print(f"%%c cells, {args.kernels} kernels at once, {ccells['n']} cells (compile + run a forking program): "
          f"p50 {ccells['p50_ms']:.0f} ms, p95 {ccells['p95_ms']:.0f} ms, max {ccells['max_ms']:.0f} ms")
    print(f"  CPU per %%c cell (compiler, supervisor, program): {ccells['cpu_ms_each']:.0f} ms")
    for key in ("Rss", "Pss"):
        kern = [k[key] for k, _ in mem]
        bench = [b[key] for _, b in mem]
        total = [a + b for a, b in zip(kern, bench)]
        print(f"idle student, {key}: kernel {mb(statistics.median(kern))}, bench server {mb(statistics.median(bench))},"
              f" together {mb(statistics.median(total))} (median; max {mb(max(total))})")
    print(f"all {args.kernels} kernels shut down; bench servers still running: {len(left)}")
    return 1 if left else 0


if __name__ == "__main__":
    sys.exit(main())
