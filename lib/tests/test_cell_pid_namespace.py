"""Issue 17, attack 7 and the walls behind it: a %%c program runs in a PID namespace of its own where
the platform allows one (its init is ours: orphans go to it, kill(-1) reaches only the cell, /proc
shows only the cell), says so in its walls otherwise; and where neither that namespace nor Landlock's
signal scope exists (Linux 5.1-6.11 under Docker's rules), pidfd_send_signal and /proc/PID/mem of the
Jupyter kernel are still out of reach.

`kill(-1, SIGKILL)` runs only when the program sees a /proc with its own cell's processes alone (a
PID namespace of its own); elsewhere the seccomp filter refuses it anyway.
"""
import os

import pytest

from forklab.sandbox import containment
from forklab.sandbox.runner import run_c
from procs import assert_no_children

PEEK = r'''
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
static int processes(void)          /* how many processes /proc shows */
{
    int n = 0;
    DIR *d = opendir("/proc");
    struct dirent *e;
    while (d && (e = readdir(d)))
        n += e->d_name[0] >= '1' && e->d_name[0] <= '9';
    if (d) closedir(d);
    return n;
}
int main(void)
{
    printf("me %d, my parent %d, /proc shows %d\n", (int) getpid(), (int) getppid(), processes());
    fflush(stdout);
    int up[2];
    if (pipe(up) == -1) return 1;
    pid_t b = fork();
    if (b == 0) {                          /* b forks c and ends: c is an orphan */
        if (fork() == 0) {
            char x;
            if (read(up[0], &x, 1) != 1) return 1;     /* until b has ended */
            printf("orphan's parent %d\n", (int) getppid());
            fflush(stdout);
            pause();                       /* killed below */
        }
        return 0;
    }
    waitpid(b, NULL, 0);
    if (write(up[1], "x", 1) != 1) return 1;
    usleep(200000);
    if (processes() <= 4) {                /* the cell's own /proc: init, me, the orphan */
        int rc = kill(-1, SIGKILL);
        printf("kill(-1, SIGKILL) in the cell: %s\n", rc == 0 ? "sent" : strerror(errno));
        for (int i = 0; i < 500 && processes() > 2; i++)
            usleep(10000);                 /* until init has reaped the orphan (5 s at most) */
        printf("after it, /proc shows %d\n", processes());
    } else {
        printf("kill(-1, 0) here: %s\n", kill(-1, 0) == 0 ? "allowed" : strerror(errno));
    }
    return 0;
}'''


def _pid_namespaces_allowed() -> bool:
    """Whether this process may make a PID namespace (root, or inside a user namespace): asked of a
    throw-away child, so nothing here changes."""
    import subprocess
    import sys
    probe = ("import ctypes, os, sys\nfrom forklab.sandbox import containment\nlibc = ctypes.CDLL(None, use_errno=True)\n"
             "uid, gid = os.getuid(), os.getgid()\n"
             "if os.geteuid() != 0:\n"
             "    if libc.unshare(0x10000000) != 0: sys.exit(1)\n"
             "    for name, text in (('uid_map', f'{uid} {uid} 1'), ('setgroups', 'deny'),\n"
             "                       ('gid_map', f'{gid} {gid} 1')):\n"
             "        open(f'/proc/self/{name}', 'w').write(text)\n"
             "sys.exit(0 if containment.fresh_proc_allowed() else 1)   # a PID namespace with its own /proc")
    return subprocess.run([sys.executable, "-c", probe], timeout=30).returncode == 0


def test_a_cell_runs_in_a_pid_namespace_of_its_own_where_allowed():
    r = run_c(PEEK, timeout=10)
    assert r.returncode == 0, r
    assert bool(r.walls.get("pid_namespace")) == _pid_namespaces_allowed(), r.walls
    if r.walls.get("pid_namespace"):
        assert r.walls.get("own_proc"), r.walls
        lines = r.stdout.splitlines()
        # the program is PID 2, its parent our init (PID 1), and /proc shows the two of them
        assert lines[0] == "me 2, my parent 1, /proc shows 2", r.stdout
        assert lines[1] == "orphan's parent 1", r.stdout           # the cell's init adopted the orphan
        assert lines[2] == "kill(-1, SIGKILL) in the cell: sent", r.stdout
        assert lines[3] == "after it, /proc shows 2", r.stdout      # the orphan died; init and the program live
        assert r.max_procs_seen <= 3      # the supervisor's door and init are not counted as the program's
    else:
        # Docker's rules: no namespace, the real pids, the supervisor (a subreaper) adopts the orphan
        assert r.walls.get("seccomp_signal_filter"), r.walls
        assert "kill(-1, 0) here: Operation not permitted" in r.stdout, r.stdout
        assert "orphan's parent 1\n" not in r.stdout
    assert_no_children()


def test_host_pids_runs_the_program_beside_its_supervisor_as_before():
    r = run_c(PEEK, timeout=10, host_pids=True)
    assert not r.walls.get("pid_namespace"), r.walls
    import re
    me, parent = map(int, re.match(r"me (\d+), my parent (\d+),", r.stdout).groups())
    assert parent != 1 and me != 2, r.stdout
    assert f"orphan's parent {parent}\n" in r.stdout, r.stdout      # the supervisor, a subreaper
    assert "kill(-1, 0) here: Operation not permitted" in r.stdout


