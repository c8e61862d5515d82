"""forklab names the rule the kernel hits first: clone3_args_valid(), then kernel_clone(), then copy_process().

kernel/fork.c: the clone3 system call runs clone3_args_valid() (after copy_clone_args_from_user()) before
kernel_clone(); kernel_clone() (_do_fork() 5.3-5.9) refuses CLONE_PIDFD with CLONE_PARENT_SETTID (one argument
in clone()) before it calls copy_process() - on 5.2 copy_process() itself did, after the checks below; copy_process()
then checks NEWNS|FS, NEWUSER|FS, THREAD without SIGHAND, SIGHAND without VM, ... in that order.
"""
import errno

import pytest

import forklab
from forklab.engine.explain import EINVAL_RULES, explain
from forklab.engine.flags import FLAGS, names_of


def mask(*shorts):
    return forklab.parse_flags(list(shorts))


def first_rule(primitive, shorts, exit_signal="SIGCHLD"):
    _, _, rule = explain(errno.EINVAL, mask(*shorts), primitive, exit_signal, privileged=True, kernel=(6, 18))
    return rule


def test_clone3_thread_with_an_exit_signal_is_refused_for_its_exit_signal_first():
    # clone3_args_valid() refuses (THREAD|PARENT) with exit_signal != 0 before copy_process() looks for SIGHAND
    assert first_rule("clone3", ["THREAD"]) == "clone3: exit signal with THREAD or PARENT"
    # without an exit signal, copy_process()'s rule is the one left
    assert first_rule("clone3", ["THREAD"], exit_signal=None) == "THREAD needs SIGHAND"
    # clone() has no such check: its exit signal is ignored for a thread
    assert first_rule("clone", ["THREAD"]) == "THREAD needs SIGHAND"


def test_clone_pidfd_with_parent_settid_is_refused_before_copy_process():
    # kernel_clone() checks it before copy_process()'s NEWNS|FS
    assert first_rule("clone", ["PIDFD", "PARENT_SETTID", "NEWNS", "FS"]) == "clone(): PIDFD with PARENT_SETTID"
    assert first_rule("clone", ["PIDFD", "PARENT_SETTID", "THREAD"]) == "clone(): PIDFD with PARENT_SETTID"


def test_clone3_detached_is_refused_by_clone3_args_valid():
    assert first_rule("clone3", ["DETACHED"]) == "clone3: DETACHED"
    assert first_rule("clone3", ["DETACHED", "PIDFD"]) == "clone3: DETACHED"
    assert first_rule("clone", ["DETACHED", "PIDFD"]) == "PIDFD with DETACHED"


def test_the_rules_are_grouped_in_the_kernels_order():
    names = [r.name for r in EINVAL_RULES]
    stage = {n: 0 if n.startswith("clone3:") else 1 if n.startswith("clone():") else
             3 if n == "NEWIPC with SYSVSEM" else 2 for n in names}
    assert [stage[n] for n in names] == sorted(stage[n] for n in names), names
    in_copy_process = [n for n in names if stage[n] == 2]
    assert in_copy_process[:4] == ["NEWNS with FS", "NEWUSER with FS", "THREAD needs SIGHAND", "SIGHAND needs VM"]


def test_clone3_detached_text_agrees_with_clone_2():
    # clone(2): no effect by the time 2.6.0 was released; 2.6.2 only stopped requiring it with CLONE_THREAD
    text = FLAGS["CLONE_DETACHED"].does
    assert "2.6.0" in text and "2.6.2" in text and "ignored since 2.6.2" not in text


@pytest.mark.clone3
def test_live_clone3_thread_with_sigchld_is_refused_and_the_exit_signal_alone_is_a_reason():
    with pytest.raises(forklab.CloneRefused) as info:
        forklab.run("clone3", ["THREAD"], exit_signal="SIGCHLD")
    assert info.value.errno == errno.EINVAL
    assert info.value.rule == "clone3: exit signal with THREAD or PARENT"
    # the same thread, well-formed, with an exit signal: still refused, so the exit signal alone is a reason
    with pytest.raises(forklab.CloneRefused) as info:
        forklab.run("clone3", ["THREAD", "SIGHAND", "VM"], exit_signal="SIGCHLD")
    assert info.value.rule == "clone3: exit signal with THREAD or PARENT"
    fix = info.value.fix
    obs = forklab.run("clone3", names_of(fix.apply_to_mask(mask("THREAD", "SIGHAND", "VM"))), exit_signal=fix.exit_signal)
    assert obs.resources


def test_live_clone_pidfd_parent_settid_with_sighand_names_kernel_clones_rule_and_its_fix_works():
    # SIGHAND without VM breaks a copy_process() rule too; kernel_clone()'s check comes first
    flags = ["PIDFD", "PARENT_SETTID", "SIGHAND"]
    with pytest.raises(forklab.CloneRefused) as info:
        forklab.run("clone", flags, exit_signal="SIGCHLD")
    assert info.value.errno == errno.EINVAL
    assert info.value.rule == "clone(): PIDFD with PARENT_SETTID"
    fix = info.value.fix
    assert fix.remove == ("CLONE_PARENT_SETTID",) and fix.add == ("CLONE_VM",)
    obs = forklab.run("clone", names_of(fix.apply_to_mask(mask(*flags))), exit_signal="SIGCHLD")
    assert obs.resources


def test_before_5_2_clone_pidfd_is_ignored_so_no_pidfd_rule_is_named():
    # Linux < 5.2 has no CLONE_PIDFD (the bit is ignored): the EINVAL there comes from copy_process()'s own rules
    assert first_rule_on((4, 18), "clone", ["PIDFD", "PARENT_SETTID", "SIGHAND"]) == "SIGHAND needs VM"
    assert first_rule_on((4, 18), "clone", ["PIDFD", "DETACHED", "THREAD"]) == "THREAD needs SIGHAND"


def test_on_5_2_copy_process_refuses_pidfd_with_parent_settid_after_its_own_first_checks():
    # Linux 5.2's copy_process() refused CLONE_PIDFD with DETACHED|PARENT_SETTID|THREAD after NEWNS|FS ...
    # THREAD with NEWUSER/NEWPID; 5.3 (the clone3 work) moved the PARENT_SETTID part into _do_fork(), before it
    assert first_rule_on((5, 2), "clone", ["PIDFD", "PARENT_SETTID", "SIGHAND"]) == "SIGHAND needs VM"
    assert first_rule_on((5, 2), "clone", ["PIDFD", "PARENT_SETTID"]) == "PIDFD with PARENT_SETTID (Linux 5.2)"
    assert first_rule_on((5, 3), "clone", ["PIDFD", "PARENT_SETTID", "SIGHAND"]) == "clone(): PIDFD with PARENT_SETTID"
    assert first_rule_on((5, 3), "clone", ["PIDFD", "PARENT_SETTID"]) == "clone(): PIDFD with PARENT_SETTID"


def first_rule_on(kernel, primitive, shorts, exit_signal="SIGCHLD"):
    _, _, rule = explain(errno.EINVAL, mask(*shorts), primitive, exit_signal, privileged=True, kernel=kernel)
    return rule
