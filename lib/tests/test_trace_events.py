"""forklab's process-event recorder (issue 22's foundation): real programs, C and shell, traced with ptrace.

Each test names what the record must show; every test checks that nothing is left (process, fd, file)."""
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import uuid
from pathlib import Path

import pytest

from forklab.sandbox import trace_events as te
from procs import assert_no_children

CC = shutil.which("cc") or shutil.which("gcc")
pytestmark = pytest.mark.skipif(CC is None, reason="no C compiler")


def marked() -> str:
    return "te" + uuid.uuid4().hex[:12]


def alive(marker: str) -> list:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/comm") as f:
                    found += [int(entry)] if f.read().strip() == marker else []
            except OSError:
                pass
    return found


@pytest.fixture
def leaves_nothing(tmp_path, monkeypatch):
    """No process, fd or temporary file of the recorder is left after the test (its temporary folder is a
    private one here, so other test runs on the machine do not count)."""
    te.binary()                                   # built (or found) before the temporary folder moves
    private = tmp_path / "tmp"
    private.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private))
    fds = set(os.listdir("/proc/self/fd"))
    yield
    assert_no_children()
    assert set(os.listdir("/proc/self/fd")) <= fds
    assert list(private.iterdir()) == []


def program(tmp_path, source: str, marker: str = "prog", flags=()) -> str:
    src = tmp_path / "p.c"
    src.write_text("#define _GNU_SOURCE\n#include <sys/prctl.h>\n"
                   f"#define NAME() prctl(PR_SET_NAME, \"{marker}\", 0, 0, 0)\n" + textwrap.dedent(source))
    exe = tmp_path / "p"
    subprocess.run([CC, "-O1", "-o", str(exe), str(src), *flags], check=True, timeout=120)
    return str(exe)


def ok(trace: te.Trace) -> te.Trace:
    assert trace.refusal is None, str(trace.refusal)
    assert trace.returncode == 0, trace.stderr
    return trace


@pytest.fixture(params=[False, True], ids=["syscall_info", "registers"])
def registers(request):
    """Both ways of reading a system call: PTRACE_GET_SYSCALL_INFO (5.3+) and the registers (4.18)."""
    return request.param


FORK_TREE = """
    #include <stdio.h>
    #include <sys/wait.h>
    #include <unistd.h>
    int main(void) {
        pid_t a = fork();
        if (a == 0) {
            pid_t g = fork();
            if (g == 0) return 0;
            waitpid(g, NULL, 0);
            return 0;
        }
        pid_t b = fork();
        if (b == 0) return 0;
        waitpid(a, NULL, 0);
        waitpid(b, NULL, 0);
        return 0;
    }
"""


def test_a_fork_tree_of_three_has_three_creations_with_their_parents_and_three_reaps(tmp_path, registers,
                                                                                      leaves_nothing):
    trace = ok(te.record([program(tmp_path, FORK_TREE)], registers=registers))
    root = trace.processes[trace.root]
    creations = trace.of_kind("create")
    assert len(creations) == 3 and all(c.call in ("fork", "clone") and not c.thread for c in creations)
    a, b = root.children
    (g,) = trace.processes[a].children
    assert trace.processes[g].parent == a and trace.processes[b].parent == trace.root
    reaps = [e for e in trace.of_kind("reap") if e.call != "tracer"]
    assert sorted((e.pid, e.child) for e in reaps) == sorted([(a, g), (trace.root, a), (trace.root, b)])
    assert trace.processes[g].reaper == a and trace.processes[a].reaper == trace.root
    assert trace.processes[trace.root].reaper == "tracer"
    assert all(p.exit is not None and p.exit.status == 0 for p in trace.processes.values())


def test_the_vfork_parent_resumes_only_after_its_child_execs(tmp_path, registers, leaves_nothing):
    exe = program(tmp_path, """
        #include <stdio.h>
        #include <sys/wait.h>
        #include <unistd.h>
        int main(void) {
            pid_t c = vfork();
            if (c == 0) { execl("/bin/true", "true", (char *) 0); _exit(127); }
            printf("parent\\n");
            fflush(stdout);
            waitpid(c, NULL, 0);
            return 0;
        }
    """)
    trace = ok(te.record([exe], registers=registers))
    (create,) = trace.of_kind("create")
    assert create.call == "vfork" and {"CLONE_VM", "CLONE_VFORK"} <= set(create.flags)
    child_exec = next(e for e in trace.processes[create.child].events if e.kind == "exec")
    resumed = next(e for e in trace.processes[trace.root].events if e.kind == "vfork_done")
    write = next(e for e in trace.processes[trace.root].events if e.kind == "write")
    assert child_exec.path == "/bin/true"
    # The kernel releases the parent inside the child's execve, once the borrowed memory is dropped
    # (fs/exec.c exec_mmap -> mm_release -> complete_vfork_done), before the exec event stop.
    assert create.time_ns < child_exec.called_ns < resumed.time_ns < write.time_ns
    assert resumed.time_ns < trace.processes[create.child].exit.time_ns