def test_the_magic_takes_host_pids(capsys):
    from forklab.course.cell_magic import c_magic
    c_magic("--host-pids", '#include <stdio.h>\n#include <unistd.h>\n'
            'int main(void) { printf("%s\\n", getppid() == 1 ? "init" : "supervisor"); return 0; }')
    assert capsys.readouterr().out.startswith("supervisor\n")


# --- hole 2: Linux 5.13-6.11 (Landlock without the signal scope), no PID namespace -----------------

REACH = r'''
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
int main(int argc, char **argv)
{
    (void) argc;
    char path[64];
    snprintf(path, sizeof path, "/proc/%s", argv[1]);
    int fd = open(path, O_RDONLY | O_DIRECTORY);       /* a pidfd, the way pidfd_send_signal(2) allows */
    if (fd == -1) { printf("open %s: %s\n", path, strerror(errno)); return 0; }
    long rc = syscall(SYS_pidfd_send_signal, fd, 0, NULL, 0);        /* signal 0: only "may I?" */
    printf("pidfd_send_signal to the caller: %s\n", rc == 0 ? "allowed" : strerror(errno));
    snprintf(path, sizeof path, "/proc/%s/mem", argv[1]);
    int mem = open(path, O_RDWR);                          /* opened only, never written */
    printf("open the caller's /proc/PID/mem for writing: %s\n", mem >= 0 ? "allowed" : strerror(errno));
    return 0;
}'''


@pytest.mark.parametrize("abi", [0, 5])
def test_without_the_signal_scope_and_a_pid_namespace_the_caller_is_still_out_of_reach(monkeypatch, abi):
    """Imitates Linux 5.13-6.11 (abi 5: Landlock without the signal scope) and older kernels (abi 0:
    no Landlock), with host_pids standing for a platform without PID namespaces (Docker's rules)."""
    real_abi = containment.landlock_abi()
    monkeypatch.setenv(containment.ABI_MAX_HOOK, str(abi))
    r = run_c(REACH, args=[str(os.getpid())], host_pids=True)
    assert not r.walls.get("landlock_signal_scope") and not r.walls.get("pid_namespace"), r.walls
    refused = "Operation not permitted" if containment.have_pidfd_send_signal() else "Function not implemented"
    assert f"pidfd_send_signal to the caller: {refused}" in r.stdout, r.stdout
    if min(abi, real_abi) >= 1:     # any Landlock domain refuses /proc/PID/mem of a process outside it
        assert r.walls.get("landlock_ptrace_scope"), r.walls
        assert "open the caller's /proc/PID/mem for writing: Permission denied" in r.stdout, r.stdout
    assert_no_children()


def test_with_the_signal_scope_pidfd_send_signal_to_the_programs_own_child_still_works(monkeypatch):
    """What notebook 16 does: a pidfd of one's own child; refused only where neither wall exists."""
    if not containment.have_pidfd_send_signal() or not hasattr(os, "pidfd_open"):
        pytest.skip("no pidfds on this kernel (or under this filter): notebook 16 shows its recording")
    try:
        os.close(os.pidfd_open(os.getpid()))
    except OSError:
        pytest.skip("no pidfd_open on this kernel (or under this filter): notebook 16 shows its recording")
    src = r'''
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
int main(void)
{
    pid_t c = fork();
    if (c == 0) { pause(); return 0; }
    int fd = (int) syscall(SYS_pidfd_open, c, 0);
    long rc = syscall(SYS_pidfd_send_signal, fd, SIGKILL, NULL, 0);
    printf("%s\n", rc == 0 ? "sent" : strerror(errno));
    if (rc != 0) kill(c, SIGKILL);
    waitpid(c, NULL, 0);
    return 0;
}'''
    for host_pids in (False, True):
        r = run_c(src, host_pids=host_pids)
        scoped = r.walls.get("landlock_signal_scope") or r.walls.get("pid_namespace")
        assert r.stdout == ("sent\n" if scoped else "Operation not permitted\n"), (r.stdout, r.walls)


def test_notebook_16s_pidfd_cell_shows_its_recording_where_a_cells_pidfd_send_signal_is_refused():
    """Under Docker's rules on a kernel without the signal scope (tools/confine docker,landlock-abi5), the
    cell's filter refuses pidfd_send_signal: require_allowed("pidfd") says so, naming why, instead of
    letting the program fail with a bare EPERM."""
    import subprocess
    import sys
    from pathlib import Path
    try:
        os.close(os.pidfd_open(os.getpid()))
    except (OSError, AttributeError):
        pytest.skip("no pidfd_open here: require_allowed('pidfd') names the kernel, before any cell wall")
    root = Path(__file__).resolve().parents[2]
    code = ("from forklab.course.references import require_allowed, ForbiddenHere\n"
            "try:\n    require_allowed('pidfd')\n    print('allowed')\n"
            "except ForbiddenHere as e:\n    print('forbidden:', e.what, '|', e.because)\n")
    env = dict(os.environ, PYTHONPATH=str(root / "lib" / "src"))
    out = {}
    for profile in ("docker", "docker,landlock-abi5"):
        out[profile] = subprocess.run([sys.executable, str(root / "tools" / "confine"), profile, "--",
                                       sys.executable, "-c", code], capture_output=True, text=True,
                                      timeout=120, env=env).stdout
    if containment.landlock_abi() >= containment.ABI_WITH_SIGNAL_SCOPE:
        assert out["docker"] == "allowed\n", out
    assert out["docker,landlock-abi5"].startswith("forbidden: pidfd_send_signal() in a C cell |"), out
    assert "seccomp filter refuses pidfd_send_signal()" in out["docker,landlock-abi5"]
