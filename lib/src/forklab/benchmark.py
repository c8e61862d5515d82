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
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


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
        from .widgets import benchmark_toggles
    except ImportError:
        return 0
    w = benchmark_toggles(200)
    print("flag explorer, 200 programmatic toggles:")
    for key, value in w.items():
        print(f"  {key}: {value:.3f}" if isinstance(value, float) else f"  {key}: {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
