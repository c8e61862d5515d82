import pytest

from forklab.host.machine import machine


@pytest.fixture(scope="session")
def privileged() -> bool:
    """Namespaces other than the user one need CAP_SYS_ADMIN; students usually lack it."""
    return machine().cap_sys_admin


@pytest.fixture(scope="session")
def ns_prefix(privileged):
    """Flags to put beside a namespace flag so that it works here: nothing as root, NEWUSER otherwise."""
    if namespaces_refused():
        pytest.skip(NO_NAMESPACES)
    return [] if privileged else ["NEWUSER"]


# --- where the platform refuses: clone3 (Linux < 5.3, Docker's seccomp profile answers ENOSYS) and
# namespaces (Docker's profile answers EPERM to every CLONE_NEW* flag, even CLONE_NEWUSER) -----------
# Tests of what these do cannot run there; the refusals themselves, explained, are tested where they
# happen (test_linux_4_18.py, test_platform_limits.py).
NO_CLONE3 = "clone3() answers ENOSYS here (Linux < 5.3, or a seccomp filter)"
NO_NAMESPACES = "namespaces are refused here, even with CLONE_NEWUSER (a seccomp filter, or a sysctl)"


def pytest_configure(config):
    config.addinivalue_line("markers", "clone3: the test runs clone3() experiments (skipped where clone3 is ENOSYS)")
    config.addinivalue_line("markers", "namespaces: the test makes namespaces (skipped where they are refused)")


def clone3_missing() -> bool:
    return not machine().clone3


def namespaces_refused() -> bool:
    return machine().namespaces_refused


def _param_values(item):
    """Every parameter value of a parametrized test, lists and tuples opened."""
    params = getattr(item, "callspec", None)
    todo, out = list(params.params.values()) if params else [], []
    while todo:
        v = todo.pop()
        if isinstance(v, (list, tuple)):
            todo.extend(v)
        else:
            out.append(v)
    return out


def pytest_collection_modifyitems(config, items):
    for item in items:
        values = _param_values(item)
        if (item.get_closest_marker("clone3") or "clone3" in values) and clone3_missing():
            item.add_marker(pytest.mark.skip(reason=NO_CLONE3))
        news = [v for v in values if isinstance(v, str) and v.removeprefix("CLONE_").startswith("NEW")]
        if (item.get_closest_marker("namespaces") or news) and namespaces_refused():
            item.add_marker(pytest.mark.skip(reason=NO_NAMESPACES))
