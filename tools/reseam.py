#!/usr/bin/env python3
"""Move forklab's flat modules into the subpackages of its layers, and rewrite every reference to them.

    python tools/reseam.py            move, rewrite, check (run from anywhere; idempotent: a second run does nothing)
    python tools/reseam.py --dry-run  say what would move and stop

The layers, top to bottom (docs/architecture.md, "The package in its layers"; the contract is .importlinter, checked by lib/tests/test_layers.py):
course > meters > explorer > (engine | sandbox | figure) > host. MAPPING below says where each module goes; a
module in lib/src/forklab/ that MAPPING does not name stops the script before anything changes (add it), and a
module MAPPING names that does not exist (yet, or any more) is skipped with a note.

What it does, in order:
1. checks the flat folder: every module and every other file there must have a place;
2. inside the package, turns relative imports into absolute ones (`from .lab import run` ->
   `from forklab.lab import run`), while every file is still where its relative imports were written;
3. `git mv`s each module and the files that follow it (csrc/, references.json, a C program beside its module)
   into lib/src/forklab/<sub>/, with an __init__.py per subpackage that says what the layer is and may import;
4. rewrites every reference in the repository: dotted names (`forklab.lab` -> `forklab.engine.lab`, in code,
   strings, docs, `%load_ext`, `python -m`), `from forklab import tree, run` (split by subpackage), paths
   (`lib/src/forklab/csrc/` -> `lib/src/forklab/engine/csrc/`), pyproject's package-data, and notebooks' sources
   and compared outputs (with nbformat: cell ids, outputs and metadata kept);
5. applies the few special cases a pattern cannot (SPECIAL below: the supervisor's script imports, the tests'
   csrc paths) and stops if one of them no longer matches;
6. checks: every .py file still parses, and no old name is left anywhere.

Absolute imports everywhere (`from forklab.engine.flags import FLAGS`, never `from ..engine.flags`): each import
line names the layer it reaches into, which is what a reader (and a reviewer of a layering change) needs to see;
the same line works in a module, a test, a notebook and a docstring; and a later move rewrites names, never dots.
"""
from __future__ import annotations

import argparse
import ast
import fnmatch
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "lib" / "src" / "forklab"

#: module -> subpackage (None: stays at the top of the package). Today's names that other work splits or renames
#: are here too, so the script can be run before and after that work: lab (-> request, resources, verdicts,
#: outcomes, c_call, experiment), ccell (-> runner, cell_magic), platform (-> report, machine).
MAPPING = {
    # host: what this machine is and allows; standard library only
    "machine": "host", "procstat": "host",
    "machine_probe": "host",        # a program machine.py runs (python -I -S), beside it
    # engine: one experiment, its C core and the bench server
    "flags": "engine", "explain": "engine", "errors": "engine", "request": "engine", "resources": "engine",
    "verdicts": "engine", "outcomes": "engine", "c_call": "engine", "experiment": "engine",
    "benchserver": "engine", "lab": "engine",
    # sandbox: where a student's program runs
    "supervisor": "sandbox", "containment": "sandbox", "leftovers": "sandbox", "runner": "sandbox",
    "ccell": "sandbox",             # until it is split: its runner half is what every meter uses
    # explorer: the flag explorer's picture and widgets
    "picture": "explorer", "widgets": "explorer", "accessible": "explorer", "presets": "explorer",
    # meters: measurements of the kernel's costs and limits
    "cow": "meters", "cost": "meters", "limits": "meters", "strace": "meters", "benchmark": "meters",
    "cost_budget": "meters", "cost_table": "meters", "cost_report": "meters",
    # programs run by path, beside the module that runs them
    "fork_loop_harness": "meters", "idle_crowd": "meters", "subprocess_cost_parent": "meters",
    "tree_prelude": "course",
    # course: what a lesson or an exercise uses
    "prediction": "course", "grading": "course", "references": "course", "variant": "course",
    "ask_me_another": "course", "output_orders": "course", "tree": "course", "tree_drawing": "course",
    "forkgame": "course", "children": "course", "program": "course", "sharing": "course",
    "cell_magic": "course", "report": "course",
    "platform": "course",           # until it is renamed report.py
    # a leaf: the plot helper, imported by course and meters alike
    "figure": None,
}

