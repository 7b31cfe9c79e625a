"""The five physics mutants of issue 16, applied by hand: each must be killed.

    python tools/named_mutants.py [PYTEST SELECTION ...]

mutmut generates small operator and constant changes; these five are changes a person
makes by mistake and that once passed every test (docs/testing.rst). The package and the
tests are copied into a temporary folder, each mutant is applied there alone, and the
fast reference tests run on the copy (the tests put the copy first on sys.path, as under
mutmut). Exit status 1 when a mutant survives or its original text is no longer found.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: (what it breaks, file, original text, mutated text)
MUTANTS = [
    (
        "angle grouping modulo 90° instead of 180°",
        "homodyne/model.py",
        "key = np.round(np.mod(phi, 180.0), 9)",
        "key = np.round(np.mod(phi, 90.0), 9)",
    ),
    (
        "static-isotropic average replaced by the first angle",
        "homodyne/problem.py",
        "return c2.mean(axis=0, keepdims=True),",
        "return c2[:1],",
    ),
    (
        "max_lag dropped in Problem.from_arrays",
        "homodyne/problem.py",
        "iu, ju = triangle_indices(n, max_lag)",
        "iu, ju = triangle_indices(n)",
    ),
    (
        "sign of the cross term of the scaling cost",
        "homodyne/optimization/engine.py",
        "+ 2 * c * o * sg -",
        "- 2 * c * o * sg -",
    ),
    (
        "2/45 term of the sinc² series",
        "homodyne/model.py",
        "x2 * (2.0 / 45.0 - x2",
        "x2 * (0.0 / 45.0 - x2",
    ),
]

SELECTION = ["tests/physics", "tests/properties", "tests/test_model.py"]


def main(argv: list[str]) -> int:
    selection = argv or SELECTION
    survived = 0
    with tempfile.TemporaryDirectory(prefix="homodyne-mutants-") as tmp:
        work = Path(tmp)
        shutil.copytree(ROOT / "homodyne", work / "homodyne")
        shutil.copytree(ROOT / "tests", work / "tests")
        shutil.copy2(ROOT / "pyproject.toml", work / "pyproject.toml")
        for name, rel, old, new in MUTANTS:
            path = work / rel
            src = path.read_text(encoding="utf-8")
            if src.count(old) != 1:
                print(f"ERROR {name}: {old!r} found {src.count(old)} times in {rel}")
                return 1
            path.write_text(src.replace(old, new), encoding="utf-8")
            cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-n", "0", "-m", "not slow",
                   "-p", "no:randomly", "-p", "no:cacheprovider", *selection]  # fmt: skip
            r = subprocess.run(cmd, cwd=work, capture_output=True, text=True)
            path.write_text(src, encoding="utf-8")
            failed = [ln for ln in r.stdout.splitlines() if ln.startswith("FAILED")]
            killed = r.returncode == 1 and bool(failed)
            survived += not killed
            by = failed[0].split()[1] if failed else f"pytest exit status {r.returncode}"
            print(f"{'killed  ' if killed else 'SURVIVED'} {name} ({rel}): {by}")
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
