"""How much memory a cost measurement may touch on this machine, and in which pages.

    >>> from forklab.meters import cost_budget
    >>> cost_budget.largest_allowed_mib() <= cost_budget.spare_mib() // 4
    True

The cost model's meters (forklab.meters.cost) touch a parent of up to a quarter of what this machine - or this
container's memory cgroup - can spare now; bigger sizes are skipped, and the table says so.
"""
from __future__ import annotations

from forklab.host.machine import machine, memory_room

MIB = 1 << 20


def _meminfo_kib(name: str) -> int | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith(name + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def spare_mib() -> int:
    """Memory this machine can spare now, in MiB: MemAvailable, or less if a memory cgroup limits us."""
    avail = _meminfo_kib("MemAvailable")
    spare = avail * 1024 if avail is not None else 512 * MIB
    room = memory_room()
    if room is not None:
        spare = min(spare, room)
    return spare // MIB


def largest_allowed_mib() -> int:
    """The largest parent we touch: a quarter of what can be spared (the child's page tables, the
    interpreter and whatever else runs need the rest)."""
    return spare_mib() // 4


def sizes_within_reach(sizes_mib) -> tuple[list[int], list[int]]:
    """(the sizes that fit, the sizes skipped): each size, in MiB, against largest_allowed_mib()."""
    sizes = [int(s) for s in sizes_mib]
    bad = [s for s in sizes if s < 1 or s > 1 << 20]
    if bad or not sizes:
        raise ValueError(f"sizes_mib must be whole numbers of MiB from 1 up, e.g. (2, 16, 64, 256); got {list(sizes_mib)}")
    cap = largest_allowed_mib()
    return [s for s in sizes if s <= cap], [s for s in sizes if s > cap]


def thp_mode() -> str:
    """The kernel's transparent huge page setting: "always", "madvise", "never", or "unavailable"."""
    return machine().thp


def max_map_count() -> int | None:
    """The most mappings (VMAs) one process may have (vm.max_map_count), or None if unreadable."""
    return machine().max_map_count