#: Files that are not modules -> the module they follow (or a subpackage). A file or folder not named here
#: follows the one module whose source names it ("cow.c" in cow.py); none or several, and the script stops.
FOLLOWS = {
    "csrc": "engine",               # the C core and its cffi build script
    "_core*.so": "engine",          # built from csrc (ext module forklab.engine._core); moved so the tree keeps
    "forklab-bench": "engine",      # working until the rebuild, which writes them there anyway
    "explanations.json": "prediction",
    "references.json": "references",
}
IGNORED = {"__init__.py", "__pycache__", "py.typed"}

#: What each subpackage's __init__.py says (written once; an existing __init__.py is left alone).
LAYERS = {
    "host": "What this machine is and allows (kernel, capabilities, seccomp, namespaces, /proc), discovered once, "
            "and the one /proc/PID/stat parser. The bottom layer: it imports the standard library only.",
    "engine": "One experiment: the request and its checks, the flags and their rules, run() and its Observation, "
              "verdicts and errors, the C core (csrc/, built as forklab.engine._core) and the bench server "
              "(forklab-bench). It may import forklab.host; never forklab.sandbox (an independent sibling) or "
              "anything above.",
    "sandbox": "Where a student's program runs: the supervisor (run as a script, standard library and the "
               "stdlib-only modules beside it and in forklab.host), its walls (containment), what it cleans up "
               "(leftovers) and the runner that compiles and runs a C program under it. It may import "
               "forklab.host; never forklab.engine (an independent sibling) or anything above.",
    "explorer": "The flag explorer: the sharing picture, its widgets and their accessible parts, the presets. "
                "It may import forklab.engine, forklab.sandbox, forklab.figure and forklab.host; never "
                "forklab.meters or forklab.course.",
    "meters": "Measurements of what process creation costs and where it stops: copy-on-write, the cost model, "
              "limits, strace, the benchmark. It may import every layer below (explorer, engine, sandbox, "
              "figure, host); never forklab.course.",
    "course": "What a lesson or an exercise uses: predictions, grading, references for forbidden cells, "
              "variants, ask me another, output orders, fork trees and the fork game, the %%c magic and "
              "platform_report. The top layer: it may import every other one.",
}

TEXT_SUFFIXES = {".py", ".md", ".txt", ".cfg", ".toml", ".yml", ".yaml", ".json", ".ini", ".sh", ".c", ".h",
                 ".html", ".rst", ".in", ".service", ".slice", ".conf", ".j2", ""}
SKIP_FILES = {"tools/reseam.py"}      # this file names the old names on purpose
NOT_COMPARED = {"image/png", "image/jpeg", "application/vnd.jupyter.widget-view+json"}   # nbval's skip list


#: where a name starts: not inside a longer name - but right after a "\n" or "\t" escape in a string literal
#: ("import os\nfrom forklab import containment" is a program in a test)
START = r"(?:(?<![\w.])|(?<=\\[nt]))"


class Stop(Exception):
    """Something needs a person: the message says what."""


def git(*args, check=True) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, check=check, capture_output=True, text=True).stdout


# --- 1. what is in the flat folder --------------------------------------------------------------------------
def plan() -> tuple[dict, dict, list]:
    """(module -> sub, file -> sub, notes). Stops on anything without a place."""
    modules, files, notes, unknown = {}, {}, [], []
    subs = set(LAYERS)
    for entry in sorted(PKG.iterdir()):
        name = entry.name
        if name in IGNORED or name in subs or name.endswith(".egg-info"):
            continue
        if entry.suffix == ".py" and entry.is_file():
            stem = entry.stem
            if stem not in MAPPING:
                unknown.append(f"module {name}: add it to MAPPING in tools/reseam.py")
            elif MAPPING[stem] is not None:
                modules[stem] = MAPPING[stem]
            continue
        follows = next((v for k, v in FOLLOWS.items() if fnmatch.fnmatch(name, k)), None)
        if follows is None:
            sources = [p.stem for p in PKG.glob("*.py") if re.search(rf"""["'/]{re.escape(name)}["'/]""", p.read_text())]
            if len(sources) == 1:
                follows = sources[0]
                notes.append(f"{name} follows {follows}.py, which names it")
            else:
                unknown.append(f"file {name}: named by {sources or 'no module'}; add it to FOLLOWS in tools/reseam.py")
                continue
        sub = follows if follows in subs else MAPPING.get(follows)
        if follows not in subs and follows not in MAPPING:
            unknown.append(f"file {name}: FOLLOWS names {follows!r}, neither a module in MAPPING nor a subpackage")
        elif sub is not None:
            files[name] = sub
    missing = sorted(m for m in MAPPING if MAPPING[m] and not (PKG / f"{m}.py").exists()
                     and not (PKG / MAPPING[m] / f"{m}.py").exists())
    if missing:
        notes.append(f"not in the tree (skipped): {', '.join(missing)}")
    if unknown:
        raise Stop("these have no place in the layout; nothing was changed:\n  " + "\n  ".join(unknown))
    return modules, files, notes


