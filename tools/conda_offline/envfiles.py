"""environments/*.yml: conda environment files generated from pixi.toml (one source).

    python -m tools.conda_offline.envfiles --write   # regenerate
    python -m tools.conda_offline.envfiles --check   # exit 1 if a file is out of step

Each file holds the conda specs of one pixi environment (its features merged), the project
itself as an editable pip install, and the PyPI-only packages under ``pip:``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from . import manifest as mf
from ._cli import write_or_check
from .depmap import REPO_ROOT

ENV_DIR = REPO_ROOT / "environments"
# pixi environment -> file; "default" is the same as "cpu". gpu-cuda13 comes from the
# opt-in CUDA 13 workspace (environments/cuda13/pixi.toml, its environment "default").
FILES = {
    "cpu": "cpu.yml",
    "gpu": "gpu.yml",
    "jax": "jax.yml",
    "dev": "dev.yml",
    "docs": "docs.yml",
    "nutpie": "nutpie.yml",
}
OPT_IN = {"gpu-cuda13": (mf.CUDA13_MANIFEST, "default", "gpu-cuda13.yml")}

_NOTES = {
    "cpu": "PyMC (PyTensor) backend, every platform. No JAX in this environment.",
    "dev": "cpu + tests, linters, type checker, packaging tools. No JAX in this environment.",
    "docs": "Sphinx documentation build.",
    "nutpie": 'cpu + nutpie (mcmc.sampler = "nutpie"). No JAX in this environment.',
    "jax": "NumPyro/JAX on the CPU (JAX's CPU fallback), Linux and macOS. No PyTensor here.",
    "gpu": "NumPyro/JAX with CUDA 12 (Linux x86-64/aarch64, NVIDIA driver >= 525). No PyTensor here.\n"
    "# Without a GPU: CONDA_OVERRIDE_CUDA=12 conda env create -f environments/gpu.yml",
    "gpu-cuda13": "OPT-IN: NumPyro/JAX with CUDA 13 (NVIDIA driver >= 580). No PyTensor here.\n"
    "# Solvable only once conda-forge's jaxlib ships cuda13* builds (docs/packaging.rst).\n"
    "# Without a GPU: CONDA_OVERRIDE_CUDA=13 conda env create -f environments/gpu-cuda13.yml",
}


def _render_one(manifest: dict, env: str, name: str, fname: str) -> str:
    specs = mf.env_specs(manifest, env)
    pypi = mf.env_pypi(manifest, env)
    source = "pixi.toml" if name in FILES else "environments/cuda13/pixi.toml"
    lines = [
        f"# Generated from {source} by `python -m tools.conda_offline.envfiles --write`:",
        "# tests/packaging/test_envfiles.py keeps it in step. Do not edit by hand.",
        f"# {_NOTES[name]}",
        "# From the repository root, with conda, mamba or micromamba alike:",
        f"#   conda env create -f environments/{fname}",
        f"#   conda run -n homodyne-{name} python -m pip install --no-deps -e .",
        "# (the project is installed by that second step, not by a `-e ..` line here:",
        "# conda resolves such a path from this file's folder, micromamba from the current one)",
        f"name: homodyne-{name}",
        "channels:",
        *[f"  - {c}" for c in manifest["workspace"]["channels"]],
        "  - nodefaults",
        "dependencies:",
        *[f"  - {spec}" for spec in specs.values()],
        "  - pip",
    ]
    extra = [
        (n, v if isinstance(v, str) else v.get("version", ""))
        for n, v in pypi.items()
        if n != "homodyne-analysis"
    ]
    if extra:
        lines.append("  - pip:")
        lines += [f"      - {n}{'' if v in ('', '*') else v}" for n, v in extra]
    return "\n".join(lines) + "\n"


def render(manifest: dict | None = None, cuda13: dict | None = None) -> dict[str, str]:
    manifest = manifest or mf.load()
    out = {fname: _render_one(manifest, env, env, fname) for env, fname in FILES.items()}
    for name, (path, env, fname) in OPT_IN.items():
        out[fname] = _render_one(cuda13 or mf.load(path), env, name, fname)
    return out


def parse(path: Path) -> dict:
    import yaml

    return yaml.safe_load(Path(path).read_text())


def validate(path: Path) -> list[str]:
    """Every conda spec of an environment file parses with rattler.MatchSpec."""
    from rattler import MatchSpec

    problems = []
    data = parse(path)
    for key in ("name", "channels", "dependencies"):
        if key not in data:
            problems.append(f"{path.name}: no {key}")
    for dep in data.get("dependencies", []):
        if isinstance(dep, dict):
            continue  # the pip: section
        try:
            MatchSpec(dep)
        except Exception as exc:
            problems.append(f"{path.name}: {dep!r} does not parse: {exc}")
    return problems


def check(env_dir: Path = ENV_DIR, manifest: dict | None = None) -> list[str]:
    problems = []
    for fname, text in render(manifest).items():
        path = env_dir / fname
        if not path.exists():
            problems.append(f"environments/{fname} is missing")
            continue
        if path.read_text() != text:
            problems.append(f"environments/{fname} is out of step with pixi.toml")
        problems += validate(path)
    return problems


def _write() -> None:
    ENV_DIR.mkdir(exist_ok=True)
    for fname, text in render().items():
        (ENV_DIR / fname).write_text(text)


def main(argv: list[str] | None = None) -> int:
    return write_or_check(__doc__, _write, check, "environment files in step with pixi.toml", argv)


if __name__ == "__main__":
    sys.exit(main())
