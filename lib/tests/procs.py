"""Looking for processes from the tests."""
import os
import time

import forklab
from forklab.host.procstat import children_of


def assert_no_children():
    """No zombie and no process left behind: this process's only child may be forklab's bench
    server (started once, on the first experiment); the server's only child may be the next
    bench, forked in advance and waiting - with no children of its own."""
    try:
        pid, _ = os.waitpid(-1, os.WNOHANG)
        assert pid == 0, f"child {pid} was left as a zombie"
    except ChildProcessError:
        pass
    server = forklab.engine.benchserver.server_pid()
    assert set(children_of(os.getpid())) <= {server}
    if server:
        # Right after an answer the server may still be reaping the bench that ran: give it a moment.
        deadline = time.monotonic() + 2
        while len(waiting := children_of(server)) > 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(waiting) <= 1, f"the bench server has {len(waiting)} children"
        for bench in waiting:
            assert children_of(bench) == []
