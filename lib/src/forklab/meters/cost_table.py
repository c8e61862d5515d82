"""The cost model's figures: what a meter run measured (CostTable and its rows), and the model fitted to them.

    >>> from forklab.meters.cost_table import CostRow, CostTable
    >>> t = CostTable(rows=[CostRow("fork", "4k", 2, 60.0, 40.0), CostRow("fork", "4k", 256, 2600.0, 900.0)], repeats=5)
    >>> t.fit("fork")                     # (fixed part in µs, µs per further MiB)
    (60.0, 10.0)

Every figure is a median of `repeats` runs, in µs: "create" from the call until it returns in the parent,
"teardown" from then (or the child's _exit, if later) until waitpid() returns - forklab.meters.cost says what each
primitive's figures hold. A table shows itself as text (`table()`) and as a plot with its text equivalent
(`plot()`, `alt_text()`). The rows of the other meters (VMAs, kinds of mapping, writes after fork) are here too.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from forklab import figure

#: The primitives cost_meter.c times, in the order it times them.
PRIMITIVES = ("fork", "vfork", "clone(VM|VFORK)", "fork+exec", "posix_spawn")
#: What subprocess_cost() times: Python's subprocess, three ways (see notebook 17 for which system call each makes).
SUBPROCESS_MODES = ("subprocess", "subprocess+preexec_fn", "subprocess(close_fds=False)")
PAGES = ("4k", "thp")
PARTS = ("create", "teardown")


@dataclass(frozen=True)
class CostRow:
    primitive: str        # one of PRIMITIVES or SUBPROCESS_MODES
    pages: str            # "4k" or "thp" (what was asked for; huge_kib says what the kernel gave)
    size_mib: int         # touched private memory the parent held
    create_us: float      # median, µs: the call until it returned in the parent
    teardown_us: float    # median, µs: until waitpid() returned (see forklab.meters.cost's docstring)
    huge_kib: int = 0     # of the parent's memory, in transparent huge pages (AnonHugePages)
    rss_kib: int = 0      # the parent's whole resident set (its program, libc, stack: a little more)

    @property
    def total_us(self) -> float:
        return self.create_us + self.teardown_us

    def part(self, part: str) -> float:
        if part not in PARTS + ("total",):
            raise ValueError(f"part must be one of {', '.join(PARTS + ('total',))}; got {part!r}")
        return getattr(self, f"{part}_us")


@dataclass
class CostTable:
    rows: list
    repeats: int
    skipped_mib: list = field(default_factory=list)   # sizes over cost_budget.largest_allowed_mib(): not touched
    thp: str = "unavailable"

    # -- looking things up
    def primitives(self) -> list[str]:
        return list(dict.fromkeys(r.primitive for r in self.rows))

    def sizes(self) -> list[int]:
        return sorted({r.size_mib for r in self.rows})

    def row(self, primitive: str, size_mib: int, pages: str = "4k") -> CostRow:
        for r in self.rows:
            if r.primitive == primitive and r.size_mib == size_mib and r.pages == pages:
                return r
        have = sorted({(r.primitive, r.pages) for r in self.rows})
        raise KeyError(f"no row for {primitive!r} at {size_mib} MiB in {pages!r} pages; the table has "
                       f"{have} at sizes {self.sizes()} MiB")

    def figure(self, primitive: str, part: str, size_mib: int, pages: str = "4k") -> float:
        """One figure the course cites, e.g. figure("fork", "create", 256): µs, median."""
        return self.row(primitive, size_mib, pages).part(part)

    def series(self, primitive: str, part: str, pages: str = "4k") -> tuple[list[int], list[float]]:
        rows = sorted((r for r in self.rows if r.primitive == primitive and r.pages == pages),
                      key=lambda r: r.size_mib)
        return [r.size_mib for r in rows], [r.part(part) for r in rows]

    def huge_pages_used(self) -> bool:
        """Did the kernel really give the "thp" rows' memory in huge pages (at least half of it)?"""
        thp = [r for r in self.rows if r.pages == "thp" and r.size_mib >= 4]
        return bool(thp) and all(r.huge_kib * 2 >= r.size_mib * 1024 for r in thp)

    # -- the model
    def fit(self, primitive: str, part: str = "create", pages: str = "4k") -> tuple[float, float]:
        """(fixed part in µs, µs per MiB): the smallest parent's figure, and what each further MiB added
        up to the largest parent. (A least-squares line through every size, fit_line(), lets the
        largest sizes - slower per MiB once page tables outgrow the caches - pull its fixed part below
        zero; these two are the figures the course cites.)"""
        sizes, times = self.series(primitive, part, pages)
        if len(sizes) < 2:
            raise ValueError(f"a slope needs two sizes; the table has {sizes} MiB")
        return times[0], (times[-1] - times[0]) / (sizes[-1] - sizes[0])

    def grows(self, primitive: str, part: str = "create", pages: str = "4k") -> bool:
        """Clearly slower in the largest parent than in the smallest (3x, and 200 µs more)?"""
        _, times = self.series(primitive, part, pages)
        return len(times) >= 2 and times[-1] > 3 * times[0] and times[-1] - times[0] > 200

    # -- showing it
    def table(self, pages: str | None = None) -> str:
        """One line per row; the sizes and names line up, the measured figures (which vary) end the line."""
        width = max([len(self._label(r)) for r in self.rows] + [10])
        lines = [f"{'':{width}} {'parent':>8}   median of {self.repeats}: create, teardown"]
        for r in sorted(self.rows, key=lambda r: (r.pages, self.primitives().index(r.primitive), r.size_mib)):
            if pages is None or r.pages == pages:
                lines.append(f"{self._label(r):{width}} {r.size_mib:>4} MiB   {r.create_us:.0f} µs, {r.teardown_us:.0f} µs")
        if self.skipped_mib:
            lines.append(f"skipped: {', '.join(map(str, self.skipped_mib))} MiB - more than a quarter of the "
                         f"memory this machine can spare now")
        return "\n".join(lines)

    @staticmethod
    def _label(r: CostRow) -> str:
        return f"{r.primitive} ({'huge pages' if r.pages == 'thp' else '4 KiB pages'})"

    def plot(self, primitives=None, pages=PAGES, axes=None):
        """create (left) and teardown (right) against the parent's size; 4 KiB pages solid, huge dashed."""
        import matplotlib.pyplot as plt
        shown_here = axes is None          # shown with its text equivalent (forklab.figure) unless drawn into axes
        if axes is None:
            _, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
        primitives = primitives or self.primitives()
        colours = {p: f"C{i}" for i, p in enumerate(PRIMITIVES + SUBPROCESS_MODES)}
        for ax, part in zip(axes, PARTS):
            for p in primitives:
                for kind in pages:
                    sizes, times = self.series(p, part, kind)
                    if sizes:
                        ax.plot(sizes, [t / 1000 for t in times], "o-" if kind == "4k" else "s--",
                                color=colours.get(p), label=f"{p}" + (" (huge pages)" if kind == "thp" else ""))
            ax.set_xlabel("parent's touched memory (MiB)")
            ax.set_title(part + (": the call until it returns" if part == "create" else ": until waitpid returns"))
            ax.grid(alpha=0.3)
        axes[0].set_ylabel("median time (ms)")
        axes[1].legend(fontsize="small")
        if shown_here:
            figure.show(axes[0].figure, self.alt_text(primitives, pages))
        return axes

    def alt_text(self, primitives=None, pages=PAGES) -> str:
        """What plot() shows, in words (its text equivalent for a screen reader): each line's points."""
        primitives = primitives or self.primitives()
        parts = []
        for part in PARTS:
            lines = []
            for p in primitives:
                for kind in pages:
                    sizes, times = self.series(p, part, kind)
                    if sizes:
                        name = p + (" (huge pages)" if kind == "thp" else "")
                        ends = [(f"{s} MiB", t / 1000) for s, t in zip(sizes, times)]
                        ends = ends if len(ends) < 3 else [ends[0], ends[-1]]     # short: a screen reader reads it all
                        lines.append(f"{name}: " + figure.series(ends, "ms", digits=2))
            what = "create, the call until it returns" if part == "create" else "teardown, until waitpid returns"
            parts.append(f"{what}: " + "; ".join(lines))
        return (f"Two line plots, the median time of {self.repeats} runs against the parent's touched memory "
                f"(smallest and largest parent; every size is in the table). "
                + ". ".join(p[0].upper() + p[1:] for p in parts) + ".")


