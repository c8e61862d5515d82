"""idle_crowd.py N - N idle processes, then "ready" on stdout; all of them pause until they are killed.

Run by forklab.meters.benchmark (_crowd, in a session of its own that _disperse kills): the 2,000 other processes a
C cell is timed beside. A program run by its path, not a module to import.
"""
import os
import signal
import sys

if __name__ != "__main__":
    raise ImportError("idle_crowd.py is a program (python idle_crowd.py N), not a module")

for _ in range(int(sys.argv[1])):
    if os.fork() == 0:
        signal.pause()
        os._exit(0)
print("ready", flush=True)
signal.pause()
