"""Bad requests get a clear error naming the valid choices; harmful ones are refused."""
import re
import subprocess

import pytest

import forklab


@pytest.mark.parametrize("call, error, words", [
    (lambda: forklab.run("spawn"), ValueError, ["fork", "vfork", "clone", "clone3"]),
    (lambda: forklab.run(3), ValueError, ["valid choices"]),
    (lambda: forklab.run("clone", ["CLONE_VMM"]), ValueError, ["VM", "FILES", "valid flags"]),
    (lambda: forklab.run("fork", ["VM"]), ValueError, ["takes no flags", "clone"]),
    (lambda: forklab.run("vfork", exit_signal=None), ValueError, ["SIGCHLD"]),
    (lambda: forklab.run("clone", ["CLEAR_SIGHAND"]), ValueError, ["clone3"]),
    (lambda: forklab.run("clone", 0x11), ValueError, ["exit signal"]),
    (lambda: forklab.run("clone", True), TypeError, ["flag"]),
    (lambda: forklab.run("clone", [1]), TypeError, ["flag name"]),
    (lambda: forklab.run("clone", timeout=-1), ValueError, ["timeout"]),
    (lambda: forklab.run("clone", timeout="2"), TypeError, ["timeout"]),
    (lambda: forklab.run("clone", exit_signal="SIGNOPE"), ValueError, ["SIGCHLD", "None"]),
    (lambda: forklab.run("clone", child_action="explode"), ValueError, ["hang", "crash"]),
])
def test_bad_arguments_name_what_was_wrong_and_the_choices(call, error, words):
    with pytest.raises(error) as info:
        call()
    for word in words:
        assert word in str(info.value)


@pytest.mark.parametrize("signal", ["SIGUSR1", "SIGTERM", 10, "SIGURG"])
def test_exit_signals_that_would_harm_the_parent_are_refused(signal):
    with pytest.raises(forklab.UnsafeExperiment) as info:
        forklab.run("clone", exit_signal=signal)
    assert "SIGCHLD" in str(info.value) and "parent" in str(info.value)


@pytest.mark.parametrize("flag", ["SETTLS", "INTO_CGROUP"])
def test_flags_forklab_cannot_run_are_refused_with_the_reason(flag):
    with pytest.raises(forklab.UnsafeExperiment) as info:
        forklab.run("clone3", [flag])
    assert forklab.FLAGS[f"CLONE_{flag}"].not_runnable_why in str(info.value)


def test_flags_accept_names_short_names_and_masks():
    vm = forklab.FLAGS["CLONE_VM"].value
    assert forklab.parse_flags(["CLONE_VM"]) == forklab.parse_flags(["vm"]) == forklab.parse_flags(vm) == vm
    assert forklab.run("clone", vm).flags == ("CLONE_VM",)


def test_flag_values_match_the_kernel_headers(tmp_path):
    """forklab's table against <linux/sched.h>, compiled here."""
    names = [n for n in forklab.FLAGS if n not in ("CLONE_CLEAR_SIGHAND", "CLONE_INTO_CGROUP")]
    src = "#define _GNU_SOURCE\n#include <stdio.h>\n#include <sched.h>\n#include <linux/sched.h>\nint main(void){\n"
    src += "".join(f'  printf("{n} %llu\\n", (unsigned long long){n});\n' for n in names) + "  return 0;\n}\n"
    (tmp_path / "flags.c").write_text(src)
    subprocess.run(["cc", "-o", str(tmp_path / "flags"), str(tmp_path / "flags.c")], check=True)
    out = subprocess.run([str(tmp_path / "flags")], check=True, capture_output=True, text=True).stdout
    for line in out.splitlines():
        name, value = line.split()
        assert forklab.FLAGS[name].value == int(value), name


def test_every_flag_is_described():
    for flag in forklab.FLAGS.values():
        assert flag.does and re.fullmatch(r"\d+\.\d+(\.\d+)?", flag.since), flag
        assert flag.group in ("sharing", "process", "namespace", "bookkeeping", "other")
        assert flag.runnable or flag.not_runnable_why
        if flag.resource:
            assert forklab.RESOURCES[flag.resource].flag == flag.name


def test_platform_report_tries_what_the_course_needs():
    report = forklab.platform_report()
    text = str(report)
    for name in ("fork", "user namespaces", "other namespaces", "clone3", "kcmp"):
        assert name in text
    assert report.probe("fork").works
    assert report.other_namespaces == report.cap_sys_admin
    assert "What this means for the course" in text
