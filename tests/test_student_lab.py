"""A student's `make lab`: the server it starts, started the same way, read as the student meets it.

`make lab` runs JupyterLab with jupyter/student on JUPYTER_CONFIG_PATH and installs the course's lab
settings into the environment (jupyter/README.md). Whatever else went into the environment - `make test`
puts nbgrader there - the student's lab has no nbgrader tools, never asks about "official Jupyter news",
and its log carries none of the warnings that are not the student's business: `No nbgrader_config.py file
found`, `websocket_ping_timeout ... cannot be longer than ...`, `Notebook ... is not trusted`.

The command is the one `make -n lab` prints (so a change to the Makefile is what is tested), run with a
throw-away HOME, a free port and --no-browser.
"""
from __future__ import annotations

import html
import importlib.util
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PREFIX = Path(sys.prefix)
LAB_SETTINGS = PREFIX / "share" / "jupyter" / "lab" / "settings" / "overrides.d" / "forklab.json"
NBGRADER = importlib.util.find_spec("nbgrader") is not None
NOISE = ("No nbgrader_config.py file found", "websocket_ping_timeout", "is not trusted")
pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_lab_commands(port: int) -> list[str]:
    """What `make lab` runs, in order (its prerequisites taken as done, so nothing is installed)."""
    out = subprocess.run(["make", "-s", "-n", "-C", str(ROOT), "lab", f"VENV={PREFIX}", f"PORT={port}",
                          "-o", f"{PREFIX}/.installed-lab", "-o", f"{PREFIX}/bin/python", "-o", "check-tools",
                          "-B"], capture_output=True, text=True, check=True).stdout
    return [line for line in out.splitlines() if line.strip()]


def _get(url: str, timeout: float = 5.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read()


def _lab(port: int, extra_env: dict | None = None, config_path: bool = True):
    """Start the server as `make lab` does; returns (process, base url, token, log path, temporary folder)."""
    jupyter = [c for c in make_lab_commands(port) if "jupyter lab" in c]
    assert len(jupyter) == 1, jupyter
    argv = shlex.split(jupyter[0])
    env_assignments = {}
    while "=" in argv[0] and not argv[0].startswith("-"):
        k, v = argv.pop(0).split("=", 1)
        env_assignments[k] = v
    if not config_path:
        env_assignments.pop("JUPYTER_CONFIG_PATH", None)
    tmp = tempfile.mkdtemp(prefix="forklab-student-lab-")
    home = Path(tmp, "home")
    home.mkdir()
    token = secrets.token_hex(16)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "JPY_"))}
    env.update(env_assignments, HOME=str(home), PYTHONUNBUFFERED="1", **(extra_env or {}))
    argv = [a for a in argv if a != "notebooks/00_start_here.ipynb"]
    argv += ["--no-browser", "--ServerApp.ip=127.0.0.1", "--ServerApp.port_retries=0",
             f"--ServerApp.token={token}", "notebooks/00_start_here.ipynb"]
    log = Path(tmp, "server.log")
    with open(log, "w") as f:
        server = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=f, stderr=subprocess.STDOUT,
                                  start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        if server.poll() is not None:
            raise AssertionError("the lab exited at start:\n" + log.read_text()[-3000:])
        try:
            _get(f"{base}/api/status?token={token}", 2)
            break
        except OSError:
            if time.monotonic() > deadline:
                _stop(server, tmp)
                raise AssertionError("the lab did not answer within 90 s:\n" + log.read_text()[-3000:])
            time.sleep(0.3)
    return server, base, token, log, tmp


def _stop(server, tmp):
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=5)
    shutil.rmtree(tmp, ignore_errors=True)


def _page_config(base: str, token: str) -> dict:
    page = _get(f"{base}/lab?token={token}").decode()
    m = re.search(r'<script id="jupyter-config-data" type="application/json">(.*?)</script>', page, re.S)
    assert m, "the lab page carries no page config"
    return json.loads(html.unescape(m[1]))


