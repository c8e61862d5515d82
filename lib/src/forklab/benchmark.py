"""make bench: how fast is an experiment? Figures, not assertions (a noisy machine must not fail a test).

    python -m forklab.benchmark [--runs N]

Prints the median round trip of forklab.run("clone", ["CLONE_VM"]) - sandbox included - beside a
bare C fork() + waitpid() from the same process, and their ratio. Targets on a 2-core machine:
<= 1.0 ms median and <= 2.5x the bare fork + wait. When the flag explorer is installed, also the
p50/p95 of a widget toggle.
"""
from __future__ import annotations

import argparse
import statistics
import time

from . import _core
from .lab import run


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


def experiment_vs_bare_fork(runs: int = 2000, blocks: int = 10) -> dict[str, float]:
    for _ in range(50):                                   # warm up (and start the bench server)
        run("clone", ["CLONE_VM"])
        _core.lib.fl_bare_fork_wait_ns()
    exp, bare = [], []
    for _ in range(blocks):                               # alternate blocks: both see the same load
        exp += _times_ms(lambda: run("clone", ["CLONE_VM"]), runs // blocks)
        bare += _times_ms(_core.lib.fl_bare_fork_wait_ns, runs // blocks)
    e, b = statistics.median(exp), statistics.median(bare)
    return {"experiment_ms": e, "experiment_p95_ms": percentile(exp, 95), "bare_fork_wait_ms": b, "ratio": e / b}


def explorer_toggles(n: int = 200) -> dict:
    """Time n programmatic toggles of CLONE_VM in the flag explorer: (a) toggle -> redrawn view,
    (b) the part beyond the experiment itself (checking, diffing, rendering, syncing the widgets).
    Milliseconds."""
    from .widgets import FlagExplorer
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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2000)
    args = parser.parse_args(argv)

    r = experiment_vs_bare_fork(args.runs)
    print(f"forklab.run('clone', ['CLONE_VM']): median {r['experiment_ms']:.3f} ms, p95 "
          f"{r['experiment_p95_ms']:.3f} ms  (target <= 1.0 ms)")
    print(f"bare C fork() + waitpid():          median {r['bare_fork_wait_ms']:.3f} ms")
    print(f"ratio:                              {r['ratio']:.2f}x  (target <= 2.5x)")
    for primitive, flags in [("fork", []), ("vfork", []), ("clone", ["THREAD", "SIGHAND", "VM"]),
                             ("clone", ["NEWUSER", "NEWPID", "NEWUTS", "NEWNS"])]:
        t = _times_ms(lambda: run(primitive, flags), max(20, args.runs // 20))
        print(f"  {primitive}({'|'.join(flags) or 'no flags'}): median {statistics.median(t):.3f} ms")

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
