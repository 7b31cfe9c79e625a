"""Packaging checks: recipe, pixi.toml, environment/requirements files, isolation policy.

Fast (seconds): everything runs on metadata (render, parse, solve against repodata-only
channels); the heavy offline build/install is `python -m tools.conda_offline.verify`.
The tools they need (py-rattler, py-rattler-build, pixi-policy, PyYAML) are in the dev extra.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))


def pytest_collection_modifyitems(items):
    """Every test of this folder carries the ``packaging`` marker (``-m packaging``)."""
    for item in items:
        if str(item.fspath).startswith(str(Path(__file__).parent)):
            item.add_marker(pytest.mark.packaging)


@pytest.fixture
def recipe_copy(tmp_path: Path) -> Path:
    """recipe/ and the files it reads, copied so that a test may break them."""
    root = tmp_path / "repo"
    shutil.copytree(REPO_ROOT / "recipe", root / "recipe")
    (root / "homodyne").mkdir(parents=True)
    shutil.copy(REPO_ROOT / "homodyne" / "_version.py", root / "homodyne" / "_version.py")
    return root / "recipe"