def fit_line(xs, ys) -> tuple[float, float]:
    """(intercept, slope) of the least-squares line through the points (xs, ys)."""
    xs, ys = [float(x) for x in xs], [float(y) for y in ys]
    if len(xs) != len(ys) or len(set(xs)) < 2:
        raise ValueError("fit_line needs at least two points with different x")
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
    return my - slope * mx, slope


@dataclass(frozen=True)
class VmaRow:
    vmas: int
    size_mib: int
    create_us: float
    teardown_us: float


#: The kinds of mapping mapping_cost() forks with, and what each is.
MAPPINGS = {"none": "no extra memory",
            "private": "MAP_PRIVATE|MAP_ANONYMOUS",
            "shared": "MAP_SHARED|MAP_ANONYMOUS",
            "file": "MAP_SHARED of a file"}


@dataclass(frozen=True)
class MappingRow:
    kind: str             # one of MAPPINGS
    size_mib: int         # memory written to, page by page, in that mapping (0 for "none")
    rss_kib: int          # the parent's whole resident set while it forked
    create_us: float      # median, µs
    teardown_us: float    # median, µs

    @property
    def mapping(self) -> str:
        return MAPPINGS[self.kind]


@dataclass(frozen=True)
class WritesAfterFork:
    """One parent writing one byte into each of its pages: without a fork, after a fork whose child still
    holds its copy, and (the other side) a child writing every page of its copy. Faults are minor faults
    (getrusage), times in µs."""
    size_mib: int
    pages: int
    unforked_faults: int
    unforked_write_us: float
    fork_create_us: float
    parent_faults: int
    parent_write_us: float
    child_faults: int
    child_write_us: float

    def faults_match_pages(self, faults: int, slack: float = 0.02) -> bool:
        """About one fault per page written: within `slack` of the page count (a few more are the stack's)."""
        return abs(faults - self.pages) <= max(16, slack * self.pages)
