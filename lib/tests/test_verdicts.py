"""Every verdict forklab reports must match what clone(2) says the flag does."""
import pytest

import forklab

SHARING = ("memory", "fd_table", "fs", "signal_handlers", "sysvsem_undo", "io_context")
NAMESPACES = ("uts_ns", "pid_ns", "mnt_ns", "net_ns", "ipc_ns", "user_ns", "cgroup_ns")


def shared_set(obs):
    return {name for name, v in obs.resources.items() if v.shared}


# What a plain fork() shares: the open file descriptions (offsets) and every namespace.
FORK_SHARES = {"file_offset", *NAMESPACES}


@pytest.mark.parametrize("primitive", ["fork", "clone", "clone3"])
def test_fork_like_calls_copy_everything_but_open_file_descriptions(primitive):
    obs = forklab.run(primitive)
    assert shared_set(obs) == FORK_SHARES
    assert obs.child.host_pid != obs.parent.host_pid
    assert obs.child.host_ppid == obs.parent.host_pid
    assert obs.child_pid_from_parent == obs.child.host_pid
    assert obs.parent_was_suspended is False
    assert obs.exit_status == 0


def test_vfork_shares_memory_and_suspends_the_parent():
    obs = forklab.run("vfork")
    assert shared_set(obs) == FORK_SHARES | {"memory"}
    assert obs.parent_was_suspended is True
    assert obs.parent_blocked_ms >= forklab.engine.experiment.GRACE_MS * 0.9


@pytest.mark.parametrize("flags, newly_shared", [
    (["VM"], {"memory"}),
    (["FILES"], {"fd_table"}),
    (["FS"], {"fs"}),
    (["SIGHAND", "VM"], {"signal_handlers", "memory"}),
    (["SYSVSEM"], {"sysvsem_undo"}),
    (["IO"], {"io_context"}),
    (["PARENT"], {"parent"}),
    (["VFORK", "VM"], {"memory"}),
    (["VFORK"], set()),
])
@pytest.mark.parametrize("primitive", ["clone", "clone3"])
def test_each_sharing_flag_shares_exactly_its_resource(primitive, flags, newly_shared):
    exit_signal = None if primitive == "clone3" and "PARENT" in flags else "SIGCHLD"
    obs = forklab.run(primitive, flags, exit_signal=exit_signal)
    assert shared_set(obs) == FORK_SHARES | newly_shared
    for name in newly_shared:
        assert obs.resources[name].flag in {f"CLONE_{f}" for f in flags}
        assert obs.resources[name].evidence
    assert obs.parent_was_suspended is ("VFORK" in flags)


@pytest.mark.parametrize("primitive, flags", [("fork", []), ("vfork", []), ("clone", ["PARENT"]),
                                              ("clone", ["THREAD", "SIGHAND", "VM"])])
def test_without_clone_sysvsem_the_child_starts_with_a_new_empty_undo_list(primitive, flags):
    # fork(2): "The child does not inherit semaphore adjustments (semop(2)) from its parent": the
    # parent's own +1 (with SEM_UNDO) survives the child's exit; only the child's +1 is undone.
    undo = forklab.run(primitive, flags).resources["sysvsem_undo"]
    assert not undo.shared and undo.word == "new, empty"
    assert undo.evidence.endswith("the semaphore after the child ended: 1, only the child's +1 undone (its undo list started empty)")


@pytest.mark.parametrize("flags", [["SYSVSEM"], ["PARENT", "SYSVSEM"], ["THREAD", "SIGHAND", "VM", "SYSVSEM"]])
def test_with_clone_sysvsem_nothing_is_undone_while_the_parent_lives(flags):
    undo = forklab.run("clone", flags).resources["sysvsem_undo"]
    assert undo.shared and undo.word == "shared" and "after the child ended: 2, nothing undone" in undo.evidence


def test_without_clone_io_the_child_gets_a_new_context_with_the_parents_priority():
    io = forklab.run("fork").resources["io_context"]
    assert not io.shared and io.word == "new, same priority"
    assert io.evidence.startswith("child started with I/O priority best-effort 4 (parent's: best-effort 4), set its")
    assert forklab.run("clone", ["IO"]).resources["io_context"].word == "shared"


def test_every_word_is_one_of_the_documented_words():
    for obs in (forklab.run("fork"), forklab.run("clone", ["VM", "SYSVSEM", "IO"])):
        assert {v.word for v in obs.resources.values()} <= set(forklab.engine.verdicts.WORDS)


def test_a_thread_shares_memory_handlers_thread_group_and_parent():
    obs = forklab.run("clone", ["THREAD", "SIGHAND", "VM"])
    assert shared_set(obs) == FORK_SHARES | {"memory", "signal_handlers", "thread_group", "parent"}
    assert obs.child.host_tgid == obs.parent.host_pid          # same PID as seen by getpid()
    assert obs.child.host_tid != obs.parent.host_tid           # but its own thread id
    assert obs.exit_status is None                              # a thread cannot be waited for


