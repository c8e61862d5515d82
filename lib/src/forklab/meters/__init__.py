"""forklab.meters: Measurements of what process creation costs and where it stops: copy-on-write, the cost model,
limits, strace, the benchmark. It may import every layer below (explorer, engine, sandbox, figure, host);
never forklab.course.
"""
