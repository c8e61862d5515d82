import pytest

from forklab.lab import has_cap_sys_admin


@pytest.fixture(scope="session")
def privileged() -> bool:
    """Namespaces other than the user one need CAP_SYS_ADMIN; students usually lack it."""
    return has_cap_sys_admin()


@pytest.fixture(scope="session")
def ns_prefix(privileged):
    """Flags to put beside a namespace flag so that it works here: nothing as root, NEWUSER otherwise."""
    return [] if privileged else ["NEWUSER"]
