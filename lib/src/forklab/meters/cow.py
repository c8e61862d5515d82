"""Copy-on-write, measured: fork copies page tables, not pages; a page is copied when it is written.

    >>> from forklab.meters import cow
    >>> m = cow.measure(writes=(0, 100, 1000))
    >>> [r.minor_faults for r in m.rows]
    [0, 100, 1000]

`measure()` runs COW_METER (cow_meter.c, beside this module) through the C-cell sandbox: the parent fills a
region of private memory, forks, and for each N the child writes one byte into N of the parent's
pages. The child reports its minor page faults (getrusage) and its Private_Dirty / Shared_Dirty
memory (/proc/self/smaps_rollup) before and after the writes: each write to a shared page is one
fault, and moves 4 KiB from "shared with the parent" to "my own".

`faults_for_writes(offsets)` runs the same meter for chosen byte offsets (what graded exercises ask).

`fork_cost()` times fork() in a parent of growing size (fork_time.c, another small C program): the
kernel copies the page tables (about 2 KiB of them per MiB of touched memory), so fork slows down
as the parent grows even though no data page is copied.

Neither ever forks the caller (the Jupyter kernel).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from forklab import figure
from forklab.sandbox import runner

#: The programs, files beside this module (compiled by runner.run_c with the C cells' flags).
_HERE = Path(__file__).parent
COW_METER = (_HERE / "cow_meter.c").read_text()
FORK_COST = (_HERE / "fork_time.c").read_text()


class MeterFailed(RuntimeError):
    """The measuring program could not run here; the message says what happened."""


def _run(source: str, args, timeout: float) -> list:
    r = runner.run_c(source, args=[str(a) for a in args], timeout=timeout, max_procs=8)
    if not r.ok:
        raise MeterFailed(f"the measuring program failed: {r.status_line()}\n{r.compile_output}{r.stderr}")
    return [line.split()[1:] for line in r.stdout.splitlines() if line.startswith(("row", "page"))]


@dataclass(frozen=True)
class CowRow:
    pages_written: int
    minor_faults: int        # the child's minor page faults while writing
    private_kib: int         # the child's Private_Dirty after the writes (KiB)
    private_added_kib: int   # how much Private_Dirty grew
    shared_lost_kib: int     # how much Shared_Dirty shrank


@dataclass
class CowMeasurement:
    rows: list
    region_pages: int
    page_size: int

    def faults_match_writes(self, slack: int = 2) -> bool:
        """Every page written cost one fault (give or take `slack` for the child's own stack)."""
        return all(abs(r.minor_faults - r.pages_written) <= slack for r in self.rows)

    def private_grows_by_a_page_per_write(self, slack_kib: int = 64) -> bool:
        kib = self.page_size // 1024
        return all(abs(r.private_added_kib - kib * r.pages_written) <= slack_kib for r in self.rows)

    def table(self) -> str:
        lines = [f"{'pages written':>13} {'minor faults':>13} {'private +KiB':>13} {'shared -KiB':>12}"]
        for r in self.rows:
            lines.append(f"{r.pages_written:>13} {r.minor_faults:>13} {r.private_added_kib:>13} "
                         f"{r.shared_lost_kib:>12}")
        return "\n".join(lines)

    def summary(self) -> str:
        return (f"region of {self.region_pages} pages ({self.region_pages * self.page_size >> 20} MiB); "
                f"one minor fault per page written: {self.faults_match_writes()}; "
                f"private memory grows {self.page_size // 1024} KiB per page written: "
                f"{self.private_grows_by_a_page_per_write()}")

    def plot(self, ax=None):
        """Faults and pages owned against pages written; shown with its text equivalent (forklab.figure) unless
        drawn into the caller's `ax`."""
        import matplotlib.pyplot as plt
        shown_here = ax is None
        if ax is None:
            _, ax = plt.subplots(figsize=(6, 3.5))
        xs = [r.pages_written for r in self.rows]
        ax.plot(xs, [r.minor_faults for r in self.rows], "o-", label="child's minor faults")
        ax.plot(xs, [r.private_added_kib / (self.page_size / 1024) for r in self.rows], "s--",
                label="pages the child now owns (Private_Dirty growth / page size)")
        ax.set_xlabel("pages of the parent's memory the child wrote")
        ax.set_ylabel("count")
        ax.set_title(f"copy-on-write: a {self.region_pages}-page parent, after fork")
        ax.legend()
        if shown_here:
            figure.show(ax.figure, self.alt_text())
        return ax

    def alt_text(self) -> str:
        """What the plot shows, in words (its text equivalent for a screen reader)."""
        page_kib = self.page_size / 1024
        owned = [(r.pages_written, round(r.private_added_kib / page_kib, 1)) for r in self.rows]
        owned = [(x, int(y) if y == int(y) else y) for x, y in owned]
        return (f"Line plot, copy-on-write in a parent of {self.region_pages} touched pages, after fork: against "
                f"the number of the parent's pages the child wrote, the child's minor faults and the pages the child "
                f"now owns (Private_Dirty growth / page size). Pages written → minor faults: "
                f"{figure.series((r.pages_written, r.minor_faults) for r in self.rows)}. Pages written → pages the "
                f"child owns: {figure.series(owned)}. One minor fault per page written: {self.faults_match_writes()}.")


def measure(writes=(0, 16, 64, 256, 1024, 4096), region_pages: int = 4096,
            timeout: float = 20.0) -> CowMeasurement:
    """Fork a parent of region_pages touched pages; for each N, a child writes N of them."""
    writes = [int(n) for n in writes]
    if any(n < 0 or n > region_pages for n in writes):
        raise ValueError(f"each number of pages written must be between 0 and region_pages={region_pages}")
    rows = _run(COW_METER, [region_pages, *writes], timeout)
    page = int(rows[0][0])
    out = []
    for n, faults, p0, p1, s0, s1 in (map(int, r) for r in rows[1:]):
        out.append(CowRow(pages_written=n, minor_faults=faults, private_kib=p1,
                          private_added_kib=p1 - p0, shared_lost_kib=s0 - s1))
    return CowMeasurement(rows=out, region_pages=region_pages, page_size=page)


def faults_for_writes(offsets, *, pages: int = 64, timeout: float = 10.0) -> int:
    """Page faults a fork child takes writing one byte at each offset of a buffer its parent filled.

    The same meter as measure(): the parent touches all ``pages`` pages, forks, and the child
    writes; two offsets in one page cost one fault (that page is copied once).
    """
    size = pages * os.sysconf("SC_PAGE_SIZE")
    offsets = [int(o) for o in offsets]
    bad = [o for o in offsets if not 0 <= o < size]
    if bad:
        raise ValueError(f"offsets must lie in the {pages}-page buffer (0 to {size - 1}); got {bad[:3]}")
    rows = _run(COW_METER, [pages, "@" + ",".join(map(str, offsets))], timeout)
    return int(rows[1][1])


@dataclass
class ForkCost:
    sizes_mib: list
    median_us: list
    best_us: list
    repeats: int = 0

    def grows_with_size(self) -> bool:
        """Is fork of the biggest parent clearly slower than of the smallest (best runs, more than 2x)?"""
        return self.best_us[-1] > 2 * self.best_us[0]

    def summary(self) -> str:
        parts = ", ".join(f"{s} MiB: {t:.0f} µs" for s, t in zip(self.sizes_mib, self.best_us))
        return (f"fork() time, best of {self.repeats}: {parts}; "
                f"biggest parent more than 2x slower than smallest: {self.grows_with_size()}")

    def plot(self, ax=None):
        """fork()'s time against the parent's size; shown with its text equivalent (forklab.figure) unless drawn
        into the caller's `ax`."""
        import matplotlib.pyplot as plt
        shown_here = ax is None
        if ax is None:
            _, ax = plt.subplots(figsize=(6, 3.5))
        ax.plot(self.sizes_mib, self.best_us, "o-", label="best")
        ax.plot(self.sizes_mib, self.median_us, ".:", label="median")
        ax.set_xlabel("parent's touched memory (MiB)")
        ax.set_ylabel("time for fork() to return (µs)")
        ax.set_title("fork copies page tables: bigger parent, slower fork")
        ax.legend()
        if shown_here:
            figure.show(ax.figure, self.alt_text())
        return ax

    def alt_text(self) -> str:
        """What the plot shows, in words (its text equivalent for a screen reader)."""
        best = figure.series([(f"{s} MiB", t) for s, t in zip(self.sizes_mib, self.best_us)], "µs")
        median = figure.series([(f"{s} MiB", t) for s, t in zip(self.sizes_mib, self.median_us)], "µs")
        return (f"Line plot, the time for fork() to return against the parent's touched memory. Best of "
                f"{self.repeats}: {best}. Median: {median}. The biggest parent's fork more than 2x slower than the "
                f"smallest's: {self.grows_with_size()}.")


def fork_cost(sizes_mib=(0, 32, 128, 256), repeats: int = 7, timeout: float = 30.0) -> ForkCost:
    """Time fork() in a fresh C process holding each size of touched memory."""
    rows = _run(FORK_COST, [repeats, *sizes_mib], timeout)
    return ForkCost(sizes_mib=[int(r[0]) for r in rows], median_us=[float(r[1]) for r in rows],
                    best_us=[float(r[2]) for r in rows], repeats=repeats)
