"""Binder's steps work for a student: repo2docker's pip route, then the whole course in a container.

What repo2docker does with binder/ (its Ubuntu base image, apt.txt and runtime.txt aside): install
binder/requirements.txt into a fresh Python environment, then run binder/postBuild from the
repository's root. This test does the same as an unprivileged user (nobody, when started as root)
in a copy of the tree without any build products, with a fresh venv from /usr/bin/python3 - and
then runs every notebook in that venv under Docker's default seccomp rules (tools/confine docker),
which is how Binder, a hub or `docker run` meets the course. Everything it made is removed after.

repo2docker itself cannot build here (its base image, buildpack-deps:24.04, comes from Docker Hub, and its Python
from conda-forge: neither is reachable), but `repo2docker --no-build` writes the Dockerfile it would build, and
the last test checks that its steps are the ones replayed here.

Slow (2.5 minutes here: every student package from PyPI, then the course), so it runs only when asked:
    FORKLAB_SLOW=1 python -m pytest -q -p no:cacheprovider tests/test_binder.py
"""
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BASE_PYTHON = "/usr/bin/python3"
STUDENT = os.environ.get("FORKLAB_STUDENT_USER", "nobody")

pytestmark = [
    pytest.mark.skipif(not os.environ.get("FORKLAB_SLOW"),
                       reason="slow (minutes, needs PyPI): set FORKLAB_SLOW=1 to run Binder's steps"),
    pytest.mark.skipif(subprocess.run([BASE_PYTHON, "-c", "import venv, ensurepip"],
                                      capture_output=True).returncode != 0 if os.path.exists(BASE_PYTHON) else True,
                       reason=f"needs {BASE_PYTHON} with the venv module"),
]

# What a fresh clone does not have: environments and everything a build leaves behind.
NOT_IN_A_CLONE = shutil.ignore_patterns(".git", ".venv", "__pycache__", "*.egg-info", "*.so", "*.o", "build",
                                        "forklab-bench", ".pytest_cache", ".ipynb_checkpoints")


def _as_student(work: Path):
    """The command prefix and environment that run a step as the student, in work/."""
    env = {"HOME": str(work / ".home"), "PATH": f"{work / 'venv' / 'bin'}:/usr/bin:/bin", "LANG": "C.UTF-8",
           "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    if os.geteuid() != 0:
        return [], env                                   # already unprivileged
    return ["runuser", "-u", STUDENT, "--", "env", "-i", *(f"{k}={v}" for k, v in env.items())], env


def _step(prefix, env, work, *argv):
    out = subprocess.run([*prefix, *argv], cwd=work, env=None if prefix else {**os.environ, **env},
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert out.returncode == 0, f"{' '.join(argv)} failed (exit {out.returncode}):\n{out.stdout[-4000:]}"
    return out.stdout


def test_binder_steps_build_the_course_and_every_notebook_runs_under_docker_rules():
    work = Path(tempfile.mkdtemp(prefix="forklab-binder-", dir="/tmp"))
    try:
        work.chmod(0o755)
        shutil.copytree(ROOT, work, ignore=NOT_IN_A_CLONE, dirs_exist_ok=True)
        (work / ".home").mkdir()
        if os.geteuid() == 0:
            uid = pwd.getpwnam(STUDENT).pw_uid
            for path in [work, *work.rglob("*")]:
                os.lchown(path, uid, -1)
        prefix, env = _as_student(work)
        venv_python = str(work / "venv" / "bin" / "python")

        _step(prefix, env, work, BASE_PYTHON, "-m", "venv", str(work / "venv"))
        _step(prefix, env, work, venv_python, "-m", "pip", "install", "-q", "--no-cache-dir",
              "-r", "binder/requirements.txt")
        _step(prefix, env, work, "binder/postBuild")

        # forklab comes from the venv (postBuild built it), not from the tree.
        where = _step(prefix, env, work, venv_python, "-c", "import forklab; print(forklab.__file__)")
        assert str(work / "venv") in where, where

        out = _step(prefix, env, work, venv_python, "tools/confine", "docker", "--",
                    venv_python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--color=no", "--nbval-lax",
                    "--nbval-sanitize-with", "tests/nbval_sanitize.cfg", "notebooks")
        assert " passed" in out and "failed" not in out, out[-2000:]
    finally:
        shutil.rmtree(work, ignore_errors=True)


def test_repo2docker_would_build_with_the_steps_this_test_replays():
    """repo2docker itself cannot build here (its Ubuntu base image and conda-forge's Python are out of reach), but
    it writes the Dockerfile it would build (--no-build): the steps above must be the ones it runs - apt.txt's
    packages, then as the notebook user binder/requirements.txt from the repository's root, then binder/postBuild."""
    work = Path(tempfile.mkdtemp(prefix="forklab-r2d-", dir="/tmp"))
    try:
        subprocess.run([BASE_PYTHON, "-m", "venv", str(work / "venv")], check=True, capture_output=True)
        pip = subprocess.run([str(work / "venv" / "bin" / "python"), "-m", "pip", "install", "-q",
                              "jupyter-repo2docker"], capture_output=True, text=True)
        assert pip.returncode == 0, pip.stdout[-2000:] + pip.stderr[-2000:]
        shutil.copytree(ROOT, work / "repo", ignore=NOT_IN_A_CLONE)
        out = subprocess.run([str(work / "venv" / "bin" / "repo2docker"), "--no-build", "--debug",
                              "--user-id", "1000", "--user-name", "student", str(work / "repo")],
                             capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr[-3000:]
        steps = out.stdout + out.stderr
        apt = " ".join((ROOT / "binder" / "apt.txt").read_text().split())
        assert f"apt-get install --yes --no-install-recommends {apt}" in steps
        assert 'pip install --no-cache-dir -r "binder/requirements.txt"' in steps
        assert "RUN ./binder/postBuild" in steps
        assert steps.index("binder/requirements.txt\"") < steps.index("RUN ./binder/postBuild")
        python = (ROOT / "binder" / "runtime.txt").read_text().strip().removeprefix("python-")
        assert f"python={python}" in steps                      # "Building conda environment for python=3.11"
    finally:
        shutil.rmtree(work, ignore_errors=True)
