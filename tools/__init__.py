"""The course's build and check scripts (run them as `python tools/NAME.py`); the tests import them
as `tools.NAME` (tests/conftest.py puts the repository on sys.path)."""