@pytest.mark.clone3
def test_clone3_thread_needs_exit_signal_zero_and_then_works():
    obs = forklab.run("clone3", ["THREAD", "SIGHAND", "VM"], exit_signal=None)
    assert {"thread_group", "memory", "signal_handlers"} <= shared_set(obs)


def test_the_signal_mask_is_never_shared_even_by_a_thread():
    for flags in ([], ["THREAD", "SIGHAND", "VM"]):
        assert not forklab.run("clone", flags).resources["signal_mask"].shared


@pytest.mark.clone3
def test_clear_sighand_resets_inherited_handlers():
    plain = forklab.run("clone3")
    cleared = forklab.run("clone3", ["CLEAR_SIGHAND"])
    assert "did not inherit" not in plain.resources["signal_handlers"].evidence
    assert "did not inherit" in cleared.resources["signal_handlers"].evidence


@pytest.mark.parametrize("flag, resource", [
    ("NEWUTS", "uts_ns"), ("NEWPID", "pid_ns"), ("NEWNS", "mnt_ns"), ("NEWNET", "net_ns"),
    ("NEWIPC", "ipc_ns"), ("NEWCGROUP", "cgroup_ns"), ("NEWUSER", "user_ns"),
])
def test_each_namespace_flag_gives_a_new_namespace(flag, resource, ns_prefix):
    flags = [flag] + [f for f in ns_prefix if f != flag]
    obs = forklab.run("clone", flags)
    new = {name for name in NAMESPACES if not obs.resources[name].shared}
    assert new == {resource} | ({"user_ns"} if "NEWUSER" in flags else set())
    assert obs.resources[resource].word == "new namespace"


def test_new_pid_namespace_makes_the_child_pid_1(ns_prefix):
    obs = forklab.run("clone", ["NEWPID", *ns_prefix])
    assert obs.child.pid == 1
    assert obs.child_pid_from_parent == obs.child.host_pid != 1
    assert obs.child.ppid == 0          # its parent lives outside its PID namespace


def test_new_uts_namespace_changes_only_the_childs_hostname(ns_prefix):
    import socket
    before = socket.gethostname()
    obs = forklab.run("clone", ["NEWUTS", *ns_prefix])
    assert 'child saw hostname "forklab-child"' in obs.resources["uts_ns"].evidence
    assert socket.gethostname() == before


def test_new_network_namespace_has_only_loopback(ns_prefix):
    obs = forklab.run("clone", ["NEWNET", *ns_prefix])
    assert "child sees 1," in obs.resources["net_ns"].evidence


@pytest.mark.namespaces
def test_new_user_namespace_maps_the_child_to_root_inside():
    obs = forklab.run("clone", ["NEWUSER"])
    assert obs.child.uid == 0
    assert not obs.resources["user_ns"].shared


def test_new_mount_namespace_mount_stays_inside(ns_prefix):
    with open("/proc/self/mountinfo") as f:
        before = f.read()
    obs = forklab.run("clone", ["NEWNS", *ns_prefix])
    assert "failed" not in obs.resources["mnt_ns"].evidence
    with open("/proc/self/mountinfo") as f:
        assert f.read() == before


def test_kcmp_agrees_with_observation_where_the_kernel_answers():
    for flags in ([], ["VM"], ["FILES"], ["FS"], ["SIGHAND", "VM"], ["SYSVSEM"], ["IO"]):
        obs = forklab.run("clone", flags)
        if obs.kcmp is None:
            pytest.skip(f"kcmp not available here: {obs.kcmp_reason}")
        for name, verdict in obs.resources.items():
            if verdict.kcmp is not None:
                assert verdict.kcmp == verdict.shared, (flags, name, verdict)


def test_kcmp_is_unanswered_with_a_reason_in_a_new_pid_namespace(ns_prefix):
    obs = forklab.run("clone", ["NEWPID", *ns_prefix])
    assert obs.kcmp is None
    assert "PID namespace" in obs.kcmp_reason


def test_observation_reads_well():
    obs = forklab.run("clone", ["VM", "FILES"])
    assert obs.c_call == "pid = clone(child_fn, stack_top, CLONE_VM | CLONE_FILES | SIGCHLD, arg);"
    table = obs.table()
    assert "memory" in table and "shared" in table and "copied" in table
    assert "clone(VM|FILES)" in repr(obs)
    assert forklab.run("clone", ["VM"]).resources["memory"].evidence == \
        "child wrote 7 to x (parent's x was 1); parent then read 7"


def test_exit_signal_zero_child_is_still_reaped():
    obs = forklab.run("clone", exit_signal=None)
    assert obs.exit_status == 0
    assert obs.exit_signal is None
