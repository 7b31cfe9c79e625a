"""The pip requirements files, generated from pyproject.toml (the seed's file names).

    python -m tools.conda_offline.reqfiles --write   # regenerate
    python -m tools.conda_offline.reqfiles --check   # exit 1 if a file is out of step

Each file installs what the matching extra installs (core dependencies included), so
``pip install -r requirements-mcmc-cpu.txt`` and ``pip install homodyne-analysis[mcmc]`` give
the same stack (the package itself aside).
"""

from __future__ import annotations

import sys
from pathlib import Path

from ._cli import write_or_check
from .depmap import PROJECT_NAME, REPO_ROOT, load_pyproject

HEADER = "# Generated from pyproject.toml by `python -m tools.conda_offline.reqfiles --write`;\n# tests/packaging/test_requirements.py keeps it in step. Do not edit by hand.\n"

# file -> (description, included files, pyproject extras whose own requirements it lists)
FILES: dict[str, tuple[str, list[str], list[str]]] = {
    "requirements.txt": (
        "Core: the science, no MCMC stack (= pip install homodyne-analysis).",
        [],
        ["core"],
    ),
    "requirements-mcmc-cpu.txt": (
        "Isolated PyMC CPU backend (= homodyne-analysis[mcmc]). Never in one conda environment with JAX.",
        ["requirements.txt"],
        ["mcmc"],
    ),
    "requirements-mcmc-gpu.txt": (
        "Isolated NumPyro/JAX backend, GPU on Linux, JAX's CPU fallback elsewhere (= homodyne-analysis[mcmc-gpu]).",
        ["requirements.txt"],
        ["mcmc-gpu"],
    ),
    "requirements-mcmc-nutpie.txt": (
        'PyMC CPU backend with nutpie\'s sampler (= homodyne-analysis[mcmc-nutpie]; mcmc.sampler = "nutpie").',
        ["requirements-mcmc-cpu.txt"],
        ["mcmc-nutpie"],
    ),
    "requirements-mcmc-all.txt": (
        "Both backends in one pip environment (= homodyne-analysis[mcmc-all]); each runs in its own process.",
        ["requirements-mcmc-cpu.txt", "requirements-mcmc-gpu.txt"],
        [],
    ),
    "requirements-optional.txt": (
        "Optional extras beyond the MCMC backends (the rest of homodyne-analysis[all]).\n"
        "# The backends have their own files: requirements-mcmc-cpu.txt, requirements-mcmc-gpu.txt.",
        [],
        ["all"],
    ),
    "requirements-all.txt": (
        "Everything (= homodyne-analysis[all]).",
        ["requirements-mcmc-all.txt", "requirements-optional.txt"],
        [],
    ),
    "requirements-batch.txt": (
        "Batch analysis on Dask: LocalCluster, SLURM/PBS (= homodyne-analysis[batch]).",
        ["requirements.txt"],
        ["batch"],
    ),
    "requirements-dev.txt": (
        "Development: both backends, batch, tests, linters, type checker, packaging checks, docs.",
        ["requirements-mcmc-all.txt", "requirements-mcmc-nutpie.txt", "requirements-batch.txt"],
        ["dev", "docs"],
    ),
}


def _own(pyproject: dict, extra: str) -> list[str]:
    """An extra's own requirements, without references to the project's other extras."""
    if extra == "core":
        return list(pyproject["project"]["dependencies"])
    return [
        r
        for r in pyproject["project"]["optional-dependencies"][extra]
        if not r.replace("_", "-").lower().startswith(PROJECT_NAME + "[")
    ]


def render(pyproject: dict | None = None) -> dict[str, str]:
    pyproject = pyproject or load_pyproject()
    out = {}
    for name, (description, includes, extras) in FILES.items():
        lines = [HEADER + f"# {description}"]
        lines += [f"-r {inc}" for inc in includes]
        for extra in extras:
            lines += _own(pyproject, extra)
        out[name] = "\n".join(lines) + "\n"
    return out


def check(root: Path = REPO_ROOT, pyproject: dict | None = None) -> list[str]:
    problems = []
    for name, text in render(pyproject).items():
        path = root / name
        if not path.exists():
            problems.append(f"{name} is missing")
        elif path.read_text() != text:
            problems.append(f"{name} is out of step with pyproject.toml")
    return problems


def _write() -> None:
    for name, text in render().items():
        (REPO_ROOT / name).write_text(text)


def main(argv: list[str] | None = None) -> int:
    return write_or_check(
        __doc__, _write, check, "requirements files in step with pyproject.toml", argv
    )


if __name__ == "__main__":
    sys.exit(main())
