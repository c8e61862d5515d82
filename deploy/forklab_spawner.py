"""LimitedSpawner: JupyterHub's LocalProcessSpawner, with each student's server inside limits they cannot raise.

Where systemd is not PID 1 (containers, these CI machines) nothing else would bound a student: this
spawner makes a cgroup for the student before their server starts (deploy/forklab_limits.py: processes
and threads, memory, CPU), moves the server into it, sets the hard rlimits and mounts a private /tmp,
/var/tmp and /dev/shm of a fixed size - all as root, in the child, before JupyterHub's own step drops to
the student's uid. Every kernel, bench server and `%%c` program the student starts inherits all of it.
When the server stops (or dies), whatever is left in the cgroup - a fork bomb's orphans included - is
killed and the cgroup removed.

If the machine gives root no writable cgroups, the server still starts, under the rlimits and the
private /tmp alone, and the hub's log says so once per spawn.
"""
from __future__ import annotations

from jupyterhub.spawner import LocalProcessSpawner
from traitlets import Any, default

from forklab_limits import Cgroup, Confinement, Limits, cgroup_version


class LimitedSpawner(LocalProcessSpawner):
    limits = Any(help="a forklab_limits.Limits: what each student's server may use").tag(config=True)

    @default("limits")
    def _default_limits(self):
        return Limits.from_env()

    cgroup = None

    def _cgroup_name(self) -> str:
        return f"forklab-{self.user.name}" + (f"-{self.name}" if self.name else "")

    async def start(self):
        try:
            self.cgroup = Cgroup.make(self._cgroup_name(), self.limits)
            where = f"cgroup v{self.cgroup.version} {self._cgroup_name()}"
        except OSError as e:
            self.cgroup = None
            where = f"NO cgroup ({e}; cgroup version found: {cgroup_version()}): rlimits only"
            self.log.warning("%s: %s", self.user.name, where)
        self.log.info("%s runs under %s: %s", self.user.name, where, self.limits)
        return await super().start()

    def make_preexec_fn(self, name):
        confinement = Confinement(self.limits, self.cgroup)
        drop = super().make_preexec_fn(name)          # JupyterHub's: groups, gid, uid, cd ~

        def preexec():
            confinement.apply()                       # as root: cgroup, hard rlimits, private /tmp
            drop()
        return preexec

    def _remove_cgroup(self):
        if self.cgroup is None:             # a hub restarted since the start: find the group by its name
            self.cgroup = Cgroup.existing(self._cgroup_name())
        if self.cgroup is not None:
            killed = self.cgroup.kill_all()
            if killed:
                self.log.info("%s: killed %d processes left in %s", self.user.name, killed, self.cgroup.name)
            self.cgroup.remove()
            self.cgroup = None

    async def poll(self):
        status = await super().poll()
        if status is not None:              # the server died (the OOM killer, a crash): nothing of it stays
            self._remove_cgroup()
        return status

    async def stop(self, now=False):
        await super().stop(now)
        self._remove_cgroup()

