"""A class on a real JupyterHub: three students, each their own uid, walled off from each other; the nbgrader
exchange from release to feedback; nothing left running when the hub stops.

The hub is deploy/jupyterhub_config.py, unchanged, started on loopback as root: PAM logins of Unix users
made for the test (prefix flhub-, random passwords, the students in group flhub-class; all deleted
afterwards, even on failure). Everything a student does goes through the hub's REST API and a kernel's
websocket, as a browser would: log in with the form, make a token, start the server, pull the course
with nbgitpuller from a students' repository without solutions/ (deploy/student_branch.sh), run
notebook 00 and an experiment, fetch and submit with nbgrader.

Slow (a world-readable course environment, configurable-http-proxy from npm, three users, every
exercise notebook autograded three times): it runs when FORKLAB_SLOW=1 (.ci/run sets it) and then
fails loudly if it cannot, and is skipped otherwise. The environment and the npm install are cached under
/var/cache/forklab-hub, keyed on what they install, so a second run starts in seconds; the hub's log of the last
run is kept there too (last-hub.log). Everything the class shares (homes, the course, the exchange, that
environment) lives outside /tmp, as on a real machine: each student's server has a private /tmp.

The class runs under the hub's per-student limits (deploy/forklab_limits.py, the defaults: 256 processes and
threads, 1 GB, 1 CPU, /tmp 256 MB, /dev/shm 64 MB): one student runs a fork bomb, a thread bomb, fills memory and
/dev/shm while another's experiments and %%c cells are timed; the nbgrader exchange's course folder is made by
deploy/nbgrader/setup_course.py and attacked; autograde runs students' code as the account flhub-grader
(deploy/nbgrader/grading_kernel.py, through a sudoers rule the test writes and removes); grades are exported
for Canvas, Gradescope and Moodle (tools/export_grades.py).
"""
from __future__ import annotations

import csv
import fcntl
import hashlib
import html.parser
import json
import os
import pwd
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import pytest

if os.environ.get("FORKLAB_SLOW") != "1":
    pytest.skip("the JupyterHub class test is slow: run it with FORKLAB_SLOW=1", allow_module_level=True)

import nbformat  # noqa: E402
import requests  # noqa: E402
import websocket  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path("/var/cache/forklab-hub")
WORK = Path("/srv")      # the class's files: not /tmp, which every student's server sees privately
CHP_VERSION = "configurable-http-proxy@^5"
PREFIX = "flhub-"
STUDENTS = ["alice", "bob", "carol"]
TEACHER = "teacher"
GRADER = "grader"       # the account autograde runs students' code as
CLASS_GROUP = PREFIX + "class"
PASSWORDS = {s: secrets.token_urlsafe(12) for s in STUDENTS + [TEACHER, GRADER]}
ASSIGNMENT = "exercises"
NOTEBOOKS = sorted(p.stem for p in (ROOT / "solutions").glob("[0-9]*.ipynb"))
BOUND = 180        # seconds any one wait may take before the test gives up (a bound, not a measurement)
STUDENT_PYTHON = "/usr/bin/python3"   # root's default python may live in a private home


def require(ok, why):
    if not ok:
        pytest.fail(f"the hub test cannot run here: {why}")


# --- the course environment and the proxy, cached ------------------------------------------------------

def _locked(name):
    CACHE.mkdir(parents=True, exist_ok=True)
    os.chmod(CACHE, 0o755)
    lock = open(CACHE / f"{name}.lock", "w")
    fcntl.flock(lock, fcntl.LOCK_EX)
    return lock


def class_env() -> Path:
    """A virtualenv every student can run: deploy/requirements.txt (the course + hub + nbgrader + nbgitpuller)."""
    key = hashlib.sha256((ROOT / "requirements.txt").read_bytes()
                         + (ROOT / "deploy" / "requirements.txt").read_bytes()).hexdigest()[:12]
    venv = CACHE / f"venv-{key}"
    with _locked("venv"):
        if not (venv / ".installed").exists():
            shutil.rmtree(venv, ignore_errors=True)
            subprocess.run([STUDENT_PYTHON, "-m", "venv", str(venv)], check=True)
            subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                            "-r", str(ROOT / "deploy" / "requirements.txt")], check=True)
            subprocess.run(["chmod", "-R", "a+rX", str(venv)], check=True)
            (venv / ".installed").touch()
            for old in CACHE.glob("venv-*"):       # environments for requirements that are gone
                if old != venv:
                    shutil.rmtree(old, ignore_errors=True)
    return venv


def proxy_bin() -> Path:
    """configurable-http-proxy from npm (JupyterHub's default proxy)."""
    folder = CACHE / ("chp-" + hashlib.sha256(CHP_VERSION.encode()).hexdigest()[:8])
    binary = folder / "node_modules" / ".bin" / "configurable-http-proxy"
    with _locked("chp"):
        if not binary.exists():
            require(shutil.which("npm"), "npm is missing (apt-get install npm, or nodejs >= 18)")
            folder.mkdir(exist_ok=True)
            subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--silent", CHP_VERSION],
                           cwd=folder, check=True)
    return binary


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- Unix users --------------------------------------------------------------------------------------

def delete_user(name):
    if _exists(name):
        subprocess.run(["pkill", "-KILL", "-u", name], check=False)   # only this test's own users
        subprocess.run(["userdel", name], check=False, capture_output=True)


def _exists(name):
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def processes_of(uids) -> list[tuple[int, int, str]]:
    """(pid, uid, command line) of every process owned by one of uids."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                uid = os.stat(f"/proc/{entry}").st_uid
                if uid in uids:
                    cmd = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                    found.append((int(entry), uid, cmd.strip()))
            except OSError:
                pass
    return found


def class_cgroups() -> list[Path]:
    """cgroups the hub made for this test's students (forklab-flhub-*) or the grading launcher (forklab-grading-*)."""
    found = []
    for top, dirs, _ in os.walk("/sys/fs/cgroup"):
        for d in dirs:
            if d.startswith(("forklab-" + PREFIX, "forklab-grading-")):
                found.append(Path(top) / d)
        dirs[:] = [d for d in dirs if not d.startswith("forklab-")] if top.count("/") < 8 else []
    return found


# --- talking to the hub as a browser would -------------------------------------------------------------

class Student:
    """One student's session: logged in with the form, then a token of their own for the API."""

    def __init__(self, hub_url: str, user: str):
        self.url, self.user = hub_url, user
        self.http = requests.Session()

    def try_log_in(self, password: str) -> bool:
        """The login form (PAM behind it): True if the hub let us in."""
        self.http.get(f"{self.url}/hub/login", timeout=30).raise_for_status()
        xsrf = self.http.cookies.get("_xsrf")
        r = self.http.post(f"{self.url}/hub/login", data={"username": self.user, "password": password, "_xsrf": xsrf},
                           allow_redirects=False, timeout=30)
        return r.status_code == 302

    def log_in(self, password: str):
        assert self.try_log_in(password), f"login of {self.user} failed"
        r = self.http.post(f"{self.url}/hub/api/users/{self.user}/tokens", json={"note": "forklab hub test"},
                           headers={"X-XSRFToken": self.http.cookies.get("_xsrf")}, timeout=30)
        r.raise_for_status()
        self.http.headers["Authorization"] = f"token {r.json()['token']}"

    def start_server(self):
        r = self.http.post(f"{self.url}/hub/api/users/{self.user}/server", timeout=60)
        assert r.status_code in (201, 202), r.text
        deadline = time.monotonic() + BOUND
        while time.monotonic() < deadline:
            server = self.http.get(f"{self.url}/hub/api/users/{self.user}", timeout=30).json()["servers"].get("")
            if server and server.get("ready"):
                return
            time.sleep(0.5)
        pytest.fail(f"the server of {self.user} did not start within {BOUND} s")

    def api(self, method, path, **kw):
        r = self.http.request(method, f"{self.url}/user/{self.user}/api/{path}", timeout=60, **kw)
        r.raise_for_status()
        return r.json() if r.content else None

    def git_pull(self, repo: str, branch: str, target: str):
        """What an nbgitpuller link does: the server clones (later: merges) the course into ~/target."""
        r = self.http.get(f"{self.url}/user/{self.user}/git-pull/api",
                          params={"repo": repo, "branch": branch, "targetpath": target}, stream=True, timeout=BOUND)
        r.raise_for_status()
        events = []
        for line in r.iter_lines(decode_unicode=True):
            if line and line.startswith("data:"):
                event = json.loads(line[5:])
                events.append(event)
                if event.get("phase") in ("finished", "error"):
                    break
        r.close()
        assert events and events[-1].get("phase") == "finished", events[-3:]

    def kernel(self, path: str = "") -> "RemoteKernel":
        k = self.api("POST", "kernels", json={"name": "python3", "path": path})
        return RemoteKernel(self, k["id"])


