"""fork_loop_harness.py - a student's fork loop, run where the kernel allows exactly CAP more processes.

Run by forklab.meters.limits.run_fork_loop() in a fresh interpreter under the C cells' supervisor, as
    python -c PROGRAM CAP FUNCTION_NAME SPARE_UID
where PROGRAM is, in this order: `_SOURCE = <the student's source, repr()>`, `import os` and the source of
forklab.meters.limits.tasks_of_uid and of forklab.host.procstat (this interpreter cannot import forklab), then this file. It prints one line,
"@report {json}": what the function returned or raised, the children it left, whether fork works after.
"""
if __name__ != "__main__":
    raise ImportError("fork_loop_harness.py is a program run by forklab.meters.limits, not a module")

import errno, json, os, resource, select, signal, sys, time   # now: as root, we are about to lose
                                                               # the right to read root's Python
_my_children = children_of               # procstat's, given with its source before this file

_CAP, _NAME, _SPARE = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
if os.getuid() == 0:                     # root is exempt from RLIMIT_NPROC: become an unused uid
    os.setgroups([])
    os.setresgid(_SPARE, _SPARE, _SPARE)
    os.setresuid(_SPARE, _SPARE, _SPARE)
    _ALONE = True                        # it has no other process: the count starts at 1, us
else:                                    # a user namespace of our own counts only the tasks inside it
    import ctypes
    _ALONE = ctypes.CDLL(None, use_errno=True).unshare(0x10000000) == 0   # CLONE_NEWUSER
_ME, _MAIN = os.getuid(), os.getpid()
_CHILD_RETURNED = 117                    # the exit status of a child that came back out of the function
_SOFT, _HARD = resource.getrlimit(resource.RLIMIT_NPROC)
_namespace = {"__name__": "__student__", "IN_SANDBOX": True, "os": os, "errno": errno, "signal": signal,
              "time": time, "sys": sys, "select": select}
exec(compile(_SOURCE, "<your answer>", "exec"), _namespace)
_function = _namespace[_NAME]

def _attempt():
    before = 1 if _ALONE else tasks_of_uid(_ME)
    limit = before + _CAP
    if _HARD != resource.RLIM_INFINITY and limit > _HARD:
        limit = _HARD
    resource.setrlimit(resource.RLIMIT_NPROC, (limit, _HARD))
    report = {}
    try:
        report["result"] = _function()
    except BaseException as e:
        report["error"] = f"{type(e).__name__}: {e}"
    if os.getpid() != _MAIN:             # a child came back out of the function instead of ending:
        os._exit(_CHILD_RETURNED)        # its exit status tells the parent (a print could be killed first)
    left = _my_children(_MAIN)
    report["left_behind"] = len(left)
    try:                                 # still under the cap: is there room for one more process?
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)
        report["fork_works_after"] = True
    except OSError:
        report["fork_works_after"] = False
    resource.setrlimit(resource.RLIMIT_NPROC, (_SOFT, _HARD))
    # A child that came back out of the function is on its way to _exit(_CHILD_RETURNED): give the
    # children left a moment to end on their own before the kill, so that one is never missed.
    report["child_returned"] = False
    running, deadline = list(left), time.monotonic() + 0.5
    while running and time.monotonic() < deadline:
        for pid in list(running):
            try:
                done, status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                running.remove(pid)
                continue
            if done:
                running.remove(pid)
                if os.WIFEXITED(status) and os.WEXITSTATUS(status) == _CHILD_RETURNED:
                    report["child_returned"] = True
        if running:
            time.sleep(0.005)
    for pid in running:                  # clean up after the answer: kill and reap what it left
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except OSError:
            pass
    clean = _ALONE or tasks_of_uid(_ME) == before   # did other processes of this uid come or go?
    return report, clean

# Alone, one run is exact. Sharing the count with the user's other processes, a process of theirs
# that starts or ends meanwhile shifts the result: run until two clean runs in a row agree.
_clean = []
for _n in range(1 if _ALONE else 8):
    _report, _ok = _attempt()
    if _ok:
        _clean.append(_report)
        if len(_clean) >= 2 and _clean[-1] == _clean[-2]:
            break
    time.sleep(0.02)
_report = _clean[-1] if _clean else _report
_report["alone"] = _ALONE
print("@report " + json.dumps(_report, default=repr), flush=True)
