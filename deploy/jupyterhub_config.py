"""JupyterHub for a forklab class on one Linux machine: local Unix users, one server per student.

    sudo FORKLAB_COURSE_ENV=/opt/forklab/env jupyterhub -f deploy/jupyterhub_config.py

Every student logs in with their Unix account (PAM) and gets their own single-user JupyterLab,
started as *their* uid from the course environment (a virtualenv with `pip install -r
deploy/requirements.txt ./lib`) - so one student can neither signal, trace nor read another's
processes, and forklab's sandbox runs with that student's rights, not the hub's. The hub runs as root
(it must switch uids); students never are.

The first page a student sees pulls the course with nbgitpuller from the students' repository (a
branch without solutions/, made by deploy/student_branch.sh) into ~/forklab and opens notebook 00.
Later logins merge new commits without touching the student's edits.

Settings, from the environment (so that this file is used unchanged, and the test starts it on
loopback):
    FORKLAB_COURSE_ENV        the course environment (default: the hub's own, sys.prefix)
    FORKLAB_HUB_URL           where the proxy listens (default http://127.0.0.1:8000; put TLS in front)
    FORKLAB_HUB_API_PORT      the hub's internal API port (8081); FORKLAB_PROXY_API_PORT: the proxy's (8001)
    FORKLAB_HUB_STATE         the hub's database, cookie secret, proxy pid file (default /srv/forklab-hub)
    FORKLAB_STUDENT_GROUP     Unix group whose members may log in (default: forklab)
    FORKLAB_INSTRUCTORS       comma-separated instructors: hub admins (they can see and stop every server), may
                              log in without being in the students' group, and get nbgrader's instructor tools
                              (Formgrader on FORKLAB_COURSE_DIR, default ~/course); everyone else gets a
                              student's (Assignment List, Validate): deploy/nbgrader/student/, instructor/
    FORKLAB_STUDENT_REPO      git URL of the students' repository; FORKLAB_STUDENT_BRANCH (default main)
    FORKLAB_EXCHANGE, FORKLAB_COURSE   the nbgrader exchange and course id (deploy/nbgrader/nbgrader_config.py)
    FORKLAB_IDLE_TIMEOUT      seconds before an idle server is stopped (default 3600; 0: never)
    FORKLAB_SPAWNER           auto (default): SystemdSpawner where systemd is PID 1, else cgroup;
                              systemd; or cgroup (deploy/forklab_spawner.py: a cgroup per student made by the hub)
    FORKLAB_LIMIT_PROCS, FORKLAB_LIMIT_MEMORY, FORKLAB_LIMIT_CPU, FORKLAB_LIMIT_TMP, FORKLAB_LIMIT_SHM
                              what one student's server may use, all its kernels and programs together
                              (default 256 processes/threads, 1G, 1 CPU, /tmp 256M, /dev/shm 64M;
                              deploy/forklab_limits.py)
"""
import importlib.util
import os
import stat
import sys
from pathlib import Path
from urllib.parse import urlencode

c = get_config()  # noqa: F821 - provided by JupyterHub's config loader
env = os.environ.get
HERE = os.path.dirname(os.path.abspath(__file__))
COURSE_ENV = env("FORKLAB_COURSE_ENV", sys.prefix)
STATE = env("FORKLAB_HUB_STATE", "/srv/forklab-hub")
os.makedirs(STATE, mode=0o700, exist_ok=True)

# The course's lab settings (no "official Jupyter news?" question in every student's corner; jupyter/README.md),
# installed into the course environment, where each student's JupyterLab reads them. The hub runs as root.
_LAB_SETTINGS = os.path.join(COURSE_ENV, "share", "jupyter", "lab", "settings", "overrides.d", "forklab.json")
with open(os.path.join(HERE, "..", "jupyter", "lab-settings", "overrides.d", "forklab.json"), "rb") as _f:
    _wanted = _f.read()
