"""pixi.toml: valid structure, CUDA declared on platforms, in step with pyproject.toml."""

from __future__ import annotations

import copy

import pytest

pytest.importorskip("rattler")
pytest.importorskip("packaging")

from tools.conda_offline import manifest as mf


@pytest.fixture(scope="module")
def manifest():
    return mf.load()


def test_manifest_is_valid(manifest):
    assert mf.validate(manifest) == []


def test_manifest_in_step_with_pyproject(manifest):
    assert mf.drift(manifest) == []


def test_environments_and_solve_groups(manifest):
    envs = mf.environments(manifest)
    assert {"cpu", "gpu", "dev", "docs"} <= set(envs)
    groups = {name: e["solve-group"] for name, e in envs.items()}
    assert groups["gpu"] not in {groups["cpu"], groups["dev"], groups["docs"]}
    assert mf.env_platforms(manifest, "gpu") == ["linux-64-cuda12", "linux-aarch64-cuda12"]
    assert "linux-aarch64" in mf.env_platforms(manifest, "cpu")
    assert "linux-aarch64" in mf.env_platforms(manifest, "jax")
    # CUDA 13 is opt-in: not an environment, platform or feature of the default workspace
    assert not any("cuda13" in n for n in [*envs, *mf.platforms(manifest), *mf.features(manifest)])
    gpu = mf.env_specs(manifest, "gpu")
    assert gpu["jaxlib"].build == "cuda12*" and "pytensor" not in gpu and "pymc" not in gpu
    assert not {"jax", "jaxlib", "numpyro"} & set(mf.env_specs(manifest, "dev"))


def test_cuda13_workspace_is_valid_in_step_and_apart():
    """The opt-in CUDA 13 workspace: valid, in step with pyproject, its own lock."""
    c13 = mf.load(mf.CUDA13_MANIFEST)
    where = "environments/cuda13/pixi.toml"
    assert mf.validate(c13) == []
    assert mf.drift(c13, where=where) == []
    assert mf.env_specs(c13, "default")["jaxlib"].build == "cuda13*"
    assert {p["cuda"] for p in mf.platforms(c13).values()} == {"13"}
    assert c13["pypi-dependencies"]["homodyne-analysis"]["path"] == "../.."
    # a CUDA 13 feature put back into pixi.toml is refused (it would break the default lock)
    m = mf.load()
    m["feature"]["cuda13"] = c13["feature"]["cuda13"]
    assert any("belongs in environments/cuda13/pixi.toml" in p for p in mf.drift(m))
    # and a pyproject change reaches the opt-in workspace too
    c13["feature"]["mcmc-jax"]["dependencies"]["numpyro"] = ">=0.13"
    assert any("numpyro" in p for p in mf.drift(c13, where=where))


def test_required_tasks(manifest):
    tasks = set()
    for feat in mf.features(manifest).values():
        tasks |= set(feat.get("tasks", {}))
    assert {"test", "demo", "lint", "docs", "build", "lock"} <= tasks


def _broken(manifest, edit):
    m = copy.deepcopy(manifest)
    edit(m)
    return mf.validate(m)


@pytest.mark.parametrize(
    "edit, expect",
    [
        (
            lambda m: m["environments"].__setitem__("x", {"features": ["nope"]}),
            "feature nope does not exist",
        ),
        (
            lambda m: m["feature"]["mcmc-cpu"]["dependencies"].__setitem__("pymc", ">=>5"),
            "does not parse",
        ),
        (
            lambda m: m["feature"]["cuda12"].__setitem__("platforms", ["linux-64-cuda99"]),
            "not in workspace.platforms",
        ),
        (lambda m: m.__setitem__("system-requirements", {"cuda": "12"}), "deprecated"),
        (
            lambda m: m["workspace"]["platforms"].append({"name": "x", "platform": "linux-65"}),
            "not a conda subdir",
        ),
        (
            lambda m: m["environments"].__setitem__("odd", {"features": ["cuda12", "dev"]}),
            "share no platform",
        ),
    ],
)
def test_broken_manifest_is_refused(manifest, edit, expect):
    problems = _broken(manifest, edit)
    assert any(expect in p for p in problems), problems


def test_manifest_drift_is_detected(manifest):
    m = copy.deepcopy(manifest)
    m["feature"]["mcmc-cpu"]["dependencies"]["arviz"] = ">=0.15.1"
    del m["dependencies"]["h5py"]
    problems = mf.drift(m)
    assert any("arviz" in p for p in problems) and any("h5py" in p for p in problems), problems
