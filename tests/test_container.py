"""The course in a container, for real: the Dockerfile built unchanged with podman and run under Docker's rules.

Slow part (FORKLAB_SLOW=1, as root; .ci/run runs it under `flock /tmp/forklab-heavy.lock` and fails if it is
skipped). podman + runc build the Dockerfile unchanged, from a Debian 12 base made with mmdebstrap - a local
STAND-IN for `python:3.11-slim`, since no image registry is reachable here (cached in podman's storage, tagged
with a hash of what it installs, so a second run skips it). Then the whole course runs inside, as the image's
user, under the three settings the README names:
  docker-default   Docker 20.10's own default seccomp profile (Debian's golang-github-docker-docker-dev ships it)
  unconfined       --security-opt seccomp=unconfined (namespaces allowed; /proc still read-only and masked)
  unmasked         seccomp=unconfined plus unmask=ALL (Docker: systempaths=unconfined): everything allowed
Every notebook passes nbval, no cell shows a traceback, and no program prints a bare errno that the course
does not explain. Then the image's own command serves the course, and the URL it prints opens notebook 00 in
Chromium. What this machine needed from podman: the runc runtime (crun refuses these hybrid cgroups),
ulimits no higher than podman's own hard limits, and pip's CA bundle (the egress re-signs TLS) bound over the
stand-in's for the build only - the test checks that none of it ends up in the image.

Fast part (every run): the same /proc rules on the host, with `tools/confine container-proc` - notebooks 10
and 16 explain, with their recorded references, what a read-only /proc/sys and a masked /proc forbid.

    FORKLAB_SLOW=1 flock /tmp/forklab-heavy.lock .venv/bin/python -m pytest -q tests/test_container.py
"""
from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import resource
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
CONFINE = ROOT / "tools" / "confine"
STUDENT = os.environ.get("FORKLAB_STUDENT_USER", "nobody")
DOCKER_SECCOMP = Path("/usr/share/gocode/src/github.com/docker/docker/profiles/seccomp/default.json")
REQUIRED = os.environ.get("FORKLAB_CONTAINER_REQUIRED") == "1"     # .ci/run: a skip is a failure
FIRST_NOTEBOOK = "notebooks/00_start_here.ipynb"

# The stand-in for python:3.11-slim: Debian 12 (what that image is built on) with Debian's Python 3.11, its
# headers (the official image has them in /usr/local/include) and the few packages the official image adds.
STANDIN = dict(suite="bookworm", variant="minbase",
               packages=("python3", "python3-venv", "python-is-python3", "libpython3.11-dev", "ca-certificates",
                         "netbase", "tzdata"))
STANDIN_REPO = "localhost/forklab-python-3.11-slim-standin"
SETTINGS = {
    "docker-default": ["--security-opt", f"seccomp={DOCKER_SECCOMP}"],
    "unconfined": ["--security-opt", "seccomp=unconfined"],
    "unmasked": ["--security-opt", "seccomp=unconfined", "--security-opt", "unmask=ALL"],
}


# --- reading what the notebooks printed ------------------------------------------------------------------

STRERRORS = sorted({os.strerror(n) for n in errno.errorcode if not os.strerror(n).startswith("Unknown error")},
                   key=len, reverse=True)
_ERR = r"(?:%s|\bE[A-Z0-9]{2,}\b)" % "|".join(map(re.escape, STRERRORS))
# perror's "mount /proc: Operation not permitted", "refused: EPERM (Operation not permitted)": after the last
# colon nothing but the errno - no words that say why
BARE_ERRNO = re.compile(r":\s*%s(?:\s*\(%s\))?\s*\.?\s*$" % (_ERR, _ERR))


def _text(outputs) -> str:
    parts = []
    for o in outputs:
        if o.get("output_type") == "stream":
            parts.append(o.get("text", ""))
        elif o.get("output_type") in ("execute_result", "display_data"):
            parts.append(o.get("data", {}).get("text/plain", ""))
        elif o.get("output_type") == "error":
            parts.append(f"Traceback: {o.get('ename')}: {o.get('evalue')}")
    return "\n".join(p if isinstance(p, str) else "".join(p) for p in parts)


