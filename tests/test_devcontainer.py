"""Codespaces / VS Code Dev Containers open the course in the student's JupyterLab, not in VS Code's notebook editor.

VS Code's notebook editor ignores the cell metadata that keeps each answer hidden until the student has predicted
(`jupyter.outputs_hidden`, `source_hidden`; docs/architecture.md, "Predict, then see"). So .devcontainer/
devcontainer.json starts JupyterLab the way `make lab` does and opens it in the browser. Checked here: the file
parses (JSON with comments, as the Dev Containers spec allows), its command is the student's JupyterLab (the
config path `make -n lab` uses, no instructor tools, the whole course as root), and that command, run here with
the workspace folder substituted and a free port, answers without a token, serves notebook 00 and has nbgrader's
lab extension switched off.
"""
from __future__ import annotations

import importlib.util
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.test_student_lab import _free_port, _get, _page_config, _stop, make_lab_commands

ROOT = Path(__file__).resolve().parent.parent
DEVCONTAINER = ROOT / ".devcontainer" / "devcontainer.json"
WORKSPACE = "${containerWorkspaceFolder}"


def _without_comments(text: str) -> str:
    """JSON with comments (JSONC) -> JSON: drops // and /* */ comments outside strings."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if c == '"':
            j = i + 1
            while text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(text[i:j + 1])
            i = j + 1
        elif text.startswith("//", i):
            i = text.find("\n", i) if "\n" in text[i:] else n
        elif text.startswith("/*", i):
            i = text.index("*/", i) + 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _config() -> dict:
    return json.loads(_without_comments(DEVCONTAINER.read_text(encoding="utf-8")))


def _split(command: str) -> tuple[dict, list[str]]:
    argv = shlex.split(command)
    env = {}
    while argv and "=" in argv[0] and not argv[0].startswith("-"):
        k, v = argv.pop(0).split("=", 1)
        env[k] = v
    return env, argv


def _option(argv: list[str], name: str) -> str | None:
    return next((a.split("=", 1)[1] for a in argv if a.startswith(name + "=")), None)


def test_the_devcontainer_file_parses_and_opens_jupyterlab_in_the_browser():
    config = _config()
    assert 8888 in config["forwardPorts"]
    assert config["portsAttributes"]["8888"]["onAutoForward"] == "openBrowser"
    vscode = config["customizations"]["vscode"]
    assert vscode["settings"]["workbench.editorAssociations"]["*.ipynb"] == "default", \
        "a notebook opened in VS Code itself would show every stored answer"
    assert not any(f.endswith(".ipynb") for f in config["customizations"].get("codespaces", {}).get("openFiles", []))
    assert "ms-toolsai.jupyter" not in vscode.get("extensions", [])


def test_the_devcontainer_starts_the_students_jupyterlab_as_make_lab_does():
    env, argv = _split(_config()["postAttachCommand"])
    make_env, make_argv = _split(next(c for c in make_lab_commands(8888) if "jupyter lab" in c))
    assert argv[:2] == ["jupyter", "lab"] and make_argv[0].endswith("/jupyter") and make_argv[1] == "lab"
    # the same student config (no nbgrader tools, no news, no noisy log lines), from the workspace's checkout
    assert env["JUPYTER_CONFIG_PATH"] == f"{WORKSPACE}/jupyter/student"
    assert make_env["JUPYTER_CONFIG_PATH"].split(":")[0] == f"{ROOT}/jupyter/student"
    assert _option(argv, "--ServerApp.root_dir") == WORKSPACE            # make lab: root_dir=. (the checkout)
    assert _option(argv, "--port") == "8888"
    assert _option(argv, "--LabApp.default_url") == "/lab/tree/notebooks/00_start_here.ipynb"
    assert "nbgrader" not in " ".join(argv).lower()


@pytest.mark.skipif(not Path(sys.prefix, "bin", "jupyter").exists(), reason="needs the .venv's jupyter")
def test_the_devcontainer_command_serves_the_course_without_a_token():
    env, argv = _split(_config()["postAttachCommand"].replace(WORKSPACE, str(ROOT)))
    port = _free_port()
    argv = [str(Path(sys.prefix, "bin", "jupyter"))] + argv[1:]
    argv = [f"--port={port}" if a.startswith("--port=") else a for a in argv] + ["--ServerApp.port_retries=0"]
    tmp = tempfile.mkdtemp(prefix="forklab-devcontainer-")
    Path(tmp, "home").mkdir()
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "JPY_"))}
    if os.geteuid() == 0:
        argv.append("--allow-root")
    log = Path(tmp, "server.log")
    with open(log, "w") as f:
        server = subprocess.Popen(argv, cwd=tmp, env={**clean, **env, "HOME": str(Path(tmp, "home"))},
                                  stdout=f, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while True:
            assert server.poll() is None, "the lab exited at start:\n" + log.read_text()[-3000:]
            try:
                _get(f"{base}/api/status", 2)          # no token asked
                break
            except OSError:
                assert time.monotonic() < deadline, "no answer within 90 s:\n" + log.read_text()[-3000:]
                time.sleep(0.3)
        assert json.loads(_get(f"{base}/api/contents/notebooks/00_start_here.ipynb"))["type"] == "notebook"
        if importlib.util.find_spec("nbgrader") is not None:         # make test installs it into the same .venv
            assert "@jupyter/nbgrader" in _page_config(base, "")["disabledExtensions"]
    finally:
        _stop(server, tmp)
