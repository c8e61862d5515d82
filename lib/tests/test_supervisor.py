"""The C cells' supervisor finds what a program started by walking down from itself, so its cost
does not grow with the number of other processes on the machine (a hub node runs thousands)."""
import os
import re
import subprocess
import time

import pytest

from forklab.sandbox import supervisor


def _wait_for_children(pid, count, deadline=5.0):
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        kids = supervisor.descendants_by_scan(pid)
        if len(kids) >= count:
            return sorted(kids)
        time.sleep(0.01)
    raise AssertionError(f"process {pid} did not start {count} children within {deadline} s")


@pytest.fixture
def small_tree_and_strangers():
    # A program with two children and a grandchild, and five processes that are not its descendants.
    tree = subprocess.Popen(["/bin/sh", "-c", "sleep 30 & (sleep 30 & wait) & wait"])
    strangers = [subprocess.Popen(["sleep", "30"]) for _ in range(5)]
    try:
        yield tree, strangers
    finally:
        below = supervisor.descendants_by_scan(tree.pid)     # before the shell dies and they are reparented
        for pid in below:
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass
        for p in [tree, *strangers]:
            p.kill()
            p.wait()


@pytest.mark.skipif(not supervisor.HAVE_CHILDREN_FILES, reason="this kernel has no /proc/PID/task/TID/children")
def test_the_walk_finds_every_descendant_and_reads_no_other_process(small_tree_and_strangers, monkeypatch):
    tree, strangers = small_tree_and_strangers
    expected = _wait_for_children(tree.pid, 3)          # sleep, a subshell and its sleep
    touched = []
    real_open, real_listdir = open, os.listdir

    def recording_open(path, *args, **kw):
        touched.append(str(path))
        return real_open(path, *args, **kw)

    def recording_listdir(path="."):
        touched.append(str(path))
        return real_listdir(path)

    monkeypatch.setattr(supervisor, "open", recording_open, raising=False)   # the module's open
    monkeypatch.setattr(supervisor.os, "listdir", recording_listdir)
    found = sorted(supervisor.descendants(tree.pid))
    monkeypatch.undo()

    assert found == expected
    read = {int(m.group(1)) for p in touched if (m := re.match(r"/proc/(\d+)", p))}
    assert read <= {tree.pid, *found}, f"read processes outside the program: {read - {tree.pid, *found}}"
    assert not read & {s.pid for s in strangers}
    assert "/proc" not in touched        # never a scan of the whole machine