# --- 2. relative imports -> absolute, before anything moves ---------------------------------------------------
def absolute_imports(path: Path) -> bool:
    """`from .x import a` -> `from forklab.x import a` and `from . import x` -> `from forklab import x`
    (a module of the flat folder: level 1 is forklab)."""
    text = path.read_text()
    tree = ast.parse(text)
    lines = text.splitlines(keepends=True)
    nodes = [n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level]
    for node in sorted(nodes, key=lambda n: (n.lineno, n.col_offset), reverse=True):
        if node.level != 1:
            raise Stop(f"{path}: line {node.lineno} imports {'.' * node.level}{node.module or ''}: beyond the package")
        line = lines[node.lineno - 1]
        head = re.compile(r"from\s+\.\s*(\w*)\s+import")
        m = head.match(line, node.col_offset)
        if not m:
            raise Stop(f"{path}: line {node.lineno}: cannot read this relative import: {line.strip()}")
        target = f"forklab.{m.group(1)}" if m.group(1) else "forklab"
        lines[node.lineno - 1] = line[:m.start()] + f"from {target} import" + line[m.end():]
        if re.search(r"import \([^)]*$", line):     # keep the names aligned under the parenthesis
            column, delta = line.index("import (") + 8, len(lines[node.lineno - 1]) - len(line)
            for i in range(node.lineno, node.end_lineno):
                if len(lines[i]) - len(lines[i].lstrip(" ")) == column:
                    lines[i] = " " * (column + delta) + lines[i].lstrip(" ")
    new = "".join(lines)
    if new != text:
        path.write_text(new)
    return new != text


# --- 3. the moves ---------------------------------------------------------------------------------------------
def tracked(path: Path) -> bool:
    return subprocess.run(["git", "ls-files", "--error-unmatch", str(path)], cwd=ROOT,
                          capture_output=True).returncode == 0


def move(modules: dict, files: dict) -> list:
    done = []
    for sub in sorted(set(modules.values()) | set(files.values())):
        folder = PKG / sub
        folder.mkdir(exist_ok=True)
        init = folder / "__init__.py"
        if not init.exists():
            init.write_text(f'"""{wrap(f"forklab.{sub}: " + LAYERS[sub])}\n"""\n')
            git("add", str(init))
    for name, sub in [*((f"{m}.py", s) for m, s in modules.items()), *files.items()]:
        src, dst = PKG / name, PKG / sub / name
        if tracked(src):
            git("mv", str(src), str(dst))
        else:                                   # a build product (the extension, forklab-bench): not in git
            shutil.move(str(src), str(dst))
        done.append(f"{name} -> {sub}/")
    return done


def wrap(text: str, width: int = 110) -> str:
    out, line = [], ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            out.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    return "\n".join([*out, line])


# --- 4. references --------------------------------------------------------------------------------------------
def placed() -> dict:
    """Every module and file that has a subpackage, as found in the tree now (after the moves)."""
    where = {}
    for sub in LAYERS:
        for entry in (PKG / sub).glob("*") if (PKG / sub).is_dir() else []:
            if entry.name in IGNORED:
                continue
            where[entry.stem if entry.suffix == ".py" else entry.name] = sub
    for name, follows in FOLLOWS.items():   # build products have their place even before they are built
        if not any(c in name for c in "*?["):
            where.setdefault(name, follows if follows in LAYERS else MAPPING[follows])
    if "csrc" in where:                     # the extension built from csrc: forklab.<sub>._core
        where["_core"] = where["csrc"]
    return where


