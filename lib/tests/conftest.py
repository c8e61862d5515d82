import errno
import functools

import pytest

import forklab
from forklab.lab import has_cap_sys_admin


@pytest.fixture(scope="session")
def privileged() -> bool:
    """Namespaces other than the user one need CAP_SYS_ADMIN; students usually lack it."""
    return has_cap_sys_admin()


@pytest.fixture(scope="session")
def ns_prefix(privileged):
    """Flags to put beside a namespace flag so that it works here: nothing as root, NEWUSER otherwise."""
    return [] if privileged else ["NEWUSER"]


# --- clone3: Linux < 5.3 and Docker's default seccomp profile answer ENOSYS ------------------------

def pytest_configure(config):
    config.addinivalue_line("markers", "clone3: the test runs clone3() experiments (skipped where clone3 is ENOSYS)")


@functools.cache
def clone3_missing() -> bool:
    try:
        forklab.run("clone3")
    except forklab.CloneRefused as e:
        return e.errno == errno.ENOSYS
    return False


def _uses_clone3(item) -> bool:
    if item.get_closest_marker("clone3"):
        return True
    params = getattr(item, "callspec", None)
    values = params.params.values() if params else ()
    return any(v == "clone3" or (isinstance(v, (tuple, list)) and "clone3" in v) for v in values)


def pytest_collection_modifyitems(config, items):
    """Tests of what clone3() does cannot run where it does not exist; that refusal (ENOSYS, explained)
    is tested where it happens (test_linux_4_18.py, test_refusals.py's explanations)."""
    users = [item for item in items if _uses_clone3(item)]
    if users and clone3_missing():
        skip = pytest.mark.skip(reason="clone3() answers ENOSYS here (Linux < 5.3, or a seccomp filter)")
        for item in users:
            item.add_marker(skip)
