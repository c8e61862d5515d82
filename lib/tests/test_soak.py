"""The short soak (tools/soak.py --experiments 200): random experiments from 4 threads while SIGINTs
and killed benches and servers hit them; every verdict checked against kernel_rules.py, every leak
counted. The 2,000-experiment run with stops as well is `make soak` (figures, not a test)."""
import subprocess
import sys
from pathlib import Path

import pytest

SOAK = Path(__file__).resolve().parents[2] / "tools" / "soak.py"


@pytest.mark.skipif(not SOAK.exists(), reason="tools/soak.py is not beside an installed forklab")
def test_200_experiments_under_attack_give_no_wrong_verdict_and_leak_nothing():
    out = subprocess.run([sys.executable, str(SOAK), "--experiments", "200", "--no-stops", "--chaos-every", "0.1"],
                         capture_output=True, text=True, timeout=300)
    report = out.stdout + out.stderr
    assert "  wrong: 0" in report and "-> total 0" in report, report
    assert out.returncode == 0, report
