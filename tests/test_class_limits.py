"""deploy/forklab_limits.py on its own: settings that name what was wrong, and (as root, where cgroups are
writable) a confined child gets its cgroup, its hard RLIMIT_NPROC and a private /dev/shm, and nothing it
started outlives Cgroup.remove(). tests/test_hub.py runs the same code under a real hub, with the attacks."""
from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "deploy"))
from forklab_limits import Cgroup, Confinement, Limits, cgroup_version, drop_privileges, parse_size  # noqa: E402


def test_settings_name_what_was_wrong():
    assert Limits.from_env({}) == Limits()
    assert Limits.from_env({"FORKLAB_LIMIT_MEMORY": "512M", "FORKLAB_LIMIT_CPU": "0.5"}).memory == 512 << 20
    assert parse_size("1G", "X") == 1 << 30 and parse_size("64mb", "X") == 64 << 20
    for env, named in [({"FORKLAB_LIMIT_MEMORY": "lots"}, "FORKLAB_LIMIT_MEMORY"),
                       ({"FORKLAB_LIMIT_SHM": "-1M"}, "FORKLAB_LIMIT_SHM"),
                       ({"FORKLAB_LIMIT_PROCS": "8"}, "FORKLAB_LIMIT_PROCS"),
                       ({"FORKLAB_LIMIT_CPU": "0"}, "FORKLAB_LIMIT_CPU")]:
        with pytest.raises(ValueError, match=named):
            Limits.from_env(env)


CHILD = r"""
import json, os, resource, time
kids, refused = [], None
while len(kids) < 100:                     # bounded even without the limit
    try:
        pid = os.fork()
    except OSError as e:
        refused = e.strerror
        break
    if pid == 0:
        time.sleep(60)                     # still alive when the cgroup is removed
        os._exit(0)
    kids.append(pid)
with open("/dev/shm/forklab-limits-test", "w") as f:
    f.write("mine")
shm = os.statvfs("/dev/shm")
print(json.dumps({"nproc": resource.getrlimit(resource.RLIMIT_NPROC), "cgroup": open("/proc/self/cgroup").read(),
                  "forked": len(kids), "refused": refused, "shm MB": shm.f_blocks * shm.f_frsize >> 20}), flush=True)
time.sleep(60)
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="cgroups and setuid need root")
def test_a_confined_child_is_bounded_private_and_removed_whole():
    if not cgroup_version():
        pytest.skip("no pids and memory cgroup controllers here")
    limits = Limits(processes=40, memory=256 << 20, cpus=0.5, tmp=8 << 20, shm=4 << 20)
    name = f"forklab-test-{secrets.token_hex(4)}"
    cgroup = Cgroup.make(name, limits)
    uid = 61000 + secrets.randbelow(3000)        # a uid of its own: RLIMIT_NPROC counts per uid, machine-wide
    confinement = Confinement(limits, cgroup)

    def preexec():
        confinement.apply()
        drop_privileges(uid, uid, [])
        os.chdir("/")
    child = subprocess.Popen(["/usr/bin/python3", "-c", CHILD], preexec_fn=preexec, stdout=subprocess.PIPE, text=True)
    try:
        assert Cgroup.existing(name).dirs == cgroup.dirs, "found again by name (a restarted hub does this)"
        seen = json.loads(child.stdout.readline())
        assert seen["nproc"] == [40, 40]
        assert name in seen["cgroup"]
        assert seen["forked"] < 40 and seen["refused"] == "Resource temporarily unavailable"
        assert seen["shm MB"] == 4
        assert not Path("/dev/shm/forklab-limits-test").exists(), "the child's /dev/shm is its own"
        assert len(cgroup.pids()) == seen["forked"] + 1
    finally:
        killed = cgroup.kill_all()
        cgroup.remove()
        child.wait(timeout=30)
    assert killed == seen["forked"] + 1, "every process in the cgroup, orphans included, was killed"
    assert not any(d.exists() for d in cgroup.dirs.values())
    assert Cgroup.existing(name) is None
    deadline = time.monotonic() + 10            # killed orphans are reaped by PID 1
    while _processes_of(uid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _processes_of(uid)


def _processes_of(uid: int) -> list[str]:
    return [p for p in os.listdir("/proc") if p.isdigit() and _uid_of(p) == uid]


def _uid_of(pid: str):
    try:
        return os.stat(f"/proc/{pid}").st_uid
    except OSError:
        return None
