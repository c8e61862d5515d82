"""The ways to install forklab agree with each other."""
import json
import os
import re
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def requirement_names(path: Path) -> set[str]:
    names = set()
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line and not line.startswith("-"):
            names.add(re.split(r"[<>=!~\[; ]", line, maxsplit=1)[0].lower())
    return names


def test_environment_yml_installs_requirements_txt_and_the_library():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    deps = env["dependencies"]
    pip = next(d["pip"] for d in deps if isinstance(d, dict))
    assert "-r requirements.txt" in pip
    assert any(item.endswith("./lib") for item in pip)
    conda = {re.split(r"[<>=]", d)[0] for d in deps if isinstance(d, str)}
    assert {"python", "pip", "c-compiler"} <= conda
    # Nothing named in environment.yml besides the toolchain may be missing from requirements.txt.
    extra = {n.lower() for n in conda - {"python", "pip", "c-compiler"}}
    extra |= {re.split(r"[<>=]", p)[0].lower() for p in pip if not p.startswith("-")}
    assert extra <= requirement_names(ROOT / "requirements.txt")


def test_student_requirements_cover_the_course():
    names = requirement_names(ROOT / "requirements.txt")
    assert {"jupyterlab", "ipywidgets", "cffi", "matplotlib", "nbval"} <= names


def test_dev_requirements_extend_the_student_ones():
    assert "-r requirements.txt" in (ROOT / "requirements-dev.txt").read_text()


def test_library_metadata_names_cffi_and_python_version():
    text = (ROOT / "lib" / "pyproject.toml").read_text()
    assert 'requires-python = ">=3.10"' in text and "cffi" in text


# --- Binder, the Dockerfile and the devcontainer install the same course -----------------------

def _pip_installs(script: str) -> list[str]:
    """The arguments of every `pip install` in a shell script or Dockerfile, options dropped."""
    script = script.replace("\\\n", " ")
    found = []
    for m in re.finditer(r"pip install ([^\n&;]*)", script):
        args = m.group(1).split()
        found += [a if not a.startswith("-r") else "-r" for a in args if not a.startswith("--") and a != "-q"]
    return found


def test_binder_installs_requirements_txt_and_builds_the_library():
    binder = ROOT / "binder"
    lines = [line.split("#")[0].strip() for line in (binder / "requirements.txt").read_text().splitlines()]
    assert [line for line in lines if line] == ["-r ../requirements.txt"]      # cannot drift from it
    post_build = binder / "postBuild"
    assert os.access(post_build, os.X_OK), "repo2docker runs binder/postBuild only if it is executable"
    assert "./lib" in _pip_installs(post_build.read_text())
    assert {"gcc", "strace"} <= set((binder / "apt.txt").read_text().split())
    assert re.fullmatch(r"python-3\.\d+\n?", (binder / "runtime.txt").read_text())


def test_dockerfile_installs_what_binder_does():
    docker = (ROOT / "Dockerfile").read_text()
    installs = _pip_installs(docker)
    assert "requirements.txt" in installs and "./lib" in installs
    assert installs.index("requirements.txt") < installs.index("./lib")
    apt = re.search(r"apt-get install ([^\n&]*)", docker.replace("\\\n", " ")).group(1).split()
    assert set((ROOT / "binder" / "apt.txt").read_text().split()) <= set(apt)
    # The same Python as Binder's runtime.txt, and a student who is not root.
    python = (ROOT / "binder" / "runtime.txt").read_text().strip().removeprefix("python-")
    # The base may be given as a build argument (tests/test_container.py's local stand-in); by default the
    # same Python as Binder's runtime.txt.
    assert re.search(rf"^ARG BASE=python:{re.escape(python)}-slim$", docker, re.M)
    assert re.search(r"^FROM \$BASE$", docker, re.M)
    assert re.search(r"^USER student$", docker, re.M)
    # Every option that unlocks namespaces is written beside it.
    for option in ("seccomp=unconfined", "apparmor=unconfined", "SYS_ADMIN", "seccompProfile",
                   "systempaths=unconfined", "unmask=ALL", "procMount: Unmasked"):
        assert option in docker


def test_devcontainer_builds_the_dockerfile_and_says_how_to_unlock_namespaces():
    text = (ROOT / ".devcontainer" / "devcontainer.json").read_text()
    config = json.loads("\n".join(line for line in text.splitlines() if not line.lstrip().startswith("//")))
    assert config["build"] == {"dockerfile": "../Dockerfile", "context": ".."}
    assert config["remoteUser"] == "student"
    assert '"runArgs": ["--security-opt", "seccomp=unconfined"' in text


def test_the_binder_badge_opens_the_first_notebook():
    readme = (ROOT / "README.md").read_text()
    link = re.search(r"\(https://mybinder\.org/v2/gh/([^/]+)/forklab/HEAD\?urlpath=lab/tree/([^)]+)\)", readme)
    assert link, "README.md has no Binder badge for the forklab repository"
    assert (ROOT / link.group(2)).is_file(), f"the badge opens {link.group(2)}, which does not exist"


def test_make_lab_and_the_docker_image_serve_the_whole_course():
    """Given a notebook alone, Jupyter makes that notebook's folder its root: every Exercises link (../exercises/)
    would lead nowhere. Both ways of starting the course set the root to the repository."""
    printed = subprocess.run(["make", "-n", "-C", str(ROOT), "lab"], capture_output=True, text=True).stdout
    lab = next(ln for ln in printed.splitlines() if "jupyter lab" in ln)      # the command make lab runs
    assert "--ServerApp.root_dir=." in lab and lab.endswith("notebooks/00_start_here.ipynb"), lab
    cmd = next(ln for ln in (ROOT / "Dockerfile").read_text().replace("\\\n", " ").splitlines()
               if ln.startswith("CMD"))
    assert '"--ServerApp.root_dir=."' in cmd, cmd
    # In a container no browser is opened by the server: the URL it prints must itself land on the course
    # (a notebook argument reaches only a browser the server opens; tests/test_container.py opens the URL).
    assert '"--LabApp.default_url=/lab/tree/notebooks/00_start_here.ipynb"' in cmd, cmd
