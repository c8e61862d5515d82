"""Course-level test options; the repository on sys.path, so that tests import the scripts as tools.NAME."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def pytest_addoption(parser):
    parser.addoption("--screenshots", action="store_true", default=False,
                     help="save the browser test's screenshot of the flag explorer to docs/img/ (for the README)")