def _same_line(line: str) -> str:
    return re.sub(r"\d+", "N", " ".join(line.split()))


def _said_before(line: str) -> str:
    """The message in front of the errno ("cannot create a pids cgroup here: mkdir"), to recognise a refusal the
    course already prints and explains at that cell, where this platform gives another errno."""
    return _same_line(BARE_ERRNO.sub("", line))


# strace's own line for a traced call's result ('clone3(...) = -1 ENOSYS (Function not implemented)'): a fact the
# cell shows on purpose (under Docker's profile glibc's clone3 is refused and it falls back), not a program failing
TRACED_RESULT = re.compile(r"\) = -1 E[A-Z0-9]+ \(")


def problems_in(runs: list[dict]) -> list[str]:
    """A traceback, or a line ending in an errno (perror's "what: Operation not permitted", "refused: EPERM")
    that the committed notebook does not show at that cell and that the cell does not explain ("Forbidden
    here: ..., because ..." with the recorded output)."""
    stored = {}
    for path in sorted((ROOT / "notebooks").glob("[0-9]*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type == "code":
                stored[(path.name, cell.get("id"))] = {_same_line(x) for x in _text(cell.outputs).splitlines()}
    found = []
    for run in runs:
        text = _text(run["outputs"])
        where = f"{run['notebook']} cell {run['cell']}"
        if "Traceback" in text:
            found.append(f"{where}: {text[-500:]}")
            continue
        known = stored.get((run["notebook"], run["cell"]), set())
        for line in text.splitlines():
            if not BARE_ERRNO.search(line) or TRACED_RESULT.search(line) or "Forbidden here:" in text:
                continue
            if _same_line(line) not in known and _said_before(line) not in {_said_before(k) for k in known}:
                found.append(f"{where}: an unexplained errno: {line.strip()}")
    return found


def read_runs(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _cell(notebook: str, cell_id: str):
    """A cell by its id: indexes move when cells are split or added."""
    return next(c for c in nbformat.read(ROOT / "notebooks" / notebook, as_version=4).cells if c.id == cell_id)


def test_the_errno_check_flags_a_bare_errno_and_accepts_an_explained_one():
    cell = _cell("10_namespaces_and_containers.ipynb", "nb10-15")          # the tiny container's %%c cell
    bare = [{"output_type": "stream", "name": "stderr", "text": "mount /proc: Operation not permitted\n"}]
    explained = bare + [{"output_type": "stream", "name": "stdout", "text": "Forbidden here: mounting, because x."}]
    assert problems_in([{"notebook": "10_namespaces_and_containers.ipynb", "cell": cell.id, "outputs": bare}])
    assert not problems_in([{"notebook": "10_namespaces_and_containers.ipynb", "cell": cell.id,
                             "outputs": explained}])
    assert not problems_in([{"notebook": "10_namespaces_and_containers.ipynb", "cell": cell.id,
                             "outputs": cell.outputs}])                          # what the notebook shows itself
    raised = [{"output_type": "error", "ename": "TypeError", "evalue": "'NoneType' object is not subscriptable"}]
    assert problems_in([{"notebook": "16_pidfd_and_pid1.ipynb", "cell": "x", "outputs": raised}])
    ns_permission = _cell("10_namespaces_and_containers.ipynb", "nb10-06")
    other_errno = [{"output_type": "stream", "name": "stdout",
                    "text": "CLONE_NEWUTS                 -> refused: ENOSPC (No space left on device)\n"}]
    assert not problems_in([{"notebook": "10_namespaces_and_containers.ipynb", "cell": ns_permission.id,
                             "outputs": other_errno}])          # a refusal the cell prints anyway, another errno
    reason = [{"output_type": "stream", "name": "stdout",
               "text": "NO   mount a /proc   the kernel refuses a new procfs that would reveal what they hide (EPERM)"}]
    assert not problems_in([{"notebook": "00_start_here.ipynb", "cell": "x", "outputs": reason}])


# --- fast: a container's /proc, imitated on the host -----------------------------------------------------

def _nbval_under_container_proc(student: bool, notebooks: list[str]) -> tuple[subprocess.CompletedProcess, list]:
    """nbval (lax) on `notebooks` under tools/confine container-proc, as this user or as a student; and what
    every cell printed."""
    out = Path(tempfile.mkdtemp(prefix="forklab-container-"))
    try:
        out.chmod(0o777)
        target = out / "outputs.jsonl"
        python = "python" if student else sys.executable         # tools/as_student puts its venv first on PATH
        cmd = ["env", f"FORKLAB_NBVAL_OUTPUTS={target}", python, "tools/confine", "container-proc", "--",
               python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--color=no", "--nbval-lax",
               "-p", "tests.nbval_outputs", *notebooks]
        if student:
            cmd = [str(ROOT / "tools" / "as_student"), *cmd]
        env = dict(os.environ, PYTHONPATH=str(ROOT / "lib" / "src"))
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
        return proc, read_runs(target)
    finally:
        shutil.rmtree(out, ignore_errors=True)


@pytest.mark.parametrize("student", [False, True], ids=["as-is", "as-student"])
def test_a_read_only_proc_sys_and_a_masked_proc_are_explained_with_the_recordings(student):
    """tools/confine container-proc gives the /proc of `docker run --security-opt seccomp=unconfined`:
    notebook 16's PID-reuse race and notebook 10's tiny container say why they cannot run, and show the
    recording - no TypeError from a failed program's output, no bare 'mount /proc: Operation not permitted'."""
    if student and os.geteuid() != 0:
        pytest.skip("already unprivileged")
    proc, runs = _nbval_under_container_proc(student, ["notebooks/10_namespaces_and_containers.ipynb",
                                                       "notebooks/16_pidfd_and_pid1.ipynb"])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert problems_in(runs) == []
    said = {(r["notebook"], r["cell"]): _text(r["outputs"]) for r in runs}
    race = said[("16_pidfd_and_pid1.ipynb", "05f31010")]
    assert "Forbidden here: writing /proc/sys/kernel/ns_last_pid" in race and "read-only" in race
    assert "Reference output, recorded on Linux" in race and "the wrong process" in race
    tiny = said[("10_namespaces_and_containers.ipynb", "nb10-15")]
    assert "Forbidden here: mounting a fresh /proc" in tiny and "systempaths=unconfined" in tiny
    assert "step 4 mount ns: mounted a fresh /proc" in tiny.split("Reference output")[1]


def test_the_probes_name_the_container_rule_and_allow_what_the_host_allows():
    code = ("from forklab.course.report import ns_last_pid_forbidden as a, proc_mount_forbidden as b; "
            "print(repr(a())); print(repr(b()))")
    env = dict(os.environ, PYTHONPATH=str(ROOT / "lib" / "src"))
    here = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    confined = subprocess.run([sys.executable, str(CONFINE), "container-proc", "--", sys.executable, "-c", code],
                              capture_output=True, text=True, env=env, timeout=60)
    assert here.stdout.split("\n")[:2] == ["None", "None"], here.stdout + here.stderr    # CI's host allows both
    ns_last_pid, proc_mount = confined.stdout.splitlines()
    assert "read-only" in ns_last_pid and "EROFS" in ns_last_pid, confined.stderr
    assert "masked" in proc_mount and "EPERM" in proc_mount


# --- slow: a real engine -----------------------------------------------------------------------------------

def _unavailable(why: str):
    if REQUIRED:
        pytest.fail(f"{why} (FORKLAB_CONTAINER_REQUIRED=1: .ci/run installs podman, runc, mmdebstrap and "
                    "golang-github-docker-docker-dev)")
    pytest.skip(why)


def _podman_ulimits() -> list[str]:
    """podman (as root, without CAP_SYS_RESOURCE here) cannot give a container more than its own hard limits:
    the machine's for open files, and for processes 32768 - podman lowers its own RLIMIT_NPROC to that."""
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    nproc = resource.getrlimit(resource.RLIMIT_NPROC)[1]
    nofile = 1048576 if nofile == resource.RLIM_INFINITY else min(nofile, 1048576)
    nproc = 32768 if nproc == resource.RLIM_INFINITY else min(nproc, 32768)
    return ["--ulimit", f"nofile={nofile}:{nofile}", "--ulimit", f"nproc={nproc}:{nproc}"]


ENGINE = ["--runtime", "runc"]     # podman's default, crun, refuses hybrid (v1 + v2) cgroups such as these


def podman(*args, timeout=900, check=True) -> subprocess.CompletedProcess:
    proc = subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"podman {' '.join(args[:3])} ... failed ({proc.returncode}):\n"
                             f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


@pytest.fixture(scope="module")
def standin_base():
    """The stand-in for python:3.11-slim, made once per package list and kept in podman's storage."""
    if not os.environ.get("FORKLAB_SLOW"):
        pytest.skip("slow (minutes: an image build and three runs of the course): set FORKLAB_SLOW=1")
    for tool in ("podman", "runc", "mmdebstrap"):
        if shutil.which(tool) is None and not Path("/usr/sbin", tool).exists():
            _unavailable(f"{tool} is not installed (apt-get install podman runc mmdebstrap)")
    if not DOCKER_SECCOMP.exists():
        _unavailable(f"Docker's default seccomp profile is missing: {DOCKER_SECCOMP} "
                     "(apt-get install golang-github-docker-docker-dev)")
    if os.geteuid() != 0:
        _unavailable("the container test runs podman as root")
    key = hashlib.sha256(json.dumps(STANDIN, sort_keys=True).encode()).hexdigest()[:12]
    tag = f"{STANDIN_REPO}:{key}"
    if podman("image", "exists", tag, check=False).returncode == 0:
        print(f"stand-in base for python:3.11-slim: {tag} (cached)")
        return tag
    start = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="forklab-standin-"))
    try:
        tarball = work / "rootfs.tar"
        made = subprocess.run(["mmdebstrap", f"--variant={STANDIN['variant']}",
                               f"--include={','.join(STANDIN['packages'])}", STANDIN["suite"], str(tarball)],
                              capture_output=True, text=True, timeout=1200)
        assert made.returncode == 0, made.stderr[-3000:]
        podman("import", "--change", "ENV LANG=C.UTF-8", "--change", 'CMD ["python3"]',
               "--change", "LABEL org.forklab.standin=\"a local stand-in for python:3.11-slim, made with mmdebstrap\"",
               str(tarball), tag)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for old in podman("images", "--format", "{{.Repository}}:{{.Tag}}", STANDIN_REPO).stdout.split():
        if old != tag:                                   # an older package list's base: not needed any more
            podman("rmi", old, check=False)
    print(f"stand-in base for python:3.11-slim: {tag} (made in {time.monotonic() - start:.0f} s)")
    return tag


@pytest.fixture(scope="module")
def image(standin_base):
    """The Dockerfile, unchanged, built on the stand-in base; removed after the module."""
    tag = f"localhost/forklab-container-test:{secrets.token_hex(4)}"
    start = time.monotonic()
    try:
        podman("build", *ENGINE, *_podman_ulimits(), "--layers=false", "--build-arg", f"BASE={standin_base}",
               # the egress re-signs TLS: pip (Debian's, in the stand-in) reads the system bundle - bound over
               # the stand-in's own for the build only, never written into a layer
               "-v", "/etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt:ro",
               "-t", tag, str(ROOT), timeout=1800)
        print(f"image built from the Dockerfile on the stand-in base in {time.monotonic() - start:.0f} s")
        yield tag
    finally:
        podman("rmi", "-f", tag, check=False)


def _in_image(image, *argv) -> str:
    return podman("run", "--rm", *ENGINE, *_podman_ulimits(), "--network=none", image, *argv, timeout=300).stdout


def test_the_image_runs_the_course_as_its_unprivileged_user_and_keeps_nothing_of_the_build(image, standin_base):
    config = json.loads(podman("image", "inspect", image).stdout)[0]["Config"]
    assert config["User"] == "student"
    assert not [e for e in config.get("Env", []) if re.match(r"(PIP_|REQUESTS_CA|SSL_CERT|CURL_CA)", e)]
    assert _in_image(image, "id", "-un").strip() == "student"
    bundle = "sha256sum /etc/ssl/certs/ca-certificates.crt; ls /etc/pip.conf /etc/xdg/pip 2>&1 || true"
    built, base = _in_image(image, "sh", "-c", bundle), _in_image(standin_base, "sh", "-c", bundle)
    assert built == base, "the image's CA bundle or pip configuration is not the stand-in base's own"


@pytest.mark.parametrize("setting", list(SETTINGS))
def test_every_notebook_passes_inside_the_container(image, setting):
    out = Path(tempfile.mkdtemp(prefix="forklab-container-"))
    start = time.monotonic()
    try:
        out.chmod(0o777)                              # the image's user writes what each cell printed here
        # --nbval-lax: a cell may legitimately print other things in a container (forbidden experiments, and
        # facts such as the depth of PID namespaces); what it printed is checked below instead
        nbval = ["--nbval-lax"]
        proc = podman("run", "--rm", *ENGINE, *_podman_ulimits(), *SETTINGS[setting], "-v", f"{out}:/out",
                      "-e", "FORKLAB_NBVAL_OUTPUTS=/out/outputs.jsonl", image,
                      "python", "-m", "pytest", "-q", "-p", "no:cacheprovider", "--color=no", *nbval,
                      "--nbval-sanitize-with", "tests/nbval_sanitize.cfg", "-p", "tests.nbval_outputs", "notebooks",
                      timeout=1800, check=False)
        runs = read_runs(out / "outputs.jsonl")
    finally:
        shutil.rmtree(out, ignore_errors=True)
    print(f"{setting}: the course ran in {time.monotonic() - start:.0f} s, {len(runs)} cells")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout and "failed" not in proc.stdout
    assert len(runs) > 250, f"only {len(runs)} cells reported"
    assert problems_in(runs) == []
    said = {(r["notebook"], r["cell"]): _text(r["outputs"]) for r in runs}
    race, tiny = said[("16_pidfd_and_pid1.ipynb", "05f31010")], said[("10_namespaces_and_containers.ipynb", "nb10-15")]
    if setting == "unconfined":        # namespaces allowed, /proc a container's: the two cells explain
        assert "Forbidden here: writing /proc/sys/kernel/ns_last_pid" in race
        assert "Forbidden here: mounting a fresh /proc" in tiny
    if setting == "unmasked":          # and here they run for real
        assert "Forbidden here" not in race + tiny and "step 4 mount ns: mounted a fresh /proc" in tiny


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_url_the_image_prints_opens_notebook_00_in_chromium(image, browser):
    """`docker run -p 8888:8888 forklab` prints a URL; opened, it shows the course's first notebook with a
    live kernel - not JupyterLab's launcher."""
    port, name = _free_port(), f"forklab-container-test-{secrets.token_hex(4)}"
    podman("run", "-d", "--name", name, *ENGINE, *_podman_ulimits(), *SETTINGS["docker-default"],
           "-p", f"127.0.0.1:{port}:8888", image)
    try:
        deadline, url = time.monotonic() + 120, None
        while url is None and time.monotonic() < deadline:
            logs = podman("logs", name, check=False)
            url = re.search(r"http://127\.0\.0\.1:8888(/\S*?)\?token=(\w+)", logs.stdout + logs.stderr)
            time.sleep(0.5)
        assert url, "the server printed no http://127.0.0.1:8888/...?token=... URL:\n" + logs.stderr[-3000:]
        assert url[1] == f"/lab/tree/{FIRST_NOTEBOOK}", f"the printed URL lands on {url[1]}, not the course"
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(90000)
        try:
            page.goto(f"http://127.0.0.1:{port}{url[1]}?token={url[2]}")
            page.wait_for_function("document.querySelector('#jp-main-statusbar')?.innerText.includes("
                                   "'(ipykernel) | Idle')")
            tab = page.locator(".jp-mod-current .lm-TabBar-tabLabel, .lm-TabBar-tab.jp-mod-current").first
            assert "00_start_here.ipynb" in tab.inner_text()
            assert "Start here: watch the kernel create processes" in page.locator(".jp-Notebook").first.inner_text()
            assert page.locator(".jp-Launcher").count() == 0 or not page.locator(".jp-Launcher").first.is_visible()
        finally:
            page.close()
    finally:
        podman("rm", "-f", "-t", "5", name, check=False)
