"""forklab.meters.limits: a fork loop run where the kernel allows exactly N more processes."""
import os

import pytest

from forklab.meters import limits

LOOP = '''
def make_children(reap=True):
    r, w = os.pipe()
    kids = []
    while True:
        try:
            pid = os.fork()
        except BlockingIOError:
            break
        if pid == 0:
            os.close(w)
            os.read(r, 1)
            os._exit(0)
        kids.append(pid)
    os.close(w)
    os.close(r)
    if reap:
        for pid in kids:
            os.waitpid(pid, 0)
    return len(kids)

def leave_zombies():
    return make_children(reap=False)
'''


@pytest.mark.parametrize("cap", [0, 3])
def test_the_kernel_allows_exactly_cap_more_processes_for_root_and_users_alike(cap):
    run = limits.run_fork_loop(LOOP, "make_children", cap)
    assert (run.result, run.error, run.left_behind, run.child_returned) == (cap, None, 0, False)
    assert run.fork_works_after == (cap > 0)


def test_children_left_unreaped_are_seen_and_still_take_the_room():
    run = limits.run_fork_loop(LOOP, "leave_zombies", 4)
    assert run.result == 4 and run.left_behind == 4 and run.fork_works_after is False


def test_a_child_that_runs_on_is_caught_and_everything_is_killed():
    runaway = "def loop():\n    os.fork()\n    return 1\n"
    run = limits.run_fork_loop(runaway, "loop", 2)
    assert run.child_returned


def test_an_exception_is_reported_not_raised():
    run = limits.run_fork_loop("def f():\n    raise ValueError('no')\n", "f", 1)
    assert run.error == "ValueError: no" and run.result is None


def test_the_callers_own_limit_is_untouched():
    import resource
    before = resource.getrlimit(resource.RLIMIT_NPROC)
    limits.run_fork_loop(LOOP, "make_children", 2)
    assert resource.getrlimit(resource.RLIMIT_NPROC) == before


def test_unused_uid_owns_no_process():
    assert limits.tasks_of_uid(limits.unused_uid()) == 0
    assert limits.tasks_of_uid(os.getuid()) >= 1
