"""Run in a fresh interpreter by the MCMC tests: one backend, the other stack hidden.

    python _worker.py BACKEND OUTDIR [--no-hide] [--cases static,laminar]

BACKEND is ``pymc`` or ``numpyro``. Unless ``--no-hide``, a ``sys.meta_path`` finder makes
the other stack impossible to import (as if uninstalled). The worker checks what the
registry reports, samples the requested cases through ``get_mcmc_backend()`` (routed by
``HOMODYNE_GPU_INTENT``) and the legacy ``MCMCSampler``, saves each result with
``result.save()``, evaluates the model's log density at fixed points, and writes
``OUTDIR/report.json`` with what was loaded into ``sys.modules``.
"""

from __future__ import annotations

import importlib.abc
import json
import os
import sys
import time
from pathlib import Path

STACKS = {"pymc": ("pymc", "pytensor"), "numpyro": ("jax", "jaxlib", "numpyro")}


class Blocker(importlib.abc.MetaPathFinder):
    """Make some top-level packages impossible to find or import, as if uninstalled.

    It replaces the other finders and asks them only about the names it does not hide, so
    that ``importlib.util.find_spec`` answers None for a hidden package (what ArviZ 1's lazy
    loader asks) and ``import`` raises ModuleNotFoundError.
    """

    def __init__(self, names: tuple[str, ...], finders: list) -> None:
        self.names = names
        self.finders = finders

    def find_spec(self, fullname, path=None, target=None):
        if fullname.split(".")[0] in self.names:
            return None
        for finder in self.finders:
            find = getattr(finder, "find_spec", None)
            spec = find(fullname, path, target) if find else None
            if spec is not None:
                return spec
        return None

    def find_distributions(self, context=None):
        """Installed distributions (importlib.metadata), the hidden ones left out."""
        import importlib.metadata

        context = context or importlib.metadata.DistributionFinder.Context()
        name = (getattr(context, "name", None) or "").replace("-", "_").lower()
        if name and name in self.names:
            return
        for finder in self.finders:
            find = getattr(finder, "find_distributions", None)
            if find is None:
                continue
            for dist in find(context):
                if dist.metadata["Name"].replace("-", "_").lower() not in self.names:
                    yield dist

    def invalidate_caches(self) -> None:
        for finder in self.finders:
            if hasattr(finder, "invalidate_caches"):
                finder.invalidate_caches()


def loaded(names: tuple[str, ...]) -> list[str]:
    from homodyne.runtime.stacks import imported_modules

    return imported_modules(names)


def main() -> int:
    backend, outdir = sys.argv[1], Path(sys.argv[2])
    hide = "--no-hide" not in sys.argv
    cases = "static,laminar"
    if "--cases" in sys.argv:
        cases = sys.argv[sys.argv.index("--cases") + 1]
    other = "numpyro" if backend == "pymc" else "pymc"
    hidden = STACKS[other] if hide else ()
    if hidden:
        sys.meta_path[:] = [Blocker(hidden, list(sys.meta_path))]
    sys.path.insert(0, str(Path(__file__).parent))
    import numpy as np
    import simdata

    from homodyne.errors import BackendUnavailableError
    from homodyne.optimization import backends
    from homodyne.optimization.mcmc import MCMCSampler
    from homodyne.optimization.mcmc_cpu_backend import is_cpu_mcmc_available
    from homodyne.optimization.mcmc_gpu_backend import is_gpu_mcmc_available

    report: dict = {"backend": backend, "hidden": list(hidden)}
    report["available"] = {"pymc": is_cpu_mcmc_available(), "numpyro": is_gpu_mcmc_available()}
    report["listed"] = {r["name"]: r["available"] for r in backends.list_backends()}
    routing = {}
    for intent in ("true", "false", "auto"):
        os.environ["HOMODYNE_GPU_INTENT"] = intent
        try:
            fn, name, has_gpu = backends.get_mcmc_backend()
            routing[intent] = {"function": fn.__name__, "name": name, "has_gpu": has_gpu}
        except BackendUnavailableError as exc:
            routing[intent] = {"error": str(exc)}
    report["routing"] = routing
    report["loaded_before_sampling"] = loaded(STACKS["pymc"] + STACKS["numpyro"])

    os.environ["HOMODYNE_GPU_INTENT"] = "true" if backend == "numpyro" else "false"
    from homodyne.optimization.classical import fit

    runs = {}
    for case in cases.split(","):
        problem, contrast, offset = (
            simdata.static_problem() if case == "static" else simdata.laminar_problem()
        )
        start = fit(problem, multistart=8)
        # static: 800 draws, so that test_short_chains_mix's ESS > 100 holds for every
        # valid chain; with 300 the PyMC chains of one seed gave alpha an ESS of 160 or 77,
        # depending on whether PyTensor compiled the program afresh or loaded it from its
        # cache (gradients equal to 1e-13, chaotic trajectories)
        draws = 300 if case == "laminar" else 800
        settings = {"chains": 2, "tune": 300, "draws": draws, "seed": 1}
        t0 = time.perf_counter()
        if case == "static":
            fn, name, _ = backends.get_mcmc_backend()
            result = fn(analysis_core=problem, init=start, progress=False, **settings)
        else:
            result = MCMCSampler(problem).run_mcmc_analysis(init=start, progress=False, **settings)
        wall = time.perf_counter() - t0
        files = result.save(outdir / case)
        runs[case] = {
            "wall_s": wall,
            "files": [f.name for f in files],
            "contrast": contrast.tolist(),
            "offset": offset.tolist(),
        }
        # log densities of both cases (laminar: the hand-written gradient and autodiff)
        from homodyne.bayes.posterior import build_posterior_spec

        mod = __import__(
            "homodyne.optimization.mcmc_cpu_backend"
            if backend == "pymc"
            else "homodyne.optimization.mcmc_gpu_backend",
            fromlist=["log_density"],
        )
        spec = build_posterior_spec(problem, start)
        zs = np.random.default_rng(3).normal(size=(4, spec.k))
        runs[case]["log_density"] = [mod.log_density(spec, z) for z in zs]
        runs[case]["log_density_autodiff"] = [mod.log_density(spec, z, "autodiff") for z in zs[:2]]
    report["runs"] = runs
    report["loaded_after_sampling"] = loaded(STACKS["pymc"] + STACKS["numpyro"])
    (outdir / "report.json").write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
