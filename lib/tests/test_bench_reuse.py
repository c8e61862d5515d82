"""One bench, many experiments (csrc/bench.c, bench_as_new): the bench server hands a bench one request
after another, so every experiment must leave the bench as it was forked - and the verdicts must be the
ones a bench forked for the experiment gives.

Checked by observation, not by reading the code: every kind of experiment the course can ask for (each
flag alone and with what it needs, fork, vfork, clone3, the presets, exit signal 0, refusals) runs on
one bench, and after each a plain fork() - the witness - must record the same parent state (the "before"
readings of every probe) and give the same verdicts as on a bench that has run nothing before it.
"""
import contextlib
import errno
import os
import signal
import time

import pytest

import forklab
from forklab.engine import benchserver
from forklab.engine._core import ffi, lib
from forklab.explorer.presets import PRESETS

# What the parent records before the child acts: the state a reused bench must be back in.
BEFORE = ("mem_before", "fd_probe", "fd_open_before", "off_before", "umask_before", "sig_before",
          "mask_blocked_before", "sem_before", "ioprio_before", "mnt_dev_before", "net_ifaces_parent")
BEFORE_TEXT = ("cwd_before", "host_before", "mount_point")

SHARING = ["VM", "FS", "FILES", "SYSVSEM", "IO", "PIDFD", "CHILD_SETTID", "CHILD_CLEARTID", "PARENT_SETTID",
           "PTRACE", "UNTRACED", "DETACHED", "VFORK", "PARENT"]
NAMESPACES = ["NEWUTS", "NEWPID", "NEWNS", "NEWNET", "NEWIPC", "NEWUSER", "NEWCGROUP"]


def kinds_of_experiment():
    """(primitive, flags, exit_signal): what a student can ask for, including what the kernel refuses."""
    kinds = [("fork", [], "SIGCHLD"), ("vfork", [], "SIGCHLD")]
    for primitive in ("clone", "clone3"):
        kinds += [(primitive, [], "SIGCHLD"), (primitive, ["VM"], None)]
        kinds += [(primitive, [f], "SIGCHLD") for f in SHARING + NAMESPACES]
        kinds += [(primitive, ["VM", "SIGHAND"], "SIGCHLD"),
                  (primitive, ["VM", "SIGHAND", "THREAD"], None),
                  (primitive, ["VM", "SIGHAND", "THREAD", "FS", "FILES", "SYSVSEM", "IO", "CHILD_CLEARTID"], None),
                  (primitive, ["VM", "SIGHAND", "FS", "FILES", "SYSVSEM", "IO", "VFORK", "PIDFD"], "SIGCHLD"),
                  (primitive, ["SIGHAND"], "SIGCHLD"),                            # EINVAL: needs VM
                  (primitive, ["NEWUSER"] + NAMESPACES[:-2], "SIGCHLD"),
                  (primitive, ["NEWUSER", "NEWNS", "NEWUTS", "VM", "FILES"], "SIGCHLD")]
    kinds += [("clone3", ["NEWTIME"], "SIGCHLD"), ("clone3", ["CLEAR_SIGHAND"], "SIGCHLD")]
    kinds += [(p.primitive, list(p.flags), p.exit_signal) for p in PRESETS.values()]
    return kinds


def attempt(primitive, flags, exit_signal):
    """(what was seen, the readings): verdict words, or the refusal's errno."""
    try:
        obs = forklab.run(primitive, flags, exit_signal=exit_signal)
    except forklab.CloneRefused as e:
        return ("refused", e.errno), None
    return {name: v.word for name, v in obs.resources.items()}, obs._readings


def parent_before(res) -> dict:
    state = {k: getattr(res, k) for k in BEFORE}
    state.update({k: ffi.string(getattr(res, k)) for k in BEFORE_TEXT})
    state["ns_parent"] = list(res.ns_parent)
    state["uid"] = res.parent.uid
    return state


def witness():
    seen, res = attempt("fork", [], "SIGCHLD")
    return seen, parent_before(res), res.bench_pid


