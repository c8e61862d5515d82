"""Issue 17, the engine's part: a hostile (or clumsy) student replays each attack on forklab.run() and
the bench server, and none of them works any more. Each test is bounded in count and time.

1. an interrupt (or bytes another process writes into the server's pipe) pairs a later request with an
   earlier answer;  2. a failed probe reads as a verdict;  3. the caller gets forked when the server
   cannot start;  4. kill_bench signals a recycled process-group id;  5. killing the bench or the
   server mid-experiment leaks the experiment's child and a semaphore.
"""
import errno
import os
import resource
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import pytest

import forklab
from forklab.engine import benchserver, _core
from forklab.host.procstat import read_stat
from kernel_rules import wrong_verdicts

ffi, lib = _core.ffi, _core.lib
HERE = os.path.dirname(os.path.abspath(__file__))
CC = shutil.which("cc") or shutil.which("gcc")


def run_script(code: str, timeout: float = 60, env=None) -> subprocess.CompletedProcess:
    """A fresh Python process (its own bench server), with the tests' helpers on its path."""
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "PYTHONPATH": os.pathsep.join(
                              [HERE, *os.environ.get("PYTHONPATH", "").split(os.pathsep)]), **(env or {})})


MIX = [("fork", []), ("clone", ["VM", "FILES"]), ("vfork", []), ("clone", ["VM", "SIGHAND", "THREAD"]),
       ("clone", ["FS", "PARENT"]), ("clone", ["SYSVSEM", "IO"])]


def assert_right(count: int) -> None:
    """count experiments of MIX, each verdict checked against the kernel's rules (kernel_rules.py)."""
    for i in range(count):
        primitive, flags = MIX[i % len(MIX)]
        obs = forklab.run(primitive, flags)
        assert obs.primitive == primitive
        wrong = wrong_verdicts(obs, primitive, flags)
        assert not wrong and not getattr(obs, 'unknown', ()), (primitive, flags, wrong)


# --- 1. every result is tied to its request -----------------------------------------------------

def test_1_an_interrupt_while_waiting_never_shifts_later_results():
    """A real SIGINT (Jupyter's interrupt button) while run(clone VM, hang, timeout=3) waits."""
    out = run_script("""
        import os, signal, threading, time, forklab
        from kernel_rules import wrong_verdicts
        threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT)).start()
        start = time.monotonic()
        try:
            forklab.run('clone', ['CLONE_VM'], child_action='hang', timeout=3)
            print('not interrupted')
        except KeyboardInterrupt:
            print('interrupted after %.1f s' % (time.monotonic() - start))
        problems = []
        for i in range(30):
            primitive, flags = [('fork', []), ('clone', ['VM', 'FILES']), ('vfork', [])][i % 3]
            try:
                obs = forklab.run(primitive, flags)
            except Exception as e:
                problems.append(f'{primitive}: {type(e).__name__}: {e}')
                continue
            problems += wrong_verdicts(obs, primitive, flags)
        print('problems:', problems)
    """)
    assert "interrupted after 0." in out.stdout, out.stdout + out.stderr
    assert "problems: []" in out.stdout, out.stdout + out.stderr


def _request_bytes(seq: int, primitive=None) -> bytes:
    """A request as a same-user attacker would forge it: well-formed, the next sequence numbers guessed."""
    req = ffi.new("struct fl_request *")
    req.primitive = lib.FL_CLONE if primitive is None else primitive
    req.flags = 0x100 | 0x400 | 0x800          # CLONE_VM | CLONE_FILES | CLONE_SIGHAND
    req.exit_signal, req.timeout_ms, req.grace_ms = 17, 2000, 25
    for name, value in (("magic", getattr(lib, "FL_REQUEST_MAGIC", 0)), ("seq", seq)):
        try:
            setattr(req, name, value)
        except AttributeError:
            pass                                # the struct of an older build
    return bytes(ffi.buffer(req))


def test_1_requests_injected_into_the_servers_pipe_never_answer_ours():
    """Another process of the same user writes three requests into the server's stdin
    (/proc/PID/fd/0 opens the pipe itself); 240 later experiments are all right."""
    forklab.run("fork")
    server = benchserver.server_pid()
    sent = benchserver._server._seq if hasattr(benchserver._server, "_seq") else 1
    injector = f"""
        import sys
        with open('/proc/{server}/fd/0', 'wb', buffering=0) as pipe:
            for data in {[_request_bytes(sent + k) for k in (1, 2, 3)]!r}:
                pipe.write(data)
    """
    subprocess.run([sys.executable, "-c", textwrap.dedent(injector)], check=True, timeout=30)
    time.sleep(0.2)
    assert_right(240)