def test_a_zombie_reaped_late_stays_until_its_parent_waits(tmp_path, registers, leaves_nothing):
    exe = program(tmp_path, """
        #include <sys/wait.h>
        #include <time.h>
        #include <unistd.h>
        int main(void) {
            pid_t c = fork();
            if (c == 0) _exit(7);
            nanosleep(&(struct timespec){0, 300000000}, NULL);
            int status;
            waitpid(c, &status, 0);
            return 0;
        }
    """)
    trace = ok(te.record([exe], registers=registers))
    (child,) = trace.processes[trace.root].children
    lane = trace.processes[child]
    assert lane.exit.status == 7 and lane.reaper == trace.root and lane.reap.call == "wait4"
    assert lane.reap.time_ns - lane.exit.time_ns > 200_000_000      # a zombie for most of the 0.3 s


ORPHAN = """
    #include <stdlib.h>
    #include <sys/wait.h>
    #include <time.h>
    #include <unistd.h>
    int main(int argc, char **argv) {
        if (argc > 1) prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
        pid_t c = fork();
        if (c == 0) {
            pid_t parent = getpid();
            if (fork() == 0) {
                while (getppid() == parent) nanosleep(&(struct timespec){0, 1000000}, NULL);
                _exit(3);
            }
            _exit(0);
        }
        waitpid(c, NULL, 0);
        if (argc > 1) wait(NULL);
        return 0;
    }
"""


def test_an_orphan_is_reaped_by_the_recorder_as_subreaper(tmp_path, leaves_nothing):
    trace = ok(te.record([program(tmp_path, ORPHAN)]))
    (child,) = trace.processes[trace.root].children
    (orphan,) = trace.processes[child].children
    lane = trace.processes[orphan]
    assert lane.exit.status == 3 and lane.reaper == "tracer"
    assert lane.exit.ppid != child                        # reparented before it exited


def test_an_orphan_is_reaped_by_its_subreaper_grandparent(tmp_path, registers, leaves_nothing):
    trace = ok(te.record([program(tmp_path, ORPHAN), "subreaper"], registers=registers))
    (child,) = trace.processes[trace.root].children
    (orphan,) = trace.processes[child].children
    lane = trace.processes[orphan]
    assert lane.exit.ppid == trace.root and lane.reaper == trace.root
    assert lane.reap.call in ("wait4", "waitid")


def test_pipe_writes_and_reads_name_the_same_pipe(tmp_path, registers, leaves_nothing):
    exe = program(tmp_path, """
        #include <sys/wait.h>
        #include <unistd.h>
        int main(void) {
            int p[2];
            char buf[64];
            pipe(p);
            if (fork() == 0) {
                close(p[1]);
                while (read(p[0], buf, sizeof buf) > 0) {}
                _exit(0);
            }
            close(p[0]);
            write(p[1], "hello", 5);
            close(p[1]);
            wait(NULL);
            return 0;
        }
    """)
    trace = ok(te.record([exe], registers=registers))
    (w,) = trace.of_kind("pipe_write")
    reads = trace.of_kind("pipe_read")
    assert w.length == 5 and w.pid == trace.root
    got = [r for r in reads if r.length == 5]
    assert got and got[0].pipe == w.pipe and got[0].time_ns > w.time_ns
    assert reads[-1].length == 0 and reads[-1].pipe == w.pipe     # end of file once the writer closed


