"""A refusal caused by the platform (a container's seccomp filter, an old kernel) is named as such,
explained, and answered with a recorded reference output - never a traceback or a wrong lesson."""
import errno
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

import forklab
from forklab.course import grading
from forklab.engine.errors import CloneForbiddenHere
from forklab.engine.explain import Confinement, explain, platform_rule
from forklab.engine.flags import parse_flags
from forklab.course.references import NEEDS, explain_forbidden, reference, reference_if_forbidden

ROOT = Path(__file__).resolve().parents[2]
CONFINE = ROOT / "tools" / "confine"
DOCKER = Confinement(seccomp_filter=True, kernel=(6, 18))
RHEL8 = Confinement(seccomp_filter=False, kernel=(4, 18))
PLAIN = Confinement(seccomp_filter=False, kernel=(6, 18))


def why(err, flags, primitive="clone", *, privileged, conf):
    return explain(err, parse_flags(flags), primitive, "SIGCHLD", privileged=privileged, conf=conf)


# --- the explanations name the real cause ---------------------------------------------------------

def test_eperm_while_holding_cap_sys_admin_names_the_filter_not_a_missing_capability():
    reason, fix, rule = why(errno.EPERM, ["CLONE_NEWUTS"], privileged=True, conf=DOCKER)
    assert "does not have" not in reason
    assert "has CAP_SYS_ADMIN" in reason and "seccomp filter" in reason and "Seccomp: 2" in reason
    assert "--security-opt seccomp=unconfined" in reason and "Kubernetes" in reason
    assert fix is None and rule == "namespaces forbidden here"


def test_eperm_while_privileged_without_a_filter_names_a_security_module():
    reason, _, _ = why(errno.EPERM, ["CLONE_NEWNET"], privileged=True, conf=PLAIN)
    assert "security module" in reason and "does not have" not in reason


def test_eperm_for_a_user_namespace_needs_no_privilege_so_names_the_filter_or_the_sysctl():
    reason, fix, _ = why(errno.EPERM, ["CLONE_NEWUSER"], privileged=False, conf=DOCKER)
    assert "needs no privilege" in reason and "seccomp filter" in reason and fix is None
    sysctl = Confinement(False, (6, 18), "kernel.unprivileged_userns_clone = 0")
    reason, _, _ = why(errno.EPERM, ["CLONE_NEWUSER"], privileged=False, conf=sysctl)
    assert "kernel.unprivileged_userns_clone = 0" in reason


def test_a_missing_capability_stays_the_kernels_lesson_and_mentions_the_filter_where_there_is_one():
    assert platform_rule(errno.EPERM, parse_flags(["CLONE_NEWUTS"]), "clone", privileged=False, conf=DOCKER) is None
    reason, fix, rule = why(errno.EPERM, ["CLONE_NEWUTS"], privileged=False, conf=DOCKER)
    assert "needs CAP_SYS_ADMIN" in reason and str(fix) == "add CLONE_NEWUSER"
    assert "seccomp filter" in reason and rule == "namespaces need CAP_SYS_ADMIN"
    plain, _, _ = why(errno.EPERM, ["CLONE_NEWUTS"], privileged=False, conf=PLAIN)
    assert "seccomp" not in plain


def test_enosys_for_clone3_names_an_old_kernel_or_the_filter():
    reason, fix, _ = why(errno.ENOSYS, [], "clone3", privileged=False, conf=RHEL8)
    assert "Linux 4.18" in reason and "older than 5.3" in reason and str(fix) == "use clone() instead"
    reason, _, _ = why(errno.ENOSYS, [], "clone3", privileged=True, conf=DOCKER)
    assert "seccomp filter" in reason and "falls back to clone()" in reason


def test_enosys_for_clone3_only_flags_offers_no_clone_fallback():
    reason, fix, _ = why(errno.ENOSYS, ["CLONE_VM", "CLONE_SIGHAND", "CLONE_CLEAR_SIGHAND"], "clone3",
                         privileged=True, conf=DOCKER)
    assert fix is None and "CLONE_CLEAR_SIGHAND exist only for clone3()" in reason


def test_a_platform_refusal_is_a_clone_refused_and_forbidden_here_and_pickles():
    e = CloneForbiddenHere(errno.EPERM, "reason", None, because="a filter", primitive="clone",
                           flags=("CLONE_NEWUSER",), exit_signal="SIGCHLD", rule="r")
    assert isinstance(e, forklab.CloneRefused) and isinstance(e, forklab.ForbiddenHere)
    assert e.what == "clone(CLONE_NEWUSER)" and e.forbidden_here == "a filter"
    back = pickle.loads(pickle.dumps(e))
    assert isinstance(back, forklab.ForbiddenHere) and back.because == "a filter" and back.reason == "reason"
    lesson = pickle.loads(pickle.dumps(forklab.CloneRefused(errno.EINVAL, "x", None, primitive="clone",
                                                            flags=(), exit_signal=None)))
    assert lesson.forbidden_here is None and not isinstance(lesson, forklab.ForbiddenHere)


