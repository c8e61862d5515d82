"""The ways to install forklab agree with each other."""
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def requirement_names(path: Path) -> set[str]:
    names = set()
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line and not line.startswith("-"):
            names.add(re.split(r"[<>=!~\[; ]", line, maxsplit=1)[0].lower())
    return names


def test_environment_yml_installs_requirements_txt_and_the_library():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    deps = env["dependencies"]
    pip = next(d["pip"] for d in deps if isinstance(d, dict))
    assert "-r requirements.txt" in pip
    assert any(item.endswith("./lib") for item in pip)
    conda = {re.split(r"[<>=]", d)[0] for d in deps if isinstance(d, str)}
    assert {"python", "pip", "c-compiler"} <= conda
    # Nothing named in environment.yml besides the toolchain may be missing from requirements.txt.
    extra = {n.lower() for n in conda - {"python", "pip", "c-compiler"}}
    extra |= {re.split(r"[<>=]", p)[0].lower() for p in pip if not p.startswith("-")}
    assert extra <= requirement_names(ROOT / "requirements.txt")


def test_student_requirements_cover_the_course():
    names = requirement_names(ROOT / "requirements.txt")
    assert {"jupyterlab", "ipywidgets", "cffi", "matplotlib", "nbval"} <= names


def test_dev_requirements_extend_the_student_ones():
    assert "-r requirements.txt" in (ROOT / "requirements-dev.txt").read_text()


def test_library_metadata_names_cffi_and_python_version():
    text = (ROOT / "lib" / "pyproject.toml").read_text()
    assert 'requires-python = ">=3.10"' in text and "cffi" in text
