"""forklab.meters.strace: reading strace's lines, and tracing a fresh interpreter (never the caller)."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from forklab.meters import strace

CLONE_LINE = ("4242  clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD, "
              "child_tidptr=0x7f00) = 4243")
CLONE3_LINE = ("4242  clone3({flags=CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD|CLONE_SYSVSEM|"
               "CLONE_SETTLS|CLONE_PARENT_SETTID|CLONE_CHILD_CLEARTID, child_tid=0x7f, parent_tid=0x7f, "
               "exit_signal=0, stack=0x7f, stack_size=0x7fff80, tls=0x7f} => {parent_tid=[4244]}, 88) = 4244")


def test_clone_line_splits_flags_from_the_exit_signal_in_the_low_byte():
    call = strace.parse_line(CLONE_LINE)
    assert call.syscall == "clone"
    assert call.flags == ("CLONE_CHILD_SETTID", "CLONE_CHILD_CLEARTID")   # forklab.FLAGS order
    assert call.exit_signal == "SIGCHLD"
    assert str(call) == "clone(CLONE_CHILD_SETTID|CLONE_CHILD_CLEARTID, exit_signal=SIGCHLD)"


def test_clone3_exit_signal_zero_reads_as_none():
    call = strace.parse_line(CLONE3_LINE)
    assert call.syscall == "clone3" and call.exit_signal is None
    assert "CLONE_THREAD" in call.flags and "CLONE_SETTLS" in call.flags
    assert str(call).endswith("exit_signal=0)")


# Docker's seccomp rules (or a kernel before 5.3): clone3 is refused, and glibc falls back to clone
FALLBACK = "\n".join([
    "4242  clone3({flags=CLONE_VM|CLONE_VFORK, exit_signal=SIGCHLD, stack=0x7f, stack_size=0x9000}, 88)"
    " = -1 ENOSYS (Function not implemented)",
    "4242  clone(child_stack=0x7f, flags=CLONE_VM|CLONE_VFORK|SIGCHLD <unfinished ...>",
    "4243  exit_group(0) = ?",
    "4242  <... clone resumed>) = 4243",
])


def test_a_refused_clone3_and_the_clone_after_it_are_one_creation():
    t = strace.Trace(("prog",), strace.parse(FALLBACK), True, None, 0)
    assert [c.syscall for c in t.attempts] == ["clone3", "clone"]
    assert t.attempts[0].failed and t.attempts[0].errno_name == "ENOSYS" and t.attempts[0].result == "-1 ENOSYS"
    assert t.attempts[1].result == "4243" and not t.attempts[1].failed      # the resumed line's result
    assert [c.syscall for c in t.calls] == ["clone"]                          # one process created
    assert str(t) == ("clone3(CLONE_VM|CLONE_VFORK, exit_signal=SIGCHLD) = -1 ENOSYS: refused, no process created\n"
                      "clone(CLONE_VM|CLONE_VFORK, exit_signal=SIGCHLD)")


def test_results_are_kept():
    assert strace.parse_line(CLONE_LINE).result == "4243"
    assert strace.parse_line(CLONE3_LINE).result == "4244"
    assert strace.parse_line("4242  vfork( <unfinished ...>").result is None
    assert strace.parse_line("vfork()                                 = 6046").result == "6046"


def test_unfinished_lines_and_other_syscalls():
    assert strace.parse_line("4242  vfork( <unfinished ...>").syscall == "vfork"
    assert strace.parse_line("4242  <... vfork resumed>) = 4243") is None
    assert strace.parse_line("4242  write(1, \"clone(\", 6) = 6") is None
    assert len(strace.parse("\n".join([CLONE_LINE, "4243  exit_group(0) = ?", CLONE3_LINE]))) == 2


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed")
def test_posix_spawn_is_clone3_vm_vfork_in_a_fresh_interpreter():
    t = strace.trace_python("import os; os.waitpid(os.posix_spawn('/bin/true', ['true'], {}), 0)")
    if not t.ok:
        pytest.skip(t.why_not)
    spawn = t.calls[-1]           # glibc >= 2.34: clone3; older glibc: clone with the same flags
    assert spawn.syscall in ("clone3", "clone")
    assert spawn.flags == ("CLONE_VM", "CLONE_VFORK") and spawn.exit_signal == "SIGCHLD"
    assert t.returncode == 0


def test_a_command_that_cannot_start_is_reported_not_raised():
    t = strace.trace(["/nonexistent/forklab-program"])
    assert not t.ok and t.why_not and str(t).startswith("(not traced:")


VFORK_PROGRAM = r"""
#include <unistd.h>
#include <sys/wait.h>
int main(void) {
    char *argv[] = { "true", 0 };
    pid_t pid = vfork();
    if (pid == 0) { execv("/bin/true", argv); _exit(127); }
    return waitpid(pid, 0, 0) == pid ? 0 : 1;
}
"""


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed")
def test_a_c_program_calling_vfork_issues_the_vfork_system_call():
    t = strace.trace_c(VFORK_PROGRAM)
    if not t.ok:
        pytest.skip(t.why_not)
    assert [str(c) for c in t.calls] == ["vfork()"] and t.returncode == 0


def test_a_c_program_that_does_not_compile_is_reported_with_the_compiler_message():
    t = strace.trace_c("int main(void) { return undeclared; }")
    assert not t.ok and "undeclared" in t.why_not


CONFINE = Path(__file__).resolve().parents[2] / "tools" / "confine"


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed")
def test_where_clone3_is_refused_posix_spawn_still_creates_one_process():
    """Under a 4.18 kernel's system calls (tools/confine), the real fallback, traced."""
    code = ("from forklab.meters import strace; t = strace.trace_python(\"import os; "
            "os.waitpid(os.posix_spawn('/bin/true', ['true'], {}), 0)\"); "
            "print(t.ok, [(c.syscall, c.failed) for c in t.attempts], len(t.calls), t.why_not)")
    out = subprocess.run([sys.executable, str(CONFINE), "linux-4.18", "--", sys.executable, "-c", code],
                         capture_output=True, text=True, timeout=60)
    if out.returncode != 0 or out.stdout.startswith("False"):
        pytest.skip(f"cannot confine or trace here: {out.stdout.strip() or out.stderr.strip()[-300:]}")
    assert out.stdout.split(" 1 ")[0] in ("True [('clone3', True), ('clone', False)]",
                                          "True [('clone', False)]")   # an old glibc never tries clone3
    assert " 1 None" in out.stdout


