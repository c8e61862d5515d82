"""The package's layers hold (docs/architecture.md, "The package in its layers"): course > meters > explorer > (engine | sandbox | figure) > host.

lint-imports (import-linter, .importlinter at the repository's root) checks that no layer imports a higher one
and that engine, sandbox and figure never import each other. What it cannot see is checked here with ast:
no module uses another module's _private names (or another subpackage's _private module, such as
forklab.engine._core), no import circle (lazy imports inside functions count: they hide a circle, they do
not remove it), and the supervisor's script imports (bare `procstat`, run with its folders on sys.path) keep
to the layers too.
"""
import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

import forklab

PKG = Path(forklab.__file__).resolve().parent
ROOT = Path(__file__).resolve().parents[2]
LAYERS = ["host", ("engine", "sandbox", "figure"), "explorer", "meters", "course"]     # bottom to top


def module_name(path: Path) -> str:
    parts = path.relative_to(PKG.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PKG.rglob("*.py")) if "csrc" not in p.parts}
#: compiled modules (forklab.engine._core): imported, never parsed
EXTENSIONS = {module_name(p.with_name(p.name.split(".")[0] + ".py")) for p in PKG.rglob("*.so")}
#: the package a module's relative imports start from
PACKAGE_OF = {m: m if p.name == "__init__.py" else m.rpartition(".")[0] for m, p in MODULES.items()}
#: bare names a script (the supervisor) imports with its folders on sys.path -> the module they are
BARE = {m.rpartition(".")[2]: m for m in MODULES if m.count(".") == 2}