def rewriter(where: dict):
    modules = sorted((m for m in where if (PKG / where[m] / f"{m}.py").exists() or m == "_core"),
                     key=len, reverse=True)
    files = sorted((n for n in where if not (PKG / where[n] / f"{n}.py").exists() and n != "_core"),
                   key=len, reverse=True)
    mods = "|".join(map(re.escape, modules))
    dotted = re.compile(rf"{START}forklab\.({mods})\b(?![\w-])")
    # the root module reached by an expression: __import__("forklab").explain
    by_call = re.compile(rf"""(__import__\(["']forklab["']\)\.)({mods})\b""")
    # `from forklab import a, b as c` on one line (also inside a string or after `;`), or in parentheses
    from_root = re.compile(rf"{START}from forklab import (\([\w\s,]*\)|[\w \t]+(?:,[\w \t]+)*)")
    path_names = "|".join([*(re.escape(f"{m}.py") for m in modules if m != "_core"), r"_core\b",
                           *map(re.escape, files)])
    path = re.compile(rf"(?<![\w.-])((?:lib/)?(?:src/)?forklab/)({path_names})(?![\w-])")

    def split_from(m: re.Match, text: str) -> str:
        names = [n.strip() for n in m.group(1).strip("()").split(",") if n.strip()]
        groups: dict = {}
        for n in names:
            groups.setdefault(where.get(n.split()[0]) if n.split()[0] in modules else None, []).append(n)
        if list(groups) == [None]:
            return m.group(0)
        line_start = text.rfind("\n", 0, m.start()) + 1
        indent = text[line_start:m.start()]
        sep = "\n" + indent if not indent.strip() else "; "
        return sep.join(f"from forklab{'.' + sub if sub else ''} import {', '.join(ns)}"
                        for sub, ns in groups.items())

    def names(line: str) -> str:
        line = dotted.sub(lambda m: f"forklab.{where[m.group(1)]}.{m.group(1)}", line)
        line = by_call.sub(lambda m: f"{m.group(1)}{where[m.group(2)]}.{m.group(2)}", line)
        return path.sub(lambda m: f"{m.group(1)}{where[m.group(2).removesuffix('.py')]}/{m.group(2)}", line)

    def rewrite(text: str) -> str:
        text = from_root.sub(lambda m: split_from(m, text), text)
        out, shift = [], None
        for line in text.splitlines(keepends=True):
            new = names(line)
            if shift:                   # the names of `from x import (` stay aligned under its parenthesis
                column, delta = shift
                if len(line) - len(line.lstrip(" ")) == column and line.strip():
                    new = " " * (column + delta) + new.lstrip(" ")
                if ")" in line:
                    shift = None
            elif new != line and re.search(r"\bimport \([^)]*$", line):
                shift = (line.index("import (") + 8, new.index("import (") - line.index("import ("))
            out.append(new)
        return "".join(out)
    return rewrite


def rewrite_notebook(path: Path, rewrite) -> bool:
    import nbformat
    nb = nbformat.read(path, as_version=nbformat.NO_CONVERT)
    changed = False
    for cell in nb.cells:
        new = rewrite(cell.source)
        if new != cell.source:
            cell.source, changed = new, True
        for out in cell.get("outputs", []):     # what nbval compares: stream text and every kept mime type
            if "text" in out and isinstance(out.text, str) and rewrite(out.text) != out.text:
                out.text, changed = rewrite(out.text), True
            for mime, value in out.get("data", {}).items():
                if mime not in NOT_COMPARED and isinstance(value, str) and rewrite(value) != value:
                    out.data[mime], changed = rewrite(value), True
    if changed:
        nbformat.write(nb, path)
    return changed


def text_files() -> list:
    out = []
    for name in git("ls-files").splitlines():
        p = ROOT / name
        if name in SKIP_FILES or not p.is_file() or p.is_symlink():
            continue
        if p.suffix in TEXT_SUFFIXES or p.name in ("Makefile", "Dockerfile") or p.suffix == ".ipynb":
            out.append(p)
    return out


