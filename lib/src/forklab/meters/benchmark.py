"""make bench: what does an experiment cost? Figures, not assertions (a noisy machine must not fail a test).

    python -m forklab.meters.benchmark [--runs N]

Prints, side by side in one run (alternating blocks, so both see the same load), the CPU time (user +
system) of forklab.run("clone", ["CLONE_VM"]) counting every process it involves - the calling Python
thread (time.thread_time), the bench server, the benches it forks and the experiments' children (the
server's own CPU plus what it reaped, /proc/PID/stat) - beside the floor: a tiny C program's fork() +
waitpid(), parent and child, compiled the ordinary way (cc -O2), in CPU and in wall time, from a bare
Python caller and from a notebook-sized one (about 100 MB of Python objects and 50 MiB of data). Target
(issue 23): <= 2.0x the floor. Then where an experiment's wall time goes step by step, the Python
thread's part by stage, the other primitives, a C cell alone and beside 2,000 other processes (the
sandbox's cost must not grow with the host) and, when ipywidgets is installed, the flag explorer's
toggles; with Chromium and Playwright, tools/bench_clicks.py times clicks in a real browser.

The figures measured so far, their history (what each change saved, with its commit) and where the
time goes: docs/performance.md.
"""
from __future__ import annotations

import argparse
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from forklab.engine import benchserver
from forklab.engine.experiment import run
from forklab.host.procstat import tree_cpu_seconds


