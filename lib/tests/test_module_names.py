"""No module of forklab has a standard library module's name.

The C cells' supervisor runs as a script with its own folder first on sys.path (supervisor.py), so a module
there named like one of the standard library's would replace it for every import - the old
forklab/platform.py did that to `import platform` (containment.py uses it), which is why it is report.py now.
"""
import sys
from pathlib import Path

import forklab

PACKAGE = Path(forklab.__file__).parent


def test_no_module_of_the_package_shadows_the_standard_library():
    names = {p.stem for p in PACKAGE.rglob("*.py")} | {p.name for p in PACKAGE.rglob("*") if (p / "__init__.py").exists()}
    assert sorted(names & set(sys.stdlib_module_names)) == []


def test_platform_report_is_still_forklabs_and_platform_is_the_standard_librarys():
    import platform
    assert forklab.platform_report.__module__ == "forklab.course.report"
    assert Path(platform.__file__).parent != PACKAGE