def rewrite_everything(where: dict) -> list:
    rewrite = rewriter(where)
    changed = []
    for p in text_files():
        if p.suffix == ".ipynb":
            if rewrite_notebook(p, rewrite):
                changed.append(p)
            continue
        try:
            text = p.read_text()
        except UnicodeDecodeError:
            continue
        new = rewrite(text)
        if new != text:
            p.write_text(new)
            changed.append(p)
    return changed


def package_data() -> bool:
    """pyproject's [tool.setuptools.package-data]: every file in git that is not Python ships with its package
    (a folder's files as folder/*.ext); built files (the extension, forklab-bench) are the build's."""
    pyproject = ROOT / "lib" / "pyproject.toml"
    text = pyproject.read_text()
    by_package: dict = {}
    for name in git("ls-files", "--", str(PKG.relative_to(ROOT))).splitlines():
        rel = Path(name).relative_to(PKG.relative_to(ROOT))
        if rel.suffix == ".py" or "__pycache__" in rel.parts:
            continue
        package = "forklab" + ("." + rel.parts[0] if rel.parts[0] in LAYERS and len(rel.parts) > 1 else "")
        inside = rel.parts[1:] if package != "forklab" else rel.parts
        by_package.setdefault(package, set()).add(
            "/".join(inside) if len(inside) == 1 else f"{'/'.join(inside[:-1])}/*{rel.suffix}")
    lines = ["[tool.setuptools.package-data]"]
    lines += [(f'"{package}"' if "." in package else package) + " = [" + ", ".join(f'"{n}"' for n in sorted(v)) + "]"
              for package, v in sorted(by_package.items())]
    new = re.sub(r"\[tool\.setuptools\.package-data\]\n(?:[^\[\n][^\n]*\n?)*", "\n".join(lines) + "\n", text)
    if new != text:
        pyproject.write_text(new)
    return new != text


# --- 5. what a pattern cannot do -------------------------------------------------------------------------------
def supervisor_path(where: dict) -> list:
    """The supervisor runs as a script (`python -I -S .../supervisor.py`: quick to start, no site, no forklab
    package) and imports the stdlib-only modules it needs by their bare names: put each one's folder on its
    sys.path, after the standard library."""
    sub = where.get("supervisor")
    if sub is None:
        return []
    path = PKG / sub / "supervisor.py"
    text = path.read_text()
    bare = sorted({a.name.split(".")[0] for n in ast.walk(ast.parse(text)) if isinstance(n, ast.Import)
                   for a in n.names} | {n.module.split(".")[0] for n in ast.walk(ast.parse(text))
                                        if isinstance(n, ast.ImportFrom) and n.module and not n.level})
    folders = sorted({where[m] for m in bare if m in where and where[m] != sub})
    old = re.compile(r"(?m)^(?:#[^\n]*\n)*sys\.path\.(?:append\(|insert\(0, )os\.path\.dirname\(os\.path\.abspath\(__file__\)\)\)\n")
    new = ("# This file runs as a script (`python -I -S supervisor.py`): no site, and no forklab package, whose\n"
           "# import would cost the start-up time a script saves. The standard-library-only modules it needs lie\n"
           "# beside it and in " + ", ".join(f"forklab/{f}" for f in folders) + ": append those folders (after the "
           "standard library,\n# so nothing there can shadow it) and import those modules by their bare names.\n"
           "_HERE = os.path.dirname(os.path.abspath(__file__))\n"
           "sys.path += [_HERE" + "".join(f', os.path.join(os.path.dirname(_HERE), "{f}")' for f in folders) + "]\n")
    m = old.search(text)
    if m:
        path.write_text(text[:m.start()] + new + text[m.end():])
        return [f"{path.relative_to(ROOT)}: sys.path gets its own folder and {folders}"]
    if new in text:
        return []
    raise Stop(f"{path.relative_to(ROOT)}: its sys.path line is neither today's nor the rewritten one; "
               f"make it add its folder and {folders}")


#: (file, old, new): text a pattern cannot rewrite (a path built from parts). Applied once: if neither old nor
#: new is found, the script stops and names the line to fix.
SPECIAL = [
    ("lib/setup.py", "next to the extension: in src/forklab for an editable install",
     "next to the extension: in src/forklab/engine for an editable install"),
    ("lib/tests/test_child_build.py", 'Path(forklab.__file__).parent / "csrc"',
     'Path(forklab.__file__).parent / "engine" / "csrc"'),
    ("lib/tests/test_child_build.py", 'CSRC.parents[2] / "setup.py"', 'CSRC.parents[3] / "setup.py"'),
    ("lib/tests/test_linux_4_18.py", 'Path(forklab.__file__).parent / "csrc"',
     'Path(forklab.__file__).parent / "engine" / "csrc"'),
]