def _times_ms(fn, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


def percentile(values: list[float], p: float) -> float:
    """The p-th percentile (0-100), interpolating linearly between the two nearest values."""
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


#: The floor: a tiny C program that forks a child which _exits at once, and waits for it, n times. It
#: reports the CPU time (user + system) of itself and its reaped children, and the wall time.
_HERE = Path(__file__).parent
FLOOR_C = (_HERE / "fork_wait_floor.c").read_text()

def _process_tree_cpu_s(pid: int) -> float:
    """CPU time (user + system) of process pid and of every child it has reaped (which includes what
    those children reaped): fields utime, stime, cutime, cstime of /proc/PID/stat."""
    return tree_cpu_seconds(pid)


class Floor:
    """The tiny C program, compiled the ordinary way (cc -O2, dynamically linked)."""

    def __init__(self, workdir: str) -> None:
        from forklab.sandbox.runner import compile_c
        ok, output, self.binary = compile_c(FLOOR_C, Path(workdir), cflags=["-O2"])
        if not ok:
            raise RuntimeError(f"the floor program did not compile:\n{output}")

    def run(self, n: int) -> tuple[float, float]:
        """(CPU ms, wall ms) per fork + wait, over n of them."""
        out = subprocess.run([str(self.binary), str(n)], capture_output=True, text=True, timeout=60, check=True)
        cpu_ns, wall_ns = map(int, out.stdout.split())
        return cpu_ns / n / 1e6, wall_ns / n / 1e6


def experiment_vs_floor(runs: int = 2000, blocks: int = 20) -> dict[str, float]:
    """CPU and wall time of forklab.run("clone", ["CLONE_VM"]) beside the floor, in alternating blocks
    (both see the same load; the wall ratio is the median of the blocks' ratios). The experiment's CPU counts every process it involves: the calling
    Python thread (time.thread_time), the bench server, its benches and their children (the server's
    own CPU plus what it reaped, from /proc). Milliseconds per experiment / per fork + wait."""
    for _ in range(50):                                   # warm up (and start the bench server)
        run("clone", ["CLONE_VM"])
    server = benchserver.server_pid()
    if server is None:
        raise RuntimeError("no bench server is running: the benchmark measures the server's CPU")
    per_block = max(1, runs // blocks)
    client_s = server_s = 0.0
    walls: list[float] = []
    block_walls: list[float] = []                         # mean wall time per experiment in each block
    floor_cpu, floor_wall = [], []
    with tempfile.TemporaryDirectory(prefix="forklab-floor-") as tmp:
        floor = Floor(tmp)
        floor.run(50)
        for _ in range(blocks):
            time.sleep(0.005)                             # the server reaps the last bench, then waits
            s0, c0 = _process_tree_cpu_s(server), time.thread_time()
            w0 = time.perf_counter()
            for _ in range(per_block):
                t = time.perf_counter()
                run("clone", ["CLONE_VM"])
                walls.append((time.perf_counter() - t) * 1000)
            block_walls.append((time.perf_counter() - w0) * 1000 / per_block)
            c1 = time.thread_time()
            time.sleep(0.005)
            s1 = _process_tree_cpu_s(server)
            client_s += c1 - c0
            server_s += s1 - s0
            cpu, wall = floor.run(per_block)
            floor_cpu.append(cpu)
            floor_wall.append(wall)
    n = per_block * blocks
    client_ms, server_ms = client_s * 1000 / n, server_s * 1000 / n
    floor_ms = statistics.mean(floor_cpu)
    # Wall time on a shared machine: each block's mean (preemptions included, as in the floor's own
    # figure) over the floor's in the block beside it, then the median of those ratios.
    wall_ratio = statistics.median(e / f for e, f in zip(block_walls, floor_wall))
    return {"runs": n, "client_cpu_ms": client_ms, "server_cpu_ms": server_ms,
            "experiment_cpu_ms": client_ms + server_ms, "floor_cpu_ms": floor_ms,
            "ratio": (client_ms + server_ms) / floor_ms,
            "experiment_ms": statistics.median(walls), "experiment_p95_ms": percentile(walls, 95),
            "experiment_mean_ms": statistics.median(block_walls),
            "floor_wall_ms": statistics.median(floor_wall), "wall_ratio": wall_ratio}


class NotebookSizedCaller:
    """What a notebook's kernel holds by the time a student runs experiments: about 100 MB of Python
    objects (small lists of an int, a str and a float: the cyclic garbage collector tracks every one)
    and 50 MiB of data (a bytearray, every page touched). Kept alive while the object is; rss_mb says
    what it added."""

    def __init__(self, python_mb: int = 100, data_mib: int = 50) -> None:
        before = _rss_mb()
        self.objects = [[i, str(i), float(i)] for i in range(python_mb * 4300)]   # ~233 B each, measured
        self.data = bytearray(data_mib << 20)
        self.data[::4096] = b"\1" * len(range(0, len(self.data), 4096))
        self.rss_mb = _rss_mb() - before


def notebook_sized_caller_cost(runs: int = 1500, blocks: int = 8) -> dict[str, float]:
    """What a notebook-sized caller adds to an experiment's CPU, in alternating blocks (bare, notebook-sized,
    notebook-sized, bare, ...: the same server, the same load): microseconds per experiment of the Python
    thread and of the server's side, for each caller (medians of the blocks)."""
    import gc
    for _ in range(50):
        run("clone", ["CLONE_VM"])
    server = benchserver.server_pid()
    if server is None:
        raise RuntimeError("no bench server is running: the benchmark measures the server's CPU")
    got: dict[str, list[tuple[float, float]]] = {"bare": [], "notebook-sized": []}
    for i in range(blocks):
        for caller in (("bare", "notebook-sized") if i % 2 == 0 else ("notebook-sized", "bare")):
            ballast = NotebookSizedCaller() if caller == "notebook-sized" else None
            time.sleep(0.005)
            s0, c0 = _process_tree_cpu_s(server), time.thread_time()
            for _ in range(runs):
                run("clone", ["CLONE_VM"])
            c1 = time.thread_time()
            time.sleep(0.005)
            got[caller].append(((c1 - c0) * 1e6 / runs, (_process_tree_cpu_s(server) - s0) * 1e6 / runs))
            del ballast
            gc.collect()
    return {f"{caller} {part}_us": statistics.median(b[k] for b in blocks_)
            for caller, blocks_ in got.items() for k, part in enumerate(("python", "server"))}


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def client_stages(runs: int = 2000) -> dict[str, float]:
    """Where the calling Python thread's CPU goes in one experiment (time.thread_time, ms): checking
    the request, the round trip through the bench server's pipe (writing, sleeping in poll, being
    woken, reading the result), making the Observation; and, paid only when something reads the
    verdicts (a table, a picture), building them from the readings."""
    from forklab.engine.experiment import c_request, observation_from
    from forklab.engine.request import check_request
    from forklab.engine.verdicts import verdicts_from
    primitive, mask, signal_name, timeout = check_request("clone", ["CLONE_VM"], "SIGCHLD", 2.0)
    req, res = c_request(primitive, mask, signal_name, timeout)
    benchserver.run_experiment(req, res, 2.0)

    def cpu(fn) -> float:
        start = time.thread_time()
        for _ in range(runs):
            fn()
        return (time.thread_time() - start) * 1000 / runs

    return {"check_ms": cpu(lambda: check_request("clone", ["CLONE_VM"], "SIGCHLD", 2.0)),
            "round_trip_ms": cpu(lambda: benchserver.run_experiment(req, res, 2.0)),
            "observation_ms": cpu(lambda: observation_from(res, "clone", req.flags, "SIGCHLD", 2.0, 0.0)),
            "verdicts_on_first_use_ms": cpu(lambda: verdicts_from(res))}


#: The steps of one experiment's wall time: (name, from, to), the ends being the client's clock
#: before and after benchserver.run_experiment ("call", "back") or an FL_T_* stamp the C side took
#: (CLOCK_MONOTONIC, the same clock as time.monotonic_ns).
WALL_STEPS = [("client writes, server wakes and reads", "call", "FL_T_START"),
              ("server hands it to the bench", "FL_T_START", "FL_T_BENCH"),
              ("bench prepares and records", "FL_T_BENCH", "FL_T_PREPARED"),
              ("clone() returns in the parent", "FL_T_PREPARED", "FL_T_CREATED"),
              ("child probes and reports", "FL_T_CREATED", "FL_T_REPORTED"),
              ("child ends and is reaped", "FL_T_REPORTED", "FL_T_REAPED"),
              ("bench compares and cleans up", "FL_T_REAPED", "FL_T_BENCH_END"),
              ("bench says done, server wakes", "FL_T_BENCH_END", "FL_T_END"),
              ("server writes, client wakes and reads", "FL_T_END", "back")]


def wall_stages(runs: int = 1000) -> dict[str, float]:
    """Where one experiment's wall time goes, step by step (WALL_STEPS; median ms of each), plus the
    Python around the round trip (forklab.run's whole time minus the round trip's)."""
    from forklab.engine.experiment import c_request, c_timestamps
    from forklab.engine.request import check_request
    req, res = c_request(*check_request("clone", ["CLONE_VM"], "SIGCHLD", 2.0))
    steps: dict[str, list[float]] = {name: [] for name, _, _ in WALL_STEPS}
    for _ in range(runs):
        call = time.monotonic_ns()
        benchserver.run_experiment(req, res, 2.0)
        stamps = {"call": call, "back": time.monotonic_ns(), **c_timestamps(res)}
        for name, a, b in WALL_STEPS:
            steps[name].append((stamps[b] - stamps[a]) / 1e6)
    out = {name: statistics.median(v) for name, v in steps.items()}
    around = []
    for _ in range(runs):          # run()'s whole time minus its own round trip (Observation.duration_ms)
        t = time.perf_counter()
        obs = run("clone", ["CLONE_VM"])
        around.append((time.perf_counter() - t) * 1000 - obs.duration_ms)
    out["Python around it (checking, structs, Observation)"] = statistics.median(around)
    return out


def explorer_toggles(n: int = 200) -> dict:
    """Time n programmatic toggles of CLONE_VM in the flag explorer: (a) toggle -> redrawn view,
    (b) the part beyond the experiment itself (checking, diffing, rendering, syncing the widgets).
    Milliseconds."""
    from forklab.explorer.widgets import FlagExplorer
    ex = FlagExplorer()
    ex.flags = ("CLONE_VM",)                 # warm up
    totals, beyond = [], []
    for i in range(n):
        start = time.perf_counter()
        ex.flags = () if i % 2 == 0 else ("CLONE_VM",)
        totals.append((time.perf_counter() - start) * 1000)
        beyond.append(totals[-1] - ex.last_timing["experiment_ms"])
        if ex.observation is None:
            raise RuntimeError(f"the benchmark's experiment failed: {ex.error or ex.problem}")
    return {"n": n,
            "toggle_p50_ms": percentile(totals, 50), "toggle_p95_ms": percentile(totals, 95),
            "beyond_p50_ms": percentile(beyond, 50), "beyond_p95_ms": percentile(beyond, 95)}


HELLO_C = (_HERE / "hello.c").read_text()


def _crowd(n: int) -> subprocess.Popen:
    """n idle processes in a session of their own (end it with _disperse)."""
    crowd = subprocess.Popen([sys.executable, "-I", str(_HERE / "idle_crowd.py"), str(n)], stdout=subprocess.PIPE,
                             start_new_session=True)
    crowd.stdout.readline()
    return crowd


def _disperse(crowd: subprocess.Popen) -> None:
    os.killpg(crowd.pid, signal.SIGKILL)
    crowd.wait()
    crowd.stdout.close()


def _children_cpu_ms(fn) -> float:
    """CPU time (user + system) that fn's finished child processes used: steadier than wall time on a
    busy machine, and what a hub pays for."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    fn()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) * 1000


def c_cell_vs_crowded_host(runs: int = 15, others: int = 2000) -> dict[str, float]:
    """A hello-world C cell (compile + supervised run) alone and with `others` idle processes on the
    machine: median wall time and median CPU time of the processes it starts."""
    from forklab.sandbox.runner import run_c
    cell = lambda: run_c(HELLO_C)  # noqa: E731
    cell()                                                 # warm the compiler's caches
    quiet_ms, quiet_cpu = _times_ms(cell, runs), [_children_cpu_ms(cell) for _ in range(runs)]
    crowd = _crowd(others)
    try:
        crowded_ms, crowded_cpu = _times_ms(cell, runs), [_children_cpu_ms(cell) for _ in range(runs)]
    finally:
        _disperse(crowd)
    m = statistics.median
    return {"others": others, "quiet_ms": m(quiet_ms), "crowded_ms": m(crowded_ms),
            "quiet_cpu_ms": m(quiet_cpu), "crowded_cpu_ms": m(crowded_cpu),
            "cpu_slower_by": m(crowded_cpu) / m(quiet_cpu) - 1}


def print_vs_floor(r: dict, caller: str) -> None:
    print(f"forklab.run('clone', ['CLONE_VM']) from {caller}, beside the floor (a tiny C program's fork() + "
          f"waitpid()), {r['runs']} of each, side by side:")
    print(f"  CPU (user + system, every process involved): {r['experiment_cpu_ms']:.3f} ms (Python thread "
          f"{r['client_cpu_ms']:.3f} + bench server, benches, children {r['server_cpu_ms']:.3f}) vs floor "
          f"{r['floor_cpu_ms']:.3f} ms: {r['ratio']:.2f}x  (target <= 2.0x)")
    print(f"  wall: {r['experiment_mean_ms']:.3f} ms (median of the blocks' means; one experiment's median "
          f"{r['experiment_ms']:.3f}, p95 {r['experiment_p95_ms']:.3f}) vs floor {r['floor_wall_ms']:.3f} ms: "
          f"{r['wall_ratio']:.2f}x  (target <= 2.0x)")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2000)
    args = parser.parse_args(argv)

    print_vs_floor(experiment_vs_floor(args.runs), "a bare Python caller")
    caller = NotebookSizedCaller()
    print_vs_floor(experiment_vs_floor(args.runs),
                   f"a notebook-sized caller (+{caller.rss_mb:.0f} MB: Python objects and data)")
    cost = notebook_sized_caller_cost()
    print("what the notebook-sized caller adds, in alternating blocks (us of CPU per experiment): Python thread "
          f"{cost['bare python_us']:.1f} -> {cost['notebook-sized python_us']:.1f}, server's side "
          f"{cost['bare server_us']:.1f} -> {cost['notebook-sized server_us']:.1f}")
    steps = wall_stages(max(200, args.runs // 2))
    print("where an experiment's wall time goes (median ms of each step):")
    for name, ms in steps.items():
        print(f"  {name:<52} {ms:.3f}")
    s = client_stages(max(200, args.runs // 2))
    print("the Python thread's part, by stage (ms): " + ", ".join(
        f"{k.removesuffix('_ms').replace('_', ' ')} {v:.3f}" for k, v in s.items()))
    for primitive, flags in [("fork", []), ("vfork", []), ("clone", ["THREAD", "SIGHAND", "VM"]),
                             ("clone", ["NEWUSER", "NEWPID", "NEWUTS", "NEWNS"])]:
        t = _times_ms(lambda: run(primitive, flags), max(20, args.runs // 20))
        print(f"  {primitive}({'|'.join(flags) or 'no flags'}): median {statistics.median(t):.3f} ms")

    c = c_cell_vs_crowded_host()
    print(f"%%c hello world (compile + supervised run), alone and with {c['others']} more processes alive:")
    print(f"  CPU {c['quiet_cpu_ms']:.1f} ms vs {c['crowded_cpu_ms']:.1f} ms: {c['cpu_slower_by']:+.0%}  (target within 10%); "
          f"wall {c['quiet_ms']:.1f} ms vs {c['crowded_ms']:.1f} ms")

    try:
        w = explorer_toggles(200)
    except ImportError:                  # ipywidgets is not installed: no explorer to time
        return 0
    print("flag explorer, 200 programmatic toggles (target p95 beyond the experiment <= 5 ms):")
    for key, value in w.items():
        print(f"  {key}: {value:.3f}" if isinstance(value, float) else f"  {key}: {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