def test_1_a_result_forged_into_the_answer_pipe_is_never_taken():
    """Another process writes a made-up result ("memory shared" for a fork) into the server's stdout,
    the pipe the answers come back through: it cannot know the nonce, so it is never taken."""
    forklab.run("fork")
    server = benchserver.server_pid()
    res = ffi.new("struct fl_result *")
    res.outcome, res.mem_after, res.mem_child_wrote = lib.FL_OK, 7, 7
    forged = bytes(ffi.buffer(res))
    injector = f"""
        with open('/proc/{server}/fd/1', 'wb', buffering=0) as pipe:
            pipe.write({forged!r})
    """
    subprocess.run([sys.executable, "-c", textwrap.dedent(injector)], check=True, timeout=30)
    obs = forklab.run("fork")
    assert not obs.resources["memory"].shared and not wrong_verdicts(obs, "fork", [])
    assert_right(12)


def test_1_the_answer_must_carry_its_own_request_back(monkeypatch):
    """The client side of the check: an answer that carries another request back is never returned."""
    forklab.run("fork")
    real = benchserver._read_into
    calls = []

    def answer_of_another(fd, buffer, deadline):
        got = real(fd, buffer, deadline)
        if not calls:                                     # the first answer: as if it were another's
            calls.append(1)
            view = memoryview(buffer)
            view[12] = view[12] ^ 0xFF                    # a byte of the nonce it carries back
        return got

    monkeypatch.setattr(benchserver, "_read_into", answer_of_another)
    old = benchserver.server_pid()
    obs = forklab.run("clone", ["VM"])
    assert calls and obs.resources["memory"].shared
    assert benchserver.server_pid() not in (None, old), "the server that answered wrongly was not replaced"


# --- 2. a failed probe is "unknown", never a verdict ----------------------------------------------

@pytest.mark.parametrize("free_fds", [2, 3, 4, 5, 6])
def test_2_with_few_free_fds_no_failed_probe_reads_as_a_verdict(free_fds):
    """RLIMIT_NOFILE lowered on the server and its waiting bench, so each new fd must be below 3 +
    free_fds: experiments either say clearly what could not be prepared, or give verdicts that are
    right or 'unknown' with the errno."""
    forklab.run("fork")
    server = benchserver.server_pid()
    time.sleep(0.1)
    from forklab.host.procstat import children_of
    targets = [server, *children_of(server)]
    saved = [resource.prlimit(p, resource.RLIMIT_NOFILE) for p in targets]
    try:
        for p in targets:
            resource.prlimit(p, resource.RLIMIT_NOFILE, (3 + free_fds, saved[0][1]))
        for primitive, flags in [("fork", []), ("clone", ["VM", "FILES"]), ("vfork", [])]:
            try:
                obs = forklab.run(primitive, flags)
            except forklab.BenchFailed as e:
                assert "failed" in str(e) and e.errno in (errno.EMFILE, errno.ENFILE), e
                continue
            assert not wrong_verdicts(obs, primitive, flags), (free_fds, primitive, wrong_verdicts(obs, primitive, flags))
            for name in getattr(obs, "unknown", ()):
                v = obs.resources[name]
                assert v.word == "unknown" and not v.shared and v.errno and "EMFILE" in v.evidence, v
            assert obs.parent.host_pid != -1 or "thread_group" in getattr(obs, "unknown", ()), obs.table()
    finally:
        benchserver.stop_server()               # its benches have the low limit: start afresh


