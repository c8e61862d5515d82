"""The bench server: one small helper process per Python process, which forks the benches."""
import os
import signal
import subprocess
import sys
import textwrap
import time

import forklab
from forklab.engine import benchserver
from forklab.host.procstat import read_stat


def wait_gone(pid: int, seconds: float = 3.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        st = read_stat(pid)
        if st is None or st.state == "Z":
            return True
        time.sleep(0.02)
    return False


def test_experiments_run_in_a_server_that_is_not_this_process():
    obs = forklab.run("fork")
    server = benchserver.server_pid()
    assert server is not None and server != os.getpid()
    # the bench (the child's parent) is the server's child, not ours
    assert read_stat(server).ppid == os.getpid()
    assert obs.parent.host_ppid == server


def test_a_killed_server_is_replaced():
    forklab.run("fork")
    old = benchserver.server_pid()
    os.kill(old, signal.SIGKILL)
    assert wait_gone(old)
    assert forklab.run("clone", ["VM"]).resources["memory"].shared
    assert benchserver.server_pid() not in (None, old)


def test_the_server_dies_with_its_parent():
    code = textwrap.dedent("""
        import forklab, os, time
        from forklab.host.procstat import children_of
        forklab.run("fork")
        time.sleep(0.2)            # the server forks the next bench after answering
        server = forklab.engine.benchserver.server_pid()
        waiting = children_of(server)
        print(server, *waiting, flush=True)
        time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        server, *waiting = map(int, proc.stdout.readline().split())
        assert len(waiting) == 1, "the server should hold one bench, forked in advance"
        proc.kill()
        proc.wait()
        assert wait_gone(server), "the bench server outlived its parent"
        assert wait_gone(waiting[0]), "the waiting bench outlived the server"
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()


def test_a_forked_child_gets_its_own_server_and_leaves_the_parents_alone():
    forklab.run("fork")
    mine = benchserver.server_pid()
    pid = os.fork()
    if pid == 0:                                    # pragma: no cover - runs in the child
        ok = forklab.run("clone", ["VM"]).resources["memory"].shared
        theirs = benchserver.server_pid()
        benchserver.stop_server()
        os._exit(0 if ok and theirs not in (None, mine) else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert benchserver.server_pid() == mine
    assert forklab.run("fork").resources["file_offset"].shared


def test_direct_mode_runs_without_a_server(monkeypatch):
    monkeypatch.setenv("FORKLAB_BENCH", "direct")
    obs = forklab.run("clone", ["FILES"])
    assert obs.resources["fd_table"].shared
    assert obs.parent.host_ppid == os.getpid()     # the bench is our own child in direct mode


def test_the_server_outlives_the_thread_that_started_it():
    import threading
    benchserver.stop_server()
    t = threading.Thread(target=lambda: forklab.run("fork"))
    t.start()
    t.join()
    server = benchserver.server_pid()
    time.sleep(0.1)                              # a thread-bound death signal would have come by now
    assert benchserver.server_pid() == server is not None
    assert forklab.run("clone", ["VM"]).resources["memory"].shared
    assert benchserver.server_pid() == server