def test_a_signal_is_sent_then_delivered_to_the_handler(tmp_path, registers, leaves_nothing):
    exe = program(tmp_path, """
        #include <signal.h>
        #include <sys/wait.h>
        #include <unistd.h>
        static void on_usr1(int s) { write(1, "got\\n", 4); }
        int main(void) {
            sigset_t block, old;
            sigemptyset(&block);
            sigaddset(&block, SIGUSR1);
            sigprocmask(SIG_BLOCK, &block, &old);
            signal(SIGUSR1, on_usr1);
            pid_t c = fork();
            if (c == 0) { kill(getppid(), SIGUSR1); _exit(0); }
            sigsuspend(&old);
            waitpid(c, NULL, 0);
            return 0;
        }
    """)
    trace = ok(te.record([exe], registers=registers))
    (child,) = trace.processes[trace.root].children
    (sent,) = [e for e in trace.of_kind("signal_sent") if e.signal == "SIGUSR1"]
    (got,) = [e for e in trace.of_kind("signal") if e.signal == "SIGUSR1"]
    assert sent.pid == child and sent.call == "kill" and sent.target == trace.root
    assert got.pid == trace.root and got.sender == child and sent.time_ns < got.time_ns
    assert trace.stdout == b"got\n"                        # re-injected: the handler ran


@pytest.mark.parametrize("kind", ["shell", "C"])
def test_the_recorded_writes_are_the_programs_real_output_in_its_order(kind, tmp_path, registers,
                                                                        leaves_nothing):
    if kind == "shell":
        argv = ["/bin/sh", "-c", "for i in 1 2 3 4 5 6; do (echo a$i; echo b$i) & done; echo main; wait"]
    else:
        argv = [program(tmp_path, """
            #include <stdio.h>
            #include <sys/wait.h>
            #include <unistd.h>
            int main(void) {
                printf("buffered before fork ");            /* copied into each child's stdio buffer */
                for (int i = 0; i < 4; i++)
                    if (fork() == 0) { printf("child %d\\n", i); return 0; }
                printf("parent\\n");
                fflush(stdout);
                while (wait(NULL) > 0) {}
                return 0;
            }
        """)]
    for _ in range(5):
        trace = ok(te.record(argv, registers=registers))
        assert b"".join(e.data for e in trace.of_kind("write") if e.fd == 1) == trace.stdout
        assert all(e.length == len(e.data) for e in trace.of_kind("write"))


def test_a_write_keeps_its_exact_bytes_up_to_4_kib_and_its_full_length(tmp_path, leaves_nothing):
    exe = program(tmp_path, """
        #include <unistd.h>
        int main(void) {
            static char big[10000];
            for (int i = 0; i < 10000; i++) big[i] = (char) (i * 7);   /* every byte value, quotes, NULs */
            write(1, big, sizeof big);
            write(2, "\\\\\\"\\xc3\\xa9\\xff\\n", 6);
            return 0;
        }
    """)
    trace = ok(te.record([exe]))
    out, err = trace.of_kind("write")
    assert out.fd == 1 and out.length == 10000 and out.data == trace.stdout[:4096]
    assert err.fd == 2 and err.data == trace.stderr == b'\\"\xc3\xa9\xff\n'


TWO_THREADS = """
        #include <pthread.h>
        #include <unistd.h>
        static void *work(void *arg) { write(1, "t\\n", 2); return NULL; }
        int main(void) {
            pthread_t t[2];
            for (int i = 0; i < 2; i++) pthread_create(&t[i], NULL, work, NULL);
            for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
            return 0;
        }
"""


def test_threads_are_lanes_marked_as_threads(tmp_path, registers, leaves_nothing):
    exe = program(tmp_path, TWO_THREADS, flags=["-pthread"])
    trace = ok(te.record([exe], registers=registers))
    creations = trace.of_kind("create")
    assert len(creations) == 2
    assert all(c.thread and "CLONE_THREAD" in c.flags and c.exit_signal == "none" for c in creations)
    threads = [p for p in trace.processes.values() if p.thread]
    assert len(threads) == 2 and all(p.pid == trace.root and p.tid != trace.root for p in threads)
    assert all(p.exit is not None and p.exit.thread for p in threads)
    assert {e.tid for e in trace.of_kind("write")} == {p.tid for p in threads}


def test_clone_flags_are_decoded(tmp_path, registers, leaves_nothing):
    exe = program(tmp_path, """
        #include <sched.h>
        #include <signal.h>
        #include <stdlib.h>
        #include <sys/wait.h>
        static int child(void *arg) { return 0; }
        int main(void) {
            char *stack = malloc(65536);
            pid_t c = clone(child, stack + 65536, CLONE_VM | CLONE_FS | SIGCHLD, NULL);
            waitpid(c, NULL, 0);
            return 0;
        }
    """)
    trace = ok(te.record([exe], registers=registers))
    (create,) = trace.of_kind("create")
    assert create.call == "clone" and set(create.flags) == {"CLONE_VM", "CLONE_FS"}
    assert create.exit_signal == "SIGCHLD" and not create.thread