def test_2_the_scenario_of_the_issue_gives_unknown_not_shared():
    """Two free fds in the bench (the memfd and its dup take them): ids and namespaces cannot be read."""
    forklab.run("fork")
    server = benchserver.server_pid()
    time.sleep(0.1)
    from forklab.host.procstat import children_of
    targets = [server, *children_of(server)]
    try:
        for p in targets:
            resource.prlimit(p, resource.RLIMIT_NOFILE, (5, resource.prlimit(p, resource.RLIMIT_NOFILE)[1]))
        obs = forklab.run("fork")
        assert {"thread_group", "parent", "uts_ns", "pid_ns"} <= set(getattr(obs, "unknown", ())), obs.table()
        assert "thread_group" not in obs.shared and "parent" not in obs.shared
        assert obs.resources["thread_group"].word == "unknown"
        # and the explorer draws it so: no arrow to "one" object, no verdict of another's
        from forklab.explorer import picture
        view = picture.view_of("fork", (), "SIGCHLD", observation=obs)
        html, still = picture.render(view), picture.still_html(view)
        assert 'data-resource="thread_group" data-word="unknown"' in html and "not measured" in html
        assert "unknown" in still and "unknown" in picture.text(view)
        # and a graded question is never answered "not shared" from a failed probe
        from forklab.course.sharing import shared_among
        with pytest.raises(forklab.BenchFailed, match="could not measure parent"):
            shared_among([], among=("parent",))
    finally:
        benchserver.stop_server()


# --- 3. one path: forklab-bench, never a fork of the caller ---------------------------------------

def test_3_too_few_fds_to_start_the_server_is_a_clear_error_not_a_fork_of_the_caller():
    out = run_script("""
        import os, resource, forklab
        open_now = len(os.listdir('/proc/self/fd'))
        resource.setrlimit(resource.RLIMIT_NOFILE, (open_now + 1, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
        try:
            obs = forklab.run('fork')
            # no server ran it: the bench was forked from this very process
            print('FORKED THE CALLER' if forklab.engine.benchserver.server_pid() is None else 'ran in the server')
        except forklab.BenchFailed as e:
            print(type(e).__name__, e)
    """)
    assert "BenchUnavailable" in out.stdout and "too many open files" in out.stdout, out.stdout + out.stderr
    assert "FORKED THE CALLER" not in out.stdout


def test_3_a_broken_server_program_is_a_clear_error(monkeypatch, tmp_path):
    broken = tmp_path / "forklab-bench"
    broken.write_bytes(b"\x7fELF not really a program")
    broken.chmod(0o755)
    benchserver.stop_server()
    monkeypatch.setattr(benchserver, "PROGRAM", str(broken))
    with pytest.raises(forklab.engine.errors.BenchUnavailable, match="not a program this machine can run") as e:
        forklab.run("fork")
    assert "reinstall forklab" in str(e.value)
    monkeypatch.setattr(benchserver, "PROGRAM", str(tmp_path / "missing"))
    with pytest.raises(forklab.engine.errors.BenchUnavailable, match="is missing"):
        forklab.run("fork")
    assert not hasattr(benchserver, "serve"), "the untested Python fallback server is gone: one path"


# --- 4. no kill reaches a recycled id -------------------------------------------------------------

STRANGER_C = r"""
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
/* Fork until a child gets pid TARGET (at most LIMIT forks, 40 s); that child makes its own session and
 * process group (id TARGET), says so on stdout and sleeps (60 s at most). */
int main(int argc, char **argv)
{
    pid_t target = atoi(argv[1]);
    long limit = atol(argv[2]);
    time_t end = time(NULL) + 40;
    for (long i = 0; i < limit && time(NULL) < end; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            if (getpid() != target)
                _exit(0);
            setsid();
            printf("%d\n", getpid());
            fflush(stdout);
            fclose(stdout);
            alarm(60);
            pause();
            _exit(0);
        }
        if (pid < 0)
            return 2;
        if (pid == target)
            return 0;
        waitpid(pid, NULL, 0);
    }
    return 1;
}
"""


@pytest.fixture(scope="module")
def stranger_program(tmp_path_factory):
    if CC is None:
        pytest.skip("needs a C compiler")
    work = tmp_path_factory.mktemp("stranger")
    subprocess.run([CC, "-O2", "-o", str(work / "stranger"), "-x", "c", "-"], input=STRANGER_C, text=True,
                   check=True)
    return work / "stranger"


