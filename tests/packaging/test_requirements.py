"""The requirements files agree with pyproject.toml's extras."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

pytest.importorskip("packaging")

from tools.conda_offline import reqfiles
from tools.conda_offline.depmap import REPO_ROOT, extra_requirements, load_pyproject


def test_requirements_files_in_step():
    assert reqfiles.check() == []


def _resolve(path: Path) -> set[str]:
    """The requirement lines of a file, its -r includes followed."""
    out: set[str] = set()
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("-r "):
            out |= _resolve(path.parent / line[3:].strip())
        else:
            out.add(line)
    return out


@pytest.mark.parametrize(
    "fname, extras",
    [
        ("requirements.txt", ["core"]),
        ("requirements-mcmc-cpu.txt", ["core", "mcmc"]),
        ("requirements-mcmc-gpu.txt", ["core", "mcmc-gpu"]),
        ("requirements-mcmc-all.txt", ["core", "mcmc-all"]),
        ("requirements-all.txt", ["core", "all"]),
        ("requirements-batch.txt", ["core", "batch"]),
        ("requirements-dev.txt", ["core", "mcmc-all", "batch", "dev", "docs"]),
    ],
)
def test_each_file_installs_what_its_extra_installs(fname, extras):
    pp = load_pyproject()
    want = {r for e in extras for r in extra_requirements(pp, e)}
    assert _resolve(REPO_ROOT / fname) == want


def test_optional_holds_the_rest_of_all():
    pp = load_pyproject()
    rest = set(extra_requirements(pp, "all")) - set(extra_requirements(pp, "mcmc-all"))
    assert _resolve(REPO_ROOT / "requirements-optional.txt") == rest


def test_drift_is_detected():
    pp = copy.deepcopy(load_pyproject())
    pp["project"]["optional-dependencies"]["mcmc"].append("emcee>=3")
    assert reqfiles.check(pyproject=pp) == [
        "requirements-mcmc-cpu.txt is out of step with pyproject.toml"
    ]
