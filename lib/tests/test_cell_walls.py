"""Issue 17, attacks 6-10: a C cell's program cannot disable its supervisor, signal what contains it,
flood its caller's memory, run programs through the compiler, or leave files and IPC objects behind.

Each attack is replayed as a student would write it, from a stand-in for the Jupyter kernel: a
fresh interpreter that loads forklab/sandbox/runner.py and calls run_c (so a caller that blocks, grows or
dies is measured from outside, and a failure here never takes pytest down). Every run is bounded
by a timeout and cleaned up by a unique name its processes carry.
"""
import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from forklab.course import cell_magic
from forklab.sandbox import runner
from forklab.sandbox.runner import CellOptionError, run_c
from procs import assert_no_children

RUNNER = Path(runner.__file__)

# The stand-in caller: runs one cell, then reports how long it took, how much its memory grew, and
# which processes carrying the marker name are still alive (a daemon that outlived the cell).
CALLER = r'''
import importlib.util, json, os, sys, time
spec = importlib.util.spec_from_file_location("runner", sys.argv[1])
runner = importlib.util.module_from_spec(spec)
sys.modules["runner"] = runner
spec.loader.exec_module(runner)
def hwm():
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmHWM:")) * 1024
def alive(marker):
    found = []
    for e in os.listdir("/proc"):
        if e.isdigit():
            try:
                with open(f"/proc/{e}/comm") as f:
                    if f.read().strip() == marker:
                        found.append(int(e))
            except OSError:
                pass
    return found
args = json.loads(sys.argv[2])
with open(args.pop("source_file")) as f:
    source = f.read()
marker = args.pop("marker")
before, t = hwm(), time.monotonic()
r = runner.run_c(source, **args)
elapsed = time.monotonic() - t
time.sleep(0.2)
print("@report " + json.dumps({"elapsed": elapsed, "growth": hwm() - before, "survivors": alive(marker),
      "stdout": r.stdout[-2000:], "stdout_len": len(r.stdout), "stderr": r.stderr[-2000:],
      "status": r.status_line(), "returncode": r.returncode, "walls": getattr(r, "walls", {})}), flush=True)
'''

NAMED = r'''
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>
#define MARKER "%s"
static void name(void) { prctl(PR_SET_NAME, MARKER, 0, 0, 0); }
'''


def _marker() -> str:
    return "fk" + uuid.uuid4().hex[:10]


def _cleanup(marker: str) -> None:
    """SIGKILL what a replay left: processes named `marker` and the stand-in's supervisor (it carries
    the marker in its environment). SIGKILL ends stopped and traced processes too."""
    for _ in range(3):
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) == os.getpid():
                continue
            try:
                with open(f"/proc/{entry}/comm") as f:
                    hit = f.read().strip() == marker
                if not hit:
                    with open(f"/proc/{entry}/environ", "rb") as f:
                        hit = f"FORKLAB_TEST_MARK={marker}".encode() in f.read()
                if hit:
                    os.kill(int(entry), signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.05)


