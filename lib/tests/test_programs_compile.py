"""Every program the package runs is a file beside the module that runs it (issue 23), and every C one compiles
with the C core's warnings as errors - both the way its module compiles it (the C cells' flags, runner.BASE_CFLAGS,
plus the module's own) and with the core's flags (csrc/build.py's CFLAGS, -O2: more warnings fire optimised).

HOW says how each is compiled, the same way its module does: alone, or put together with what the module puts
around it. A new .c or .h file outside csrc/ fails test_every_program_says_how_it_is_compiled until it is
listed there; the Python programs must be valid Python and refuse to be imported as modules."""
import importlib.util
import subprocess
import textwrap
import tomllib
from pathlib import Path

import pytest

import forklab
from forklab.course import output_orders, tree
from forklab.sandbox import runner

PACKAGE = Path(forklab.__file__).parent
CSRC = next(PACKAGE.rglob("csrc/build.py")).parent    # the C core, wherever the layout puts it


def _core_build():
    spec = importlib.util.spec_from_file_location("forklab_csrc_build", CSRC / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


CORE = _core_build()
#: What the core's warnings as errors means: build.py's WARNINGS, every one an error.
STRICT = [*CORE.WARNINGS, "-Werror"]

# A fork program of the kind students give forklab.course.tree.run_c: printf and puts both go through the prelude.
TREE_PROGRAM = textwrap.dedent("""\
    #include <stdio.h>
    #include <sys/wait.h>
    #include <unistd.h>
    int main(void) {
        pid_t child = fork();
        printf("%s %d\\n", child == 0 ? "child" : "parent", (int) getpid());
        puts("bye");
        if (child > 0) waitpid(child, NULL, 0);
        return 0;
    }
    """)


def _read(name):
    return next(p for p in PACKAGE.rglob(name) if "csrc" not in p.parts).read_text()


#: file name -> (the sources its module compiles, each a complete translation unit; the module's own flags)
HOW = {
    "cow_meter.c": (lambda: [_read("cow_meter.c")], []),                       # forklab.meters.cow, runner.run_c
    "fork_time.c": (lambda: [_read("fork_time.c")], []),                       # forklab.meters.cow, runner.run_c
    "cost_meter.c": (lambda: [_read("cost_meter.c")], []),                     # forklab.meters.cost, runner.compile_c
    "fork_wait_floor.c": (lambda: [_read("fork_wait_floor.c")], ["-O2"]),      # forklab.meters.benchmark.Floor
    "hello.c": (lambda: [_read("hello.c")], []),                               # forklab.meters.benchmark, runner.run_c
    # forklab.course.tree.run_c: the prelude, then the student's program; -pthread for pthread_atfork
    "tree_prelude.h": (lambda: [tree.C_PRELUDE + TREE_PROGRAM], ["-pthread"]),
    # forklab.course.output_orders.harness_source: a generated program, '#define RUNS n', then the harness
    "output_orders_harness.c": (lambda: [output_orders.harness_source(output_orders.random_program(seed), 5)
                                         for seed in range(4)], []),
    "trace_events.c": (lambda: [_read("trace_events.c")], []),                 # forklab.sandbox.trace_events
}


def c_programs() -> list[Path]:
    """Every .c and .h file of the package outside the C core (csrc/)."""
    return sorted(p for ext in ("*.c", "*.h") for p in PACKAGE.rglob(ext) if "csrc" not in p.parts)


def python_programs() -> list[Path]:
    """The package's .py files that are programs, not modules (each refuses to be imported)."""
    return sorted(p for p in PACKAGE.rglob("*.py") if 'if __name__ != "__main__":' in p.read_text())


def compile_c(source: str, flags: list, tmp_path: Path) -> subprocess.CompletedProcess:
    src = tmp_path / "program.c"
    src.write_text(source)
    return subprocess.run([runner.compiler(), *flags, "-o", str(tmp_path / "program"), str(src)],
                          capture_output=True, text=True, timeout=120)


def test_every_program_says_how_it_is_compiled():
    names = [p.name for p in c_programs()]
    assert len(names) == len(set(names)), f"two programs share a name: {names}"
    assert sorted(names) == sorted(HOW), "list each C program in HOW, compiled the way its module does"


@pytest.mark.parametrize("name", sorted(HOW))
@pytest.mark.parametrize("way", ["as its module compiles it", "with the core's flags"])
def test_the_program_compiles_with_the_core_warnings_as_errors(name, way, tmp_path):
    sources, own_flags = HOW[name]
    base = list(runner.BASE_CFLAGS) if way == "as its module compiles it" else list(CORE.CFLAGS)
    for source in sources():
        out = compile_c(source, [*base, *own_flags, *STRICT], tmp_path)
        assert out.returncode == 0 and "warning" not in out.stderr, f"{name}, {way}:\n{out.stderr}"


def test_a_warning_fails_the_compile(tmp_path):
    """The check has teeth: an unused variable in a program is an error under these flags."""
    source = _read("hello.c").replace("int main(void) {", "int main(void) { int unused;")
    out = compile_c(source, [*runner.BASE_CFLAGS, *STRICT], tmp_path)
    assert out.returncode != 0 and "unused" in out.stderr


@pytest.mark.parametrize("path", python_programs(), ids=lambda p: p.name)
def test_the_python_program_is_valid_and_refuses_to_be_imported(path):
    compile(path.read_text(), str(path), "exec")
    spec = importlib.util.spec_from_file_location("forklab_program_as_module", path)
    with pytest.raises(ImportError, match="not a module"):
        spec.loader.exec_module(importlib.util.module_from_spec(spec))


def test_the_programs_ship_in_the_package():
    """pyproject's package-data names every program file (a .py program ships as any module does)."""
    lib = Path(__file__).resolve().parents[1]
    config = tomllib.loads((lib / "pyproject.toml").read_text())["tool"]["setuptools"]
    src = lib / config["package-dir"][""]
    if PACKAGE.resolve() != (src / "forklab").resolve():
        pytest.skip(f"forklab is imported from {PACKAGE}, not from this checkout's {src}")
    shipped = {f.resolve() for package, globs in config["package-data"].items()
               for g in globs for f in (src / package.replace(".", "/")).glob(g)}
    assert [p for p in c_programs() if p.resolve() not in shipped] == []
