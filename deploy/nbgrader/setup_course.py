"""Set up an nbgrader course safely, as root, before the class gets its accounts (docs/instructors.md).

    sudo python deploy/nbgrader/setup_course.py --instructor you --course-dir ~you/course \\
         [--exchange /srv/nbgrader/exchange] [--course forklab] [--grader forklab-grader --sudoers FILE]

* The exchange root is mode 1777 (every student must create their submission in it), so any student could
  make `exchange/<course>` first; nbgrader's `release_assignment` then stops with "You don't own the
  directory". Here the course's folder is made first, owned by the instructor, with the modes nbgrader
  itself gives it: the course 0755, outbound/ 0755, inbound/ 2733 (students may add, not list),
  feedback/ 0711. If someone else already owns it, nothing is changed and the owner is named; with
  --remove-squatter their folder is deleted (without following links) and the course's made.
* The instructor's course folder (source/, the gradebook, every submission) is made 0700.
* With --grader, the grading account must exist, and the sudoers rule that lets the instructor start
  grading kernels as that account (deploy/nbgrader/grading_kernel.py) is written to --sudoers (checked
  with visudo) or printed; so is the FORKLAB_GRADING_COMMAND the instructor sets.
"""
from __future__ import annotations

import argparse
import grp
import os
import pwd
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
# mode of each folder of exchange/<course>, as nbgrader's exchange makes them (exchange/default/*.py)
COURSE_FOLDERS = {"": 0o755, "outbound": 0o755, "inbound": 0o2733, "feedback": 0o711}


def owner(path: Path) -> str:
    uid = path.lstat().st_uid
    try:
        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except KeyError:
        return f"uid {uid}"


def exchange_course(exchange: Path, course: str, instructor: pwd.struct_passwd, remove_squatter: bool) -> list[str]:
    said = []
    exchange.mkdir(parents=True, exist_ok=True)
    os.chown(exchange, 0, 0)
    os.chmod(exchange, 0o1777)
    top = exchange / course
    if top.is_symlink() or (top.exists() and top.lstat().st_uid != instructor.pw_uid):
        who = owner(top)
        if not remove_squatter:
            raise SystemExit(f"{top} already exists and belongs to {who}, not to {instructor.pw_name}: someone made "
                             f"it before the course was set up, and release_assignment would fail with \"You don't "
                             f"own the directory\". Look inside, then run again with --remove-squatter to delete it.")
        if top.is_symlink() or not top.is_dir():
            top.unlink()
        else:
            shutil.rmtree(top)        # rmtree removes links, never follows them
        said.append(f"removed {top}, made by {who}")
    for sub, mode in COURSE_FOLDERS.items():
        folder = top / sub if sub else top
        if folder.is_symlink() or (folder.exists() and folder.lstat().st_uid != instructor.pw_uid):
            raise SystemExit(f"{folder} belongs to {owner(folder)}: remove it (it is inside the course's folder)")
        folder.mkdir(exist_ok=True)
        os.chown(folder, instructor.pw_uid, instructor.pw_gid)
        os.chmod(folder, mode)
        said.append(f"{folder}: {instructor.pw_name}, {mode:04o}")
    return said


def sudoers_escape(arg: str) -> str:
    for ch in "\\,:=":
        arg = arg.replace(ch, "\\" + ch)
    return arg


def grading_command(python: str, grader: str, pythonpath: str, limits: list[str]) -> list[str]:
    command = [python, "-I", str(HERE / "grading_kernel.py"), "--as-grader", grader]
    if pythonpath:
        command += ["--pythonpath", pythonpath]
    for setting in limits:
        command += ["--limit", setting]
    return command


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--instructor", required=True, help="the instructor's Unix account")
    p.add_argument("--course-dir", required=True, type=Path, help="the instructor's nbgrader course folder")
    p.add_argument("--exchange", type=Path, default=Path(os.environ.get("FORKLAB_EXCHANGE", "/srv/nbgrader/exchange")))
    p.add_argument("--course", default=os.environ.get("FORKLAB_COURSE", "forklab"), help="the course id")
    p.add_argument("--remove-squatter", action="store_true", help="delete exchange/<course> if someone else made it")
    p.add_argument("--grader", help="the unprivileged account autograde runs students' code as")
    p.add_argument("--python", default=sys.executable, help="the course environment's python (for the grader)")
    p.add_argument("--pythonpath", default="", help="PYTHONPATH of grading kernels (if forklab is not installed)")
    p.add_argument("--limit", action="append", default=[], metavar="NAME=VALUE",
                   help="grading kernels' limits (PROCS, MEMORY, CPU, TMP, SHM; default: a student's)")
    p.add_argument("--sudoers", type=Path, help="write the grading rule to this file (e.g. /etc/sudoers.d/forklab)")
    a = p.parse_args(argv)
    if os.geteuid() != 0:
        p.error("run it as root: it sets owners and modes")
    try:
        instructor = pwd.getpwnam(a.instructor)
    except KeyError:
        p.error(f"no Unix account {a.instructor!r}")

    for line in exchange_course(a.exchange, a.course, instructor, a.remove_squatter):
        print(line)
    a.course_dir.mkdir(parents=True, exist_ok=True)
    os.chown(a.course_dir, instructor.pw_uid, instructor.pw_gid)
    os.chmod(a.course_dir, 0o700)
    print(f"{a.course_dir}: {a.instructor}, 0700 (source, gradebook and submissions are the instructor's alone)")

    if a.grader:
        try:
            grader = pwd.getpwnam(a.grader)
        except KeyError:
            p.error(f"no Unix account {a.grader!r}: make one (useradd --system --no-create-home {a.grader})")
        if grader.pw_uid in (0, instructor.pw_uid):
            p.error("the grading account must be neither root nor the instructor")
        if grader.pw_gid == instructor.pw_gid:
            p.error(f"the grading account must not share the instructor's group ({grp.getgrgid(grader.pw_gid).gr_name})")
        command = grading_command(a.python, a.grader, a.pythonpath, a.limit)
        rule = (f"# forklab: {a.instructor} starts grading kernels as {a.grader} (deploy/nbgrader/grading_kernel.py)\n"
                f"{a.instructor} ALL=(root) NOPASSWD: {' '.join(sudoers_escape(x) for x in command)}\n")
        if a.sudoers:
            tmp = a.sudoers.with_name("." + a.sudoers.name + ".new")   # sudo skips names with a dot
            tmp.write_text(rule)
            os.chmod(tmp, 0o440)
            check = subprocess.run(["visudo", "-c", "-q", "-f", str(tmp)], capture_output=True, text=True)
            if check.returncode:
                tmp.unlink()
                raise SystemExit(f"visudo refused the rule: {check.stdout}{check.stderr}\n{rule}")
            tmp.rename(a.sudoers)
            print(f"{a.sudoers}: {rule.splitlines()[1]}")
        else:
            print(f"put this in /etc/sudoers.d/forklab (visudo -f /etc/sudoers.d/forklab):\n{rule}")
        print("the instructor sets: FORKLAB_GRADING_COMMAND=" + shlex.quote(shlex.join(command)))


if __name__ == "__main__":
    main()
