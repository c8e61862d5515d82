"""C cells: compile with warnings, run sandboxed, contain fork bombs and orphans, reap everything."""
import os
import time
import uuid


from forklab.course import cell_magic
from forklab.sandbox.runner import run_c
from procs import assert_no_children

HELLO = r'''
#include <stdio.h>
int main(int argc, char **argv) {
    char line[64] = "";
    if (fgets(line, sizeof line, stdin) == NULL) line[0] = 0;
    printf("hello %s argc=%d stdin=%s", argc > 1 ? argv[1] : "-", argc, line);
    fprintf(stderr, "to stderr\n");
    return 3;
}
'''

# Every process renames itself to a unique marker so the test can look for survivors in /proc.
NAMED = r'''
#include <sys/prctl.h>
#include <unistd.h>
static void name(const char *n) { prctl(PR_SET_NAME, n, 0, 0, 0); }
'''


def survivors(marker: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/comm") as f:
                    if f.read().strip() == marker:
                        found.append(int(entry))
            except OSError:
                pass
    return found


def marker() -> str:
    return "fk" + uuid.uuid4().hex[:10]


def test_program_output_exit_code_args_and_stdin_come_back():
    r = run_c(HELLO, args=["world"], stdin="typed\n")
    assert r.compiled and r.compile_output == ""
    assert r.stdout == "hello world argc=2 stdin=typed\n"
    assert r.stderr == "to stderr\n"
    assert r.returncode == 3 and not r.timed_out and not r.too_many_procs
    assert r.status_line() == "[exit status 3]"


def test_compile_error_is_reported_with_short_paths_and_program_not_run():
    r = run_c("int main(void) { return y; }")
    assert not r.compiled and r.returncode is None
    assert "cell.c:1:" in r.compile_output and "error" in r.compile_output
    assert "/tmp" not in r.compile_output
    assert "did not compile" in r.status_line()


def test_warnings_are_on_and_shown_for_a_program_that_still_runs():
    r = run_c("int main(void) { int unused; return 0; }")
    assert r.compiled and r.returncode == 0
    assert "-Wunused-variable" in r.compile_output


def test_death_by_signal_is_a_negative_returncode_named_in_the_status():
    r = run_c("int main(void) { *(volatile int *)0 = 1; return 0; }")
    assert r.returncode == -11
    assert "SIGSEGV" in r.status_line()


def test_timeout_kills_a_hanging_program_quickly():
    t = time.monotonic()
    r = run_c("#include <unistd.h>\nint main(void) { for (;;) pause(); }", timeout=0.3)
    assert r.timed_out and r.returncode == -9
    assert time.monotonic() - t < 3
    assert "timeout" in r.status_line()


def test_fork_bomb_is_stopped_and_every_process_reaped():
    m = marker()
    src = NAMED + 'int main(void) { name("%s"); for (;;) fork(); }' % m
    t = time.monotonic()
    r = run_c(src, max_procs=16, timeout=10)
    assert r.too_many_procs and not r.timed_out
    assert r.max_procs_seen > 16
    assert time.monotonic() - t < 5
    assert survivors(m) == []
    assert "more than 16 processes" in r.status_line()


def test_a_hard_backstop_caps_tasks_even_before_the_supervisor_looks():
    r = run_c("#include <unistd.h>\nint main(void) { for (;;) fork(); }", max_procs=8, timeout=5)
    assert r.backstop in ("pids cgroup", "RLIMIT_NPROC")
    assert r.too_many_procs and r.max_procs_seen <= 2 * 8 + 16


def test_orphans_that_leave_the_group_and_session_are_still_killed_and_reaped():
    m = marker()
    src = NAMED + r'''
int main(void) {
    name("%s");
    if (fork() == 0) {          /* child: new session, then a grandchild that outlives everyone */
        setsid();
        if (fork() == 0) { for (;;) pause(); }
        _exit(0);
    }
    return 0;                   /* main ends at once: the grandchild is an orphan */
}''' % m
    r = run_c(src, timeout=0.5)
    assert r.returncode == 0 and r.timed_out and r.leftovers_killed
    assert "left behind" in r.status_line()
    assert survivors(m) == []


def test_the_callers_own_children_and_state_are_untouched():
    cwd, umask = os.getcwd(), os.umask(0o22)
    os.umask(umask)
    run_c("#include <unistd.h>\nint main(void) { fork(); fork(); return 0; }")
    assert os.getcwd() == cwd and os.umask(umask) == umask
    assert_no_children()          # no child (nor zombie) of ours was left behind


def test_cell_magic_prints_stdout_stderr_status_and_compile_errors(capsys):
    registered = {}

    class FakeIPython:
        def register_magic_function(self, fn, magic_kind, magic_name):
            registered[(magic_kind, magic_name)] = fn

    cell_magic.load_ipython_extension(FakeIPython())
    magic = registered[("cell", "c")]
    magic('--args "you there" --stdin "line\\n" --timeout 2', HELLO)
    out, err = capsys.readouterr()
    assert out == "hello you argc=3 stdin=line\n[exit status 3]\n"
    assert err == "to stderr\n"
    magic("", "int main(void) { return nope; }")
    out, err = capsys.readouterr()
    assert "compile failed:" in err and "nope" in err
    assert "did not compile" in out


def test_cell_magic_rejects_unknown_options_with_the_choices(capsys):
    cell_magic.c_magic("--bogus 1", "int main(void) { return 0; }")
    assert "--max-procs" in capsys.readouterr().err


def test_magic_options_take_values_that_start_with_a_dash():
    from forklab.course.cell_magic import parse_magic_line
    opts = parse_magic_line('--cflags "-O1 -DX=1" --args "-n 3" --timeout 2')
    assert opts["cflags"] == ["-O1", "-DX=1"] and opts["args"] == ["-n", "3"] and opts["timeout"] == 2.0
    assert parse_magic_line("--cflags -O2")["cflags"] == ["-O2"]


def test_out_keeps_the_run_in_the_notebooks_variable(capsys):
    """%%c --out VAR: a later cell reads what the program printed (e.g. to check a prediction)."""
    from IPython.testing.globalipapp import get_ipython
    ip = get_ipython()
    ip.user_ns.pop("run", None)
    cell_magic.load_ipython_extension(ip)
    ip.run_cell_magic("c", "--out run", '#include <stdio.h>\nint main(void) { puts("forty-two"); return 3; }')
    assert "forty-two" in capsys.readouterr().out
    assert ip.user_ns["run"].stdout == "forty-two\n" and ip.user_ns["run"].returncode == 3


def test_out_must_name_a_variable(capsys):
    cell_magic.c_magic("--out 2x", "int main(void) { return 0; }")
    err = capsys.readouterr().err
    assert "--out needs a Python variable name" in err and "'2x'" in err
