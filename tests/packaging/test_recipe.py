"""recipe/recipe.yaml renders, is in step with pyproject.toml, and a broken one is refused."""

from __future__ import annotations

import copy

import pytest

pytest.importorskip("rattler_build")
pytest.importorskip("packaging")

from tools.conda_offline import recipe as rc
from tools.conda_offline.depmap import DepMap, load_pyproject, package_version


@pytest.fixture(scope="module")
def outputs():
    return rc.render()


def test_recipe_renders_every_output_and_cuda_variant(outputs):
    got = sorted((o.name, o.cuda_major) for o in outputs)
    assert got == [
        ("homodyne-analysis", None),
        ("homodyne-analysis-cpu", None),
        ("homodyne-analysis-gpu", "12"),
        ("homodyne-analysis-gpu", "13"),
    ]
    assert {o.version for o in outputs} == {package_version()}
    by = {(o.name, o.cuda_major): o for o in outputs}
    assert by[("homodyne-analysis", None)].noarch == "python"
    assert by[("homodyne-analysis-cpu", None)].noarch == "generic"
    for major in ("12", "13"):
        gpu = by[("homodyne-analysis-gpu", major)]
        assert gpu.build_string.startswith(f"cuda{major}_")
        assert f"__cuda >={major}" in gpu.run_constraints
        assert f"jaxlib >=0.4.20 cuda{major}*" in gpu.run


def test_core_has_no_mcmc_stack(outputs):
    core = next(o for o in outputs if o.name == "homodyne-analysis")
    names = {e.split()[0] for e in core.run if isinstance(e, str)}
    assert not names & {"pymc", "pytensor", "jax", "jaxlib", "numpyro", "arviz"}


def test_recipe_in_step_with_pyproject(outputs):
    assert rc.drift(outputs) == []


def _mutate_pyproject(edit):
    pp = copy.deepcopy(load_pyproject())
    edit(pp["project"])
    return pp


@pytest.mark.parametrize(
    "edit, expect",
    [
        (lambda p: p["optional-dependencies"]["mcmc"].__setitem__(0, "pymc>=5.20"), "pymc"),
        (lambda p: p["dependencies"].append("pandas>=2"), "pandas"),
        (lambda p: p["optional-dependencies"]["mcmc-gpu"].remove("numpyro>=0.13.0"), "numpyro"),
        (lambda p: p["scripts"].__setitem__("homodyne-extra", "homodyne.x:main"), "entry points"),
    ],
)
def test_pyproject_drift_is_detected(outputs, edit, expect):
    problems = rc.drift(outputs, pyproject=_mutate_pyproject(edit))
    assert any(expect in p for p in problems), problems


def test_recipe_drift_is_detected(recipe_copy):
    text = (recipe_copy / "recipe.yaml").read_text()
    (recipe_copy / "recipe.yaml").write_text(
        text.replace("- pytensor >=2.18.0", "- pytensor >=2.30")
    )
    problems = rc.drift(rc.render(recipe_copy / "recipe.yaml", recipe_copy / "variants.yaml"))
    assert any("pytensor" in p for p in problems), problems


def test_map_rename_is_used(outputs):
    """matplotlib is matplotlib-base on conda-forge: the map, not a coincidence, decides."""
    dm = DepMap.load()
    dm.names["matplotlib"] = "matplotlib"
    problems = rc.drift(outputs, depmap=dm)
    assert any("matplotlib" in p for p in problems), problems


BREAKAGES = {
    "unknown field": (
        "    build:\n      noarch: python\n",
        "    build:\n      noarch: python\n      no_such_key: 1\n",
    ),
    "malformed version spec": ("- numpy >=1.24", "- numpy >=>1.24"),
    "bad noarch": ("noarch: generic", "noarch: maybe"),
    "undefined variable": ("- scipy >=1.11", "- scipy >=${{ scipy_min }}"),
}


@pytest.mark.parametrize("kind", sorted(BREAKAGES))
def test_broken_recipe_fails_render(recipe_copy, kind):
    old, new = BREAKAGES[kind]
    text = (recipe_copy / "recipe.yaml").read_text()
    assert old in text, f"fixture out of date: {old!r} not in the recipe"
    (recipe_copy / "recipe.yaml").write_text(text.replace(old, new, 1))
    with pytest.raises(Exception):  # noqa: B017 - rattler-build raises its own error types
        rc.render(recipe_copy / "recipe.yaml", recipe_copy / "variants.yaml")


def test_unbroken_copy_renders(recipe_copy):
    """The breakage tests fail for the breakage, not for the copy."""
    assert len(rc.render(recipe_copy / "recipe.yaml", recipe_copy / "variants.yaml")) == 4
