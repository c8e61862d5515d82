"""forklab.host.machine: each fact it reports is what can be seen or tried here - and under tools/confine, what the
platform it imitates shows."""
import errno
import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import forklab
from forklab.host import machine as machine_module
from forklab.host.machine import NAMESPACES, kernel_version, machine

ROOT = Path(__file__).resolve().parents[2]
CONFINE = ROOT / "tools" / "confine"


def _status(field: str) -> str:
    with open("/proc/self/status") as f:
        return next(line.split(":", 1)[1].strip() for line in f if line.startswith(field + ":"))


# --- what files say ------------------------------------------------------------------------------------------

def test_kernel_version_is_the_running_kernels_release_read_as_numbers():
    m = machine()
    assert m.kernel_release == os.uname().release
    assert m.kernel == kernel_version(os.uname().release)
    assert ".".join(map(str, m.kernel)) == os.uname().release.split("-")[0]     # "6.18.44-fc-v1300"
    assert m.arch == os.uname().machine


@pytest.mark.parametrize("release, version", [("6.18.44-fc-v1300", (6, 18, 44)), ("4.18.0-553.el8_10.x86_64", (4, 18, 0)),
                                              ("6.1", (6, 1, 0)), ("5.15.0+", (5, 15, 0)), ("unknown", (0, 0, 0))])
def test_release_strings_of_real_distributions_are_read(release, version):
    assert kernel_version(release) == version


def test_capabilities_are_the_effective_set_proc_shows():
    m = machine()
    assert m.capabilities == int(_status("CapEff"), 16)
    assert m.cap_sys_admin == bool(int(_status("CapEff"), 16) & 1 << 21)     # include/uapi/linux/capability.h
    if os.environ.get("FORKLAB_AS_STUDENT"):
        assert not m.root and not m.cap_sys_admin and not m.cap_sys_ptrace


def test_seccomp_mode_and_no_new_privs_are_what_proc_shows():
    m = machine()
    assert m.seccomp == int(_status("Seccomp"))
    assert m.seccomp_filter == (_status("Seccomp") == "2")
    assert m.no_new_privs == (_status("NoNewPrivs") == "1")


def test_transparent_huge_pages_is_the_word_the_kernel_brackets():
    try:
        text = Path("/sys/kernel/mm/transparent_hugepage/enabled").read_text()
    except OSError:
        assert machine().thp == "unavailable"
        return
    assert f"[{machine().thp}]" in text.split()


def test_strace_is_the_one_on_the_path_and_proc_sys_read_only_is_its_mount_flag():
    m = machine()
    assert m.strace == shutil.which("strace")
    assert m.proc_sys_read_only == bool(os.statvfs("/proc/sys").f_flag & os.ST_RDONLY)


def test_cgroup_is_ours_and_its_limits_are_read_from_its_files():
    m = machine()
    lines = Path("/proc/self/cgroup").read_text().splitlines()
    assert m.cgroup in [line.split(":", 2)[2] for line in lines]
    assert m.cgroup_version == (1 if any(line.split(":", 2)[1] for line in lines) else 2)
    if m.cgroup_version == 1 and any(line.split(":", 2)[1] == "pids" for line in lines):
        leaf = next(line.split(":", 2)[2] for line in lines if line.split(":", 2)[1] == "pids")
        value = Path("/sys/fs/cgroup/pids", leaf.lstrip("/"), "pids.max")
        if value.exists() and value.read_text().strip().isdigit():
            assert m.pids_max is not None and m.pids_max <= int(value.read_text())   # the leaf's, or a parent's less


# --- what only trying tells: the probe's answer matches the same thing tried another way -------------------------

def _refused(primitive, flags=()):
    try:
        forklab.run(primitive, list(flags))
    except forklab.CloneRefused as e:
        return e.errno
    return 0


def test_user_namespaces_are_reported_as_an_experiment_finds_them():
    m = machine()
    assert m.probe_error is None
    assert m.user_namespaces == (_refused("clone", ["NEWUSER"]) == 0)


def test_other_namespaces_are_reported_as_an_experiment_finds_them():
    m = machine()
    flags = ["NEWUTS"] + ([] if m.cap_sys_admin else ["NEWUSER"])
    assert m.can_make("uts") == (_refused("clone", flags) == 0)
    assert m.namespaces_refused == (not m.can_make("uts"))
    with pytest.raises(ValueError, match="valid choices are: user, mnt"):
        m.can_make("UTS")