def special() -> list:
    done = []
    for name, old, new in SPECIAL:
        p = ROOT / name
        if not p.exists():
            done.append(f"{name}: gone (special case skipped)")
            continue
        text = p.read_text()
        if old in text:
            p.write_text(text.replace(old, new))
            done.append(f"{name}: {old} -> {new}")
        elif new not in text:
            raise Stop(f"{name}: neither {old!r} nor {new!r} is there any more: fix that path by hand, then "
                       f"update SPECIAL in tools/reseam.py")
    return done


# --- 6. checks ---------------------------------------------------------------------------------------------------
def leftovers(where: dict) -> list:
    mods = "|".join(re.escape(m) for m in where if (PKG / where[m] / f"{m}.py").exists() or m == "_core")
    old = [re.compile(rf"{START}forklab\.({mods})\b(?![\w-])"),
           re.compile(rf"{START}from forklab import [\w ,(]*\b({mods})\b"),
           re.compile(rf"""__import__\(["']forklab["']\)\.({mods})\b"""),
           re.compile(r"(?<![\w.-])(?:lib/)?(?:src/)?forklab/(csrc|forklab-bench|_core|references\.json|"
                      rf"explanations\.json|(?:{mods})\.py)\b")]
    found = []
    for p in text_files():
        try:
            text = p.read_text()
        except UnicodeDecodeError:
            continue
        if p.suffix == ".py":
            try:
                ast.parse(text)
            except SyntaxError as e:
                found.append(f"{p.relative_to(ROOT)}:{e.lineno}: no longer parses: {e.msg}")
        if p.suffix == ".ipynb":       # metadata (saved widget state) keeps old names until re-executed
            import nbformat
            text = "\n".join(c.source for c in nbformat.read(p, as_version=nbformat.NO_CONVERT).cells)
        for pattern in old:
            for m in pattern.finditer(text):
                found.append(f"{p.relative_to(ROOT)}:{text.count(chr(10), 0, m.start()) + 1}: {m.group(0)}")
    for p in PKG.rglob("*.py"):
        if "from ." in p.read_text() and any(isinstance(n, ast.ImportFrom) and n.level
                                             for n in ast.walk(ast.parse(p.read_text()))):
            found.append(f"{p.relative_to(ROOT)}: a relative import is left")
    return found


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dry-run", action="store_true", help="say what would move, change nothing")
    args = parser.parse_args(argv)
    try:
        modules, files, notes = plan()
        for note in notes:
            print("note:", note)
        if args.dry_run:
            for name, sub in [*((f"{m}.py", s) for m, s in modules.items()), *files.items()]:
                print(f"would move {name} -> {sub}/")
            return 0
        if git("status", "--porcelain", "--untracked-files=no", "--", str(PKG)).strip() and modules:
            raise Stop(f"{PKG.relative_to(ROOT)} has uncommitted changes: commit them first, so the move is "
                       "one reviewable step")
        flat = [p for p in PKG.glob("*.py") if p.stem in modules or p.name == "__init__.py" or p.stem in MAPPING]
        for p in flat:
            if absolute_imports(p):
                print(f"absolute imports: {p.relative_to(ROOT)}")
        for line in move(modules, files):
            print("moved", line)
        where = placed()
        changed = rewrite_everything(where)
        for p in changed:
            print(f"rewrote {p.relative_to(ROOT)}")
        if package_data():
            print("rewrote lib/pyproject.toml [tool.setuptools.package-data]")
        for line in [*supervisor_path(where), *special()]:
            print("special:", line)
        left = leftovers(where)
        if left:
            raise Stop("old names are left (fix the pattern or add a SPECIAL case):\n  " + "\n  ".join(left))
        print("done: nothing left to move" if not modules and not changed else
              "done: now rebuild the C core where it moved (make .venv/.installed-dev) and run lint-imports")
        return 0
    except Stop as e:
        print(f"tools/reseam.py stopped: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
