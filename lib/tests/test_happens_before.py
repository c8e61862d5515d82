"""Every output order a real program allows, from its recorded structure (forklab.course.happens_before).

Each program is a real one, C or sh, traced; for each: an order it can print is possible, an order it cannot is
rejected with the happens-before edge that forbids it, in words, and the number of orders is the one worked out
by hand in the test. The programs are the soundness tool's (tools/orders_soundness.py), so the orders checked
here are the ones 500 untraced runs per program check there."""
import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from forklab.course import happens_before as hb
from forklab.sandbox import trace_events as te
from procs import assert_no_children

CC = shutil.which("cc") or shutil.which("gcc")
TOOL = Path(__file__).resolve().parents[2] / "tools" / "orders_soundness.py"
pytestmark = [pytest.mark.skipif(CC is None, reason="no C compiler"),
              pytest.mark.skipif(not TOOL.exists(), reason="tools/orders_soundness.py is not beside forklab")]


def _tool():
    spec = importlib.util.spec_from_file_location("orders_soundness", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The soundness tool's programs, compiled once; a test is skipped (with the reason) where ptrace is refused."""
    tool = _tool()
    probe = te.record(["true"])
    if probe.refusal is not None:
        pytest.skip(str(probe.refusal))
    return tool, tool.compile_all(tmp_path_factory.mktemp("progs"), list(tool.PROGRAMS))


@pytest.fixture(autouse=True)
def reaps_everything():
    yield
    assert_no_children()


def model(built, name, runs=2):
    tool, exes = built
    o = hb.orders(tool.argv_for(name, exes[name], 1), runs=runs)
    assert o.broken is None, o.broken
    return o


def test_two_children_any_interleaving_between_the_first_and_last_write(built):
    o = model(built, "two_children")
    assert o.possible(["A", "P", "C", "B", "D"])
    assert o.possible(["A", "B", "C", "P", "D"])
    verdict = o.possible(["B", "A", "C", "P", "D"])
    assert not verdict
    assert verdict.why.startswith("'B' can't come before 'A'") and "its fork() created B's process" in verdict.why
    assert o.all().count == 6            # B, C, P in any order (3!), between A and D


def test_wait_any_child_is_a_choice_over_every_child(built):
    """The n-th wait(NULL) needs n exits, of any children: 3! orders of X Y Z times Catalan(3) = 5 ways to
    interleave them with w1 w2 w3 = 30. With only the recorded children (no choice) there would be fewer."""
    o = model(built, "wait_any_three")
    assert o.all().count == 30
    assert len(o.model.gates) == 3       # each wait(NULL) is a gate over the three children, not an edge
    for order in (["X", "w1", "Y", "w2", "Z", "w3"], ["Z", "w1", "Y", "w2", "X", "w3"], ["Y", "Z", "w1", "w2", "X", "w3"]):
        assert o.possible(order), order
    verdict = o.possible(["X", "w1", "w2", "Y", "Z", "w3"])
    assert not verdict
    assert verdict.why.startswith("'w2' can't come before both 'Y' and 'Z'")
    assert "whichever child the wait() in the parent returns, it must have exited first" in verdict.why
    assert "Y's process writes 'Y', then exits; or Z's process writes 'Z', then exits" in verdict.why


def test_waitpid_for_one_child_is_not_a_choice(built):
    o = model(built, "waitpid_order")
    assert o.all().count == 3            # a, b in either order before got_b, or a after got_b
    assert o.possible(["b", "got_b", "a", "got_a"])
    verdict = o.possible(["a", "got_b", "b", "got_a"])
    assert not verdict and verdict.why.startswith("'got_b' can't come before 'b'")
    assert "b's process writes 'b', then it exited before the wait() in" in verdict.why


def test_a_pipe_read_follows_the_write_that_filled_it(built):
    o = model(built, "pipe_parent_child")
    assert o.all().count == 5            # c1 c2 and p1 p2 interleaved (6) with p1 before c2 (-1); p3 last
    assert o.possible(["c1", "p1", "c2", "p2", "p3"])
    verdict = o.possible(["c1", "c2", "p1", "p2", "p3"])
    assert not verdict and verdict.why.startswith("'c2' can't come before 'p1'")
    assert "then its write to a pipe came before c1's process's read that got those bytes" in verdict.why


def test_a_signal_handler_runs_after_the_kill_that_sent_it(built):
    o = model(built, "signal_to_child")
    assert o.all().count == 7            # C P in either order, then H C2; Q anywhere after P; R last
    assert o.possible(["P", "Q", "C", "H", "C2", "R"])
    verdict = o.possible(["C", "H", "P", "Q", "C2", "R"])
    assert not verdict and verdict.why.startswith("'H' can't come before 'P'")
    assert "sent SIGUSR1 before C's process received it" in verdict.why


def test_the_vfork_parent_continues_only_after_the_child_execs(built):
    o = model(built, "vfork_exec")
    assert set(o.all().orders) == {("P", "B", "Q", "V", "R"), ("P", "B", "V", "Q", "R")}
    verdict = o.possible(["P", "Q", "B", "V", "R"])
    assert not verdict and verdict.why.startswith("'Q' can't come before 'B'")
    assert "suspended in vfork() until" in verdict.why and "called exec" in verdict.why


def test_a_stdio_buffer_copied_by_fork_is_written_twice_when_flushed(built):
    """printf("A") before fork(): both processes hold "A" and write "AB" at their fflush - two write(2)s of the
    same bytes; the child's "C" is written at its exit. The items are the writes, not the printf calls."""
    o = model(built, "printf_buffer")
    assert sorted(o.labels) == ["AB", "AB", "C", "D"]
    assert o.all().count == 4            # (AB D) and (AB C) interleaved, the two ABs alike: 4 distinct orders
    assert o.possible(["AB", "C", "AB", "D"])
    verdict = o.possible(["D", "AB", "AB", "C"])
    assert not verdict and verdict.why.startswith("'D' can't come before 'AB'") and "program order" in verdict.why
    assert "the program writes 'AB' 2 times" in o.possible(["AB", "C", "D"]).why
    assert o.possible("AB\nC\nAB\nD\n")                 # the output as text, one item a line


def test_a_shell_program_background_job_and_wait(built):
    o = model(built, "sh_background")
    assert set(o.all().orders) == {("A", "B", "C", "D"), ("A", "C", "B", "D")}
    verdict = o.possible(["A", "C", "D", "B"])
    assert not verdict and verdict.why.startswith("'D' can't come before 'B'") and "wait()" in verdict.why


def test_a_shell_pipeline_orders_the_reader_after_the_writer():
    o = hb.orders("echo A; echo B | (read x; echo got $x) & echo C; wait", runs=2)
    assert o.broken is None, o.broken
    assert set(o.all().orders) == {("A", "got B", "C"), ("A", "C", "got B")}


RACE = r"""
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
/* Two children race to create the same file; only the winner prints. argv[1] delays the first child
 * (milliseconds), argv[2] the folder. */
int main(int argc, char **argv) {
    char path[4096];
    snprintf(path, sizeof path, "%s/winner", argv[2]);
    for (int i = 0; i < 2; i++)
        if (fork() == 0) {
            if (i == 0) usleep(atoi(argv[1]) * 1000);
            else usleep((300 - atoi(argv[1])) * 1000);
            if (open(path, O_CREAT | O_EXCL | O_WRONLY, 0600) >= 0) printf("child %d won\n", i);
            return 0;
        }
    while (wait(NULL) > 0) ;
    unlink(path);
    return 0; }
"""


def test_runs_that_differ_break_the_assumption_and_are_not_graded(tmp_path):
    """A race on a shared file decides who prints: two runs with the race won by each child are two structures.
    The Orders says so in words and refuses to grade."""
    src = tmp_path / "race.c"
    src.write_text(RACE)
    exe = tmp_path / "race"
    subprocess.run([CC, "-O1", "-o", str(exe), str(src)], check=True, timeout=120)
    first, second = (te.record([str(exe), delay, str(tmp_path)]) for delay in ("0", "300"))
    if first.refusal is not None:
        pytest.skip(str(first.refusal))
    assert first.output != second.output
    o = hb.Orders([first, second])
    assert o.broken and "the runs differ" in o.broken and "control flow" in o.broken
    assert "writes 'child 0 won'" in o.broken or "writes 'child 1 won'" in o.broken
    with pytest.raises(hb.OrdersError, match="the runs differ"):
        o.possible(["child 0 won"])
    assert hb.Orders([first, first]).broken is None       # the same run twice: nothing to refuse


def test_grading_names_each_impossible_order_and_each_missed_one(built):
    o = model(built, "waitpid_order")
    every = [list(x) for x in o.all().orders]
    assert hb.grade_orders(every, model=o).correct
    wrong = ["a", "got_b", "b", "got_a"]
    grade = hb.grade_orders(every[:1] + [wrong], model=o)
    assert not grade.correct
    assert grade.impossible[0][0] == tuple(wrong) and "Not possible: a got_b b got_a" in grade.feedback
    assert len(grade.missed) == 2 and grade.feedback.count("Missed:") == 2
    # a multiple choice: only the offered orders count; the student must find the valid ones among them
    offered = [every[0], wrong]
    assert hb.grade_orders([every[0]], question_orders=offered, model=o).correct
    assert not hb.grade_orders([every[0], wrong], question_orders=offered, model=o).correct
    # "give two orders it can print": any two valid ones
    assert hb.grade_orders(every[1:], model=o, need=2).correct
    assert not hb.grade_orders(every[:1], model=o, need=2).correct
    # orders as text with newlines, as a student copies them from the output
    assert hb.grade_orders([[x + "\n" for x in order] for order in every], model=o).correct


def test_bad_input_is_named(built):
    o = model(built, "two_children", runs=1)
    assert "'Z' is not something this program writes" in o.possible(["A", "Z"]).why
    with pytest.raises(ValueError, match="shell command"):
        hb.orders(42)
    with pytest.raises(ValueError, match="runs must be"):
        hb.orders("true", runs=0)
    with pytest.raises(ValueError, match="limit must be"):
        o.all(limit=0)


def test_the_soundness_tool_finds_every_observed_order_possible():
    """A short run of tools/orders_soundness.py (the full one is `make orders-soundness`): 20 untraced runs of 3
    programs under random delays, half pinned to one CPU. Soundness only; no timing is asserted."""
    done = subprocess.run([sys.executable, str(TOOL), "--runs", "20", "--only",
                           "wait_any_three,pipe_parent_child,signal_to_child"],
                          capture_output=True, text=True, timeout=300)
    if "cannot be traced here" in done.stderr + done.stdout:
        pytest.skip(done.stderr.strip() or done.stdout.strip())
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("SOUND") == 3 and "UNSOUND" not in done.stdout
    assert "| wait_any_three | 20 | 30 |" in done.stdout


WAITS = r"""
#include <sys/wait.h>
#include <unistd.h>
int main(void) {
    pid_t a = fork(); if (a == 0) return 0;
    pid_t b = fork(); if (b == 0) return 0;
    pid_t c = fork(); if (c == 0) return 0;
    siginfo_t si;
    waitid(P_PID, b, &si, WEXITED);     /* that child */
    waitid(P_ALL, 0, &si, WEXITED);     /* any child */
    waitpid(0, NULL, 0);                /* any child in the caller's process group */
    return 0; }
"""


@pytest.mark.parametrize("registers", [False, True], ids=["syscall_info", "registers"])
def test_the_recorder_says_what_each_wait_asked_for(tmp_path, registers):
    """The model branches only over waits that could have returned another child: the reap event carries the
    wait's request as wait4's pid (-1 any child, 0 the caller's group, > 0 that child)."""
    src = tmp_path / "waits.c"
    src.write_text(WAITS)
    exe = tmp_path / "waits"
    subprocess.run([CC, "-O1", "-o", str(exe), str(src)], check=True, timeout=120)
    trace = te.record([str(exe)], registers=registers)
    if trace.refusal is not None:
        pytest.skip(str(trace.refusal))
    kids = [e.child for e in trace.of_kind("create")]
    reaps = [(e.call, e.asked) for e in trace.of_kind("reap") if e.call != "tracer"]
    assert reaps == [("waitid", kids[1]), ("waitid", -1), ("wait4", 0)]


def test_many_children_and_waits_are_counted_without_listing_every_choice(monkeypatch):
    """8 children and a wait for each: 8! = 40,320 ways to hand children to the waits; the gates count them
    without listing them, and 8! orders are counted by dynamic programming over the 2^8 sets of writes."""
    o = hb.orders("for i in 1 2 3 4 5 6 7 8; do (echo $i) & done; wait; echo end", runs=1)
    every = o.all(limit=100)
    assert every.count == 40320 and not every.more and len(every.orders) == 100
    assert all(order[-1] == "end" for order in every.orders)
    verdict = o.possible(["1", "2", "end", "3", "4", "5", "6", "7", "8"])
    assert not verdict and verdict.why.startswith("'end' can't come before all of '3', '4', '5'")
    monkeypatch.setattr(hb, "MAX_STATES", 50)       # too many states to count: listed up to the limit
    beyond = o.all(limit=100)
    assert beyond.more and str(beyond) == "more than 100 orders"


def test_process_ids_in_the_output_do_not_make_runs_differ():
    """Runs are compared without process ids: a program that prints its pid has the same structure each run."""
    o = hb.orders("(echo child) & echo pid $$; wait", runs=2)
    assert o.broken is None, o.broken
    assert o.all().count == 2


def test_grading_from_the_program_itself():
    """grade_orders records the program (3 runs, compared) when given it instead of a model."""
    grade = hb.grade_orders([["A", "B"]], program="(echo A) & (echo B) & wait")
    assert not grade.correct and grade.missed == [("B", "A")] and "Missed: B A is also possible." in grade.feedback
    assert hb.grade_orders(["A\nB\n", "B\nA\n"], program="(echo A) & (echo B) & wait").correct   # as text


def test_grading_every_order_needs_them_all_listed(built):
    o = model(built, "wait_any_three")
    with pytest.raises(hb.OrdersError, match="more than the limit of 10 to list"):
        hb.grade_orders([["X", "Y", "Z", "w1", "w2", "w3"]], model=o, limit=10)
    assert hb.grade_orders([["X", "Y", "Z", "w1", "w2", "w3"]], model=o, limit=10, need=1).correct


TWO_THREADS_WAIT = r"""
#include <pthread.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>
static void *waiter(void *name) {
    wait(NULL);                                       /* any child: which one is the scheduler's choice */
    write(1, name, 2);
    return NULL;
}
int main(void) {
    for (int i = 1; i <= 2; i++)
        if (fork() == 0) { write(1, i == 1 ? "c1\n" : "c2\n", 3); _exit(0); }
    pthread_t a, b;
    pthread_create(&a, NULL, waiter, "a\n");
    pthread_create(&b, NULL, waiter, "b\n");
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    return 0;
}
"""


def test_two_threads_each_waiting_for_any_child_are_refused_not_graded_wrongly(tmp_path):
    """A second reader's counterexample: threads A and B of one process each wait(NULL) for one of two children.
    Running one thread's wait as early as it can takes a child the other could have had, and the model called
    'c1 a c2 b' impossible - a real program prints it. Such programs are refused in words instead."""
    src, exe = tmp_path / "threads.c", tmp_path / "threads"
    src.write_text(TWO_THREADS_WAIT)
    subprocess.run([CC, "-O1", "-pthread", "-o", str(exe), str(src)], check=True, timeout=120)
    trace = te.record([str(exe)])
    if trace.refusal is not None:
        pytest.skip(str(trace.refusal))
    o = hb.Orders([trace])
    assert o.broken and "two threads of process" in o.broken and "not graded" in o.broken
    with pytest.raises(hb.OrdersError, match="two threads"):
        o.possible(["c1", "a", "c2", "b"])


MERGED_SIGNALS = r"""
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>
static void on_usr1(int sig) { (void) sig; write(1, "h\n", 2); }
int main(void) {
    sigset_t usr1, old;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    signal(SIGUSR1, on_usr1);
    sigprocmask(SIG_BLOCK, &usr1, &old);              /* both sendings arrive while it is blocked: they merge */
    kill(getpid(), SIGUSR1);
    kill(getpid(), SIGUSR1);
    write(1, "x\n", 2);
    sigprocmask(SIG_SETMASK, &old, NULL);             /* one delivery, one handler run */
    write(1, "y\n", 2);
    return 0;
}
"""


def test_two_sendings_merged_into_one_delivery_make_no_false_edge(tmp_path):
    """Standard signals are not queued (signal(7)): two kill()s while SIGUSR1 is blocked make one delivery.
    Pairing the spare sending with a later delivery would be a false edge; where fewer were delivered than
    sent, the deliveries get no signal edge at all."""
    src, exe = tmp_path / "merged.c", tmp_path / "merged"
    src.write_text(MERGED_SIGNALS)
    subprocess.run([CC, "-O1", "-o", str(exe), str(src)], check=True, timeout=120)
    trace = te.record([str(exe)])
    if trace.refusal is not None:
        pytest.skip(str(trace.refusal))
    model = hb.Model(trace)
    sends = [n for n, e in enumerate(model.events) if e.kind == "signal_sent" and e.signal == "SIGUSR1"]
    deliveries = [n for n, e in enumerate(model.events) if e.kind == "signal" and e.signal == "SIGUSR1"]
    assert len(sends) == 2 and len(deliveries) == 1, trace.events
    assert not [edge for edge in model.edges if edge[2] == "signal"]
    assert hb.Orders([trace]).all().count == 1        # one lane: program order alone decides x h y