def start_time(pid: int) -> int | None:
    """Field 22 of /proc/PID/stat: tells a process from a later one that got its pid."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return int(f.read().rpartition(b")")[2].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def _pid_alive(pid: int, started: int | None) -> bool:
    st = read_stat(pid)
    return st is not None and st.state != "Z" and start_time(pid) == started


def test_4_stopping_the_idle_bench_never_kills_a_process_group_that_took_the_old_id(stranger_program):
    """A vfork experiment's experimenter is reaped; an unrelated process group of the same user takes
    its id (a real recycled id: fork until the kernel hands it out); the idle bench is stopped; the
    next experiment must end the bench and nothing else."""
    for attempt in range(3):
        obs = forklab.run("vfork")
        experimenter, bench = obs.parent.host_pid, obs._readings.bench_pid
        assert experimenter != bench
        proc = subprocess.Popen([str(stranger_program), str(experimenter), "70000"], stdout=subprocess.PIPE,
                                text=True)
        line = proc.stdout.readline().strip()
        proc.wait(timeout=60)
        proc.stdout.close()
        if line == str(experimenter):
            break                                       # another process on this machine took it first: again
    else:
        pytest.skip("another process took the recycled id first, three times")
    stranger = int(line)
    started = start_time(stranger)
    try:
        assert read_stat(stranger).pgrp == stranger
        assert read_stat(bench).ppid == benchserver.server_pid(), "the bench ran one experiment only"
        os.kill(bench, signal.SIGSTOP)                  # the student stops the idle bench
        deadline = time.monotonic() + 5
        while read_stat(bench).state != "T" and time.monotonic() < deadline:
            time.sleep(0.01)                            # (a stop takes effect a moment after kill())
        forklab.run("fork")                             # the server finds it stopped and ends it
        time.sleep(0.2)
        assert _pid_alive(stranger, started), "the bench server killed a process group that only took an old id"
    finally:
        if _pid_alive(stranger, started):
            os.kill(stranger, signal.SIGKILL)


# --- 5. killing the bench or the server mid-experiment leaks nothing --------------------------------

LEAK_SCRIPT = """
    import os, signal, threading, time, forklab
    from forklab.engine import benchserver
    from forklab.host.procstat import all_processes, read_stat
    from test_sandbox_attacks import start_time
    WHO = {who!r}

    def descendants(pid):
        procs, below, todo = all_processes(), {{}}, [pid]
        while todo:
            parent = todo.pop()
            for p, st in procs.items():
                if st.ppid == parent and p not in below:
                    below[p] = start_time(p)
                    todo.append(p)
        return below

    def semaphores():
        with open('/proc/sysvipc/sem') as f:
            return {{int(line.split()[1]) for line in f.readlines()[1:]}}

    result = []
    def experiment():
        try:
            forklab.run('fork', child_action='hang', timeout=8)
            result.append('returned')
        except Exception as e:
            result.append(f'{{type(e).__name__}}: {{e}}')
    forklab.run('fork')
    server = benchserver.server_pid()
    before = semaphores() - {{getattr(benchserver._server, '_semaphore', -1)}}   # the server's own must go too
    t = threading.Thread(target=experiment)
    t.start()
    tree = {{}}
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:          # wait for server -> bench -> child (hanging)
        tree = descendants(server)
        if any(read_stat(p) and read_stat(p).ppid in tree for p in tree):
            break
        time.sleep(0.02)
    bench = min(p for p in tree if read_stat(p) and read_stat(p).ppid == server and
                any(read_stat(q) and read_stat(q).ppid == p for q in tree))
    os.kill(server if WHO == 'server' else bench, signal.SIGKILL)
    t.join(20)
    benchserver.stop_server()                 # the (new) server ends too: its semaphore must go with it
    deadline = time.monotonic() + 2            # another user's experiment may hold a semaphore a moment
    while time.monotonic() < deadline and (semaphores() - before):
        time.sleep(0.05)
    def alive():
        return [p for p, s in tree.items() if read_stat(p) and read_stat(p).state != 'Z' and start_time(p) == s]
    deadline = time.monotonic() + 2            # a child killed a moment ago may still be on its way out
    while time.monotonic() < deadline and alive():   # (state R, SIGKILL pending: 50 ms under confine linux-4.18)
        time.sleep(0.05)
    left = alive()
    for p in left:
        os.kill(p, signal.SIGKILL)
    print('started', len(tree), 'left', left, 'semaphores left', sorted(semaphores() - before))
    print('message', result)