class RemoteKernel:
    """A kernel of a student's server, driven over its websocket (Jupyter's messaging protocol)."""

    def __init__(self, student: Student, kernel_id: str):
        self.student, self.id = student, kernel_id
        self.ws_url = student.url.replace("http", "ws", 1) + f"/user/{student.user}/api/kernels/{kernel_id}/channels"
        self.session = uuid.uuid4().hex

    def _connect(self):
        # one connection per cell: a connection left idle while the teacher grades may be closed by then
        return websocket.create_connection(self.ws_url, timeout=BOUND,
                                           header=[f"Authorization: {self.student.http.headers['Authorization']}"])

    def run(self, code: str) -> tuple[str, list[dict]]:
        """(stdout + results as text, errors) of one cell."""
        msg_id = uuid.uuid4().hex
        ws = self._connect()
        try:
            return self._run(ws, msg_id, code)
        finally:
            ws.close()

    def _run(self, ws, msg_id, code):
        ws.send(json.dumps({
            "header": {"msg_id": msg_id, "username": self.student.user, "session": self.session,
                       "msg_type": "execute_request", "version": "5.3"},
            "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
            "content": {"code": code, "silent": False, "store_history": True, "user_expressions": {},
                        "allow_stdin": False, "stop_on_error": True}}))
        text, errors = [], []
        deadline = time.monotonic() + BOUND
        while time.monotonic() < deadline:
            msg = json.loads(ws.recv())
            if msg.get("parent_header", {}).get("msg_id") != msg_id or msg.get("channel") != "iopub":
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream":
                text.append(content["text"])
            elif kind in ("execute_result", "display_data"):
                text.append(content["data"].get("text/plain", ""))
            elif kind == "error":
                errors.append({"ename": content["ename"], "evalue": content["evalue"]})
            elif kind == "status" and content["execution_state"] == "idle":
                return "".join(text), errors
        pytest.fail(f"a cell in {self.student.user}'s kernel did not finish within {BOUND} s")

    def json(self, code: str):
        """Run code whose last line prints one JSON value; that value."""
        out, errors = self.run(code)
        assert not errors, errors
        return json.loads(out.strip().splitlines()[-1])



# --- the class: users, course, exchange, hub ----------------------------------------------------------------