def test_the_process_cap_stops_a_fork_bomb_and_leaves_nothing(tmp_path, leaves_nothing):
    marker = marked()
    exe = program(tmp_path, """
        #include <unistd.h>
        int main(void) {
            NAME();
            for (int i = 0; i < 2000; i++) fork();     /* every process keeps forking */
            pause();
            return 0;
        }
    """, marker=marker)
    trace = te.record([exe], max_procs=20, timeout=20)
    assert trace.limit == "max_procs" and trace.returncode == te.EXIT_CAP
    assert len(trace.of_kind("create")) <= 40
    assert alive(marker) == []


def test_the_timeout_kills_everything_and_says_so(tmp_path, leaves_nothing):
    marker = marked()
    exe = program(tmp_path, """
        #include <unistd.h>
        int main(void) { NAME(); fork(); pause(); return 0; }
    """, marker=marker)
    trace = te.record([exe], timeout=1)
    assert trace.limit == "timeout" and trace.returncode == te.EXIT_TIMEOUT
    assert alive(marker) == []


def test_a_program_already_traced_is_refused_with_the_reason(leaves_nothing):
    """A process has one tracer: a recorder running under another recorder cannot trace its program
    (ptrace(2) PTRACE_SEIZE: EPERM when the tracee is already traced)."""
    inner = [str(te.binary()), "/dev/null", "--", "/bin/true"]
    trace = ok(te.record(inner))
    assert trace.processes[trace.root].exit.status == te.EXIT_REFUSED
    assert b"already traced by process" in trace.stderr and b"only one tracer" in trace.stderr


def test_the_python_side_turns_a_refusal_into_an_object_that_explains(leaves_nothing):
    script = ("from forklab.sandbox import trace_events as te\n"
              "t = te.record(['/bin/true'])\n"
              "print(type(t.refusal).__name__, t.returncode, t.refusal)\n")
    trace = ok(te.record([sys.executable, "-c", script], timeout=60))
    line = trace.stdout.decode()
    assert line.startswith("Refusal 3 This program cannot be traced here: the program is already traced")


def test_bad_arguments_are_clear_errors():
    with pytest.raises(ValueError, match="max_procs"):
        te.record(["/bin/true"], max_procs=0)
    with pytest.raises(ValueError, match="timeout"):
        te.record(["/bin/true"], timeout=float("nan"))
    with pytest.raises(ValueError, match="needs a program"):
        te.record([])



def test_a_group_stop_stays_a_stop_until_sigcont_and_a_stop_report_is_not_a_reap(tmp_path, registers,
                                                                                 leaves_nothing):
    exe = program(tmp_path, """
        #include <signal.h>
        #include <stdio.h>
        #include <sys/wait.h>
        #include <unistd.h>
        int main(void) {
            pid_t c = fork();
            if (c == 0) { raise(SIGSTOP); write(1, "resumed\\n", 8); _exit(0); }
            int st;
            waitpid(c, &st, WUNTRACED);
            printf("stopped=%d\\n", WIFSTOPPED(st));
            fflush(stdout);
            kill(c, SIGCONT);
            waitpid(c, &st, 0);
            return 0;
        }
    """)
    trace = ok(te.record([exe], registers=registers))
    (child,) = trace.processes[trace.root].children
    kinds = [e.kind for e in trace.processes[child].events]
    assert kinds.index("stopped") < kinds.index("continued") < kinds.index("write")
    assert trace.stdout == b"stopped=1\nresumed\n"              # the parent saw a real stop
    assert [e.child for e in trace.of_kind("reap") if e.call != "tracer"] == [child]


def test_a_child_killed_by_its_parent_exits_by_sigkill_and_is_reaped(tmp_path, leaves_nothing):
    exe = program(tmp_path, """
        #include <signal.h>
        #include <sys/wait.h>
        #include <unistd.h>
        int main(void) {
            pid_t c = fork();
            if (c == 0) { for (;;) pause(); }
            kill(c, SIGKILL);
            waitpid(c, NULL, 0);
            return 0;
        }
    """)
    trace = ok(te.record([exe]))
    (child,) = trace.processes[trace.root].children
    lane = trace.processes[child]
    assert lane.exit.signal == "SIGKILL" and lane.exit.status is None and lane.reaper == trace.root
