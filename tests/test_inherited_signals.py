"""A notebook's stored outputs must not depend on the signal dispositions its reader's shell hands down.

A shell started with nohup ignores SIGHUP; a non-interactive shell ignores SIGINT and SIGQUIT for a job it starts in
the background (`make test &`). Ignored dispositions survive fork and exec (notebook 05), all the way down to the
C programs the notebooks run - so a cell that counted "the signals system()'s child resets" printed one number under
a plain shell and another under `nohup make test`. Notebook 14 now compares with what the program inherited; here
it runs under nbval with those signals ignored, and must still match what is stored."""
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
IGNORED = (signal.SIGHUP, signal.SIGINT, signal.SIGQUIT)


def _ignore_inherited_signals():
    for sig in IGNORED:
        signal.signal(sig, signal.SIG_IGN)


# 18 starts shells, jobs and daemons of its own: each sets the dispositions it shows, whatever it inherited.
@pytest.mark.parametrize("name", ["14_a_mini_shell", "18_sessions_and_job_control"])
def test_notebook_matches_its_stored_outputs_with_sighup_sigint_sigquit_ignored(name):
    notebook = ROOT / "notebooks" / f"{name}.ipynb"
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval",
                          "--nbval-sanitize-with", str(ROOT / "tests" / "nbval_sanitize.cfg"), str(notebook)],
                         cwd=ROOT, capture_output=True, text=True, timeout=300,
                         preexec_fn=_ignore_inherited_signals, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]

