"""tools/mutation_report.py: the kill-rate gate of the mutation stage (.ci/mutation.sh)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOOL = ROOT / "tools" / "mutation_report.py"

RESULTS = """\
    homodyne.model.x_sinc_squared__mutmut_1: killed
    homodyne.model.x_sinc_squared__mutmut_2: killed
    homodyne.model.x_sinc_squared__mutmut_3: survived
    homodyne.model.x_angle_groups__mutmut_1: timeout
    homodyne.model.x_angle_groups__mutmut_2: not checked
    homodyne.problem.xǁProblemǁfrom_arrays__mutmut_1: killed
    homodyne.problem.xǁProblemǁfrom_arrays__mutmut_2: no tests
"""


def _run(tmp_path: Path, text: str, *args: str) -> subprocess.CompletedProcess[str]:
    f = tmp_path / "results.txt"
    f.write_text(text, encoding="utf-8")
    return subprocess.run(
        [sys.executable, str(TOOL), str(f), *args], capture_output=True, text=True, check=False
    )


def test_rates_per_function_and_file(tmp_path: Path) -> None:
    r = _run(tmp_path, RESULTS)
    assert r.returncode == 0, r.stderr
    rows = {ln[:70].strip(): ln[70:].split() for ln in r.stdout.splitlines()}
    # a timeout counts as killed, "not checked" is left out, "no tests" counts as not killed
    assert rows["homodyne.model.x_sinc_squared"][:3] == ["2", "3", "66.7%"]
    assert rows["homodyne.model.x_angle_groups"][:3] == ["1", "1", "100.0%"]
    assert rows["file homodyne/model.py"][:3] == ["3", "4", "75.0%"]
    assert rows["file homodyne/problem.py"][:3] == ["1", "2", "50.0%"]
    assert rows["all mutants run"][:3] == ["4", "6", "66.7%"]
    assert "  homodyne.problem.xǁProblemǁfrom_arrays__mutmut_2" in r.stdout


def test_gate_fails_below_the_rate_and_on_no_mutants(tmp_path: Path) -> None:
    ok = _run(tmp_path, RESULTS, "--min-rate", "75", "--enforce", "homodyne.model.")
    assert ok.returncode == 0 and "PASS: homodyne.model.* kill rate 75.0% (3/4)" in ok.stdout
    low = _run(tmp_path, RESULTS, "--min-rate", "90", "--enforce", "homodyne.model.")
    assert low.returncode == 1 and "FAIL: homodyne.model.*" in low.stdout
    none = _run(tmp_path, RESULTS, "--enforce", "homodyne.bayes.")
    assert none.returncode == 1 and "FAIL: homodyne.bayes.*" in none.stdout