def test_clone3_is_reported_as_an_experiment_finds_it():
    m = machine()
    assert m.clone3 == (_refused("clone3") == 0)
    assert m.clone3_errno == ("EINVAL" if m.clone3 else "ENOSYS")


def test_ptrace_is_reported_as_tracing_a_child_finds_it():
    if machine().strace is None:
        pytest.skip("strace is not installed")
    traced = subprocess.run([machine().strace, "-qq", "-e", "trace=none", "true"], capture_output=True, timeout=30)
    assert machine().ptrace == (traced.returncode == 0), traced.stderr


def test_the_caller_is_never_forked_even_with_threads_running(monkeypatch):
    """The probes that fork run in machine_probe.py, a fresh process: this one (like a Jupyter kernel, with
    threads) only starts it."""
    def no_fork():
        raise AssertionError("machine() forked the calling process")
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    saved = machine()
    try:
        machine.cache_clear()
        monkeypatch.setattr(os, "fork", no_fork)
        monkeypatch.setattr(os, "forkpty", no_fork)
        again = machine()
    finally:
        stop.set()
        thread.join()
        machine.cache_clear()
    assert again == saved                    # and the same facts, found again
    assert machine() is machine()            # found once, then cached


# --- under tools/confine: what each imitated platform shows --------------------------------------------------

FACTS = ("import json; from forklab.host.machine import machine; m = machine(); print(json.dumps(dict(kernel=m.kernel, "
         "seccomp=m.seccomp, user_namespaces=m.user_namespaces, namespaces_refused=m.namespaces_refused, "
         "namespace_errors=m.namespace_errors, clone3=m.clone3, clone3_errno=m.clone3_errno, landlock_abi="
         "m.landlock_abi, proc_sys_read_only=m.proc_sys_read_only, ns_last_pid=m.ns_last_pid, "
         "proc_mount=m.proc_mount, probe_error=m.probe_error)))")


def confined(profile, **env):
    cmd = [sys.executable, str(CONFINE), profile, "--", sys.executable, "-c", FACTS]
    env = dict(os.environ, PYTHONPATH=str(ROOT / "lib" / "src"), **env)
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr
    facts = json.loads(proc.stdout.strip().splitlines()[-1])
    assert facts["probe_error"] is None
    return facts


def test_under_dockers_rules_namespaces_are_refused_and_clone3_is_missing():
    facts = confined("docker")
    assert facts["seccomp"] == 2
    assert not facts["user_namespaces"] and facts["namespaces_refused"]
    assert dict(facts["namespace_errors"]) == {ns: "EPERM" for ns in NAMESPACES}   # tools/confine: EPERM
    assert not facts["clone3"] and facts["clone3_errno"] == "ENOSYS"
    assert facts["proc_mount"][0] == facts["ns_last_pid"][0] == "untried"


def test_under_linux_4_18s_calls_clone3_and_landlock_are_missing_but_uname_is_the_real_kernel():
    """tools/confine linux-4.18 answers ENOSYS to every call numbered 424 or more (clone3 435, Landlock 444); a
    filter cannot change what uname() says, so the version stays the real one (the reason explain.py's
    version rules are tested with an explicit kernel=, not under confine)."""
    facts = confined("linux-4.18")
    assert tuple(facts["kernel"]) == machine().kernel
    assert not facts["clone3"] and facts["clone3_errno"] == "ENOSYS"
    assert facts["landlock_abi"] == 0
    assert facts["user_namespaces"] == machine().user_namespaces     # 4.18 has them: the filter leaves them be


def test_an_older_landlock_is_seen_through_the_test_hook():
    facts = confined("landlock-abi5")
    assert facts["landlock_abi"] == min(machine().landlock_abi, 5)


def test_a_containers_proc_refuses_ns_last_pid_and_a_fresh_procfs():
    if not machine().user_namespaces:
        pytest.skip("tools/confine container-proc needs a user namespace of its own")
    facts = confined("container-proc")
    assert facts["proc_sys_read_only"]
    assert facts["ns_last_pid"] == ["refused", errno.errorcode[errno.EROFS]]
    assert facts["proc_mount"] == ["refused", errno.errorcode[errno.EPERM]]


def test_the_probe_is_a_file_beside_the_module():
    assert machine_module.PROBE.is_file() and machine_module.PROBE.parent == Path(machine_module.__file__).parent
