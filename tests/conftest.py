"""Course-level test options."""


def pytest_addoption(parser):
    parser.addoption("--screenshots", action="store_true", default=False,
                     help="save the browser test's screenshot of the flag explorer to docs/img/ (for the README)")
