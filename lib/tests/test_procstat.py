"""The one /proc/PID/stat parser: names with spaces and parentheses, real processes, gone ones."""
import os
import subprocess

from forklab.course.children import Children
from forklab.host.procstat import children_of, parse_stat, process_state, read_stat, tree_cpu_seconds

# field 20 (num_threads) is the 18th after the name; the rest of a real line is abridged
LINE = b"4242 (a) b (c) S 17 4242 4242 0 -1 4194560 1 2 3 4 5 6 7 8 20 0 3 0 99 1000 5\n"


def test_a_name_with_spaces_and_parentheses_is_read_whole():
    st = parse_stat(LINE)
    assert (st.pid, st.comm, st.state, st.ppid, st.pgrp, st.session, st.num_threads) == \
        (4242, "a) b (c", "S", 17, 4242, 4242, 3)
    assert parse_stat(LINE.decode()) == st
    assert (st.utime, st.stime, st.cutime, st.cstime) == (5, 6, 7, 8)     # fields 14-17


def test_cpu_time_of_a_process_and_what_it_reaped_is_counted():
    spent = tree_cpu_seconds(os.getpid())
    subprocess.run(["sh", "-c", "i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done"], check=True, timeout=60)
    assert tree_cpu_seconds(os.getpid()) > spent       # the reaped shell's CPU joins cutime + cstime


def test_a_real_child_with_a_tricky_name_is_found_and_its_state_read():
    with Children(["sleep 30; :"], name="x) y") as kids:      # "; :" keeps the shell from exec-ing sleep
        pid = kids.pids[0]
        st = read_stat(pid)
        assert st.comm == "x) y" and st.ppid == os.getpid() and st.state in "RSD"   # D: paging in after exec
        assert pid in children_of(os.getpid())
    assert process_state(pid) is None and read_stat(pid) is None     # killed and reaped on leaving
