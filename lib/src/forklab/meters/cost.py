"""The cost model: what creating a process costs, against the size of the parent, split in two.

    >>> from forklab.meters import cost
    >>> table = cost.measure(sizes_mib=(2, 64), repeats=3)
    >>> table.figure("fork", "create", 64) > table.figure("vfork", "create", 64)
    True

Two figures for every way of making a process, in microseconds (median of `repeats` runs), for a
parent holding `size_mib` MiB of private anonymous memory it has written to (so it is resident):

* **create**: from the call until it returns in the parent - fork() copying the parent's VMAs and
  page tables; vfork() and clone(CLONE_VM|CLONE_VFORK) creating a child that borrows the memory
  (the parent is suspended until the child _exits, here at once); posix_spawn() and subprocess
  creating the child *and* its exec of a tiny program (they return once the exec has happened).
* **teardown**: from the later of "the call returned in the parent" and "the child called _exit"
  until the parent's waitpid() returns - the child's exit (or exec) releasing its copy of the page
  tables, the exit being reported, the parent woken. For the rows that start a program
  ("fork+exec", "posix_spawn", "subprocess..."), it also holds the run of that tiny program (the
  meter itself, asked to _exit at once): the same few hundred microseconds for every such row.

The parent is COST_METER (cost_meter.c, a small C program beside this module) run in the C cells' sandbox:
its children never run Python. Memory is touched in 4 KiB pages (`pages="4k"`, MADV_NOHUGEPAGE) or, where the kernel
offers transparent huge pages, in 2 MiB pages (`pages="thp"`, MADV_HUGEPAGE); every row says how
much of it really was in huge pages. `subprocess_cost()` does the same from a fresh Python
interpreter for Python's subprocess module. `vma_cost()` holds the memory fixed and splits it into
more and more VMAs. No size larger than a quarter of the memory this machine (or this container's
memory cgroup) can spare is ever touched; bigger sizes are skipped, and the table says so.

Names the course cites (notebook 17 prints them): "fork create" / "fork teardown" of "a 256 MiB
parent" (4 KiB pages), and the "fork slope" in µs per MiB with its "fixed part" in µs (the smallest
parent's figure), from `CostTable.fit()`.

This module runs the meters; the figures they give and the model are in forklab.meters.cost_table, how much memory
may be touched in forklab.meters.cost_budget, and make bench's report in forklab.meters.cost_report.
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

from forklab.sandbox import runner
from forklab.meters.cost_budget import MIB, largest_allowed_mib, max_map_count, sizes_within_reach, thp_mode
from forklab.meters.cost_table import (MAPPINGS, PAGES, PRIMITIVES, SUBPROCESS_MODES, CostRow, CostTable, MappingRow, VmaRow,
                                       WritesAfterFork)

#: What notebooks read as cost.X: the meters, their results' types, and the names notebook 17 prints.
__all__ = ["measure", "subprocess_cost", "vma_cost", "mapping_cost", "writes_after_fork", "CostMeterFailed",
           "CostTable", "CostRow", "VmaRow", "MappingRow", "WritesAfterFork", "PRIMITIVES", "SUBPROCESS_MODES",
           "PAGES", "MAPPINGS", "largest_allowed_mib", "thp_mode"]

#: The programs, files beside this module: the C parent, and the Python parent subprocess_cost() runs.
_HERE = Path(__file__).parent
COST_METER = (_HERE / "cost_meter.c").read_text()
SUBPROCESS_PARENT = _HERE / "subprocess_cost_parent.py"


class CostMeterFailed(RuntimeError):
    """The measuring program could not run here; the message says what happened."""


def _check_repeats(repeats: int) -> int:
    if not 1 <= int(repeats) <= 101:
        raise ValueError(f"repeats must be from 1 to 101 (the median of that many runs); got {repeats}")
    return int(repeats)


def _meter(tmp: Path) -> Path:
    ok, output, binary = runner.compile_c(COST_METER, tmp)
    if not ok:
        raise CostMeterFailed(f"the cost meter did not compile here:\n{output}")
    return binary


def _run_meter(argv, timeout: float) -> list[list[str]]:
    r = runner.run_supervised([str(a) for a in argv], timeout=timeout, max_procs=8)
    if r.returncode != 0 or r.timed_out:
        raise CostMeterFailed(f"the cost meter failed: {r.status_line()}\n{r.stderr}")
    return [line.split() for line in r.stdout.splitlines()]


def measure(sizes_mib=(2, 16, 64, 256), repeats: int = 5, pages=PAGES, timeout: float = 60.0) -> CostTable:
    """Time fork, vfork, clone(VM|VFORK), fork+exec and posix_spawn in a C parent of each size."""
    repeats = _check_repeats(repeats)
    pages = [pages] if isinstance(pages, str) else list(pages)
    if not pages or any(p not in PAGES for p in pages):
        raise ValueError(f"pages must be among {PAGES} ('4k': 4 KiB pages, 'thp': transparent huge pages); got {pages}")
    sizes, skipped = sizes_within_reach(sizes_mib)
    rows = []
    with tempfile.TemporaryDirectory(prefix="forklab-cost-") as tmp:
        meter = _meter(Path(tmp))
        for kind in pages:
            if not sizes:
                break
            for words in _run_meter([meter, repeats, kind, *sizes], timeout):
                if words[0] == "row":
                    name, mib, huge, rss, create_ns, teardown_ns = words[1:]
                    rows.append(CostRow(name, kind, int(mib), int(create_ns) / 1000, int(teardown_ns) / 1000,
                                        huge_kib=max(int(huge), 0), rss_kib=max(int(rss), 0)))
    return CostTable(rows=rows, repeats=repeats, skipped_mib=skipped, thp=thp_mode())


def subprocess_cost(sizes_mib=(2, 64, 256), repeats: int = 5, timeout: float = 60.0) -> CostTable:
    """Time subprocess.Popen + wait in a fresh Python interpreter holding each size (4 KiB pages),
    by default, with a preexec_fn, and with close_fds=False."""
    repeats = _check_repeats(repeats)
    sizes, skipped = sizes_within_reach(sizes_mib)
    rows = []
    with tempfile.TemporaryDirectory(prefix="forklab-cost-") as tmp:
        meter = _meter(Path(tmp))
        if sizes:
            argv = [sys.executable, "-I", SUBPROCESS_PARENT, meter, repeats, *sizes]
            for words in _run_meter(argv, timeout):
                if words and words[0] == "row":
                    mode, mib, rss, create_ns, teardown_ns = json.loads(" ".join(words[1:]))
                    rows.append(CostRow(mode, "4k", mib, create_ns / 1000, teardown_ns / 1000, rss_kib=rss))
    return CostTable(rows=rows, repeats=repeats, skipped_mib=skipped, thp=thp_mode())


def vma_cost(counts=(1, 256, 4096), size_mib: int = 16, repeats: int = 5, timeout: float = 60.0) -> list[VmaRow]:
    """fork() of a parent whose size_mib MiB (4 KiB pages) are split into each count of VMAs."""
    repeats = _check_repeats(repeats)
    pages = (int(size_mib) * MIB) // os.sysconf("SC_PAGE_SIZE")
    counts = [int(c) for c in counts]
    if any(c < 1 or c > pages for c in counts) or not counts:
        raise ValueError(f"each count of VMAs must be from 1 to the {pages} pages of {size_mib} MiB; got {counts}")
    limit = max_map_count()
    if limit is not None and max(counts) > limit - 1000:
        raise ValueError(f"{max(counts)} VMAs is too close to this kernel's vm.max_map_count ({limit})")
    sizes, _ = sizes_within_reach([size_mib])
    if not sizes:
        raise ValueError(f"{size_mib} MiB is more than a quarter of the memory this machine can spare now")
    with tempfile.TemporaryDirectory(prefix="forklab-cost-") as tmp:
        meter = _meter(Path(tmp))
        words = _run_meter([meter, "vmas", repeats, size_mib, *counts], timeout)
    return [VmaRow(int(w[1]), int(w[2]), int(w[3]) / 1000, int(w[4]) / 1000) for w in words if w[0] == "vmas"]


def mapping_cost(size_mib: int = 256, repeats: int = 5, timeout: float = 60.0) -> list[MappingRow]:
    """fork() of a parent holding size_mib MiB, written to page by page (resident, 4 KiB pages), in a private
    anonymous mapping, a shared anonymous one, a shared mapping of a file - and of the same parent without it.
    Only memory whose mapping has anonymous pages of its own makes fork() copy page-table entries."""
    repeats = _check_repeats(repeats)
    sizes, _ = sizes_within_reach([size_mib])
    if not sizes:
        raise ValueError(f"{size_mib} MiB is more than a quarter of the memory this machine can spare now "
                         f"({largest_allowed_mib()} MiB); choose a smaller size_mib")
    with tempfile.TemporaryDirectory(prefix="forklab-cost-") as tmp:
        meter = _meter(Path(tmp))
        words = _run_meter([meter, "mappings", repeats, sizes[0], tmp], timeout)
    return [MappingRow(w[1], int(w[2]), int(w[3]), int(w[4]) / 1000, int(w[5]) / 1000)
            for w in words if w[0] == "mapping"]


def writes_after_fork(size_mib: int = 64, timeout: float = 60.0) -> WritesAfterFork:
    """The parent's own bill after fork(): its pages are write-protected too (see WritesAfterFork)."""
    sizes, _ = sizes_within_reach([size_mib])
    if not sizes or 2 * sizes[0] > largest_allowed_mib():      # parent and child end up with a copy each
        raise ValueError(f"{size_mib} MiB twice (the parent's pages and their copies) is more than a quarter of the "
                         f"memory this machine can spare now ({largest_allowed_mib()} MiB); choose a smaller size_mib")
    with tempfile.TemporaryDirectory(prefix="forklab-cost-") as tmp:
        meter = _meter(Path(tmp))
        words = next(w for w in _run_meter([meter, "writes", sizes[0]], timeout) if w[0] == "writes")
    mib, pages, uf, uns, fns, pf, pns, cf, cns = (int(w) for w in words[1:])
    return WritesAfterFork(mib, pages, uf, uns / 1000, fns / 1000, pf, pns / 1000, cf, cns / 1000)