@pytest.fixture(scope="module")
def classroom():
    require(os.geteuid() == 0, "it creates Unix users and the hub must switch uids: run it as root")
    for tool in ("useradd", "userdel", "groupadd", "chpasswd", "runuser", "git", "sudo", "visudo"):
        require(shutil.which(tool), f"{tool} is missing")
    require(os.path.exists(STUDENT_PYTHON), f"{STUDENT_PYTHON} is missing (the students' interpreter)")
    require(list((ROOT / "lib" / "src" / "forklab" / "engine").glob("_core*.so")), "forklab's C core is not built (make test)")
    started = time.monotonic()
    venv, chp = class_env(), proxy_bin()
    prepared = time.monotonic() - started
    names = {s: PREFIX + s for s in STUDENTS + [TEACHER, GRADER]}
    WORK.mkdir(exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="forklab-hubtest-", dir=WORK))
    os.chmod(tmp, 0o755)
    sudoers = Path("/etc/sudoers.d") / f"flhub-{tmp.name.rsplit('-', 1)[-1]}"
    hub = git_daemon = None
    try:
        for name in names.values():
            delete_user(name)          # a previous run that was killed before its cleanup
        subprocess.run(["groupdel", CLASS_GROUP], check=False, capture_output=True)
        subprocess.run(["groupadd", CLASS_GROUP], check=True)
        for who, name in names.items():
            # homes made 0755 on purpose: the hub's pre-spawn hook must make them private
            subprocess.run(["useradd", "--create-home", "--home-dir", str(tmp / "home" / name), "-K", "HOME_MODE=0755",
                            "--shell", "/bin/bash"] + (["-G", CLASS_GROUP] if who in STUDENTS else []) + [name],
                           check=True, capture_output=True)
            subprocess.run(["chpasswd"], input=f"{name}:{PASSWORDS[who]}\n", text=True, check=True)
        # the course as it reaches a class: a copy everyone can read (this checkout may be in a private home)
        course = tmp / "course-src"
        course.mkdir()
        subprocess.run(f"tar -C '{ROOT}' --exclude=./.venv --exclude=./.git -cf - . | tar -C '{course}' -xf -",
                       shell=True, check=True)
        students_repo = tmp / "forklab-students"
        subprocess.run([str(ROOT / "deploy" / "student_branch.sh"), str(students_repo)], check=True,
                       capture_output=True)
        # served as a remote on loopback (git's protocol): what an nbgitpuller link points at
        git_port = free_port()
        git_daemon = subprocess.Popen(["git", "daemon", "--listen=127.0.0.1", f"--port={git_port}", "--export-all",
                                       "--reuseaddr", f"--base-path={tmp}", str(tmp)], stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL)
        exchange = tmp / "exchange"
        teacher_course = tmp / "home" / names[TEACHER] / "course"
        (teacher_course / "source" / ASSIGNMENT).mkdir(parents=True)
        for n in NOTEBOOKS:
            shutil.copy(ROOT / "solutions" / f"{n}.ipynb", teacher_course / "source" / ASSIGNMENT)
        for f in ("nbgrader_config.py", "forklab_nbgrader.py", "grading_kernel.py"):
            shutil.copy(course / "deploy" / "nbgrader" / f, teacher_course)
        subprocess.run(["chown", "-R", "root:root", str(course)], check=True)   # the launcher sudo runs is root's
        subprocess.run(["chmod", "-R", "a+rX,go-w", str(course), str(students_repo)], check=True)
        subprocess.run(["chown", "-R", names[TEACHER], str(teacher_course)], check=True)
        # as an admin sets up a course: the exchange's course folder the instructor's before any student can
        # make it, the course folder private, the sudoers rule for grading kernels (docs/instructors.md)
        setup = subprocess.run(
            [str(venv / "bin" / "python"), str(course / "deploy" / "nbgrader" / "setup_course.py"),
             "--instructor", names[TEACHER], "--course-dir", str(teacher_course), "--exchange", str(exchange),
             "--course", "forklab", "--grader", names[GRADER], "--python", str(venv / "bin" / "python"),
             "--pythonpath", str(course / "lib" / "src"), "--sudoers", str(sudoers)],
            capture_output=True, text=True, timeout=60)
        assert setup.returncode == 0, setup.stdout + setup.stderr
        grading_command = setup.stdout.split("FORKLAB_GRADING_COMMAND=", 1)[1].strip()

        state = tmp / "hub-state"
        port = free_port()
        config = tmp / "jupyterhub_config.py"
        config.write_text(f"""\
load_subconfig({str(course / 'deploy' / 'jupyterhub_config.py')!r})
c.Spawner.environment["PYTHONPATH"] = {str(course / 'lib' / 'src')!r}   # forklab, as `pip install ./lib` would
""")
        environment = {
            "PATH": f"{venv / 'bin'}:{chp.parent}:/usr/bin:/bin", "LANG": "C.UTF-8",
            "FORKLAB_COURSE_ENV": str(venv), "FORKLAB_HUB_URL": f"http://127.0.0.1:{port}",
            "FORKLAB_HUB_API_PORT": str(free_port()), "FORKLAB_PROXY_API_PORT": str(free_port()),
            "FORKLAB_HUB_STATE": str(state), "FORKLAB_STUDENT_GROUP": CLASS_GROUP, "FORKLAB_EXCHANGE": str(exchange), "FORKLAB_COURSE": "forklab",
            "FORKLAB_STUDENT_REPO": f"git://127.0.0.1:{git_port}/forklab-students", "FORKLAB_STUDENT_BRANCH": "main",
            "FORKLAB_INSTRUCTORS": names[TEACHER],        # not in the students' group: logs in as the instructor
            # read by nbgrader autograde only (as_teacher): kernels through sudo, as flhub-grader
            "FORKLAB_GRADING_COMMAND": shlex.split(grading_command)[0],
        }
        log = open(tmp / "hub.log", "w")
        hub = subprocess.Popen([str(venv / "bin" / "jupyterhub"), "-f", str(config)], cwd=tmp, env=environment,
                               stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + BOUND
        while time.monotonic() < deadline and hub.poll() is None:
            try:
                if requests.get(f"{url}/hub/api/", timeout=5).ok:
                    break
            except requests.ConnectionError:
                pass
            time.sleep(0.3)
        else:
            pytest.fail(f"the hub did not come up:\n{(tmp / 'hub.log').read_text()[-3000:]}")
        room = {"url": url, "hub": hub, "tmp": tmp, "names": names, "venv": venv, "course": course,
                "teacher_course": teacher_course, "exchange": exchange, "students_repo": students_repo,
                "students_url": environment["FORKLAB_STUDENT_REPO"],
                "uids": {s: pwd.getpwnam(n).pw_uid for s, n in names.items()}, "env": environment,
                "prepared_s": prepared, "students": {}, "answers": {}, "kernels": {}, "facts": {},
                "sudoers": sudoers}
        yield room
    finally:
        if hub is not None and hub.poll() is None:
            os.killpg(hub.pid, signal.SIGTERM)
            try:
                hub.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(hub.pid, signal.SIGKILL)
                hub.wait()
        if git_daemon is not None:
            git_daemon.terminate()
            git_daemon.wait()
        sudoers.unlink(missing_ok=True)
        for name in names.values():
            delete_user(name)
        subprocess.run(["groupdel", CLASS_GROUP], check=False, capture_output=True)
        for leftover in class_cgroups():        # a run killed half-way: its students' cgroups
            subprocess.run(["rmdir", str(leftover)], check=False, capture_output=True)
        if (tmp / "hub.log").exists():   # kept for the next person who must find out why a run failed
            shutil.copy(tmp / "hub.log", CACHE / "last-hub.log")
        shutil.rmtree(tmp, ignore_errors=True)


def as_teacher(room, *args, check=True) -> subprocess.CompletedProcess:
    """nbgrader (or python) as the instructor's Unix user, in the course folder."""
    env = dict(room["env"], HOME=str(room["teacher_course"].parent),
               PYTHONPATH=str(room["course"] / "lib" / "src"))
    cmd = ["runuser", "-u", room["names"][TEACHER], "--", "env", "-i"] + [f"{k}={v}" for k, v in env.items()] + \
        [str(room["venv"] / "bin" / "python"), *args]
    started = time.monotonic()
    r = subprocess.run(cmd, cwd=room["teacher_course"], capture_output=True, text=True, timeout=1800)
    print(f"teacher: {' '.join(args[1:3])}: {time.monotonic() - started:.1f} s")
    if check:
        assert r.returncode == 0, f"{args}: {r.stdout[-2000:]}\n{r.stderr[-3000:]}"
    return r


def nbgrader_in_kernel(kernel, *args) -> str:
    """nbgrader run by the student, from their own kernel (as the Assignments tab would)."""
    out = kernel.json(f"""\
import json, os, subprocess, sys
r = subprocess.run([sys.executable, "-m", "nbgrader", *{list(args)!r}], cwd=os.path.expanduser("~"),
                   capture_output=True, text=True)
print(json.dumps([r.returncode, r.stdout + r.stderr]))""")
    assert out[0] == 0, out[1][-3000:]
    return out[1]


# --- the tests, in the order a class lives them ---------------------------------------------------------------

def test_the_class_logs_in_with_unix_passwords_and_each_gets_a_server_as_their_own_uid(classroom):
    room = classroom
    assert not Student(room["url"], room["names"]["alice"]).try_log_in("not-her-password"), "a wrong password"
    assert not Student(room["url"], room["names"][GRADER]).try_log_in(PASSWORDS[GRADER]), \
        "a Unix user outside the class's group (and not an instructor) logged in"
    for s in STUDENTS:
        student = Student(room["url"], room["names"][s])
        student.log_in(PASSWORDS[s])
        student.start_server()
        room["students"][s] = student
    servers = processes_of(set(room["uids"][s] for s in STUDENTS))
    for s in STUDENTS:
        mine = [cmd for pid, uid, cmd in servers if uid == room["uids"][s] and "jupyterhub-singleuser" in cmd]
        assert mine, f"no single-user server runs as {room['names'][s]}"
        home = Path(pwd.getpwnam(room["names"][s]).pw_dir)
        assert home.stat().st_mode & 0o777 == 0o700, "the hub made the student's home private before starting"
    rss = sorted(int(next(ln for ln in Path(f"/proc/{pid}/status").read_text().splitlines()
                          if ln.startswith("VmRSS")).split()[1]) // 1024
                 for pid, uid, cmd in servers if "jupyterhub-singleuser" in cmd)
    print(f"course environment and proxy ready in {room['prepared_s']:.1f} s; single-user servers "
          f"(before any kernel) hold {rss} MB RSS")


def test_nbgitpuller_brings_the_course_without_solutions(classroom):
    room = classroom
    for s in STUDENTS:
        student = room["students"][s]
        student.git_pull(room["students_url"], "main", "forklab")
        names = {e["name"] for e in student.api("GET", "contents/forklab")["content"]}
        assert {"notebooks", "exercises", "lib"} <= names
        assert "solutions" not in names
    history = subprocess.run(["git", "-C", str(room["students_repo"]), "log", "--all", "--name-only", "--format="],
                             capture_output=True, text=True, check=True).stdout
    assert "solutions/" not in history, "the students' repository's history holds solutions"


def test_each_student_runs_notebook_00_and_an_experiment(classroom):
    room = classroom
    for s in STUDENTS:
        student = room["students"][s]
        nb = nbformat.from_dict(student.api("GET", "contents/forklab/notebooks/00_start_here.ipynb")["content"])
        kernel = student.kernel("forklab/notebooks")
        for i, cell in enumerate(c for c in nb.cells if c.cell_type == "code"):
            out, errors = kernel.run(cell.source)
            assert not errors, f"{s}: notebook 00, code cell {i}: {errors}"
        facts = kernel.json("""\
import json, os, forklab
from forklab.engine.benchserver import server_pid
obs = forklab.run("clone", ["CLONE_VM"])
with open(os.path.expanduser("~/secret.txt"), "w") as f:
    f.write("my answers")
print(json.dumps({"uid": os.getuid(), "pid": os.getpid(), "bench": server_pid(), "home": os.path.expanduser("~"),
                  "memory_shared": obs.resources["memory"].shared}))""")
        assert facts["uid"] == room["uids"][s] and facts["memory_shared"] is True
        assert facts["bench"], "the experiment ran in a bench server"
        out, errors = kernel.run("%load_ext forklab.course.cell_magic")
        assert not errors, errors
        out, errors = kernel.run("""%%c
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>
int main(void) {
    pid_t pid = fork();
    if (pid == 0) _exit(0);
    waitpid(pid, NULL, 0);
    printf("C program ran as uid %d\\n", (int)getuid());
    return 0;
}""")
        assert not errors and f"C program ran as uid {room['uids'][s]}" in out, (out, errors)
        room["kernels"][s], room["facts"][s] = kernel, facts
    assert len({room["facts"][s]["uid"] for s in STUDENTS}) == len(STUDENTS)


PROBE = """\
import ctypes, errno, json, os
libc = ctypes.CDLL(None, use_errno=True)
PTRACE_ATTACH, PTRACE_DETACH = 16, 17
def attempt(action):
    try:
        action()
        return "allowed"
    except OSError as e:
        return errno.errorcode[e.errno]
def ptrace(pid):
    if libc.ptrace(PTRACE_ATTACH, pid, 0, 0) == 0:
        libc.ptrace(PTRACE_DETACH, pid, 0, 0)
        return "allowed"
    return errno.errorcode[ctypes.get_errno()]
def read(path):
    with open(path, "rb") as f:
        f.read(1)
pid, bench, home = {pid}, {bench}, {home!r}
print(json.dumps({{
    "signal kernel": attempt(lambda: os.kill(pid, 0)),
    "signal bench server": attempt(lambda: os.kill(bench, 0)),
    "SIGKILL kernel": attempt(lambda: os.kill(pid, 9)),
    "ptrace attach": ptrace(pid),
    "read /proc/pid/mem": attempt(lambda: read(f"/proc/{{pid}}/mem")),
    "read /proc/pid/environ": attempt(lambda: read(f"/proc/{{pid}}/environ")),
    "list home": attempt(lambda: os.listdir(home)),
    "read a file in home": attempt(lambda: read(home + "/secret.txt")),
    "observed: /proc/pid visible": os.path.exists(f"/proc/{{pid}}"),
    "observed: read /proc/pid/cmdline": attempt(lambda: read(f"/proc/{{pid}}/cmdline")),
}}))"""


def test_no_student_can_signal_trace_or_read_another(classroom):
    room = classroom
    for a, b in [("alice", "bob"), ("bob", "carol"), ("carol", "alice")]:
        seen = room["kernels"][a].json(PROBE.format(**room["facts"][b]))
        print(f"{a} -> {b}: {seen}")
        assert seen["signal kernel"] == "EPERM" and seen["signal bench server"] == "EPERM"
        assert seen["SIGKILL kernel"] == "EPERM"
        assert seen["ptrace attach"] == "EPERM"
        # hidepid=invisible would say ENOENT instead: still nothing read
        assert seen["read /proc/pid/mem"] in ("EACCES", "EPERM", "ENOENT")
        assert seen["read /proc/pid/environ"] in ("EACCES", "ENOENT")
        assert seen["list home"] == "EACCES" and seen["read a file in home"] == "EACCES"
    for s in STUDENTS:   # and the victims are still alive and well
        assert room["kernels"][s].json("print(1)") == 1


# --- nbgrader: release, fetch, submit, collect, autograde, feedback --------------------------------------------

def answers_of(notebook: str, source: str) -> dict[str, str]:
    """grade_id -> answer cell source of solutions/ (source='solutions') or of the slips (wrong answers)."""
    nb = nbformat.read(ROOT / "solutions" / f"{notebook}.ipynb", as_version=4)
    answers = {c.metadata.nbgrader.grade_id: c.source for c in nb.cells
               if c.metadata.get("nbgrader", {}).get("solution")}
    if source == "slips":
        sys.path.insert(0, str(ROOT / "tests"))
        from test_exercises import SLIPS
        return SLIPS.get(f"{notebook}.ipynb", {})
    return answers


class _Text(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.parts = []

    def handle_data(self, data):
        self.parts.append(data)


def text_lines(html_text: str) -> set[str]:
    """Every line of the page's text, stripped, and again without a traceback's line-number gutter."""
    parser = _Text()
    parser.feed(html_text)
    lines = set()
    for line in "".join(parser.parts).splitlines():
        lines.add(line.strip())
        lines.add(re.sub(r"^(-*>)?\s*\d+\s", "", line).strip())
    return lines


def hidden_lines(notebook: str, answers: dict[str, str]) -> set[str]:
    """Lines of the hidden tests that appear nowhere in what the student received or wrote."""
    released = [c.source for c in nbformat.read(ROOT / "exercises" / f"{notebook}.ipynb", as_version=4).cells]
    visible = {ln.strip() for text in released + list(answers.values()) for ln in text.splitlines()}
    found = set()
    for cell in nbformat.read(ROOT / "solutions" / f"{notebook}.ipynb", as_version=4).cells:
        for part in cell.source.split("### BEGIN HIDDEN TESTS")[1:]:
            found |= {ln.strip() for ln in part.split("### END HIDDEN TESTS")[0].splitlines()}
    # A line with no word in it ("}", ")") says nothing about the test and turns up in any page
    return {ln for ln in found if sum(ch.isalnum() for ch in ln) >= 3 and ln not in visible}


def test_nbgrader_exchange_from_release_to_feedback(classroom):
    room = classroom
    as_teacher(room, "-m", "nbgrader", "generate_assignment", ASSIGNMENT)
    for n in NOTEBOOKS:   # what nbgrader releases is what exercises/ holds
        released = nbformat.read(room["teacher_course"] / "release" / ASSIGNMENT / f"{n}.ipynb", as_version=4)
        ours = nbformat.read(ROOT / "exercises" / f"{n}.ipynb", as_version=4)
        assert [c.source for c in released.cells] == [c.source for c in ours.cells], n
    as_teacher(room, "-m", "nbgrader", "release_assignment", ASSIGNMENT)

    plan = {"alice": "solutions", "bob": "blank", "carol": "slips"}
    for s, how in plan.items():
        kernel = room["kernels"][s]
        nbgrader_in_kernel(kernel, "fetch_assignment", ASSIGNMENT)
        answers = room["answers"][s] = {n: answers_of(n, how) if how != "blank" else {} for n in NOTEBOOKS}
        kernel.json(f"""\
import json, os, nbformat
answers = json.loads({json.dumps(json.dumps(answers))})
for name, mine in answers.items():
    path = os.path.expanduser(f"~/{ASSIGNMENT}/{{name}}.ipynb")
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        cell.source = mine.get(cell.metadata.get("nbgrader", {{}}).get("grade_id"), cell.source)
    nbformat.write(nb, path)
print(json.dumps(len(answers)))""")
        nbgrader_in_kernel(kernel, "submit", ASSIGNMENT)

    as_teacher(room, "-m", "nbgrader", "collect", ASSIGNMENT)
    graded = as_teacher(room, "-m", "nbgrader", "autograde", ASSIGNMENT, "--create")
    log = graded.stdout + graded.stderr
    assert "checksum" not in log.lower(), [ln for ln in log.splitlines() if "checksum" in ln.lower()]
    assert "has changed" not in log
    as_teacher(room, "-m", "nbgrader", "generate_feedback", ASSIGNMENT)
    as_teacher(room, "-m", "nbgrader", "release_feedback", ASSIGNMENT)
    as_teacher(room, "-m", "nbgrader", "export")
    with open(room["teacher_course"] / "grades.csv") as f:
        scores = {row["student_id"]: (float(row["score"]), float(row["max_score"])) for row in csv.DictReader(f)}
    print("scores:", scores)
    alice, bob, carol = (scores[room["names"][s]] for s in STUDENTS)
    assert alice[0] == alice[1] > 0 and bob[0] == 0
    assert carol[0] == 0, "the slips pass only the visible tests: the hidden tests take every point"

    leaks, generic = [], {s: 0 for s in plan}
    for s in plan:
        nbgrader_in_kernel(room["kernels"][s], "fetch_feedback", ASSIGNMENT)
        pages = sorted(Path(pwd.getpwnam(room["names"][s]).pw_dir, ASSIGNMENT, "feedback").rglob("*.html"))
        assert {p.stem for p in pages} == set(NOTEBOOKS), f"{s} got feedback for {[p.stem for p in pages]}"
        for page in pages:
            page_text = page.read_text()
            shown = text_lines(page_text)
            leaks += [(s, page.stem, ln) for ln in hidden_lines(page.stem, room["answers"][s][page.stem]) if ln in shown]
            generic[s] += page_text.count("A hidden test of this exercise failed")
    assert not leaks, f"feedback quotes hidden tests: {leaks[:5]}"
    # carol's slips for exercises 6, 7 and 10 fail only hidden tests (15's fails a visible one already
    # when the grader is not root); alice fails nothing, bob's blanks fail the visible tests
    assert generic["carol"] >= 3 and generic["alice"] == generic["bob"] == 0, generic
    print(f"feedback: {len(NOTEBOOKS) * len(plan)} pages, no hidden-test line in any; failures in hidden "
          f"tests told in a sentence: {generic}")


# --- the exchange's course folder, autograding as the grading account, grades for the LMS ---------------------

def setup_course(room, *args) -> subprocess.CompletedProcess:
    """deploy/nbgrader/setup_course.py as root (what the admin runs), for the test's instructor and exchange."""
    return subprocess.run([str(room["venv"] / "bin" / "python"), str(room["course"] / "deploy" / "nbgrader" / "setup_course.py"),
                           "--instructor", room["names"][TEACHER], "--course-dir", str(room["teacher_course"]),
                           "--exchange", str(room["exchange"]), *args], capture_output=True, text=True, timeout=60)


def test_a_student_cannot_take_the_exchange_course_folder(classroom):
    """The exchange root is 1777: a student who makes exchange/<course> first stops release_assignment ("You don't
    own the directory"). setup_course.py made forklab's folder first; a course nobody set up can still be taken,
    and setup_course.py names the squatter and takes it back when told to."""
    room = classroom
    seen = room["kernels"]["carol"].json(f"""\
import errno, json, os
ex = {str(room["exchange"])!r}
def attempt(action):
    try:
        action()
        return "allowed"
    except OSError as e:
        return errno.errorcode[e.errno]
print(json.dumps({{
    "make exchange/forklab": attempt(lambda: os.mkdir(ex + "/forklab")),
    "write in exchange/forklab": attempt(lambda: open(ex + "/forklab/mine", "w").close()),
    "write in its outbound": attempt(lambda: open(ex + "/forklab/outbound/mine", "w").close()),
    "list its inbound": attempt(lambda: os.listdir(ex + "/forklab/inbound")),
    "rename exchange/forklab": attempt(lambda: os.rename(ex + "/forklab", ex + "/gone")),
    "make exchange/forklab-next": attempt(lambda: (os.mkdir(ex + "/forklab-next"),
                                                   os.mkdir(ex + "/forklab-next/outbound"))),
}}))""")
    print("carol in the exchange:", seen)
    assert seen["make exchange/forklab"] == "EEXIST"
    assert seen["write in exchange/forklab"] == seen["write in its outbound"] == "EACCES"
    assert seen["list its inbound"] == "EACCES"
    assert seen["rename exchange/forklab"] in ("EPERM", "EACCES"), "the root's sticky bit"
    assert seen["make exchange/forklab-next"] == "allowed", "the root is 1777: a course nobody set up can be taken"

    before = as_teacher(room, "-m", "nbgrader", "release_assignment", ASSIGNMENT, "--course", "forklab-next", check=False)
    assert before.returncode != 0 and "You don't own the directory" in before.stdout + before.stderr, \
        "the attack: release_assignment fails on a course folder a student made"
    refused = setup_course(room, "--course", "forklab-next")
    assert refused.returncode != 0 and room["names"]["carol"] in refused.stderr, refused.stdout + refused.stderr
    taken = setup_course(room, "--course", "forklab-next", "--remove-squatter")
    assert taken.returncode == 0, taken.stdout + taken.stderr
    folder = room["exchange"] / "forklab-next"
    modes = {sub: (folder / sub).stat() for sub in ("", "outbound", "inbound", "feedback")}
    assert {st.st_uid for st in modes.values()} == {room["uids"][TEACHER]}
    assert {sub: oct(st.st_mode & 0o7777) for sub, st in modes.items()} == \
        {"": "0o755", "outbound": "0o755", "inbound": "0o2733", "feedback": "0o711"}
    after = as_teacher(room, "-m", "nbgrader", "release_assignment", ASSIGNMENT, "--course", "forklab-next", check=False)
    assert after.returncode == 0, after.stdout[-2000:] + after.stderr[-2000:]
    print(f"exchange: {taken.stdout.splitlines()[0]}; release_assignment then works")


LIMITS_SEEN = """\
import json, os, resource
def cgroup_file(controller, name):
    for line in open("/proc/self/cgroup").read().splitlines():
        _, controllers, path = line.split(":", 2)
        if controller in controllers.split(","):
            return f"/sys/fs/cgroup/{controller}{path.rstrip('/')}/{name}"
        if not controllers and os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
            return f"/sys/fs/cgroup{path.rstrip('/')}/{name}"
def cgread(controller, name):
    try:
        return open(cgroup_file(controller, name)).read().strip()
    except (OSError, TypeError):
        return None
def limits_seen():
    shm, tmp = os.statvfs("/dev/shm"), os.statvfs("/tmp")
    return {"pids cgroup": cgroup_file("pids", ""), "pids.max": cgread("pids", "pids.max"),
            "memory limit": cgread("memory", "memory.limit_in_bytes") or cgread("memory", "memory.max"),
            "RLIMIT_NPROC": list(resource.getrlimit(resource.RLIMIT_NPROC)),
            "/dev/shm MB": shm.f_blocks * shm.f_frsize >> 20, "/tmp MB": tmp.f_blocks * tmp.f_frsize >> 20}
def limits_hold(seen):
    # every attack below checks this first and refuses to run on a machine without the limits
    numeric = lambda v: v is not None and v.isdigit()
    return (numeric(seen["pids.max"]) and int(seen["pids.max"]) <= 1024 and 0 < seen["RLIMIT_NPROC"][1] <= 1024
            and numeric(seen["memory limit"]) and int(seen["memory limit"]) <= 4 << 30
            and seen["/dev/shm MB"] <= 1024 and seen["/tmp MB"] <= 1024)
"""

FORK_BOMB = LIMITS_SEEN + """\
import ctypes, time
def fork_bomb(seconds):
    \"\"\"os.fork() in every process until the deadline; a subreaper of ours reaps every one (none left to PID 1).\"\"\"
    reaper = os.fork()
    if reaper == 0:
        ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)       # PR_SET_CHILD_SUBREAPER
        end = time.monotonic() + seconds
        if os.fork() == 0:
            while time.monotonic() < end:
                try:
                    os.fork()
                except OSError:
                    time.sleep(0.005)
            os._exit(0)
        while True:
            try:
                os.wait()
            except ChildProcessError:
                os._exit(0)
    return reaper
def peak_tasks_while(pid):
    peak = 0
    while os.waitpid(pid, os.WNOHANG) == (0, 0):
        peak = max(peak, int(cgread("pids", "pids.current") or 0))
        time.sleep(0.1)
    return peak
"""


def probe_notebook(answer: str) -> nbformat.NotebookNode:
    """One answer cell and one test cell (1 point), with nbgrader's metadata."""
    meta = lambda gid, **kw: {"nbgrader": {"grade_id": gid, "schema_version": 3, "locked": False, "solution": False,
                                           "grade": False, **kw}}  # noqa: E731
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_markdown_cell("Print what you can read.", metadata=meta("probe-text", locked=True)),
                nbformat.v4.new_code_cell(answer, metadata=meta("probe-answer", solution=True)),
                nbformat.v4.new_code_cell("assert True", metadata=meta("probe-test", grade=True, locked=True, points=1))]
    return nb


def test_autograde_runs_students_code_as_the_grading_account_away_from_the_gradebook(classroom):
    room = classroom
    course, bob = room["teacher_course"], room["names"]["bob"]
    source = course / "source" / "probe"
    source.mkdir(parents=True)
    nbformat.write(probe_notebook("### BEGIN SOLUTION\npass\n### END SOLUTION"), source / "probe.ipynb")
    subprocess.run(["chown", "-R", room["names"][TEACHER], str(source)], check=True)
    as_teacher(room, "-m", "nbgrader", "generate_assignment", "probe")
    grades_before = as_teacher(room, "-m", "nbgrader", "export", "--to", "before.csv") and \
        [r for r in csv.DictReader(open(course / "before.csv")) if r["assignment"] == ASSIGNMENT]

    # bob's submission: read the gradebook, the course, the exchange's inbound; then a fork bomb
    evil = FORK_BOMB + f"""
import errno, pwd
def attempt(action):
    try:
        action()
        return "allowed"
    except OSError as e:
        return errno.errorcode[e.errno]
seen = {{"user": pwd.getpwuid(os.getuid()).pw_name, "cwd": os.getcwd(),
        "read the gradebook": attempt(lambda: open({str(course / 'gradebook.db')!r}, "rb").read(1)),
        "list the course": attempt(lambda: os.listdir({str(course)!r})),
        "list the exchange's inbound": attempt(lambda: os.listdir({str(room['exchange'] / 'forklab' / 'inbound')!r})),
        "limits": limits_seen()}}
if limits_hold(seen["limits"]):
    seen["fork bomb: peak tasks"] = peak_tasks_while(fork_bomb(8))
else:
    seen["fork bomb"] = "REFUSED: the limits are not in place"
print("PROBE " + json.dumps(seen))"""
    submitted = course / "submitted" / bob / "probe"
    submitted.mkdir(parents=True)
    released = nbformat.read(course / "release" / "probe" / "probe.ipynb", as_version=4)
    for cell in released.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "probe-answer":
            cell.source = evil
    nbformat.write(released, submitted / "probe.ipynb")
    subprocess.run(["chown", "-R", room["names"][TEACHER], str(course / "submitted")], check=True)

    as_teacher(room, "-m", "nbgrader", "autograde", "probe", "--student", bob)
    graded = nbformat.read(course / "autograded" / bob / "probe" / "probe.ipynb", as_version=4)
    text = "".join(o.get("text", "") for c in graded.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "PROBE " in text, text[-2000:]
    seen = json.loads(text.split("PROBE ", 1)[1].splitlines()[0])
    print("a submission autograded:", seen)
    assert seen["user"] == room["names"][GRADER], "students' code runs as the grading account"
    assert seen["read the gradebook"] == seen["list the course"] == "EACCES"
    assert seen["list the exchange's inbound"] == "EACCES"
    assert "forklab-grading-" in (seen["limits"]["pids cgroup"] or ""), seen["limits"]
    assert seen["fork bomb: peak tasks"] <= int(seen["limits"]["pids.max"]) <= 1024
    assert not processes_of({room["uids"][GRADER]}), "nothing of the grading account is left running"
    assert not [g for g in class_cgroups() if "grading" in g.name], "the grading cgroup is removed"
    as_teacher(room, "-m", "nbgrader", "export", "--to", "after.csv")
    grades_after = [r for r in csv.DictReader(open(course / "after.csv")) if r["assignment"] == ASSIGNMENT]
    assert grades_after == grades_before, "the class's grades are untouched"
    assert any(r["student_id"] == bob and float(r["score"]) == 1
               for r in csv.DictReader(open(course / "after.csv")) if r["assignment"] == "probe")


# --- nbgrader's tools: a student's in a student's server, the instructor's in the instructor's -------------------

INSTRUCTOR_PLUGINS = {"@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:create-assignment",
                      "@jupyter/nbgrader:course-list"}
STUDENT_PLUGINS = {"@jupyter/nbgrader:assignment-list", "@jupyter/nbgrader:validate-assignment",
                   "@jupyter/nbgrader:menu"}


def page_config(who: Student) -> dict:
    """The JupyterLab page's own configuration (what the browser's lab reads to load and disable plugins)."""
    r = who.http.get(f"{who.url}/user/{who.user}/lab", timeout=60)
    r.raise_for_status()
    m = re.search(r'<script id="jupyter-config-data" type="application/json">(.*?)</script>', r.text, re.S)
    assert m, "the lab page carries no page config"
    return json.loads(html.unescape(m[1]))


def nbgrader_plugins_off(config: dict) -> set[str]:
    assert "@jupyter/nbgrader" in {e["name"] for e in config["federated_extensions"]}, "nbgrader's lab extension"
    off = config["disabledExtensions"]          # a list of plugin ids (jupyterlab_server turns the dict into one)
    off = [p for p, yes in off.items() if yes] if isinstance(off, dict) else off
    return {p for p in off if p.startswith("@jupyter/nbgrader")}


def status(who: Student, path: str, user: str | None = None) -> int:
    """HTTP status of a GET to a path of a user's server (the student's own unless user is given)."""
    return who.http.get(f"{who.url}/user/{user or who.user}/{path}", timeout=60, allow_redirects=False).status_code


def instructor(room) -> Student:
    """The instructor's session, logged in with the form, and their running server (started once)."""
    if TEACHER not in room["students"]:
        teacher = Student(room["url"], room["names"][TEACHER])
        teacher.log_in(PASSWORDS[TEACHER])
        teacher.start_server()
        room["students"][TEACHER] = teacher
    return room["students"][TEACHER]


def test_students_get_the_students_nbgrader_tools_and_the_instructor_the_formgrader(classroom):
    """A student's server (deploy/nbgrader/student/): Assignment List and Validate work through the exchange;
    Formgrader, Create Assignment and the course list are neither in the lab nor served. The instructor (in
    FORKLAB_INSTRUCTORS, not in the students' group) logs in and gets every tool: Formgrader on the course
    folder, whose autograde runs the submission as the grading account like the command line's."""
    room = classroom
    names = room["names"]
    for s in STUDENTS:
        student = room["students"][s]
        assert nbgrader_plugins_off(page_config(student)) == INSTRUCTOR_PLUGINS, s
        for path in ("formgrader", "formgrader/api/status", "formgrader/api/assignments", "formgraders"):
            assert status(student, path) == 404, f"{s}'s server serves {path}"
    bob = room["students"]["bob"]
    listed = bob.http.get(f"{bob.url}/user/{bob.user}/assignments", params={"course_id": "forklab"}, timeout=60).json()
    assert listed["success"], listed
    assert {(a["assignment_id"], a["status"]) for a in listed["value"]} >= {(ASSIGNMENT, "submitted")}, listed
    courses = bob.http.get(f"{bob.url}/user/{bob.user}/courses", timeout=60).json()
    assert courses == {"success": True, "value": ["forklab"]}, courses
    r = bob.http.post(f"{bob.url}/user/{bob.user}/assignments/validate",
                      data={"path": f"{ASSIGNMENT}/01_exercises_fork.ipynb"}, timeout=BOUND)
    r.raise_for_status()
    validated = r.json()
    assert validated["success"] and validated["value"].get("failed"), validated    # bob handed in a blank
    print(f"bob's Validate on his blank 01_exercises_fork: {len(validated['value']['failed'])} cells fail; "
          f"Assignment List: {sorted({(a['assignment_id'], a['status']) for a in listed['value']})}")

    teacher = instructor(room)
    assert status(bob, "formgrader/api/assignments", user=names[TEACHER]) == 403, "bob reaches the instructor's server"
    assert nbgrader_plugins_off(page_config(teacher)) == set()
    r = teacher.http.get(f"{teacher.url}/user/{teacher.user}/formgrader", timeout=60)
    assert r.ok and "Manage Assignments" in r.text, r.status_code
    r = teacher.http.get(f"{teacher.url}/user/{teacher.user}/formgrader/api/assignments", timeout=60)
    r.raise_for_status()
    assignments = {a["name"]: a for a in r.json()}
    assert assignments[ASSIGNMENT]["num_submissions"] == len(STUDENTS), assignments[ASSIGNMENT]
    graded = room["teacher_course"] / "autograded" / names["bob"] / "probe" / "probe.ipynb"
    graded.unlink()
    r = teacher.http.post(f"{teacher.url}/user/{teacher.user}/formgrader/api/submission/probe/{names['bob']}/autograde",
                          timeout=BOUND)
    r.raise_for_status()
    assert r.json()["success"], r.json()["log"][-3000:]
    text = "".join(o.get("text", "") for c in nbformat.read(graded, as_version=4).cells if c.cell_type == "code"
                   for o in c.get("outputs", []))
    seen = json.loads(text.split("PROBE ", 1)[1].splitlines()[0])
    assert seen["user"] == names[GRADER] and seen["read the gradebook"] == "EACCES", seen
    assert not processes_of({room["uids"][GRADER]}), "nothing of the grading account is left running"
    print(f"the instructor's Formgrader: {sorted(assignments)}, {ASSIGNMENT}: "
          f"{assignments[ASSIGNMENT]['num_submissions']} submissions; its autograde ran bob's probe as {seen['user']}")


def nbgrader_menu_in_a_browser(browser, room, who: str) -> dict:
    """Log in with the hub's form in Chromium, open the lab, read nbgrader's menu and Create Assignment's panel."""
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    try:
        page = context.new_page()
        name = room["names"][who]
        page.goto(f"{room['url']}/hub/login?next=/user/{name}/lab")
        page.fill("#username_input", name)
        page.fill("#password_input", PASSWORDS[who])
        page.click("#login_submit")
        menu = page.locator("#jp-menu-panel .lm-MenuBar-item", has_text="Nbgrader")
        menu.wait_for(timeout=BOUND * 1000)
        menu.click()
        page.locator("#jp-mainmenu-nbgrader").wait_for(timeout=30000)
        items = page.eval_on_selector_all("#jp-mainmenu-nbgrader .lm-Menu-item",
                                          "els => els.filter(e => e.offsetParent !== null).map(e => e.innerText.trim())")
        page.keyboard.press("Escape")
        return {"menu": sorted(items), "Create Assignment panel": page.locator("#nbgrader-create_assignemnt").count()}
    finally:
        context.close()


def test_in_a_browser_the_student_sees_assignments_and_the_instructor_the_formgrader(classroom, browser):
    room = classroom
    instructor(room)
    seen = {who: nbgrader_menu_in_a_browser(browser, room, who) for who in ("bob", TEACHER)}
    print(f"nbgrader in the lab, in Chromium: {seen}")
    assert seen["bob"] == {"menu": ["Assignment List"], "Create Assignment panel": 0}
    assert {"Assignment List", "Course List", "Formgrader", "Create assignment"} <= set(seen[TEACHER]["menu"])
    assert seen[TEACHER]["Create Assignment panel"] == 1


def test_a_c_cell_cannot_ask_for_more_processes_than_the_class_limit(classroom):
    """%%c's process cap is the student's to choose, up to the hard RLIMIT_NPROC the hub set (256): more is
    clamped, with a note that says so."""
    asked = classroom["kernels"]["bob"].json("""\
import json
from forklab.sandbox.runner import run_c
r = run_c("int main(void) { return 0; }", max_procs=10**6)
print(json.dumps([r.max_procs, r.returncode, r.notes]))""")
    print(f"bob's %%c with max_procs=10**6: {asked}")
    assert asked[:2] == [256, 0] and "RLIMIT_NPROC" in asked[2][0], asked


def exercise_count() -> tuple[int, float]:
    cells = [c for n in NOTEBOOKS for c in nbformat.read(ROOT / "solutions" / f"{n}.ipynb", as_version=4).cells
             if c.metadata.get("nbgrader", {}).get("grade")]
    return len(cells), sum(float(c.metadata["nbgrader"]["points"]) for c in cells)


def test_grades_export_for_canvas_gradescope_and_moodle(classroom):
    room = classroom
    course, names = room["teacher_course"], room["names"]
    tool = str(room["course"] / "tools" / "export_grades.py")
    # as the LMS exports its class: alice, bob and a student nbgrader never saw; carol is missing from it
    (course / "canvas_roster.csv").write_text(
        "Student,ID,SIS User ID,SIS Login ID,Section\n    Points Possible,,,,\n"
        f'"Liddell, Alice",11,S1,{names["alice"]},Lab A\n"Builder, Bob",12,S2,{names["bob"]},Lab A\n'
        f'"Late, Dana",14,S4,{PREFIX}dana,Lab B\n')
    (course / "gradescope_roster.csv").write_text(
        f"First Name,Last Name,SID,Email\nAlice,Liddell,{names['alice']},a@uni\nBob,Builder,{names['bob']},b@uni\n")
    subprocess.run(["chown", names[TEACHER], str(course / "canvas_roster.csv"), str(course / "gradescope_roster.csv")],
                   check=True)
    canvas = as_teacher(room, tool, "--format", "canvas", "--roster", "canvas_roster.csv", "--assignment", ASSIGNMENT,
                        "-o", "canvas.csv")
    gradescope = as_teacher(room, tool, "--format", "gradescope", "--gradescope-id", "sid", "--roster",
                            "gradescope_roster.csv", "--assignment", ASSIGNMENT, "-o", "gradescope.csv")
    as_teacher(room, tool, "--format", "moodle", "--assignment", ASSIGNMENT, "-o", "moodle.csv")
    print(canvas.stdout + canvas.stderr + gradescope.stdout + gradescope.stderr)

    exercises, points = exercise_count()
    header, possible, *rows = list(csv.reader(open(course / "canvas.csv")))
    assert header[:5] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"] and len(header) == 5 + exercises
    assert sum(float(p) for p in possible[5:]) == points
    canvas_rows = {r[3]: r for r in rows}
    assert set(canvas_rows) == {names["alice"], names["bob"], names["carol"], PREFIX + "dana"}, \
        "nobody dropped"
    assert sum(float(x) for x in canvas_rows[names["alice"]][5:]) == points, "alice: full marks, per exercise"
    assert canvas_rows[PREFIX + "dana"][5:] == [""] * exercises
    assert names["carol"] in canvas.stderr and "not on the roster" in canvas.stderr
    assert PREFIX + "dana" in canvas.stderr
    header, *rows = list(csv.reader(open(course / "gradescope.csv")))
    assert header[2] == "SID" and header[-1] == "Total Score"
    assert {r[2]: float(r[-1]) for r in rows}[names["alice"]] == points
    header, *rows = list(csv.reader(open(course / "moodle.csv")))
    assert [r[0] for r in rows] == sorted(names[s] for s in STUDENTS)


# --- one student cannot take the class down -------------------------------------------------------------------

THREAD_BOMB = LIMITS_SEEN + """\
import threading, time
assert limits_hold(limits_seen()), "the limits are not in place: no thread bomb"
r, w = os.pipe()
child = os.fork()
if child == 0:
    os.close(r)
    threading.stack_size(64 * 1024)
    end, started, error = time.monotonic() + 10, 0, "none"
    try:
        while time.monotonic() < end and started < 100_000:
            threading.Thread(target=time.sleep, args=(max(0.1, end - time.monotonic()),), daemon=True).start()
            started += 1
    except RuntimeError as e:
        error = str(e)
    os.write(w, json.dumps([started, error]).encode())
    time.sleep(max(0, end - time.monotonic()))
    os._exit(0)
os.close(w)
peak = 0
while os.waitpid(child, os.WNOHANG) == (0, 0):
    peak = max(peak, int(cgread("pids", "pids.current") or 0))
    time.sleep(0.1)
started, error = json.loads(os.read(r, 4096) or b"[0, null]")
print(json.dumps({"threads started": started, "then": error, "peak tasks": peak}))
"""

MEMORY_FILL = LIMITS_SEEN + """\
import signal, time
assert limits_hold(limits_seen()), "the limits are not in place: no memory fill"
def fill_until_killed():
    r, w = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(r)
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write("1000")                               # the OOM killer takes this process, not the kernel
        chunks = []
        while len(chunks) < 4096 // 16:                   # at most 4 GB even if the limit were gone
            chunks.append(b"\\1" * (16 << 20))
            os.write(w, b"x")
        os._exit(0)
    os.close(w)
    mb = 0
    while data := os.read(r, 4096):
        mb += 16 * len(data)
    os.close(r)
    _, status = os.waitpid(child, 0)
    return mb, (f"killed by {signal.Signals(os.WTERMSIG(status)).name}" if os.WIFSIGNALED(status)
                else f"exit {os.WEXITSTATUS(status)}")
fills, end = [], time.monotonic() + 12                    # again and again: the pressure lasts while bob works
while time.monotonic() < end:
    fills.append(fill_until_killed())
print(json.dumps({"fills": len(fills), "largest MB": max(mb for mb, _ in fills), "ends": sorted({how for _, how in fills}),
                  "memory limit MB": int(limits_seen()["memory limit"]) >> 20}))
"""

DISK_FILL = LIMITS_SEEN + """\
import ctypes, errno, tempfile, time
assert limits_hold(limits_seen()), "the limits are not in place: no /dev/shm fill"
def fill(folder):
    fd, path = tempfile.mkstemp(dir=folder, prefix="carol-fill-")
    written, chunk = 0, b"\\0" * (1 << 20)
    try:
        while written < 2048:
            os.write(fd, chunk)
            written += 1
        return [written, "no limit met"]
    except OSError as e:
        return [written, errno.errorcode[e.errno]]
    finally:
        os.close(fd)                                   # the file stays: it must be gone once the server stops
shm = ctypes.CDLL(None, use_errno=True).shmget(0, 1 << 20, 0o1000 | 0o600)   # a System V segment, left behind
filled = {"/dev/shm": fill("/dev/shm"), "/tmp": fill("/tmp"), "System V segment": shm}
time.sleep(10)                                         # bob works while carol's tmpfs are full
print(json.dumps(filled))
"""

C_CELL = """%%c
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>
int main(void) {
    pid_t pid = fork();
    if (pid == 0) _exit(7);
    int status;
    waitpid(pid, &status, 0);
    printf("child said %d\\n", WEXITSTATUS(status));
    return 0;
}"""


def victim_latency(room, victim: str, rounds: int = 5) -> dict:
    """What the victim sees: round trips of experiment cells and of a %%c cell, and of the hub's API."""
    kernel = room["kernels"][victim]
    experiments = []
    for _ in range(rounds):
        started = time.monotonic()
        shared = kernel.json('import forklab, json\nprint(json.dumps(forklab.run("fork", []).resources["memory"].shared))')
        experiments.append(time.monotonic() - started)
        assert shared is False, "fork: the child's memory is a copy"
    started = time.monotonic()
    out, errors = kernel.run(C_CELL)
    c_cell = time.monotonic() - started
    assert not errors and "child said 7" in out, (out, errors)
    started = time.monotonic()
    assert requests.get(f"{room['url']}/hub/api/", timeout=60).ok, "the hub answers"
    hub = time.monotonic() - started
    experiments.sort()
    return {"experiment p50 ms": round(experiments[len(experiments) // 2] * 1000),
            "experiment max ms": round(experiments[-1] * 1000), "%%c s": round(c_cell, 2),
            "hub API ms": round(hub * 1000)}


def attack_while_measuring(room, attacker: str, victim: str, code: str):
    """Run the attacker's cell in a thread; time the victim meanwhile. (attacker's output, victim's figures)"""
    result = {}

    def attack():
        try:
            result["out"] = room["kernels"][attacker].run(code)
        except BaseException as e:      # noqa: BLE001 - reported by the test thread
            result["error"] = e
    thread = threading.Thread(target=attack, daemon=True)
    thread.start()
    time.sleep(2)                       # the attack reaches its limit first
    figures = victim_latency(room, victim)
    thread.join(BOUND)
    assert not thread.is_alive(), f"{attacker}'s attack did not end within {BOUND} s"
    assert "error" not in result, result.get("error")
    out, errors = result["out"]
    assert not errors, errors
    return json.loads(out.strip().splitlines()[-1]), figures


def files_of(uid: int) -> list[str]:
    found = []
    for folder in ("/tmp", "/var/tmp", "/dev/shm"):
        for entry in os.scandir(folder):
            try:
                if entry.stat(follow_symlinks=False).st_uid == uid:
                    found.append(entry.path)
            except OSError:
                pass
    for kind in ("shm", "sem", "msg"):
        lines = Path(f"/proc/sysvipc/{kind}").read_text().splitlines()
        column = lines[0].split().index("uid")
        found += [f"System V {kind} {ln.split()[1]}" for ln in lines[1:] if int(ln.split()[column]) == uid]
    return found


def test_each_student_works_and_is_graded_in_their_own_variant(classroom):
    """forklab.course.variant on the hub: the identity a student's kernel sees while working (JUPYTERHUB_USER) is the
    one autograde grades under (nbgrader's student id, handed to the kernel by deploy/nbgrader's
    StudentIdentity), so each is graded in the variant they saw; and the students' variants differ."""
    room = classroom
    variants = {}
    for s in STUDENTS:
        name = room["names"][s]
        assert room["kernels"][s].json("import json\nfrom forklab.course import variant\nprint(json.dumps(variant.student()))") \
            == [name, "JUPYTERHUB_USER"]
        graded = nbformat.read(room["teacher_course"] / "autograded" / name / ASSIGNMENT / "01_exercises_fork.ipynb",
                               as_version=4)
        said = {c.metadata.nbgrader.grade_id: "".join(o.get("text", "") for o in c.outputs)
                for c in graded.cells if c.metadata.get("nbgrader", {}).get("grade_id") in ("ex1-program", "ex2-program")}
        for text in said.values():
            assert f"for {name!r}, from FORKLAB_STUDENT" in text, text
        variants[s] = tuple(re.search(r"number (\d+) of", text).group(1) for _, text in sorted(said.items()))
    print("variants of exercises 1 and 2:", variants)
    assert len(set(variants.values())) > 1, "every student got the same variants"


def test_what_the_class_misunderstands_from_their_own_notebooks(classroom):
    """Each student checks a prediction in their own kernel (alice right, bob wrong, carol without predicting);
    the record lands in their notebook, goes through the exchange (a resubmission), and the instructor's
    tools/misconceptions.py on nbgrader's submitted/ reports exactly that."""
    room = classroom
    predictions = {"alice": 8, "bob": 4, "carol": None}
    for s, p in predictions.items():
        kernel = room["kernels"][s]
        assert kernel.json(f"""\
import json, os, nbformat, forklab
data, metadata = forklab.check_prediction({p!r}, 8, about="processes")._repr_mimebundle_()
path = os.path.expanduser("~/{ASSIGNMENT}/01_exercises_fork.ipynb")
nb = nbformat.read(path, as_version=4)
nb.cells.append(nbformat.v4.new_code_cell("forklab.check_prediction(prediction, 8, about='processes')", outputs=[
    nbformat.v4.new_output("execute_result", data=data, metadata=metadata, execution_count=1)]))
nbformat.write(nb, path)
print(json.dumps(metadata["forklab"]["prediction"]["right"]))""") == (None if p is None else p == 8)
        nbgrader_in_kernel(kernel, "submit", ASSIGNMENT)
    as_teacher(room, "-m", "nbgrader", "collect", "--update", ASSIGNMENT)
    as_teacher(room, str(room["course"] / "tools" / "misconceptions.py"), "submitted", "--csv", "misconceptions.csv",
               "--html", "misconceptions.html")
    with open(room["teacher_course"] / "misconceptions.csv") as f:
        rows = [r for r in csv.DictReader(f) if r["question"] == "processes"]
    assert [(r["chapter"], r["students"], r["right"], r["wrong"], r["not_at_all"], r["most_common_wrong"])
            for r in rows] == [("01_exercises_fork", "3", "1", "1", "1", "4")], rows
    assert "<svg" in (room["teacher_course"] / "misconceptions.html").read_text()


# Last before the hub stops: it ends with carol's server stopped (nothing of hers may be left).
def test_one_student_cannot_take_the_class_down(classroom):
    """carol runs a fork bomb, a thread bomb, fills memory, /dev/shm and /tmp; bob's experiments and %%c cells keep
    working (their round trips printed before, during, after); when carol's server stops nothing of hers is left."""
    room = classroom
    attacker, victim = "carol", "bob"
    carol = room["uids"][attacker]
    # the limits must be in place BEFORE any bomb: from the hub's side, then as carol sees them
    cgroups = [g for g in class_cgroups() if g.name == f"forklab-{room['names'][attacker]}"]
    assert cgroups, "the hub made no cgroup for carol: no attack is launched"
    seen = room["kernels"][attacker].json(LIMITS_SEEN + "print(json.dumps(limits_seen()))")
    print(f"{attacker}'s limits, as her kernel sees them: {seen}")
    ok = room["kernels"][attacker].json(LIMITS_SEEN + "print(json.dumps(limits_hold(limits_seen())))")
    if not ok or f"forklab-{room['names'][attacker]}" not in (seen["pids cgroup"] or ""):
        pytest.fail(f"the limits are not in place for {attacker} ({seen}): the attacks are not launched")
    assert int(seen["pids.max"]) == seen["RLIMIT_NPROC"][1] == 256
    assert seen["/dev/shm MB"] == 64 and seen["/tmp MB"] == 256

    figures = {"before": victim_latency(room, victim)}
    results = {}
    results["fork bomb"], figures["fork bomb"] = attack_while_measuring(
        room, attacker, victim, FORK_BOMB + """
assert limits_hold(limits_seen()), "the limits are not in place: no fork bomb"
print(json.dumps({"peak tasks": peak_tasks_while(fork_bomb(12)), "pids.max": cgread("pids", "pids.max"),
                  "pids.events": cgread("pids", "pids.events")}))""")
    results["thread bomb"], figures["thread bomb"] = attack_while_measuring(room, attacker, victim, THREAD_BOMB)
    results["memory fill"], figures["memory fill"] = attack_while_measuring(room, attacker, victim, MEMORY_FILL)
    results["/dev/shm + /tmp fill"], figures["/dev/shm + /tmp fill"] = attack_while_measuring(
        room, attacker, victim, DISK_FILL)
    host_view = files_of(carol)         # while carol's files fill her /tmp and /dev/shm
    figures["after"] = victim_latency(room, victim)

    print(f"\n{attacker}'s attacks: {json.dumps(results, indent=1)}")
    print(f"{victim}'s round trips (5 experiment cells: p50 / max; one %%c cell; the hub's API):")
    for phase, f in figures.items():
        print(f"  {phase:22s} experiment {f['experiment p50 ms']:5d} / {f['experiment max ms']:5d} ms   "
              f"%%c {f['%%c s']:5.2f} s   hub {f['hub API ms']:4d} ms")
    assert results["fork bomb"]["peak tasks"] <= 256
    assert results["thread bomb"]["threads started"] < 256 and "can't start new thread" in results["thread bomb"]["then"]
    assert results["memory fill"]["ends"] == ["killed by SIGKILL"], "the OOM killer ends each filler in her cgroup"
    assert results["memory fill"]["largest MB"] <= results["memory fill"]["memory limit MB"]
    assert results["/dev/shm + /tmp fill"]["/dev/shm"] == [64, "ENOSPC"]
    assert results["/dev/shm + /tmp fill"]["/tmp"][1] == "ENOSPC" and results["/dev/shm + /tmp fill"]["/tmp"][0] <= 256
    assert not host_view, f"carol's files are visible outside her server: {host_view}"
    assert room["kernels"][attacker].json("print(1)") == 1, "carol's own kernel survived her attacks"

    student = room["students"][attacker]
    r = student.http.delete(f"{room['url']}/hub/api/users/{room['names'][attacker]}/server", timeout=60)
    assert r.status_code in (202, 204), r.text
    deadline = time.monotonic() + BOUND
    while student.http.get(f"{room['url']}/hub/api/users/{room['names'][attacker]}", timeout=30).json()["servers"]:
        assert time.monotonic() < deadline, "carol's server did not stop"
        time.sleep(0.5)
    deadline = time.monotonic() + 30
    while processes_of({carol}) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not processes_of({carol}), f"carol's processes outlived her server: {processes_of({carol})}"
    assert not cgroups[0].exists() and not [g for g in class_cgroups() if attacker in g.name]
    assert not files_of(carol), files_of(carol)
    assert room["kernels"][victim].json("print(2)") == 2, "bob works on"


def test_stopping_the_hub_leaves_nothing_running(classroom):
    room = classroom
    hub = room["hub"]
    proxy = int((room["tmp"] / "hub-state" / "proxy.pid").read_text())
    os.kill(hub.pid, signal.SIGTERM)        # the hub alone: it must stop everything it started
    hub.wait(timeout=BOUND)
    uids = set(room["uids"].values())
    deadline = time.monotonic() + 30        # servers finish shutting their kernels down
    left = processes_of(uids)
    while left and time.monotonic() < deadline:
        time.sleep(0.5)
        left = processes_of(uids)
    assert not left, f"still running after the hub stopped: {left}"
    assert not os.path.exists(f"/proc/{proxy}"), "the proxy is still running"
