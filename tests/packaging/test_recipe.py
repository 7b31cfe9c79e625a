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
    ]
    assert {o.version for o in outputs} == {package_version()}
    by = {(o.name, o.cuda_major): o for o in outputs}
    assert by[("homodyne-analysis", None)].noarch == "python"
    assert by[("homodyne-analysis-cpu", None)].noarch == "generic"
    gpu = by[("homodyne-analysis-gpu", "12")]
    assert gpu.build_string.startswith("cuda12_")
    assert "__cuda >=12" in gpu.run_constraints
    assert "jaxlib >=0.7 cuda12*" in gpu.run


def test_cuda13_variant_is_opt_in_and_renders():
    """variants-cuda13.yaml renders the gpu output for CUDA 13; the default matrix has none."""
    outs = rc.render(variants=rc.VARIANTS_CUDA13)
    gpu = [o for o in outs if o.name == "homodyne-analysis-gpu"]
    assert [o.cuda_major for o in gpu] == ["13"]
    assert gpu[0].build_string.startswith("cuda13_")
    assert "jaxlib >=0.7 cuda13*" in gpu[0].run
    assert rc.drift(outs) == []


def test_version_is_a_literal_equal_to_version_py():
    """No load_from_file (rattler-build --experimental): conda-forge renders without it."""
    text = rc.RECIPE.read_text()
    assert "load_from_file(" not in text
    assert f'  version: "{package_version()}"' in text


def test_feedstock_fields_and_tests_at_python_min_and_latest():
    import yaml

    data = yaml.safe_load(rc.RECIPE.read_text())
    fs = rc.feedstock_settings()
    assert data["about"]["repository"] == fs["repository"]
    assert fs["repository"] == load_pyproject()["project"]["urls"]["Repository"]
    assert data["extra"]["recipe-maintainers"] == fs["recipe-maintainers"] != []
    assert rc.feedstock_drift() == []
    assert data["context"]["python_min"] == load_pyproject()["project"]["requires-python"][2:]
    for out in data["outputs"]:
        py_tests = [t["python"] for t in out["tests"] if "python" in t]
        pinned = [t for t in py_tests if t.get("python_version") == "${{ python_min }}.*"]
        latest = [t for t in py_tests if "python_version" not in t]
        assert pinned and latest, out["package"]["name"]


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
        (lambda p: p["optional-dependencies"]["mcmc"].__setitem__(0, "pymc>=6.5"), "pymc"),
        (lambda p: p["dependencies"].append("pandas>=2"), "pandas"),
        (lambda p: p["optional-dependencies"]["mcmc-gpu"].remove("numpyro>=0.22"), "numpyro"),
        (lambda p: p["scripts"].__setitem__("homodyne-extra", "homodyne.x:main"), "entry points"),
    ],
)
def test_pyproject_drift_is_detected(outputs, edit, expect):
    problems = rc.drift(outputs, pyproject=_mutate_pyproject(edit))
    assert any(expect in p for p in problems), problems


def test_recipe_drift_is_detected(recipe_copy):
    text = (recipe_copy / "recipe.yaml").read_text()
    (recipe_copy / "recipe.yaml").write_text(
        text.replace("- pytensor >=3.3,<4", "- pytensor >=3.5")
    )
    problems = rc.drift(rc.render(recipe_copy / "recipe.yaml", recipe_copy / "variants.yaml"))
    assert any("pytensor" in p for p in problems), problems


def _with_tool_feedstock(**fields):
    pp = copy.deepcopy(load_pyproject())
    pp["tool"]["homodyne"]["feedstock"].update(fields)
    return pp


@pytest.mark.parametrize(
    "pyproject, expect",
    [
        (_with_tool_feedstock(**{"recipe-maintainers": ["someone-else"]}), "!= pyproject.toml"),
        (_with_tool_feedstock(**{"recipe-maintainers": []}), "is empty"),
        (
            _with_tool_feedstock(**{"recipe-maintainers": ["-bad-", "a" * 40, "two words"]}),
            "'-bad-' is not a GitHub user name",
        ),
    ],
    ids=["other-handle", "empty", "malformed"],
)
def test_maintainers_are_one_setting(pyproject, expect):
    """extra.recipe-maintainers is pyproject's [tool.homodyne.feedstock] list, checked in form."""
    problems = rc.feedstock_drift(pyproject=pyproject)
    assert any(expect in p for p in problems), problems


def test_repository_is_one_fact(recipe_copy):
    pp = copy.deepcopy(load_pyproject())
    pp["project"]["urls"]["Repository"] = "https://github.com/someone/fork"
    assert any("about.repository" in p for p in rc.feedstock_drift(pyproject=pp))
    pp["project"]["urls"]["Repository"] = "https://gitlab.com/x/y"
    assert any(
        "is not https://github.com/OWNER/NAME" in p for p in rc.feedstock_drift(pyproject=pp)
    )
    del pp["project"]["urls"]["Repository"]
    assert any("has no Repository" in p for p in rc.feedstock_drift(pyproject=pp))
    recipe = recipe_copy / "recipe.yaml"
    recipe.write_text(recipe.read_text().replace("github.com/homodyne-analysis/", "github.com/x/"))
    problems = rc.drift(rc.render(recipe, recipe_copy / "variants.yaml"), recipe=recipe)
    assert any("about.repository" in p for p in problems), problems


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
    assert len(rc.render(recipe_copy / "recipe.yaml", recipe_copy / "variants.yaml")) == 3