"""


@pytest.mark.parametrize("who", ["server", "bench"])
def test_5_killing_the_server_or_the_bench_mid_experiment_leaks_nothing_and_says_what_happened(who):
    out = run_script(LEAK_SCRIPT.format(who=who), timeout=60)
    assert "left [] semaphores left []" in out.stdout, out.stdout + out.stderr
    if who == "server":
        assert "BenchServerLost: the bench server was killed by SIGKILL" in out.stdout, out.stdout
    else:
        assert "ExperimentCrashed: the bench process was killed by SIGKILL" in out.stdout, out.stdout
    assert "killed everything" not in out.stdout


# --- 6. the smaller items ------------------------------------------------------------------------

@pytest.mark.parametrize("args, kwargs, error, says", [
    (("clone", 1.5), {}, TypeError, "flags must be flag names"),
    (("fork",), {"child_action": []}, ValueError, "valid choices are None, 'hang', 'crash'"),
    (("clone", ["clone_f\u0131les"]), {}, ValueError, "not a plain ASCII letter"),
    (("clone", ["CLONE_F\u0130LES"]), {}, ValueError, "not a plain ASCII letter"),
])
def test_6_bad_input_gets_a_clear_error(args, kwargs, error, says):
    with pytest.raises(error, match=says.replace("(", r"\(").replace(")", r"\)")):
        forklab.run(*args, **kwargs)


def test_6_a_stopped_server_is_reported_as_stopped():
    forklab.run("fork")
    server = benchserver.server_pid()
    os.kill(server, signal.SIGSTOP)
    start = time.monotonic()
    with pytest.raises(Exception) as e:
        forklab.run("fork", timeout=1)
    waited = time.monotonic() - start
    text = str(e.value)
    assert type(e.value).__name__ == "BenchServerLost", text
    assert f"the bench server (pid {server}) was stopped" in text and "did not finish within 1 s" not in text
    assert f"after waiting {waited:.0f}" in text or f"after waiting {waited - 0.1:.0f}" in text or "after waiting 3" in text
    assert "which are gone now" in text
    assert read_stat(server) is None
    assert forklab.run("clone", ["VM"]).resources["memory"].shared


def test_6_parent_was_suspended_is_measured_not_assumed():
    """From the child's own look at the parent ('D': held in the call), not from a grace period alone:
    a parent that could run but was not scheduled yet ('R') is not suspended."""
    from forklab.engine.outcomes import parent_was_suspended
    res = ffi.new("struct fl_result *")
    res.child_saw_parent_run, res.parent_state_seen = 0, ord("R")
    res.child_end_ns, res.parent_resumed_ns = 100, 200        # it got back only after the child ended
    assert not parent_was_suspended(res)
    res.parent_state_seen = ord("D")
    assert parent_was_suspended(res)
    for primitive, flags, suspended in [("vfork", [], True), ("clone", ["VFORK"], True), ("fork", [], False),
                                        ("clone", ["VM"], False)]:
        for _ in range(5):
            assert forklab.run(primitive, flags).parent_was_suspended is suspended


def test_6_a_bench_stopped_during_the_experiment_is_reported_as_stopped():
    """Not "did not finish within 5 s": the bench was stopped, and it is said at once."""
    import threading
    forklab.run("fork")
    server = benchserver.server_pid()
    from forklab.host.procstat import children_of
    errors = []

    def experiment():
        try:
            forklab.run("fork", child_action="hang", timeout=5)
        except Exception as e:
            errors.append(e)

    t = threading.Thread(target=experiment)
    t.start()
    deadline = time.monotonic() + 5
    bench = None
    while bench is None and time.monotonic() < deadline:
        bench = next((b for b in children_of(server) if children_of(b)), None)
        time.sleep(0.01)
    start = time.monotonic()
    os.kill(bench, signal.SIGSTOP)
    t.join(10)
    assert time.monotonic() - start < 2
    assert errors and isinstance(errors[0], forklab.ExperimentCrashed) and "was stopped" in str(errors[0])
    assert forklab.run("clone", ["VM"]).resources["memory"].shared


@pytest.mark.parametrize("flags", [["VM", "SIGHAND", "THREAD", "VFORK"], ["VM", "SIGHAND", "THREAD", "PARENT"]])
def test_a_crashing_thread_of_the_experimenter_is_a_crash_not_half_a_result(flags):
    """Found by the soak: with CLONE_VFORK or CLONE_PARENT the experiment runs in an experimenter the
    bench watches; a crashing CLONE_THREAD child takes the experimenter with it, and the half-filled
    page was returned as an Observation (memory 'copied' for CLONE_VM)."""
    with pytest.raises(forklab.ExperimentCrashed, match="SIGSEGV"):
        forklab.run("clone", flags, child_action="crash")