# --- the recorded reference outputs ------------------------------------------------------------------

def test_every_reference_has_a_root_and_a_student_recording_with_kernel_and_date():
    root = reference("10-tiny-container", privileged=True)
    student = reference("10-tiny-container", privileged=False)
    assert root.as_user == "root" and student.as_user == "an unprivileged user"
    assert "tiny-container" in student.text and student.kernel.count(".") >= 1
    shown = str(student)
    assert shown.startswith(f"Reference output, recorded on Linux {student.kernel} as an unprivileged user (")
    assert "not measured here" in shown and "    step 2 UTS ns" in shown
    assert reference("no such recording") is None


def test_reference_if_forbidden_explains_a_platform_refusal_and_shows_the_recording(capsys):
    with reference_if_forbidden("10-tiny-container"):
        print("before")
        raise forklab.ForbiddenHere("clone(CLONE_NEWUSER)", "a seccomp filter refuses it")
    out = capsys.readouterr().out
    assert out.startswith("before\nForbidden here: clone(CLONE_NEWUSER), because a seccomp filter refuses it.\n")
    assert "Reference output, recorded on Linux" in out and "tiny-container" in out


def test_reference_if_forbidden_adds_nothing_where_the_experiment_runs(capsys):
    with reference_if_forbidden("10-tiny-container"):
        print(forklab.run("fork").resources["memory"].word)
    assert capsys.readouterr().out == "copied\n"


def test_reference_if_forbidden_lets_lessons_and_bugs_through():
    with pytest.raises(forklab.CloneRefused) as e:
        with reference_if_forbidden("x"):
            forklab.run("clone", ["CLONE_SIGHAND"])       # EINVAL: a rule of the kernel, a lesson
    assert e.value.errno_name == "EINVAL" and e.value.forbidden_here is None
    with pytest.raises(ValueError):
        with reference_if_forbidden("x"):
            raise ValueError("a bug")


def test_an_enosys_oserror_counts_as_a_platform_limit(capsys):
    with reference_if_forbidden("no such recording"):
        raise OSError(errno.ENOSYS, "Function not implemented", "pidfd_open()")
    out = capsys.readouterr().out
    assert out.startswith("Forbidden here: pidfd_open(), because this kernel")
    assert "No reference output was recorded under the name 'no such recording'" in out


def test_graded_check_says_it_cannot_be_checked_but_a_wrong_or_missing_answer_still_fails(capsys):
    with grading.unless_forbidden_here():
        raise forklab.ForbiddenHere("clone(CLONE_NEWUSER)", "a seccomp filter refuses it")
    assert capsys.readouterr().out.startswith(
        "This answer cannot be checked on this platform, because clone(CLONE_NEWUSER) is forbidden here: "
        "a seccomp filter refuses it.")
    for exc in (AssertionError("wrong"), NameError("repaired_a"), NotImplementedError()):
        with pytest.raises(type(exc)):
            with grading.unless_forbidden_here():
                raise exc


def test_c_cell_options_name_needs_and_a_reference():
    from forklab.course.cell_magic import parse_magic_line
    opts = parse_magic_line("--needs user-namespaces --needs clone3 --reference 10-tiny-container --timeout 3")
    assert opts["needs"] == ["user-namespaces", "clone3"] and opts["reference"] == "10-tiny-container"
    with pytest.raises(ValueError):
        parse_magic_line("--needs teleportation")


def test_explain_forbidden_without_a_name_gives_the_reason_only():
    assert explain_forbidden(None, "clone3()", "a filter.") == "Forbidden here: clone3(), because a filter."


# --- under tools/confine: the platforms students meet --------------------------------------------------

def confined(profile, code, *, keep_caps=False):
    cmd = [sys.executable, str(CONFINE), profile, *(["--keep-caps"] if keep_caps else []), "--",
           sys.executable, "-c", code]
    env = dict(os.environ, PYTHONPATH=str(ROOT / "lib" / "src"))
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.mark.skipif(os.geteuid() != 0, reason="a seccomp filter while holding CAP_SYS_ADMIN needs root")
def test_root_under_a_filter_is_told_about_the_filter_not_a_missing_capability():
    out = confined("docker", """
import forklab
try:
    forklab.run("clone", ["CLONE_NEWUTS"])
except forklab.ForbiddenHere as e:
    print("FORBIDDEN", e.because)
print(forklab.platform_report())
""", keep_caps=True)
    assert "FORBIDDEN this process has CAP_SYS_ADMIN, which is all CLONE_NEWUTS needs" in out
    assert "with CAP_SYS_ADMIN, under a seccomp filter" in out
    assert "which this process does not have" not in out