def _open_a_notebook_and_a_kernel_websocket(base: str, token: str) -> None:
    """What a student's browser does first: read notebook 00, start a kernel, connect its websocket."""
    import websocket   # websocket-client (requirements-dev.txt)

    json.loads(_get(f"{base}/api/contents/notebooks/00_start_here.ipynb?token={token}"))
    req = urllib.request.Request(f"{base}/api/kernels?token={token}", data=b"{}", method="POST",
                                 headers={"Content-Type": "application/json"})
    kernel = json.loads(urllib.request.urlopen(req, timeout=30).read())
    try:
        ws = websocket.create_connection(f"ws://127.0.0.1:{base.rsplit(':', 1)[1]}/api/kernels/{kernel['id']}"
                                         f"/channels?token={token}", timeout=30)
        ws.close()
    finally:
        req = urllib.request.Request(f"{base}/api/kernels/{kernel['id']}?token={token}", method="DELETE")
        urllib.request.urlopen(req, timeout=30).close()
    time.sleep(1.0)          # the server writes its log lines for them


def test_make_lab_installs_the_course_settings_and_uses_the_student_config():
    commands = make_lab_commands(_free_port())
    assert any(c.startswith("install ") and c.endswith(str(LAB_SETTINGS)) for c in commands), commands
    assert f"JUPYTER_CONFIG_PATH={ROOT}/jupyter/student" in commands[-1], commands[-1]


def test_the_students_lab_has_no_nbgrader_no_news_question_and_a_quiet_log():
    if not LAB_SETTINGS.exists() and os.access(PREFIX, os.W_OK):    # make lab's first step (make test skips it)
        subprocess.run(["make", "-s", "-C", str(ROOT), f"VENV={PREFIX}", str(LAB_SETTINGS)], check=True)
    server, base, token, log, tmp = _lab(_free_port())
    try:
        _open_a_notebook_and_a_kernel_websocket(base, token)
        config = _page_config(base, token)
        news = json.loads(_get(f"{base}/lab/api/settings/@jupyterlab/apputils-extension:notification"
                               f"?token={token}"))
        text = log.read_text()
    finally:
        _stop(server, tmp)
    # the news question is asked only while fetchNews is "none"; overrides change the defaults
    defaults = {k: v.get("default") for k, v in news["schema"]["properties"].items()}
    if LAB_SETTINGS.exists():          # (an environment that is not ours, as a student: checked as its owner)
        assert defaults["fetchNews"] == "false" and defaults["checkForUpdates"] is False, defaults
    assert "nbgrader" not in text.lower(), [line for line in text.splitlines() if "nbgrader" in line.lower()]
    if NBGRADER:     # its lab extension is installed with it: its menus are turned off
        assert "@jupyter/nbgrader" in config["disabledExtensions"], config["disabledExtensions"]
    noise = [line for line in text.splitlines() if any(n in line for n in NOISE)]
    assert noise == []
    assert "jupyterlab | extension was successfully loaded" in text


@pytest.mark.skipif(not NBGRADER, reason="nbgrader is not installed here (make test installs it)")
def test_without_the_student_config_the_same_server_shows_nbgraders_tools_and_the_warnings():
    """The check above can see what it rules out: the same command without jupyter/student."""
    server, base, token, log, tmp = _lab(_free_port(), config_path=False)
    try:
        _open_a_notebook_and_a_kernel_websocket(base, token)
        config = _page_config(base, token)
        text = log.read_text()
    finally:
        _stop(server, tmp)
    assert "nbgrader.server_extensions.formgrader | extension was successfully loaded" in text
    assert "@jupyter/nbgrader" not in config["disabledExtensions"]
    assert "No nbgrader_config.py file found" in text and "is not trusted" in text
    assert "websocket_ping_timeout" in text


@pytest.mark.parametrize("where", ["Dockerfile", "binder/postBuild", "deploy/jupyterhub_config.py"])
def test_every_other_form_a_student_opens_installs_the_course_lab_settings(where):
    """Docker image, Binder and the hub's course environment: the same settings file, into
    <environment>/share/jupyter/lab/settings/overrides.d/ (where JupyterLab reads overrides)."""
    text = (ROOT / where).read_text()
    flat = re.sub(r"[\"',\s\\]+", "/", text)       # os.path.join("a", "b") and "a/b" alike
    assert "jupyter/lab-settings/overrides.d/forklab.json" in flat, where
    assert "share/jupyter/lab/settings/overrides.d/forklab.json" in flat, where
