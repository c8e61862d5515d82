import os

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


def children_of(pid: int) -> list[int]:
    """Processes whose parent is pid (read from /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(entry))
    return found