if not os.path.exists(_LAB_SETTINGS) or open(_LAB_SETTINGS, "rb").read() != _wanted:
    os.makedirs(os.path.dirname(_LAB_SETTINGS), mode=0o755, exist_ok=True)
    with open(_LAB_SETTINGS, "wb") as _f:
        _f.write(_wanted)
    os.chmod(_LAB_SETTINGS, 0o644)

# --- the hub and its proxy: loopback unless told otherwise ----------------------------------------
c.JupyterHub.bind_url = env("FORKLAB_HUB_URL", "http://127.0.0.1:8000")
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = int(env("FORKLAB_HUB_API_PORT", "8081"))
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{env('FORKLAB_PROXY_API_PORT', '8001')}"
c.ConfigurableHTTPProxy.pid_file = os.path.join(STATE, "proxy.pid")
c.JupyterHub.db_url = f"sqlite:///{os.path.join(STATE, 'jupyterhub.sqlite')}"
c.JupyterHub.cookie_secret_file = os.path.join(STATE, "jupyterhub_cookie_secret")
c.JupyterHub.cleanup_servers = True      # stopping the hub stops every student's server (and kernels)

# --- who may log in: local Unix users in the class's group -----------------------------------------
c.JupyterHub.authenticator_class = "pam"
c.LocalAuthenticator.allowed_groups = {env("FORKLAB_STUDENT_GROUP", "forklab")}
INSTRUCTORS = {u for u in env("FORKLAB_INSTRUCTORS", "").split(",") if u}
c.Authenticator.admin_users = INSTRUCTORS
# Instructors log in whether or not they are in the students' group. (Naming allowed users would otherwise let
# anyone once in the hub's database back in: JupyterHub then defaults allow_existing_users to True.)
c.Authenticator.allowed_users = INSTRUCTORS
c.Authenticator.allow_existing_users = False

# --- one server per student, as that student, from the course environment --------------------------
c.Spawner.ip = "127.0.0.1"
c.Spawner.cmd = [os.path.join(COURSE_ENV, "bin", "jupyterhub-singleuser")]
c.Spawner.notebook_dir = "~"


def jupyter_config_path(spawner) -> str:
    """A student's server shows nbgrader's student tools only, an instructor's all of them (each folder's file says
    how); both read the exchange and course id from deploy/nbgrader/nbgrader_config.py."""
    role = "instructor" if spawner.user.name in INSTRUCTORS else "student"
    return os.pathsep.join([os.path.join(HERE, "nbgrader", role), os.path.join(HERE, "nbgrader")])


def for_instructors(value):
    return lambda spawner: value if spawner.user.name in INSTRUCTORS else ""


c.Spawner.environment = {
    # gcc, strace and the course environment's tools (nbgrader for fetch/submit) on the student's PATH
    "PATH": f"{os.path.join(COURSE_ENV, 'bin')}:/usr/local/bin:/usr/bin:/bin",
    # the nbgrader exchange and course id, read by nbgrader fetch_assignment / submit; the tools of one's role
    "JUPYTER_CONFIG_PATH": jupyter_config_path,
    "FORKLAB_EXCHANGE": env("FORKLAB_EXCHANGE", "/srv/nbgrader/exchange"),
    "FORKLAB_COURSE": env("FORKLAB_COURSE", "forklab"),
    # the instructor's Formgrader: the course folder, and autograde as the grading account (docs/instructors.md)
    "FORKLAB_COURSE_DIR": for_instructors(env("FORKLAB_COURSE_DIR", "~/course")),
    "FORKLAB_GRADING_COMMAND": for_instructors(env("FORKLAB_GRADING_COMMAND", "")),
}
c.Spawner.start_timeout = 120            # 200 students logging in at the start of a lecture
c.Spawner.http_timeout = 60
c.JupyterHub.concurrent_spawn_limit = 50

