"""make bench: the cost model's figures on this machine (what notebook 17 prints, with more runs).

    python -m forklab.meters.cost_report [--sizes 2,16,64,256] [--repeats 11]
"""
from __future__ import annotations

import argparse

from forklab.meters import cost


def main(argv=None) -> int:
    """Print the cost tables of fork & co. and of subprocess, and fork's fixed part and slope."""
    parser = argparse.ArgumentParser(description="fork, vfork, clone(VM|VFORK), fork+exec, posix_spawn and "
                                                 "subprocess against the parent's size: create and teardown, µs")
    parser.add_argument("--sizes", default="2,16,64,256", help="parent sizes in MiB, comma-separated")
    parser.add_argument("--repeats", type=int, default=11)
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    table = cost.measure(sizes_mib=sizes, repeats=args.repeats)
    print(table.table())
    print(cost.subprocess_cost(sizes_mib=(sizes[0], sizes[-1]), repeats=args.repeats).table())
    if len(table.sizes()) >= 2:
        fixed, per_mib = table.fit("fork")
        print(f"fork create: {fixed:.0f} µs for the {table.sizes()[0]} MiB parent + {per_mib:.1f} µs per further MiB "
              f"(transparent huge pages: {table.thp}, used: {table.huge_pages_used()})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