def is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def imports_of(module: str):
    """(line, imported module, names taken from it, bindings) for each import of module, at any depth."""
    tree = ast.parse(MODULES[module].read_text())
    found, bindings = [], {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                target = alias.name
                if target.split(".")[0] in BARE and target.split(".")[0] not in sys.stdlib_module_names:
                    target = BARE[target.split(".")[0]] + target[len(target.split(".")[0]):]
                if target.split(".")[0] != "forklab":
                    continue
                found.append((node.lineno, target, []))
                if alias.asname:
                    bindings[alias.asname] = target
                else:
                    bindings[target.split(".")[0]] = target.split(".")[0]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = PACKAGE_OF[module].split(".")
                base = ".".join(base[:len(base) - node.level + 1] + ([node.module] if node.module else []))
            else:
                base = node.module or ""
                head = base.split(".")[0]
                if head in BARE and head not in sys.stdlib_module_names:
                    base = BARE[head] + base[len(head):]
            if base.split(".")[0] != "forklab":
                continue
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                if sub in MODULES or sub in EXTENSIONS:     # `from forklab.engine import lab`: the module lab
                    found.append((node.lineno, sub, []))
                    bindings[alias.asname or alias.name] = sub
                else:
                    found.append((node.lineno, base, [alias.name]))
    return tree, found, bindings


def owner(target: str) -> str:
    """The module that defines target (a dotted name that may go past a module into its attributes)."""
    while target not in MODULES and target not in EXTENSIONS and "." in target:
        target = target.rpartition(".")[0]
    return target


def private_reaches(module: str) -> list:
    tree, found, bindings = imports_of(module)
    bad = []          # (in the order found, once each)
    for line, target, names in found:
        parts = target.split(".")
        for i, part in enumerate(parts):            # a _private module of another package: forklab.engine._core
            if is_private(part) and ".".join(parts[:i]) != PACKAGE_OF[module]:
                bad.append(f"{module}:{line} imports {target}, private to {'.'.join(parts[:i])}")
        for name in names:
            if is_private(name) and owner(target) != module:
                bad.append(f"{module}:{line} imports {name} from {target}")
    for node in ast.walk(tree):                     # lab._check, forklab.engine.lab._verdicts
        if isinstance(node, ast.Attribute) and is_private(node.attr):
            chain, value = [], node.value
            while isinstance(value, ast.Attribute):
                chain.insert(0, value.attr)
                value = value.value
            if isinstance(value, ast.Name) and value.id in bindings:
                target = ".".join([bindings[value.id], *chain])
                if owner(target) in MODULES and owner(target) != module and owner(target) != "forklab":
                    bad.append(f"{module}:{node.lineno} uses {target}.{node.attr}")
    return list(dict.fromkeys(bad))


def graph() -> dict:
    edges = {m: set() for m in MODULES}
    for m in MODULES:
        for _, target, _ in imports_of(m)[1]:
            target = owner(target)
            if target in MODULES and target != m and MODULES[target].name != "__init__.py" or target == "forklab":
                edges[m].add(target)
    edges["forklab"] = {owner(t) for _, t, _ in imports_of("forklab")[1]} - {"forklab"}
    return edges


def circles(edges: dict) -> list:
    """Strongly connected components of more than one module (Tarjan's algorithm)."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def layer(module: str):
    name = module.split(".")[1] if "." in module else None
    for level, names in enumerate(LAYERS):
        if name == names or name in names and isinstance(names, tuple):
            return level, name
    return None


def test_the_layers_hold():
    lint = Path(sys.executable).parent / "lint-imports"
    assert lint.exists(), "lint-imports is missing: pip install -r requirements-dev.txt (import-linter)"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(PKG.parent), os.environ.get("PYTHONPATH", "")])}
    # run where .importlinter is (its default place), on this tree's package (PYTHONPATH first)
    out = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    report = out.stdout.partition("Contracts\n---------")[2] or out.stdout
    assert out.returncode == 0, f"the layers are broken (.importlinter):{report[-6000:]}{out.stderr[-2000:]}"


def test_no_module_uses_another_modules_private_names():
    bad = [line for m in sorted(MODULES) for line in private_reaches(m)]
    assert not bad, "a module reaches into another's private names:\n  " + "\n  ".join(bad)


def test_no_import_circle():
    found = circles(graph())
    assert not found, "import circles (lazy imports count):\n  " + "\n  ".join(" <-> ".join(c) for c in found)


def test_script_imports_keep_to_the_layers():
    """The supervisor imports bare `procstat`, `containment` (its folders on sys.path): lint-imports cannot see
    those, so the same rule is checked here for them."""
    bad = []
    for m, path in MODULES.items():
        text = path.read_text()
        for node in ast.walk(ast.parse(text)):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level else [])
            for name in names:
                head = name.split(".")[0]
                if head in BARE and head not in sys.stdlib_module_names:
                    mine, theirs = layer(m), layer(BARE[head])
                    if mine is None or theirs is None:
                        continue
                    if theirs[0] > mine[0] or theirs[0] == mine[0] and theirs[1] != mine[1]:
                        bad.append(f"{m}:{node.lineno} imports {head} ({BARE[head]}), not below it")
    assert not bad, "\n".join(bad)


def test_the_checks_see_a_planted_reach(tmp_path, monkeypatch):
    """The ast checks are not vacuous: a module that reaches into lab's privates, and two that import each
    other, are caught."""
    a, b = tmp_path / "a.py", tmp_path / "b.py"
    a.write_text("from forklab.b import _secret\nimport forklab.b as other\nother._hidden()\n")
    b.write_text("def f():\n    from forklab import a\n")
    monkeypatch.setitem(MODULES, "forklab.a", a)
    monkeypatch.setitem(MODULES, "forklab.b", b)
    monkeypatch.setitem(PACKAGE_OF, "forklab.a", "forklab")
    monkeypatch.setitem(PACKAGE_OF, "forklab.b", "forklab")
    assert len(private_reaches("forklab.a")) == 2
    assert ["forklab.a", "forklab.b"] in circles(graph())


def test_the_runner_uses_the_standard_library_only():
    """The sandbox's runner compiles and runs every C program (cells, meters, trees): it stands on the standard
    library alone - test_cell_walls loads it by path in a fresh interpreter, and it must never pull in the course."""
    assert [target for _, target, _ in imports_of("forklab.sandbox.runner")[1]] == []


def test_the_old_modules_are_gone_without_a_shim():
    """lab.py (five jobs) and ccell.py (runner and magic) were split, platform.py (a standard library name)
    renamed: nothing may stand in for them."""
    assert not [n for n in ("lab", "ccell", "platform") if any(PKG.rglob(f"{n}.py"))]