def test_brief_keeps_what_a_reader_needs_and_drops_what_changes_between_runs():
    assert strace.brief('execve("/bin/sh", ["sh", "-c", "exit 3"], 0x7ffd8bdfb968 /* 35 vars */) = 0') == \
        'execve("/bin/sh", ["sh", "-c", "exit 3"]) = 0'
    assert strace.brief("clone3({flags=CLONE_VM|CLONE_VFORK, exit_signal=SIGCHLD, stack=0x7f58c7b15000, "
                        "stack_size=0x9000}, 88) = <child>") == \
        "clone3(CLONE_VM|CLONE_VFORK, exit_signal=SIGCHLD) = <child>"
    assert strace.brief("clone(child_stack=0x7f2a1c000000, flags=CLONE_VM|CLONE_VFORK|SIGCHLD) = <child>") == \
        "clone(CLONE_VM|CLONE_VFORK|SIGCHLD) = <child>"
    assert strace.brief("rt_sigaction(SIGINT, {sa_handler=SIG_IGN, sa_mask=[], sa_flags=SA_RESTORER, "
                        "sa_restorer=0x7f58c796e050}, {sa_handler=SIG_DFL, sa_mask=[], sa_flags=0}, 8) = 0") == \
        "sigaction(SIGINT, SIG_IGN)"
    assert strace.brief("rt_sigaction(SIGHUP, NULL, {sa_handler=SIG_DFL, sa_mask=[], sa_flags=0}, 8) = 0") is None
    assert strace.brief("rt_sigprocmask(SIG_BLOCK, [CHLD], [], 8) = 0") == "sigprocmask(SIG_BLOCK, [CHLD])"
    assert strace.brief("rt_sigprocmask(SIG_BLOCK, NULL, ~[KILL STOP], 8) = 0") is None
    assert strace.brief("dup2(1, 2)                              = 2") == "dup2(1, 2) = 2"


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed")
def test_trace_c_calls_lists_each_process_by_role_without_pids():
    log = strace.trace_c_calls('#include <stdlib.h>\nint main(void) { return system("exit 3") == -1; }',
                               ["execve", "wait4"])
    if not log.ok:
        pytest.skip(log.why_not)
    assert log.processes == ("parent", "child")
    assert any('"/bin/sh", ["sh", "-c", "exit 3"]' in c.text for c in log.of("child") if c.name == "execve")
    wait = next(c for c in log.of("parent") if c.name == "wait4")
    assert wait.text.startswith("wait4(<child>,") and "WEXITSTATUS(s) == 3" in wait.text
    created = [c for c in log.of("parent") if c.name.startswith("clone") and "<child>" in c.text]
    assert created and "CLONE_VM" in created[-1].text and "CLONE_VFORK" in created[-1].text


def test_a_traced_program_that_hangs_is_killed_with_strace_at_the_timeout():
    """strace dying only detaches what it traces: the supervisor kills the traced program too."""
    import uuid
    from forklab.host.procstat import all_processes
    marker = "fk" + uuid.uuid4().hex[:10]
    src = ('#include <sys/prctl.h>\n#include <unistd.h>\n'
           'int main(void) { prctl(PR_SET_NAME, "%s", 0, 0, 0); for (;;) pause(); }' % marker)
    t = strace.trace_c(src, timeout=1)
    if t.ok or "strace is not installed" in (t.why_not or ""):
        pytest.skip(t.why_not or "traced")
    assert "did not finish within 1 s" in t.why_not
    left = [p for p, st in all_processes().items() if st.comm == marker]
    for p in left:
        os.kill(p, 9)
    assert left == [], "the traced program outlived strace's timeout"