def test_under_docker_rules_namespaces_and_clone3_are_forbidden_and_explained():
    out = confined("docker", """
import forklab
for args in (("clone", ["CLONE_NEWUSER"]), ("clone3", [])):
    try:
        forklab.run(*args)
        print("RAN", args[0])
    except forklab.ForbiddenHere as e:
        print("FORBIDDEN", e.what, "|", e.because)
with forklab.reference_if_forbidden("10-every-namespace"):
    forklab.run("clone", ["CLONE_NEWUSER", "CLONE_NEWPID"])
print("EINVAL still raises:", end=" ")
try:
    forklab.run("clone", ["CLONE_SIGHAND"])
except forklab.CloneRefused as e:
    print(e.errno_name, e.forbidden_here)
""")
    assert "FORBIDDEN clone(CLONE_NEWUSER) | creating a user namespace needs no privilege" in out
    assert "FORBIDDEN clone3(0) | this kernel (Linux" in out and "glibc falls back to clone()" in out
    assert "Forbidden here: clone(CLONE_NEWPID | CLONE_NEWUSER)" in out
    assert "Reference output, recorded on Linux" in out and "new namespace" in out
    assert "EINVAL still raises: EINVAL None" in out


def test_on_a_4_18_kernel_clone3_is_missing_and_children_are_watched_without_pidfds():
    out = confined("linux-4.18", """
import os, forklab
from forklab.course.grading import Children
try:
    forklab.run("clone3")
except forklab.ForbiddenHere as e:
    print("FORBIDDEN", e.what)
with Children(["exit 3", "sleep 5"]) as kids:
    ended, running = kids.pids
    kids.wait_until_exited(ended)
    print("zombie:", open(f"/proc/{ended}/stat").read().rsplit(")", 1)[1].split()[0])
    os.waitpid(ended, 0)
print("unreaped:", kids.unreaped == [running])
try:
    os.waitpid(running, os.WNOHANG)
except ChildProcessError:
    print("all reaped")
""")
    assert "FORBIDDEN clone3(0)" in out
    assert "zombie: Z" in out and "unreaped: True" in out and "all reaped" in out


def test_a_c_cell_that_needs_user_namespaces_shows_the_recording_under_docker_rules():
    out = confined("docker", """
from forklab.course.cell_magic import c_magic
c_magic("--needs user-namespaces --reference 10-tiny-container",
        '#include <stdio.h>\\nint main(void) { puts("ran"); return 0; }')
""")
    assert out.startswith("ran\n[exit status 0]\nForbidden here: clone(CLONE_NEWUSER), because ")
    assert "step 3 PID ns" in out


def test_require_allowed_raises_for_the_first_forbidden_need_and_names_the_valid_ones():
    from forklab.course.references import forbidden_needs, require_allowed
    for needs in (("user-namespaces",), ("pidfd",), ("user-namespaces", "pidfd")):
        forbidden = forbidden_needs(needs)
        if not forbidden:
            require_allowed(*needs)                   # allowed here: nothing happens
            continue
        with pytest.raises(forklab.ForbiddenHere) as e:
            require_allowed(*needs)
        assert (e.value.what, e.value.because) == forbidden[0]
    with pytest.raises(ValueError, match="valid choices are: user-namespaces, namespaces, clone3, pidfd"):
        require_allowed("teleportation")


def test_require_allowed_stops_a_block_only_where_the_platform_forbids_what_it_needs():
    from forklab.course.references import forbidden_needs, require_allowed
    if forbidden_needs(["user-namespaces", "pidfd"]):
        pytest.skip("this machine already forbids user namespaces or pidfds: the two platforms cannot be told apart here")
    code = """
import forklab
from forklab.course.references import require_allowed
for need in ("user-namespaces", "pidfd"):
    try:
        require_allowed(need)
        print(need, "ALLOWED")
    except forklab.ForbiddenHere as e:
        print(need, "FORBIDDEN", e.what)
with forklab.reference_if_forbidden("10-tiny-container"):
    require_allowed("user-namespaces")
    print("the block ran")
"""
    docker, rhel8 = confined("docker", code), confined("linux-4.18", code)
    assert "user-namespaces FORBIDDEN clone(CLONE_NEWUSER)" in docker and "pidfd ALLOWED" in docker
    assert "the block ran" not in docker and "step 3 PID ns" in docker
    assert "user-namespaces ALLOWED" in rhel8 and "pidfd FORBIDDEN pidfd_open()" in rhel8
    assert "the block ran" in rhel8
