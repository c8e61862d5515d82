"""The %%c cell magic: a notebook cell that is a whole C program, compiled and run in the sandbox.

In a notebook: `%load_ext forklab.course.cell_magic`, then a cell starting with `%%c` (options `--timeout S`,
`--max-procs N`, `--args "..."`, `--stdin "..."`, `--cflags "..."`, `--out VAR` (keep the run, a CResult,
in the notebook's variable VAR, so that a later cell can read what the program printed), `--host-pids`,
and `--needs WHAT --reference NAME`: where the platform forbids what the program needs, the cell says why
and shows the output recorded under NAME - see forklab.course.references). Compiling and running is
forklab.sandbox.runner's (run_c); what the program may and may not do there is described in that module.
"""
from __future__ import annotations

import argparse
import codecs
import shlex
import sys

from forklab.course.references import NEEDS, after_c_cell
from forklab.sandbox.runner import CellOptionError, run_c, show


def parse_magic_line(line: str) -> dict:
    """The options of a %%c line as run_c's keywords (and needs, reference, out); ValueError naming
    the valid options when one is unknown or malformed."""
    parser = argparse.ArgumentParser(prog="%%c", add_help=False)
    parser.add_argument("--timeout", type=float, default=5.0)
    parser.add_argument("--max-procs", type=int, default=64)
    parser.add_argument("--args", default="")
    parser.add_argument("--stdin", default=None)
    parser.add_argument("--cflags", default="")
    parser.add_argument("--needs", action="append", default=[], choices=NEEDS)   # see forklab.course.references
    parser.add_argument("--reference", default=None)
    parser.add_argument("--out", default=None)
    parser.add_argument("--host-pids", action="store_true")
    # "--cflags -O1": glue each option to its value, so a value may start with "-".
    tokens, words = [], shlex.split(line)
    while words:
        word = words.pop(0)
        if word in ("--timeout", "--max-procs", "--args", "--stdin", "--cflags", "--needs", "--reference",
                    "--out") and words:
            word = f"{word}={words.pop(0)}"
        tokens.append(word)
    try:
        ns = parser.parse_args(tokens)
    except SystemExit:
        raise ValueError(f"%%c options are --timeout S, --max-procs N, --args \"...\", --stdin \"...\", "
                         f"--cflags \"...\", --out VAR, --host-pids, --needs {'|'.join(NEEDS)}, --reference NAME; "
                         f"got: {line!r}") from None
    if ns.out is not None and not ns.out.isidentifier():
        raise ValueError(f"%%c --out needs a Python variable name, such as --out run; got: {ns.out!r}")
    stdin = _unescape(ns.stdin) if ns.stdin is not None else None
    return {"timeout": ns.timeout, "max_procs": ns.max_procs, "args": shlex.split(ns.args),
            "stdin": stdin, "cflags": shlex.split(ns.cflags), "needs": ns.needs, "reference": ns.reference,
            "out": ns.out, "host_pids": ns.host_pids}


def _unescape(text: str) -> str:
    """--stdin "line\\n": backslash escapes become characters; every other character, é or 字
    included, stays itself (unicode_escape alone reads UTF-8 bytes as Latin-1: é became Ã©)."""
    return codecs.decode(text.encode("latin-1", "backslashreplace"), "unicode_escape")


def c_magic(line: str, cell: str) -> None:
    """%%c: compile this cell's C program and run it (options: see forklab.course.cell_magic)."""
    try:
        opts = parse_magic_line(line)
    except ValueError as e:
        print(e, file=sys.stderr)
        return
    needs, name, out = opts.pop("needs"), opts.pop("reference"), opts.pop("out")
    try:
        result = run_c(cell, **opts)
    except CellOptionError as e:       # a refused option or value: the reason, never a traceback
        print(f"%%c: {e}", file=sys.stderr)
        return
    show(result)
    if out is not None:         # --out VAR: the notebook keeps the run, to read what the program printed
        from IPython import get_ipython
        get_ipython().user_ns[out] = result
    if needs:   # where this platform forbids what the program needs: why, and the recorded output
        after_c_cell(name, needs)


def load_ipython_extension(ipython) -> None:
    ipython.register_magic_function(c_magic, magic_kind="cell", magic_name="c")
