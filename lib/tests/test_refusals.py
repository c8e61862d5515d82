"""Kernel refusals come back as CloneRefused with the rule in words and a fix that works."""
import errno

import pytest

import forklab
from forklab.engine.explain import UNCHANGED
from forklab.engine.flags import names_of
from forklab.host.machine import machine

EINVAL_CASES = [
    ("clone", ["SIGHAND"], "SIGCHLD"),
    ("clone", ["THREAD"], "SIGCHLD"),
    ("clone", ["THREAD", "SIGHAND"], "SIGCHLD"),
    ("clone", ["NEWNS", "FS"], "SIGCHLD"),
    ("clone", ["NEWUSER", "FS"], "SIGCHLD"),
    ("clone", ["THREAD", "SIGHAND", "VM", "NEWUSER"], "SIGCHLD"),
    ("clone", ["THREAD", "SIGHAND", "VM", "NEWPID"], "SIGCHLD"),
    ("clone", ["PIDFD", "DETACHED"], "SIGCHLD"),
    ("clone", ["PIDFD", "PARENT_SETTID"], "SIGCHLD"),
    ("clone", ["NEWIPC", "SYSVSEM"], "SIGCHLD"),
    ("clone3", ["THREAD", "SIGHAND", "VM"], "SIGCHLD"),
    ("clone3", ["PARENT"], "SIGCHLD"),
    ("clone3", ["CLEAR_SIGHAND", "SIGHAND", "VM"], "SIGCHLD"),
]


def retry_with_fix(err: forklab.CloneRefused, primitive, flags, exit_signal):
    fix = err.fix
    mask = fix.apply_to_mask(forklab.parse_flags(flags))
    signal = exit_signal if fix.exit_signal == UNCHANGED else fix.exit_signal
    return forklab.run(fix.primitive or primitive, names_of(mask), exit_signal=signal)


@pytest.mark.parametrize("primitive, flags, exit_signal", EINVAL_CASES,
                         ids=[f"{p}:{'|'.join(f)}" for p, f, _ in EINVAL_CASES])
def test_every_einval_rule_is_refused_explained_and_fixable(primitive, flags, exit_signal, privileged):
    if not privileged and any(forklab.FLAGS[f"CLONE_{f}"].privileged for f in flags):
        # The kernel checks CAP_SYS_ADMIN before the NEWIPC|SYSVSEM rule: let a user namespace grant it.
        flags = [*flags, "NEWUSER"]
    with pytest.raises(forklab.CloneRefused) as info:
        forklab.run(primitive, flags, exit_signal=exit_signal)
    err = info.value
    assert err.errno == errno.EINVAL and err.errno_name == "EINVAL"
    assert isinstance(err, OSError)
    assert err.rule is not None, "forklab should know which rule this is"
    assert len(err.reason) > 30
    assert err.fix is not None
    obs = retry_with_fix(err, primitive, flags, exit_signal)   # the fix must really work
    assert obs.resources


def test_the_fix_is_the_smallest_change():
    with pytest.raises(forklab.CloneRefused) as info:
        forklab.run("clone", ["SIGHAND"])
    assert info.value.fix.add == ("CLONE_VM",) and info.value.fix.remove == ()
    assert str(info.value.fix) == "add CLONE_VM"
    assert "CLONE_SIGHAND needs" in str(info.value)


@pytest.mark.namespaces
def test_man_page_entries_that_are_stale_on_this_kernel_are_not_refused():
    # clone(2) still lists CLONE_NEWPID|CLONE_PARENT as EINVAL; fine since 3.13 (with NEWUSER if unprivileged).
    prefix = [] if machine().cap_sys_admin else ["NEWUSER"]
    forklab.run("clone", ["NEWPID", "PARENT", *prefix])
    # CLONE_PIDFD|CLONE_THREAD was EINVAL before Linux 6.9.
    import os
    major, minor = (int(x) for x in os.uname().release.split(".")[:2])
    if (major, minor) >= (6, 9):
        forklab.run("clone", ["PIDFD", "THREAD", "SIGHAND", "VM"])


@pytest.mark.parametrize("flag", ["NEWUTS", "NEWPID", "NEWNS", "NEWNET", "NEWIPC", "NEWCGROUP"])
def test_unprivileged_namespaces_get_eperm_with_newuser_as_the_fix(flag, privileged):
    if privileged:
        pytest.skip("runs as an unprivileged user (CI runs the suite as nobody too)")
    with pytest.raises(forklab.CloneRefused) as info:
        forklab.run("clone", [flag])
    err = info.value
    assert err.errno == errno.EPERM
    assert "CAP_SYS_ADMIN" in err.reason and "CLONE_NEWUSER" in err.reason
    assert err.fix.add == ("CLONE_NEWUSER",)
    obs = retry_with_fix(err, "clone", [flag], "SIGCHLD")
    assert not obs.resources[forklab.FLAGS[f"CLONE_{flag}"].resource].shared


def test_unprivileged_fix_combines_rules(privileged):
    if privileged:
        pytest.skip("runs as an unprivileged user")
    with pytest.raises(forklab.CloneRefused) as info:
        forklab.run("clone", ["NEWNS", "FS"])
    assert set(info.value.fix.remove) == {"CLONE_FS"} and info.value.fix.add == ("CLONE_NEWUSER",)


def test_eperm_comes_before_the_sysvsem_rule_for_students(privileged):
    if privileged:
        pytest.skip("runs as an unprivileged user")
    with pytest.raises(forklab.CloneRefused) as info:
        forklab.run("clone", ["NEWIPC", "SYSVSEM"])
    assert info.value.errno == errno.EPERM
    assert info.value.fix.add == ("CLONE_NEWUSER",) and info.value.fix.remove == ("CLONE_SYSVSEM",)


def test_clone3_newtime_before_6_3_is_explained_and_fixed_by_removing_it():
    """5.6 to 6.2: clone3() answered EINVAL for CLONE_NEWTIME (only unshare() made a time namespace)."""
    from forklab.engine.explain import explain
    mask = forklab.parse_flags(["NEWTIME", "NEWUSER"])
    reason, fix, rule = explain(errno.EINVAL, mask, "clone3", "SIGCHLD", privileged=False, kernel=(5, 15))
    assert rule == "clone3: NEWTIME (before 6.3)" and "6.3" in reason and "unshare" in reason
    assert fix.remove == ("CLONE_NEWTIME",)
    _, _, rule = explain(errno.EINVAL, mask, "clone3", "SIGCHLD", privileged=False, kernel=(6, 3))
    assert rule != "clone3: NEWTIME (before 6.3)"     # from 6.3 on, an EINVAL there has another cause
