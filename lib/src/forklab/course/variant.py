"""A variant of an exercise for each student, seeded from who the student is.

    from forklab.course.variant import variant_for
    loops = variant_for("ex1", [2, 3, 4])      # prints the seed and the variant chosen

The seed comes from the student's identity and the exercise's name, so the same student always gets the
same variant - while working, when nbgrader validates, when the instructor grades and when they regrade -
and two students usually get different ones. The identity is, in order:

* ``FORKLAB_STUDENT``: set by the grader - nbgrader's student id in ``autograde`` (deploy/nbgrader's
  ``StudentIdentity`` preprocessor), the student's folder name in tools/grade.py;
* ``JUPYTERHUB_USER``: the hub's user name, which is also the student id nbgrader submits under;
* the login name, on the student's own machine.

The tests of a variant exercise never hold the answer: they run the student's variant of the program and
compare, so the expected answer is always the one for that same variant.
"""
from __future__ import annotations

import getpass
import hashlib
import os
from typing import Sequence, TypeVar

T = TypeVar("T")


def student() -> tuple[str, str]:
    """(the student's identity, where it came from)."""
    for name in ("FORKLAB_STUDENT", "JUPYTERHUB_USER"):
        if os.environ.get(name):
            return os.environ[name], name
    try:
        return getpass.getuser(), "your login name"
    except (KeyError, OSError):       # a uid without a name (some containers)
        return f"uid{os.getuid()}", "your user id"


def seed_for(exercise: str, identity: str | None = None) -> int:
    """A number from 0 to 999999, the same for the same student and exercise on every machine."""
    who = student()[0] if identity is None else identity
    return int.from_bytes(hashlib.sha256(f"forklab:{exercise}:{who}".encode()).digest()[:8], "big") % 1_000_000


def variant_for(exercise: str, choices: Sequence[T], *, identity: str | None = None, show: bool = True) -> T:
    """The student's variant among ``choices`` (say it, with its seed and whose it is, unless show=False)."""
    if not choices:
        raise ValueError(f"variant_for({exercise!r}): no choices to pick from")
    who, source = (identity, "given") if identity is not None else student()
    seed = seed_for(exercise, who)
    index = seed % len(choices)
    if show:
        print(f"Your variant of {exercise}: number {index + 1} of {len(choices)} (seed {seed}, for {who!r}, from "
              f"{source}). Another student may have another one: predict yours.")
    return choices[index]
