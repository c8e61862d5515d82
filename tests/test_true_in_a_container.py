"""What three cells print stays true in a container, not only on the machine that recorded them.

Found by running the notebooks in podman under Docker's default seccomp profile (issue 19):
- 08's clone3 rules labelled a set_tid of 2 PIDs "more than our PID namespaces", but a container's process is one
  PID namespace down already, where 2 PIDs are allowed by count and refused for the capability (EPERM) instead;
- 15's pids-cgroup program looked for its cgroup where /proc/self/cgroup names it (the host's path: ENOENT in a
  container, whose cgroup is mounted as the root of /sys/fs/cgroup/pids) and explained every refusal as EACCES;
- 14's strace of system() showed `clone3(...) = -1 ENOSYS` under Docker's profile without a word on it.
Each test rebuilds what a container does (a PID namespace one level down; its own cgroup bind-mounted read-only
over the hierarchy; tools/confine docker) and checks the printed line against the errno measured.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent


def _cell(notebook: str, cell_id: str):
    nb = nbformat.read(ROOT / "notebooks" / notebook, as_version=4)
    return next(c for c in nb.cells if c.get("id") == cell_id)


def _compile_cell(notebook: str, cell_id: str, folder: Path) -> Path:
    """The %%c cell's program, built as the course builds it (the first line is the %%c line)."""
    source = _cell(notebook, cell_id).source.split("\n", 1)[1]
    (folder / "cell.c").write_text(source)
    subprocess.run(["cc", "-Wall", "-Wextra", "-Werror", "-std=gnu17", "-O1", "-o", "cell", "cell.c"],
                   cwd=folder, check=True, capture_output=True, text=True, timeout=120)
    return folder / "cell"


@pytest.fixture
def folder():
    path = Path(tempfile.mkdtemp(prefix="forklab-container-truth-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _set_tid_line(output: str) -> str:
    lines = [line for line in output.splitlines() if "set_tid = 32 PIDs" in line]
    assert len(lines) == 1, output
    return lines[0]


def test_08_the_too_many_set_tid_pids_are_too_many_one_pid_namespace_down_too(folder):
    program = _compile_cell("08_clone_flags.ipynb", "nb08-21f", folder)
    here = subprocess.run([program], capture_output=True, text=True, timeout=60).stdout
    if "ENOSYS" in here or "set_tid" not in here:
        pytest.skip("clone3 is refused here (a seccomp filter or a kernel before 5.3)")
    nested = subprocess.run(["unshare", "--user", "--map-root-user", "--pid", "--fork", program],
                            capture_output=True, text=True, timeout=60)
    if nested.returncode != 0 or "set_tid" not in nested.stdout:
        pytest.skip(f"no user + PID namespace here: {nested.stderr.strip()}")
    assert _set_tid_line(here).endswith("refused, EINVAL")
    assert _set_tid_line(nested.stdout).endswith("refused, EINVAL"), nested.stdout   # a container's view
    stored = "".join(o.get("text", "") for o in _cell("08_clone_flags.ipynb", "nb08-21f").outputs)
    assert _set_tid_line(stored).endswith("refused, EINVAL")
    explanation = _cell("08_clone_flags.ipynb", "nb08-21g").source
    assert "a process in a container is one level down" in explanation and "`EPERM`" in explanation


EXPLANATION_OF = {   # what the program says after "mkdir: <strerror>", by errno
    "Permission denied": "only root",
    "Operation not permitted": "only root",
    "Read-only file system": "mounted read-only",
}

CONTAINER_VIEW = r"""
set -e
echo $$ > "$CGROUP/cgroup.procs"                 # a cgroup of its own, below the hierarchy's root
mount --make-rprivate /
mine=$(grep :pids: /proc/self/cgroup | cut -d: -f3)
mount --bind "/sys/fs/cgroup/pids$mine" /sys/fs/cgroup/pids   # what runc shows a container: its own cgroup
mount -o remount,bind,ro /sys/fs/cgroup/pids                  # ... read-only (moby oci/defaults.go)
exec "$@"
"""


def _check_explained(output: str):
    m = re.search(r"mkdir: (.+)\n\((.+)\)", output)
    assert m, output
    assert m.group(1) in EXPLANATION_OF, f"an errno the cell does not explain: {output}"
    assert EXPLANATION_OF[m.group(1)] in m.group(2), output


def test_15_a_containers_pids_cgroup_is_found_and_its_refusal_explained_by_its_errno(folder):
    hierarchy = Path("/sys/fs/cgroup/pids")
    if os.geteuid() != 0 or not (hierarchy / "cgroup.procs").exists() or shutil.which("unshare") is None:
        pytest.skip("needs root and a cgroup v1 pids hierarchy to rebuild a container's view of it")
    program = _compile_cell("15_when_fork_fails.ipynb", "aa253eed", folder)
    cgroup = Path(tempfile.mkdtemp(prefix="forklab-container-truth-", dir=hierarchy))
    try:
        (folder / "view.sh").write_text(CONTAINER_VIEW)
        run = subprocess.run(["unshare", "--mount", "sh", folder / "view.sh", program], capture_output=True,
                             text=True, timeout=60, env={**os.environ, "CGROUP": str(cgroup)})
    finally:
        cgroup.rmdir()                           # empty: its only process has exited
    assert run.returncode == 0, run.stderr
    assert "mkdir: Read-only file system" in run.stdout, run.stdout     # found, not "No such file or directory"
    _check_explained(run.stdout)


def test_15_as_a_student_the_refusal_is_explained_by_its_errno(folder):
    if os.geteuid() == 0:
        pytest.skip("root may make the cgroup: nothing is refused")
    program = _compile_cell("15_when_fork_fails.ipynb", "aa253eed", folder)
    run = subprocess.run([program], capture_output=True, text=True, timeout=60)
    if "cannot create" in run.stdout and "mkdir:" in run.stdout:
        _check_explained(run.stdout)


def test_14_clone3_refused_by_dockers_profile_is_explained(folder):
    if shutil.which("strace") is None:
        pytest.skip("strace is not installed")
    cell = _cell("14_a_mini_shell.ipynb", "c41").source
    (folder / "c41.py").write_text("import re\nimport forklab\nfrom forklab.meters import strace\n" + cell)
    run = subprocess.run([str(ROOT / "tools" / "confine"), "docker", "--", sys.executable, folder / "c41.py"],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    if "not traced" in run.stdout or "strace" in run.stdout.splitlines()[0]:
        pytest.skip(f"strace cannot trace here: {run.stdout[:200]}")
    assert re.search(r"parent: clone3\(.*\) = -1 ENOSYS", run.stdout), run.stdout
    assert re.search(r"parent: clone\(CLONE_VM\|CLONE_VFORK\|SIGCHLD\) = <child>", run.stdout), run.stdout
    assert "(clone3 answered ENOSYS: a seccomp filter here" in run.stdout
    explanation = _cell("14_a_mini_shell.ipynb", "c43").source
    assert "Docker's default seccomp profile refuses `clone3`" in explanation and "falls back to `clone()`" in explanation
