"""Render recipe/recipe.yaml with py-rattler-build and check it against pyproject.toml.

Rendering is a real validation: the v1 parser rejects unknown fields, malformed version
specs, bad ``noarch`` values and undefined template variables. The drift check compares
every rendered output's run requirements with the pyproject extra it mirrors, mapped
through ``pypi_conda_map.toml``.
"""

from __future__ import annotations

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


def drift(
    outputs: list[Output], pyproject: dict | None = None, depmap: DepMap | None = None
) -> list[str]:
    """Differences between the rendered recipe and pyproject.toml (empty: in step)."""
    pyproject = pyproject or load_pyproject()
    depmap = depmap or DepMap.load()
    problems: list[str] = []
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
