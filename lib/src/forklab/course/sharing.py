"""What clone flags share, asked of the kernel: the flag questions of graded exercises.

    >>> from forklab.course.sharing import shared_among
    >>> shared_among(["CLONE_VM", "CLONE_FILES"])
    {'memory', 'fd_table'}

Every answer is measured with forklab.run (never looked up); a refusal becomes a sentence.
"""
from __future__ import annotations

from forklab.engine.errors import BenchFailed, CloneRefused, ForbiddenHere
from forklab.engine.explain import fix_for
from forklab.engine.flags import FLAGS, names_of, parse_flags
from forklab.engine.experiment import run


def accepted_flags(flags) -> tuple[str, ...]:
    """``flags`` plus whatever the kernel needs to accept them for clone(): follow each refusal's fix."""
    names = set(names_of(parse_flags(flags)))
    for _ in range(6):
        try:
            run("clone", sorted(names))
            return tuple(n for n in FLAGS if n in names)
        except CloneRefused as e:
            if e.fix is None:
                raise
            names = (names | set(e.fix.add)) - set(e.fix.remove)
    raise RuntimeError(f"could not find a flag set the kernel accepts around {sorted(names)}")


def resources_controlled_by(flag: str) -> set[str]:
    """Resources that go from not shared to shared when ``flag`` is added (measured, twice).

    The flag is tried together with what the kernel requires for it (CLONE_SIGHAND needs
    CLONE_VM, ...), and compared with the same call without it.
    """
    name = names_of(parse_flags([flag]))[0]
    with_it = accepted_flags([name])
    without = [n for n in with_it if n != name]
    a, b = run("clone", with_it), run("clone", without)
    _measured(a, a.resources)
    _measured(b, b.resources)
    return {r for r, v in a.resources.items() if v.shared and not b.resources[r].shared}


def _measured(obs, names) -> None:
    """An answer that rests on a failed probe ("unknown") is no answer: say so instead of "not shared"."""
    for name in names:
        v = obs.resources[name]
        if v.unknown:
            raise BenchFailed(v.errno, f"forklab could not measure {name} for {obs.primitive}"
                              f"({' | '.join(obs.flags) or 'no flags'}): {v.evidence}. Try again; if it "
                              "persists, this process may be short of file descriptors.")


def refused_to_student(flags) -> str | None:
    """Why an unprivileged user's clone() with ``flags`` would be refused, or None if it would not be.

    Uses the kernel's rules as forklab knows them (forklab.engine.explain), so it answers as root too.
    """
    fix = fix_for(parse_flags(flags), "clone", "SIGCHLD", privileged=False)
    return None if fix is None else f"an unprivileged user's clone() would be refused (fix: {fix})"


#: The resources a sharing flag controls, in the order the course teaches them.
SHARING = ("memory", "fd_table", "fs", "signal_handlers", "sysvsem_undo", "io_context")


def observe(flags, primitive: str = "clone"):
    """forklab.run(primitive, flags), with a refusal turned into a sentence (AssertionError).

    A refusal by the platform (a container's seccomp filter, an old kernel) is not the answer's
    fault: it stays a ForbiddenHere, which ``grading.unless_forbidden_here()`` reports."""
    names = names_of(parse_flags(list(flags)))
    try:
        return run(primitive, names)
    except ForbiddenHere:
        raise
    except CloneRefused as e:
        shown = " | ".join(names) or "no flags"
        raise AssertionError(f"The kernel refused {primitive}({shown}) with {e.errno_name}: {e.reason}") from None


def shared_among(flags, among=SHARING) -> set[str]:
    """Which of ``among`` the kernel shared between parent and child for clone(flags)."""
    obs = observe(flags)
    _measured(obs, among)
    return {r for r in among if obs.resources[r].shared}


def flags_not_needed(flags, works) -> list[str]:
    """The flags of ``flags`` that can be dropped with ``works(smaller_set)`` still true."""
    names = names_of(parse_flags(list(flags)))
    spare = []
    for f in names:
        rest = [n for n in names if n != f]
        try:
            ok = works(rest)
        except ForbiddenHere:
            raise                 # the platform, not the smaller set: cannot be judged here
        except (CloneRefused, AssertionError):
            ok = False
        if ok:
            spare.append(f)
    return spare