@pytest.fixture
def fresh_server():
    """A new bench server, so the next experiment runs on a bench that has run nothing yet."""
    benchserver.stop_server()
    yield
    benchserver.stop_server()


def test_every_kind_of_experiment_leaves_the_bench_as_it_was_forked(fresh_server):
    fresh_seen, fresh_state, bench = witness()       # the first experiment of a new bench
    benches = {bench}
    for primitive, flags, exit_signal in kinds_of_experiment():
        attempt(primitive, flags, exit_signal)
        seen, state, bench = witness()
        benches.add(bench)
        label = f"after {primitive}({'|'.join(flags) or '0'}, exit signal {exit_signal})"
        assert state == fresh_state, f"{label} the bench is not as it was forked"
        assert seen == fresh_seen, f"{label} fork() gives other verdicts than on a fresh bench"
    # the point of it all: these ran on one bench (a new one comes only after FL_BENCH_USES)
    ran = 1 + 2 * len(kinds_of_experiment())
    assert len(benches) == 1 + (ran - 1) // lib.FL_BENCH_USES, "experiments that went as planned retired their bench"


def test_a_reused_bench_gives_the_verdicts_of_a_bench_forked_for_the_experiment(monkeypatch):
    """Each kind of experiment, on a bench that has run all the others, against FORKLAB_BENCH=direct (a
    bench forked for each experiment, from this process)."""
    kinds = kinds_of_experiment()
    reused = [attempt(*kind)[0] for kind in kinds]
    monkeypatch.setenv("FORKLAB_BENCH", "direct")
    fresh = [attempt(*kind)[0] for kind in kinds]
    for kind, a, b in zip(kinds, reused, fresh):
        assert a == b, f"{kind}: a reused bench saw {a}, a fresh one {b}"


@pytest.mark.parametrize("primitive, flags, exit_signal, action, raises", [
    ("fork", [], "SIGCHLD", "hang", forklab.ExperimentTimeout),
    ("clone", ["VM"], "SIGCHLD", "crash", None),                       # the child's exit status says it
    ("clone", ["VM", "SIGHAND", "THREAD"], None, "crash", forklab.ExperimentCrashed),   # takes the bench
])
def test_a_child_that_misbehaves_retires_its_bench(fresh_server, primitive, flags, exit_signal, action, raises):
    _, before, bench = witness()
    with pytest.raises(raises) if raises else contextlib.nullcontext():
        forklab.run(primitive, flags, exit_signal=exit_signal, timeout=0.3, child_action=action)
    _, after, next_bench = witness()
    assert next_bench != bench, f"a bench whose child did {action!r} took another experiment"
    assert after == before


def test_a_bench_takes_at_most_FL_BENCH_USES_experiments(fresh_server):
    benches = [attempt("clone", ["VM"], "SIGCHLD")[1].bench_pid for _ in range(lib.FL_BENCH_USES + 1)]
    assert len(set(benches[:-1])) == 1
    assert benches[-1] != benches[0]


def test_a_refused_experiment_keeps_its_bench(fresh_server):
    _, _, bench = witness()
    with pytest.raises(forklab.CloneRefused) as refused:
        forklab.run("clone", ["SIGHAND"])
    assert refused.value.errno == errno.EINVAL
    assert witness()[2] == bench


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGSTOP])
def test_an_idle_bench_that_its_owner_killed_or_stopped_is_replaced_before_the_next_experiment(fresh_server, sig):
    """A waiting bench is the student's own process (the parent's pid an observation shows): a student may
    signal it. The next experiment must not pay for that - no crash reported, no timeout."""
    bench = attempt("fork", [], "SIGCHLD")[1].bench_pid
    os.kill(bench, sig)
    time.sleep(0.05)
    start = time.monotonic()
    seen, res = attempt("clone", ["VM"], "SIGCHLD")
    assert seen["memory"] == "shared" and res.bench_pid != bench
    assert time.monotonic() - start < 0.5, "the next experiment waited for the stopped bench"
    if sig == signal.SIGSTOP:
        deadline = time.monotonic() + 3
        while os.path.exists(f"/proc/{bench}") and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not os.path.exists(f"/proc/{bench}"), "the stopped bench was left behind"
