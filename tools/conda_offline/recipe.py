"""Render recipe/recipe.yaml with py-rattler-build and check it against pyproject.toml.

Rendering is a real validation: the v1 parser rejects unknown fields, malformed version
specs, bad ``noarch`` values and undefined template variables. The drift check compares
every rendered output's run requirements with the pyproject extra it mirrors, mapped
through ``pypi_conda_map.toml``, and the feedstock fields (``about.repository``,
``about.documentation``, ``extra.recipe-maintainers``) with their one source in
pyproject.toml (``[project.urls]`` and ``[tool.homodyne.feedstock]``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from .depmap import (
    REPO_ROOT,
    CondaSpec,
    DepMap,
    extra_requirements,
    load_pyproject,
    package_version,
    requires_python,
)

RECIPE = REPO_ROOT / "recipe" / "recipe.yaml"
VARIANTS = REPO_ROOT / "recipe" / "variants.yaml"
#: the opt-in CUDA 13 variant (not in the default build matrix)
VARIANTS_CUDA13 = REPO_ROOT / "recipe" / "variants-cuda13.yaml"


@dataclass
class Output:
    name: str
    version: str
    build_string: str
    variant: dict
    run: list  # str or {"pin_subpackage": ...}
    run_constraints: list[str]
    host: list[str]
    noarch: str | None
    entry_points: list[str]
    rendered: object  # the RenderedVariant, for building

    @property
    def cuda_major(self) -> str | None:
        return self.variant.get("cuda_major")


def render(
    recipe: Path = RECIPE, variants: Path | None = VARIANTS, target_platform: str = "linux-64"
) -> list[Output]:
    """Render every variant of every output (duplicates removed); raises on a bad recipe."""
    from rattler_build import PlatformConfig, RenderConfig, Stage0Recipe, VariantConfig

    stage0 = Stage0Recipe.from_file(str(recipe))
    variant_config = VariantConfig.from_file(str(variants)) if variants else VariantConfig()
    # no experimental features: conda-forge's build infrastructure does not enable them
    config = RenderConfig(
        platform=PlatformConfig(target_platform=target_platform, experimental=False)
    )
    out: dict[tuple[str, str], Output] = {}
    for rv in stage0.render(variant_config, config):
        d = rv.recipe.to_dict()
        req = d.get("requirements", {})
        build = d.get("build", {})
        o = Output(
            name=d["package"]["name"],
            version=str(d["package"]["version"]),
            build_string=str(rv.recipe.build.string),
            variant=dict(rv.variant),
            run=list(req.get("run", [])),
            run_constraints=list(req.get("run_constraints", [])),
            host=list(req.get("host", [])),
            noarch=build.get("noarch"),
            entry_points=list((build.get("python") or {}).get("entry_points", [])),
            rendered=rv,
        )
        out.setdefault((o.name, o.build_string), o)
    return list(out.values())


def _specs(entries: list) -> dict[str, CondaSpec]:
    specs = {}
    for e in entries:
        if isinstance(e, str) and not e.startswith("__"):
            s = CondaSpec.parse(e)
            specs[s.name] = s
    return specs


#: A GitHub user name: 1-39 letters, digits and single hyphens, no hyphen at either end.
GITHUB_HANDLE = re.compile(r"^(?=.{1,39}$)[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9]))*$")
#: The repository URL form conda-forge's linter accepts for about.repository.
REPOSITORY_URL = re.compile(r"^https://github\.com/[A-Za-z0-9][A-Za-z0-9-]*/[A-Za-z0-9._-]+$")


def feedstock_settings(pyproject: dict | None = None) -> dict:
    """The feedstock fields as pyproject.toml sets them: ``repository``, ``documentation``
    (``[project.urls]`` Repository, Documentation) and ``recipe-maintainers``
    (``[tool.homodyne.feedstock]``)."""
    pyproject = pyproject or load_pyproject()
    urls = pyproject["project"].get("urls", {})
    feedstock = pyproject.get("tool", {}).get("homodyne", {}).get("feedstock", {})
    return {
        "repository": urls.get("Repository"),
        "documentation": urls.get("Documentation"),
        "recipe-maintainers": list(feedstock.get("recipe-maintainers", [])),
    }


def feedstock_drift(recipe: Path = RECIPE, pyproject: dict | None = None) -> list[str]:
    """Differences between the recipe's feedstock fields and pyproject.toml, and entries
    that conda-forge's linter would refuse by their form (empty: in step). Whether the
    repository and the GitHub accounts exist is not checked here (no network)."""
    import yaml

    want = feedstock_settings(pyproject)
    data = yaml.safe_load(recipe.read_text())
    about, extra = data.get("about", {}), data.get("extra", {})
    problems = []
    if not want["repository"]:
        problems.append("pyproject.toml [project.urls] has no Repository")
    elif not REPOSITORY_URL.match(want["repository"]):
        problems.append(
            f"pyproject.toml [project.urls] Repository {want['repository']!r} is not "
            "https://github.com/OWNER/NAME"
        )
    for key in ("repository", "documentation"):
        if about.get(key) != want[key]:
            problems.append(
                f"recipe about.{key} {about.get(key)!r} != pyproject.toml [project.urls] "
                f"{key.capitalize()} {want[key]!r}"
            )
    handles = want["recipe-maintainers"]
    if not handles:
        problems.append("pyproject.toml [tool.homodyne.feedstock] recipe-maintainers is empty")
    for h in handles:
        if not isinstance(h, str) or not GITHUB_HANDLE.match(h):
            problems.append(f"recipe-maintainers entry {h!r} is not a GitHub user name")
    if extra.get("recipe-maintainers") != handles:
        problems.append(
            f"recipe extra.recipe-maintainers {extra.get('recipe-maintainers')!r} != "
            f"pyproject.toml [tool.homodyne.feedstock] recipe-maintainers {handles!r}"
        )
    return problems


def drift(
    outputs: list[Output],
    pyproject: dict | None = None,
    depmap: DepMap | None = None,
    recipe: Path = RECIPE,
) -> list[str]:
    """Differences between the rendered recipe and pyproject.toml (empty: in step)."""
    pyproject = pyproject or load_pyproject()
    depmap = depmap or DepMap.load()
    problems: list[str] = feedstock_drift(recipe, pyproject)
    version = package_version()
    names = {o.name for o in outputs}
    for name in depmap.outputs:
        if name not in names:
            problems.append(f"recipe has no output {name}")
    for o in outputs:
        where = f"{o.name} ({o.build_string})"
        rule = depmap.outputs.get(o.name)
        if rule is None:
            problems.append(f"{where}: output not described in pypi_conda_map.toml [outputs]")
            continue
        if o.version != version:
            problems.append(f"{where}: version {o.version} != homodyne/_version.py {version}")
        expected = depmap.to_conda(
            extra_requirements(pyproject, rule["extra"]), cuda_major=o.cuda_major
        )
        if rule["extra"] == "core":
            expected["python"] = CondaSpec("python", requires_python(pyproject))
        actual = _specs(o.run)
        conda_only = set(depmap.conda_only.get(rule.get("conda-only", ""), []))
        for n in sorted(conda_only):
            if n not in actual:
                problems.append(f"{where}: conda-only requirement {n} missing")
        for n, spec in sorted(expected.items()):
            if n not in actual:
                problems.append(f"{where}: missing {spec} (from pyproject extra {rule['extra']!r})")
            elif actual[n] != spec:
                problems.append(
                    f"{where}: {actual[n]} != {spec} (pyproject extra {rule['extra']!r})"
                )
        for n in sorted(set(actual) - set(expected) - conda_only):
            problems.append(
                f"{where}: {actual[n]} is not in pyproject extra {rule['extra']!r} nor in [conda-only]"
            )
        if rule["extra"] != "core":
            pins = [e for e in o.run if isinstance(e, dict) and "pin_subpackage" in e]
            if not any(
                p["pin_subpackage"].get("name") == "homodyne-analysis"
                and p["pin_subpackage"].get("exact")
                for p in pins
            ):
                problems.append(f"{where}: does not pin homodyne-analysis exactly")
        if rule["extra"] == "core":
            scripts = pyproject["project"].get("scripts", {})
            want = sorted(f"{k} = {v}" for k, v in scripts.items())
            if sorted(o.entry_points) != want:
                problems.append(
                    f"{where}: entry points {sorted(o.entry_points)} != pyproject scripts {want}"
                )
    return problems