def replay(source: str, marker: str, *, bound: float, prefix=(), python=sys.executable, preexec=None,
           caller=CALLER, **run_c_args) -> dict:
    """Run `source` as a cell from the stand-in caller; its report, or {"killed": signal} if the caller
    died, or {"blocked": True} if it was still waiting after `bound` seconds."""
    folder = tempfile.mkdtemp(prefix="forklab-walls-")
    os.chmod(folder, 0o755)
    try:
        src = Path(folder) / "cell.c"
        src.write_text(source)
        src.chmod(0o644)
        args = dict(run_c_args, source_file=str(src), marker=marker)
        env = dict(os.environ, FORKLAB_TEST_MARK=marker)
        proc = subprocess.Popen([*prefix, python, "-c", caller, str(RUNNER), json.dumps(args)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=folder,
                                start_new_session=True, preexec_fn=preexec)
        try:
            out, err = proc.communicate(timeout=bound)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate(timeout=10)
            return {"blocked": True}
        if proc.returncode < 0:
            return {"killed": -proc.returncode}
        if proc.returncode > 128 and b"@report " not in out:     # killed, as a shell reports it
            return {"killed": proc.returncode - 128}
        lines = [line for line in out.decode(errors="replace").splitlines() if line.startswith("@report ")]
        assert lines, f"the stand-in caller failed (status {proc.returncode}): {err.decode(errors='replace')[-3000:]}"
        return json.loads(lines[-1][len("@report "):])
    finally:
        _cleanup(marker)
        shutil.rmtree(folder, ignore_errors=True)


# --- attack 6: the program turns on its supervisor ------------------------------------------------

def test_attack6_a_program_that_kills_its_supervisor_and_leaves_a_daemon_is_still_contained():
    m = _marker()
    src = NAMED % m + r'''
int main(void) {
    name();
    if (fork() == 0) {                      /* a daemon: new session, lives forever */
        setsid();
        for (;;) pause();
    }
    usleep(100000);
    if (kill(getppid(), SIGKILL) == -1) printf("kill(getppid(), SIGKILL): %s\n", strerror(errno));
    else printf("supervisor killed\n");
    fflush(stdout);
    for (;;) pause();
}'''
    r = replay(src, m, bound=30, timeout=2)
    assert "blocked" not in r and "killed" not in r, r
    assert r["survivors"] == [], f"the daemon outlived the cell, which said: {r['status']}"
    if r["walls"].get("pid_namespace") and not r["walls"].get("landlock_signal_scope"):
        # getppid() is the cell's init: kill() returns 0, and the kernel drops a signal to a namespace's init
        # that has no handler for it (kernel/signal.c, sig_task_ignored) - the checks above are what count
        assert "supervisor killed" in r["stdout"]
    else:
        assert "kill(getppid(), SIGKILL): Operation not permitted" in r["stdout"]
    assert "timeout" in r["status"] and "all killed and reaped" in r["status"]


@pytest.mark.parametrize("how", ["SIGSTOP", "PTRACE_ATTACH"])
def test_attack6_a_program_that_stops_or_traces_its_supervisor_cannot_hold_the_caller_past_the_timeout(how):
    m = _marker()
    act = ("kill(getppid(), SIGSTOP)" if how == "SIGSTOP"
           else "(int) ptrace(PTRACE_ATTACH, getppid(), 0, 0)")
    src = NAMED % m + r'''
#include <sys/ptrace.h>
int main(void) {
    name();
    if (%s == -1) printf("%s: %%s\n", strerror(errno));
    fflush(stdout);
    for (;;) pause();
}''' % (act, how)
    r = replay(src, m, bound=40, timeout=4)
    assert "blocked" not in r, f"{how} on the supervisor held the caller past 40 s (timeout=4)"
    assert r["elapsed"] < 4 + 6, r
    if how == "SIGSTOP" and r["walls"].get("pid_namespace") and not r["walls"].get("landlock_signal_scope"):
        assert r["stdout"] == ""        # sent to the cell's init, which the kernel shields (see above)
    else:
        assert f"{how}: Operation not permitted" in r["stdout"]
    assert r["survivors"] == []


# --- attack 7: kill(-1, SIGKILL) -------------------------------------------------------------------

def _throwaway_namespace() -> list:
    """A user+PID namespace of our own (with its own /proc), or [] where namespaces are refused."""
    unshare = shutil.which("unshare")
    if not unshare:
        return []
    # sh stays PID 1 of the namespace (an init ignores signals from inside it): the caller, its child,
    # is then as exposed as a Jupyter kernel is
    prefix = [unshare, "--user", "--map-current-user", "--pid", "--fork", "--mount-proc", "--kill-child",
              "/bin/sh", "-c", '"$@"; exit $?', "sh"]
    try:
        ok = subprocess.run([*prefix, "true"], capture_output=True, timeout=10).returncode == 0
    except subprocess.TimeoutExpired:
        ok = False
    return prefix if ok else []


def _unused_uid_preexec():
    """As root without namespaces: become a user id that owns no process (nothing else to reach)."""
    from forklab.meters.limits import unused_uid
    uid = unused_uid()

    def become():
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
    return become


KILL_EVERYONE = r'''
int main(void) {
    name();
    if (kill(-1, SIGKILL) == -1) printf("kill(-1, SIGKILL): %s\n", strerror(errno));
    else printf("kill(-1, SIGKILL) sent\n");
    return 0;
}'''


def test_attack7_kill_minus_one_in_a_cell_reaches_neither_the_caller_nor_a_bystander():
    """Replayed only where it cannot reach this machine's other processes: in a throwaway user+PID
    namespace, or (as root, where namespaces are refused) as a user id that owns no process."""
    prefix, preexec, python = _throwaway_namespace(), None, sys.executable
    if not prefix:
        if os.geteuid() != 0:
            pytest.skip("kill(-1) is replayed only in a throwaway namespace or as a user with no other "
                        "process: neither is possible here (the harmless kill(-1, 0) test covers this platform)")
        preexec, python = _unused_uid_preexec(), "/usr/bin/python3"   # root's own python is private
    m = _marker()
    # The stand-in starts a bystander (standing for the bench server and the user's other programs),
    # runs the cell, then says whether the bystander still lives.
    caller = CALLER.replace("r = runner.run_c(source, **args)",
                            "import subprocess\nb = subprocess.Popen(['sleep', '30'])\n"
                            "r = runner.run_c(source, **args)\n"
                            "by = b.poll() is None\nb.kill(); b.wait()")
    caller = caller.replace('"survivors": alive(marker),', '"survivors": alive(marker), "bystander": by,')
    r = replay(NAMED % m + KILL_EVERYONE, m, bound=30, prefix=prefix, python=python, preexec=preexec,
               caller=caller, timeout=5)
    assert "killed" not in r, f"kill(-1, SIGKILL) in the cell killed its caller (signal {r.get('killed')})"
    assert "blocked" not in r
    assert r["bystander"], "kill(-1, SIGKILL) in the cell killed a bystander process of the same user"
    if r["walls"].get("pid_namespace"):         # -1 is "every process of the cell": there is no other one
        assert "kill(-1, SIGKILL): No such process" in r["stdout"], r
    else:
        assert "kill(-1, SIGKILL): Operation not permitted" in r["stdout"], r


def test_kill_minus_one_reaches_nobody_outside_the_cell_everywhere():
    """Harmless everywhere (signal 0 only asks "may I?"): in a PID namespace of the cell's own, -1 names
    only the cell's processes (none here but the program, which kill(-1) skips: ESRCH); without one
    (Docker's rules) the seccomp filter refuses -1, so such a cell reaches nobody either."""
    r = run_c("#include <errno.h>\n#include <signal.h>\n#include <stdio.h>\n"
              "int main(void) { int rc = kill(-1, 0); printf(\"%d %d\\n\", rc, rc ? errno : 0); return 0; }")
    expected = errno.ESRCH if r.walls.get("pid_namespace") else errno.EPERM
    assert r.stdout == f"-1 {expected}\n", r
    assert r.walls.get("seccomp_signal_filter")


def test_the_caller_and_its_bench_server_are_out_of_reach_of_every_signalling_call():
    import forklab
    forklab.run("fork")                         # the bench server is the caller's child from now on
    server = forklab.engine.benchserver.server_pid()
    me = os.getpid()
    src = r'''
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/resource.h>
#include <fcntl.h>
#include <unistd.h>
static void say(const char *what, long rc) { printf("%s %s\n", what, rc != -1 ? "REACHED" : errno == EPERM ? "EPERM" : errno == ESRCH ? "ESRCH" : errno == ENOSYS ? "ENOSYS" : "REACHED"); }
int main(int argc, char **argv) {
    (void) argc;
    pid_t caller = atoi(argv[1]), server = atoi(argv[2]);
    struct rlimit keep;
    say("kill caller", kill(caller, 0));
    say("kill server", kill(server, 0));
    pid_t group = getpgid(caller);         /* ESRCH where the caller has no pid (a PID namespace) */
    say("kill caller's group", group == -1 ? -1 : kill(-group, 0));
    say("tgkill caller", syscall(SYS_tgkill, caller, caller, 0));
    say("tkill caller", syscall(SYS_tkill, caller, 0));
    say("prlimit caller", prlimit(caller, RLIMIT_NOFILE, NULL, &keep));
    say("pidfd_open caller", syscall(SYS_pidfd_open, caller, 0));
    int p[2];
    if (pipe(p) == 0) say("F_SETOWN caller (SIGIO)", fcntl(p[1], F_SETOWN, caller));
    return 0;
}'''
    r = run_c(src, args=[str(me), str(server)])
    lines = r.stdout.splitlines()
    # in a PID namespace of the cell's own, the caller's and the server's pids name nobody (ESRCH)
    refused = ("EPERM", "ESRCH") if r.walls.get("pid_namespace") else ("EPERM",)
    refused += ("ENOSYS",)          # pidfd_open on a kernel before 5.3 (tools/confine linux-4.18): no such call
    assert len(lines) == 8 and all(line.endswith(refused) for line in lines), r.stdout
    assert_no_children()


# --- attack 8: output without end ------------------------------------------------------------------

FLOOD = r'''
#include <string.h>
#include <unistd.h>
static char block[1 << 20];
int main(void) {
    memset(block, 'x', sizeof block);
    for (long sent = 0; sent < 1000000000L; ) {
        long left = 1000000000L - sent;
        ssize_t n = write(1, block, left < (long) sizeof block ? (size_t) left : sizeof block);
        if (n <= 0) return 1;
        sent += n;
    }
    return 0;
}'''


def test_attack8_a_gigabyte_of_output_does_not_grow_the_caller():
    """1e9 bytes to stdout, timeout 10 s: the supervisor keeps 1 MiB and drops the rest as it reads, so the
    caller's peak memory grows by little more than what is kept. (An address-space limit of 1.5 GB on the
    stand-in keeps a regression from eating the shared machine: it then fails with MemoryError.)"""
    import resource

    def limit_memory():
        resource.setrlimit(resource.RLIMIT_AS, (1536 << 20, 1536 << 20))
    m = _marker()
    r = replay(FLOOD, m, bound=60, preexec=limit_memory, timeout=10)
    assert "blocked" not in r and "killed" not in r, r
    assert r["growth"] < 48 << 20, f"the caller grew by {r['growth'] >> 20} MiB for 1 MiB kept"
    assert "output cut at 1,048,576 bytes: the program wrote 1,000,000,000" in r["stdout"]
    assert r["returncode"] == 0


# --- attack 9: the compiler as a way out ----------------------------------------------------------

@pytest.mark.parametrize("cflags, named", [
    (["-wrapper", "/bin/sh,-c,sleep 80,sh"], "-wrapper"),
    (["-fplugin=/tmp/evil.so"], "-fplugin"),
    (["-B/tmp/evil"], "-B"),
    (["-specs=/tmp/evil.specs"], "-specs"),
    (["-Wl,-plugin,/tmp/evil.so"], "-Wl,-plugin"),
    (["-Xlinker", "--plugin=/tmp/evil.so"], "-Xlinker --plugin"),
    (["--for-linker=--plugin=/tmp/evil.so"], "--for-linker"),
    (["@/tmp/options"], "@"),
    (["-fuse-ld=/tmp/evil"], "-fuse-ld"),
])
def test_attack9_compiler_options_that_run_other_programs_are_refused_naming_the_option(cflags, named):
    t = time.monotonic()
    with pytest.raises(CellOptionError) as info:
        run_c("int main(void) { return 0; }", cflags=cflags)
    assert time.monotonic() - t < 5
    assert named in str(info.value) and "refused" in str(info.value)
    assert_no_children()


def test_ordinary_compiler_options_still_work():
    r = run_c("#include <math.h>\n#include <stdio.h>\nint main(void) { printf(\"%.0f\\n\", sqrt(NUMBER)); return 0; }",
              cflags=["-O2", "-DNUMBER=49.0", "-lm", "-pthread", "-Wl,--as-needed", "-fuse-ld=bfd"])
    assert r.stdout == "7\n", r


def test_attack9_the_compiler_runs_under_the_supervisor_with_a_timeout(monkeypatch):
    """A compile that never ends (it includes a FIFO nobody writes) is stopped at the compile timeout,
    with everything it started, and says so - no raw TimeoutExpired, nothing left running."""
    monkeypatch.setattr(runner, "COMPILE_TIMEOUT", 1.0)
    with tempfile.TemporaryDirectory(prefix="forklab-walls-") as tmp:
        os.mkfifo(Path(tmp) / "never.h")
        t = time.monotonic()
        ok, output, _ = runner.compile_c('#include "never.h"\nint main(void) { return 0; }', Path(tmp))
        assert time.monotonic() - t < 1 + 5
    assert not ok and "did not finish within 1 s" in output
    assert_no_children()


# --- attack 10: leftovers --------------------------------------------------------------------------

LEAVE = r'''
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <unistd.h>
int main(int argc, char **argv) {
    (void) argc;
    key_t key = atoi(argv[2]);
    char path[256];
    snprintf(path, sizeof path, "/%s", argv[1]);
    int fd = shm_open(path, O_CREAT | O_RDWR, 0600);          /* /dev/shm/NAME */
    snprintf(path, sizeof path, "/tmp/%s", argv[1]);
    int fd2 = open(path, O_CREAT | O_WRONLY, 0600);
    int sem = semget(key, 1, IPC_CREAT | 0600);
    semctl(sem, 0, SETVAL, 1);
    int shm = shmget(key, 4096, IPC_CREAT | 0600);
    printf("%d %d %d %d\n", fd >= 0, fd2 >= 0, sem >= 0, shm >= 0);
    return 0;
}'''


def _ipc_keys(kind: str) -> set:
    with open(f"/proc/sysvipc/{kind}") as f:
        return {int(line.split()[0]) for line in f.readlines()[1:]}


def test_attack10_files_and_ipc_objects_a_cell_makes_do_not_outlive_it():
    name, key = "forklab-left-" + uuid.uuid4().hex[:8], 0x3A000000 + (uuid.uuid4().int & 0xFFFFFF)
    try:
        r = run_c(LEAVE, args=[name, str(key)])
        assert r.stdout == "1 1 1 1\n", r
        assert key not in _ipc_keys("sem"), "the cell's System V semaphore set outlived it"
        assert key not in _ipc_keys("shm"), "the cell's System V shared memory segment outlived it"
        if not r.walls.get("private_tmp_ipc") and os.geteuid() == 0:
            pytest.skip("no mount namespace here (Docker's seccomp rules) and root: files root made meanwhile "
                        "could be the system's, so the rule (leftovers.py) leaves them (System V objects were removed)")
        assert not os.path.exists(f"/dev/shm/{name}"), "the cell's /dev/shm file outlived it"
        if r.walls.get("private_tmp_ipc"):
            assert not os.path.exists(f"/tmp/{name}"), "the cell's /tmp file outlived it"
        else:   # the shared /tmp is left alone (leftovers.SHARED_FOLDERS says why): a fixed /tmp path stays
            assert os.path.exists(f"/tmp/{name}")
    finally:
        for path in (f"/dev/shm/{name}", f"/tmp/{name}"):
            if os.path.exists(path):
                os.unlink(path)
        subprocess.run(["ipcrm", "-S", hex(key)], capture_output=True)
        subprocess.run(["ipcrm", "-M", hex(key)], capture_output=True)


UNUSED = r'''
#include <stdio.h>
#include <stdlib.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/stat.h>
#include <unistd.h>
int main(int argc, char **argv) {
    (void) argc;
    key_t key = atoi(argv[2]);
    char path[256];
    int sem = semget(key, 1, IPC_CREAT | 0600);              /* made, never operated on */
    int msg = msgget(key, IPC_CREAT | 0600);                 /* made, never sent to nor received from */
    snprintf(path, sizeof path, "/tmp/%s", argv[1]);
    int dir = mkdir(path, 0700);
    FILE *f = chdir(path) == 0 ? fopen("inside", "w") : NULL;
    if (f) fclose(f);
    printf("%d %d %d %d\n", sem >= 0, msg >= 0, dir == 0, f != NULL);
    return 0;
}'''


def test_attack10_under_dockers_rules_unused_ipc_objects_a_cell_made_go_but_files_of_others_stay():
    """Where the cell has no IPC or mount namespace (tools/confine docker), as a student: what the cell
    made and nobody uses goes; a file of the same user from before the cell, and one held open by a
    process outside the cell, stay."""
    name, key = "left-" + uuid.uuid4().hex[:8], 0x3B000000 + (uuid.uuid4().int & 0xFFFFFF)
    older = tempfile.NamedTemporaryFile(prefix="left-older-", dir="/tmp")      # made before the cell
    try:
        r = run_c(UNUSED, args=[name, str(key)])
        assert r.stdout == "1 1 1 1\n", r
        assert os.path.exists(older.name), "a file made before the cell was removed"
        if r.walls.get("private_tmp_ipc"):
            assert not os.path.exists(f"/tmp/{name}")       # its own /tmp: gone with the cell
            return
        if os.geteuid() == 0:
            pytest.skip("root: objects root made meanwhile could be the system's, so the rule leaves them")
        assert key not in _ipc_keys("sem"), "a semaphore set the cell made and nobody used outlived it"
        assert key not in _ipc_keys("msg"), "a message queue the cell made and nobody used outlived it"
        # the shared /tmp is left alone (leftovers.SHARED_FOLDERS): another kernel of the student's may have
        # made a folder there meanwhile, and no file says who made it
        assert os.path.exists(f"/tmp/{name}")
    finally:
        older.close()
        shutil.rmtree(f"/tmp/{name}", ignore_errors=True)
        subprocess.run(["ipcrm", "-S", hex(key)], capture_output=True)
        subprocess.run(["ipcrm", "-Q", hex(key)], capture_output=True)


def test_the_rule_keeps_a_file_held_open_outside_the_cell_and_removes_one_nobody_holds():
    """leftovers.remove_new_files, on a private folder standing for /tmp (never the real one: other
    users' programs make files there meanwhile)."""
    from forklab.sandbox import leftovers
    folder = tempfile.mkdtemp(prefix="forklab-walls-")
    try:
        uid = os.getuid() or 65534
        before = leftovers.files_snapshot((folder,))
        held, loose = Path(folder) / "held", Path(folder) / "loose"       # both made "during the cell"
        with open(held, "w") as f:
            loose.write_text("x")
            for p in (held, loose):
                os.chown(p, uid, -1) if os.getuid() == 0 else None
            removed = leftovers.remove_new_files(before, time.time() - 60, uid)
            assert held.exists() and str(held) not in removed, "a file held open by a process outside the cell was removed"
            assert not loose.exists() and removed == [str(loose)]
            f.write("still mine")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# --- smaller: timeouts, memory, stdin, the class's process limit ------------------------------------

@pytest.mark.parametrize("bad", [float("nan"), float("inf"), 0, -1, "soon"])
def test_a_timeout_that_is_not_a_finite_positive_number_is_a_clear_error(bad):
    with pytest.raises(CellOptionError) as info:
        run_c("int main(void) { return 0; }", timeout=bad)
    assert "timeout must be" in str(info.value) and repr(bad) in str(info.value)
    assert_no_children()


def test_the_magic_says_what_was_wrong_with_a_timeout(capsys):
    cell_magic.c_magic("--timeout nan", "int main(void) { return 0; }")
    err = capsys.readouterr().err
    assert "%%c: timeout must be a finite number" in err and "Traceback" not in err


def test_stdin_keeps_accents_and_still_reads_escapes():
    src = "#include <stdio.h>\nint main(void) { int c; while ((c = getchar()) != EOF) putchar(c); return 0; }"
    opts = cell_magic.parse_magic_line('--stdin "héllo wörld 字\\n"')
    assert opts["stdin"] == "héllo wörld 字\n"
    assert run_c(src, stdin=opts["stdin"]).stdout == "héllo wörld 字\n"


def test_max_procs_above_the_servers_hard_process_limit_is_clamped_with_a_note(monkeypatch, capsys):
    import resource
    real = resource.getrlimit
    monkeypatch.setattr(runner.resource, "getrlimit",
                        lambda which: (40, 40) if which == resource.RLIMIT_NPROC else real(which))
    r = run_c("int main(void) { return 0; }", max_procs=500)
    assert r.max_procs == 40 and r.returncode == 0
    assert "max_procs=500" in r.notes[0] and "RLIMIT_NPROC" in r.notes[0] and "max_procs=40" in r.notes[0]
    runner.show(r)
    assert "[note: max_procs=500 is more than this server allows" in capsys.readouterr().err
    assert run_c("int main(void) { return 0; }", max_procs=8).notes == []


def _memory_cgroup(limit: int):
    """A fresh memory cgroup (v2 or v1) limited to `limit` bytes, or None (not root, or not allowed)."""
    for base, knob in (("/sys/fs/cgroup", "memory.max"), ("/sys/fs/cgroup/memory", "memory.limit_in_bytes")):
        if not os.path.exists(os.path.join(base, knob.replace("memory.max", "cgroup.controllers"))) and knob == "memory.max":
            continue
        path = os.path.join(base, "forklab-test-" + uuid.uuid4().hex[:8])
        try:
            os.mkdir(path)
        except OSError:
            continue
        try:
            with open(os.path.join(path, knob), "w") as f:
                f.write(str(limit))
            return path
        except OSError:
            os.rmdir(path)
    return None


def test_a_program_the_oom_killer_ends_is_said_to_have_run_out_of_memory():
    """Root only (a memory cgroup is needed to run out of memory without hurting the machine): the
    stand-in caller, its supervisor and the program share a 256 MiB cgroup; the program asks for more."""
    if os.geteuid() != 0:
        pytest.skip("needs a memory cgroup of its own, which only root may create")
    cgroup = _memory_cgroup(256 << 20)
    if cgroup is None:
        pytest.skip("no memory cgroup may be created here")

    def join():
        with open(os.path.join(cgroup, "cgroup.procs"), "w") as f:
            f.write(str(os.getpid()))
    src = NAMED % _marker() + r'''
int main(void) {
    for (int i = 0; i < 1024; i++) {            /* 1 GiB, touched page by page */
        char *p = malloc(1 << 20);
        if (!p) return 2;
        memset(p, 1, 1 << 20);
    }
    return 0;
}'''
    try:
        r = replay(src, _marker(), bound=60, preexec=join, timeout=20)
    finally:
        for _ in range(100):
            try:
                os.rmdir(cgroup)
                break
            except OSError:
                time.sleep(0.05)
    assert "killed" not in r, "the OOM killer took the caller, not the program"
    assert r["returncode"] == -9 and "ran out of memory" in r["status"], r


def test_an_interrupted_caller_ends_the_cell_at_once_and_leaves_nothing():
    """Jupyter's stop button raises KeyboardInterrupt in the caller while it waits: the supervisor is
    asked to end the cell (SIGTERM), kills and reaps everything, and the caller gets the interrupt."""
    m = _marker()
    src = NAMED % m + "int main(void) { name(); if (fork() == 0) { setsid(); for (;;) pause(); } for (;;) pause(); }"
    caller = CALLER.replace("r = runner.run_c(source, **args)",
                            "import signal, threading\n"
                            "threading.Timer(1.0, lambda: os.kill(os.getpid(), signal.SIGINT)).start()\n"
                            "try:\n    runner.run_c(source, **args)\nexcept KeyboardInterrupt:\n"
                            "    print('@interrupted', time.monotonic() - t, alive(marker), flush=True)\n"
                            "    raise SystemExit(0)\n")
    folder = tempfile.mkdtemp(prefix="forklab-walls-")
    try:
        (Path(folder) / "cell.c").write_text(src)
        args = json.dumps({"source_file": str(Path(folder) / "cell.c"), "marker": m, "timeout": 30})
        out = subprocess.run([sys.executable, "-c", caller, str(RUNNER), args], capture_output=True, text=True,
                             timeout=40, env=dict(os.environ, FORKLAB_TEST_MARK=m)).stdout
        line = next(x for x in out.splitlines() if x.startswith("@interrupted"))
        elapsed, survivors = float(line.split()[1]), line.split(" ", 2)[2]
        assert elapsed < 5, f"the interrupt took {elapsed:.1f} s to reach the caller"
        assert survivors == "[]"
    finally:
        _cleanup(m)
        shutil.rmtree(folder, ignore_errors=True)


def test_a_supervisor_that_stops_answering_is_killed_with_everything_below_it(monkeypatch):
    """Whatever stops the supervisor (here: this test, with SIGSTOP), the caller waits timeout + grace at
    most, then kills the supervisor and the program's whole tree - not only the supervisor's session."""
    import threading
    from forklab.host.procstat import all_processes
    monkeypatch.setattr(runner, "SUPERVISOR_GRACE", 1.0)
    m = _marker()
    src = NAMED % m + "int main(void) { name(); if (fork() == 0) { setsid(); for (;;) pause(); } for (;;) pause(); }"
    before = set(runner.children_of_me())
    result = {}

    def run():
        result["r"] = run_c(src, timeout=2)

    t = threading.Thread(target=run)
    t.start()
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and len(survivors := [p for p, st in all_processes().items()
                                                                 if st.comm == m]) < 2:
            time.sleep(0.02)
        assert len(survivors) == 2, "the program did not start"
        supervisor = next(p for p in runner.children_of_me() if p not in before)
        os.kill(supervisor, signal.SIGSTOP)
        t.join(timeout=2 + 1 + 10)
        assert not t.is_alive(), "the caller still waits for a stopped supervisor"
        r = result["r"]
        assert "did not answer" in r.start_error
        time.sleep(0.1)
        left = {p: st.state for p, st in all_processes().items() if st.comm == m}
        assert all(state == "Z" for state in left.values()), f"still running: {left}"   # dead, awaiting init
    finally:
        _cleanup(m)
        t.join(timeout=20)
