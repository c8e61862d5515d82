"""subprocess_cost_parent.py METER REPEATS SIZE_MIB... - a fresh Python interpreter holding SIZE MiB (touched,
4 KiB pages), timing subprocess.Popen + wait three ways: by default, with a preexec_fn, with close_fds=False.
Only the interpreter is Python: every child it starts execs METER (cost_meter.c, which _exits at once).
Prints per size and way 'row ["mode", MIB, RSS_KIB, CREATE_NS, TEARDOWN_NS]' (medians).
Run by forklab.meters.cost.subprocess_cost() as `python -I subprocess_cost_parent.py ...` under the C cells' supervisor.
"""
if __name__ != "__main__":
    raise ImportError("subprocess_cost_parent.py is a program run by forklab.meters.cost, not a module")
import json, mmap, subprocess, sys, time
meter, repeats, sizes = sys.argv[1], int(sys.argv[2]), [int(s) for s in sys.argv[3:]]
modes = {"subprocess": {}, "subprocess+preexec_fn": {"preexec_fn": lambda: None},
         "subprocess(close_fds=False)": {"close_fds": False}}
for mib in sizes:
    memory = mmap.mmap(-1, max(mib, 1) << 20, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    if hasattr(mmap, "MADV_NOHUGEPAGE"):
        memory.madvise(mmap.MADV_NOHUGEPAGE)
    for at in range(0, len(memory), mmap.PAGESIZE):
        memory[at] = 1                                   # touched: resident, in page tables
    times = {mode: ([], []) for mode in modes}
    for _ in range(repeats):
        for mode, options in modes.items():
            t0 = time.monotonic_ns()
            child = subprocess.Popen([meter, "exit"], **options)
            t1 = time.monotonic_ns()
            child.wait(timeout=10)
            t2 = time.monotonic_ns()
            times[mode][0].append(t1 - t0)
            times[mode][1].append(t2 - t1)
    rss = next(int(l.split()[1]) for l in open("/proc/self/smaps_rollup") if l.startswith("Rss:"))
    for mode, (create, teardown) in times.items():
        print("row " + json.dumps([mode, mib, rss, sorted(create)[len(create) // 2],
                                   sorted(teardown)[len(teardown) // 2]]), flush=True)
    memory.close()
