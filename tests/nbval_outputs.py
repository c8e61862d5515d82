"""A pytest plugin for nbval runs: keep what every cell printed, to read it after the run.

    FORKLAB_NBVAL_OUTPUTS=out.jsonl python -m pytest --nbval-lax -p tests.nbval_outputs notebooks

nbval compares (or, with --nbval-lax, only runs) each cell and throws its outputs away. This plugin
writes one JSON line per cell that ran - notebook, cell id, outputs as nbval received them - so that
tests/test_container.py can look for a traceback or an unexplained errno in a run it could not watch
(inside a container, under another platform's rules).
"""
import json
import os
from pathlib import Path

import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    yield
    target = os.environ.get("FORKLAB_NBVAL_OUTPUTS")
    if not target or call.when != "call" or not hasattr(item, "cell"):
        return
    outputs = getattr(item, "test_outputs", None)          # set by nbval once the cell has run
    if outputs is None and call.excinfo is not None:       # the cell raised: nbval's error says what
        outputs = [{"output_type": "error", "ename": call.excinfo.typename, "evalue": str(call.excinfo.value)}]
    with open(target, "a") as f:
        f.write(json.dumps({"notebook": Path(str(item.fspath)).name, "cell": item.cell.get("id"),
                            "outputs": outputs or []}, default=str) + "\n")
