"""The package's seams hold: no import circle between forklab's modules (lazy imports inside functions
counted too), no module reaching into another's private names, and the sandbox's runner standing on the
standard library alone (it must not import the course: runner.py is loaded by path in a fresh
interpreter by test_cell_walls.py, and every meter runs programs through it)."""
import ast
from pathlib import Path

import forklab

PACKAGE = Path(forklab.__file__).parent
ALLOWED_PRIVATE_MODULES = {"_core"}     # the engine's compiled C core, imported as a module


def modules() -> dict[str, ast.Module]:
    return {p.stem: ast.parse(p.read_text(), str(p)) for p in sorted(PACKAGE.glob("*.py")) if p.stem != "__init__"}


def imports_of(tree: ast.Module) -> list[tuple[str, list[str], int]]:
    """(module imported from the package, names taken from it, line) for every import, lazy ones too."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            inside = node.level == 1 or (node.level == 0 and (node.module or "").startswith("forklab"))
            if not inside:
                continue
            module = node.module if node.level == 1 else (node.module or "").removeprefix("forklab").lstrip(".")
            names = [a.name for a in node.names]
            if module:
                found.append((module.split(".")[0], names, node.lineno))
            else:                                   # from . import a, b: each is a module
                found += [(name, [], node.lineno) for name in names]
        elif isinstance(node, ast.Import):
            found += [(a.name.split(".")[1], [], node.lineno) for a in node.names
                      if a.name.startswith("forklab.")]
    return found


def graph() -> dict[str, set[str]]:
    mods = modules()
    return {name: {m for m, _, _ in imports_of(tree) if m in mods} for name, tree in mods.items()}


def circles(g: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each a circle of imports."""
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(g[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(g):
        if v not in index:
            visit(v)
    return found


def test_no_import_circle_between_the_packages_modules():
    assert circles(graph()) == []


def test_the_circle_finder_sees_a_circle():
    assert circles({"tree": {"forkgame"}, "forkgame": {"tree"}, "figure": set()}) == [["forkgame", "tree"]]


def test_no_module_imports_another_modules_private_names():
    mods = modules()
    reaches = []
    for name, tree in mods.items():
        imported_modules = set()
        for module, names, line in imports_of(tree):
            if module.startswith("_") and module not in ALLOWED_PRIVATE_MODULES:
                reaches.append(f"{name}.py:{line} imports the private module {module}")
            if not names:
                imported_modules.add(module)
            for n in names:
                if n.startswith("_") and not n.startswith("__") and n not in ALLOWED_PRIVATE_MODULES:
                    reaches.append(f"{name}.py:{line} imports {module}.{n}")
                if n in mods:                       # from . import runner: a module, used as runner.x
                    imported_modules.add(n)
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id in imported_modules and node.value.id != name
                    and node.attr.startswith("_") and not node.attr.startswith("__")):
                reaches.append(f"{name}.py:{node.lineno} uses {node.value.id}.{node.attr}")
    assert reaches == []


def test_the_runner_uses_the_standard_library_only():
    assert [m for m, _, _ in imports_of(modules()["runner"])] == []


def test_the_old_modules_are_gone_without_a_shim():
    assert not (PACKAGE / "lab.py").exists() and not (PACKAGE / "ccell.py").exists()