if env("FORKLAB_STUDENT_REPO"):
    # nbgitpuller: the first page clones the students' branch into ~/forklab and opens notebook 00
    c.Spawner.default_url = "/git-pull?" + urlencode({
        "repo": env("FORKLAB_STUDENT_REPO"), "branch": env("FORKLAB_STUDENT_BRANCH", "main"),
        "targetpath": "forklab", "urlpath": "lab/tree/forklab/notebooks/00_start_here.ipynb"})
else:
    c.Spawner.default_url = "/lab"


def private_home(spawner):
    """A student's home must be theirs alone: other students' kernels run on the same machine."""
    import pwd
    home = pwd.getpwnam(spawner.user.name).pw_dir
    mode = os.stat(home).st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        spawner.log.warning("home %s of %s was mode %o: made it 0700", home, spawner.user.name, mode & 0o777)
        os.chmod(home, 0o700)


c.Spawner.pre_spawn_hook = private_home

# --- limits one student cannot raise: processes and threads, memory, CPU, their own /tmp and /dev/shm -----
sys.path.insert(0, HERE)
from forklab_limits import Limits  # noqa: E402

limits = Limits.from_env()
spawner = env("FORKLAB_SPAWNER", "auto")
if spawner not in ("auto", "systemd", "cgroup"):
    raise ValueError(f"FORKLAB_SPAWNER={spawner!r}: choose auto, systemd or cgroup")
if spawner == "auto":
    systemd_is_init = Path("/proc/1/comm").read_text().strip() == "systemd"
    spawner = "systemd" if systemd_is_init and importlib.util.find_spec("systemdspawner") else "cgroup"

if spawner == "systemd":
    # NOT RUN HERE (systemd is not PID 1 on the test machines): each server is a transient unit
    # jupyter-<user>-singleuser in forklab-students.slice (deploy/systemd/forklab-students.slice: the whole
    # class's ceiling); systemd makes its cgroup and tmpfs and removes both when the unit stops.
    c.JupyterHub.spawner_class = "systemdspawner.SystemdSpawner"
    c.SystemdSpawner.slice = "forklab-students.slice"
    c.Spawner.mem_limit = limits.memory                    # MemoryMax=
    c.Spawner.cpu_limit = limits.cpus                      # CPUQuota= (cpus x 100 %)
    c.SystemdSpawner.disable_user_sudo = True              # NoNewPrivileges=yes
    c.SystemdSpawner.unit_extra_properties = {
        "TasksMax": str(limits.processes),                 # the pids controller: processes and threads
        "LimitNPROC": str(limits.processes),               # hard and soft RLIMIT_NPROC, the floor
        "LimitCORE": "0",
        "MemorySwapMax": "0",
        "CPUWeight": "100",                                # every student the same share under contention
        "PrivateIPC": "yes",                               # System V IPC and POSIX queues of their own
        "TemporaryFileSystem": [f"/tmp:size={limits.tmp},mode=1777,nosuid,nodev",
                                f"/var/tmp:size={limits.tmp},mode=1777,nosuid,nodev",
                                f"/dev/shm:size={limits.shm},mode=1777,nosuid,nodev"],
    }
else:
    # Where systemd is not PID 1 (containers; tests/test_hub.py runs this branch): the hub makes a cgroup per
    # student (v2 where the host has it, else v1), sets hard rlimits and a private /tmp, /var/tmp, /dev/shm
    # in the child before it drops to the student's uid, and empties and removes the cgroup when it stops.
    from forklab_spawner import LimitedSpawner  # noqa: E402
    c.JupyterHub.spawner_class = LimitedSpawner
    c.LimitedSpawner.limits = limits

# --- stop servers nobody uses (their kernels and forklab bench servers go with them) ---------------
idle = int(env("FORKLAB_IDLE_TIMEOUT", "3600"))
if idle > 0:
    c.JupyterHub.services = [{"name": "idle-culler",
                              "command": [sys.executable, "-m", "jupyterhub_idle_culler", f"--timeout={idle}"]}]
    c.JupyterHub.load_roles = [{"name": "idle-culler", "services": ["idle-culler"],
                                "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"]}]
