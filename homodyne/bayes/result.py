"""The result every MCMC backend returns: InferenceData, summary, verdict, files."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._util.jsonable import jsonable
from ..problem import Problem
from .diagnostics import HDI_PROB, summary_table, verdict
from .idata import build_idata
from .posterior import PosteriorSpec
from .prepare import reduction_report
from .settings import MCMCSettings

__all__ = ["MCMCResult", "build_result"]


@dataclass
class MCMCResult:
    """What an MCMC backend returns: posterior draws and everything said about them.

    ``idata`` is an ArviZ InferenceData with groups ``posterior`` (each free physical
    parameter by name, ``contrast`` and ``offset`` with an ``angle`` dimension (``scaling``
    for shared scaling), ``sigma_scale``), ``sample_stats`` (``diverging``, ``tree_depth``,
    ``n_steps``, ``step_size``, ``acceptance_rate``, ``energy``, ``lp``), ``observed_data``
    (``c2_obs``, angle x pair) and ``constant_data`` (``t``, ``phi``, ``iu``, ``ju``,
    ``sigma``). The names are identical for every backend.
    """

    idata: Any
    backend: str
    backend_name: str
    device: str
    spec: PosteriorSpec
    settings: MCMCSettings
    reduction: dict[str, Any]
    timing: dict[str, float]
    library: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    plots: bool = True
    _summary: dict[str, Any] | None = field(default=None, repr=False)
    _assessment: Any = field(default=None, repr=False)

    # ------------------------------------------------------------------ views
    @property
    def problem(self) -> Problem:
        """The problem that was sampled (after data reduction)."""
        return self.spec.problem

    @property
    def free_names(self) -> tuple[str, ...]:
        return self.spec.free_names

    def draws(self, name: str) -> np.ndarray:
        """Posterior draws of one variable, chains and draws flattened into the first axis."""
        v = np.asarray(self.idata.posterior[name].values)
        return v.reshape(-1, *v.shape[2:])

    @property
    def posterior_means(self) -> dict[str, float]:
        return {n: float(self.draws(n).mean()) for n in self.free_names}

    @property
    def converged(self) -> bool:
        return bool(self.summary["verdict"]["passed"])

    def __getitem__(self, key: str) -> Any:
        """Seed-style dict access: ``trace``, ``posterior_means``, ``diagnostics``, ``time``, ``summary``."""
        legacy = {
            "trace": lambda: self.idata,
            "posterior_means": lambda: self.posterior_means,
            "diagnostics": lambda: self.summary["verdict"],
            "time": lambda: self.timing["total_s"],
            "summary": lambda: self.summary,
            "backend": lambda: self.backend_name,
        }
        if key not in legacy:
            raise KeyError(key)
        return legacy[key]()

    # ------------------------------------------------------------------ summary
    @property
    def summary(self) -> dict[str, Any]:
        """JSON-able summary: statistics per parameter, diagnostics, timing, verdict."""
        if self._summary is None:
            self._summary = self._make_summary()
        return self._summary

    def _make_summary(self) -> dict[str, Any]:
        pr = self.problem
        names = [*self.free_names, "contrast", "offset", "sigma_scale"]
        table = summary_table(self.idata, names)
        params: dict[str, Any] = {}
        for name in pr.parameters.names:
            p = pr.parameters[name]
            if p.fixed:
                params[name] = {
                    "mean": p.value,
                    "sd": 0.0,
                    "hdi_3%": p.value,
                    "hdi_97%": p.value,
                    "fixed": True,
                    "unit": p.unit,
                }
            else:
                params[name] = {**table[name], "fixed": False, "unit": p.unit}
        S = pr.n_scaling
        scaling = {
            kind: [table[f"{kind}[{i}]"] for i in range(S)] for kind in ("contrast", "offset")
        }
        ss = self.idata.sample_stats
        div = int(np.asarray(ss["diverging"].values).sum()) if "diverging" in ss else 0
        n_draws = self.settings.chains * self.settings.draws
        depth = np.asarray(ss["tree_depth"].values) if "tree_depth" in ss else None
        sampled = {k: v for k, v in table.items()}
        v = verdict(sampled, div, n_draws, self.settings.chains, self.settings)
        ess_min = v["checks"]["ess_bulk"]["value"]
        samp_s = self.timing.get("sampling_s") or self.timing.get("total_s")
        tot_s = self.timing.get("total_s")
        nsteps = np.asarray(ss["n_steps"].values) if "n_steps" in ss else None
        return jsonable(
            {
                "backend": self.backend,
                "backend_name": self.backend_name,
                "device": self.device,
                "library": self.library,
                "mode": pr.mode,
                "parameters": params,
                "scaling": {"mode": pr.scaling_mode, **scaling},
                "sigma_scale": table.get("sigma_scale", {}),
                "noise": {
                    "model": pr.noise_model,
                    "sigma_per_angle": pr.sigma,
                    "note": "c2 ~ Normal(model, sigma_scale * sigma_angle)",
                },
                "priors": self.spec.prior_table(),
                "reparameterisation": self.spec.space.describe(),
                "start": {
                    "source": self.spec.start["source"],
                    "values": dict(
                        zip(pr.parameters.names, self.spec.start["values"], strict=True)
                    ),
                    "classical_fit": self.spec.start.get("fit"),
                },
                "settings": self.settings.to_dict(),
                "data_reduction": self.reduction,
                "divergences": div,
                "divergence_fraction": div / max(n_draws, 1),
                "tree_depth": {
                    "mean": float(depth.mean()) if depth is not None else None,
                    "max": int(depth.max()) if depth is not None else None,
                    "hits_max_treedepth": int((depth >= self.settings.max_treedepth).sum())
                    if depth is not None
                    else None,
                },
                "gradient_evaluations": int(nsteps.sum()) if nsteps is not None else None,
                "time": self.timing,
                "ess_bulk_min_per_s": (ess_min / tot_s) if (ess_min and tot_s) else None,
                "ess_bulk_min_per_sampling_s": (ess_min / samp_s) if (ess_min and samp_s) else None,
                "hdi_prob": HDI_PROB,
                "verdict": v,
                "assessment": self._assess(v),
                **self.extra,
            }
        )

    def _assess(self, convergence: dict[str, Any]) -> dict[str, Any]:
        from ..results.mcmc_outputs import mcmc_assessment

        self._assessment = mcmc_assessment(self, convergence)
        return dict(self._assessment.to_dict())

    @property
    def assessment(self) -> Any:
        """The shared verdict (:class:`homodyne.results.verdict.Verdict`) of this run."""
        if self._assessment is None:
            self._summary = self._make_summary()
        return self._assessment

    # ------------------------------------------------------------------ report
    def report(self, truth: Mapping[str, float | None] | None = None) -> str:
        """report.txt of the run (:func:`homodyne.results.report.mcmc_report`), in the
        classical report's format, with a truth column when ``truth`` is given."""
        from ..results.report import mcmc_report

        return mcmc_report(self, truth)

    # ------------------------------------------------------------------ files
    def save(self, run_dir: str | Path, *, plots: bool | None = None) -> list[Path]:
        """Write ``mcmc_<backend>.nc``, ``mcmc_summary.json`` and the PNG plots; atomic writes."""
        from .._util.atomic import atomic_call, atomic_write_text

        run_dir = Path(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        written = []
        nc = run_dir / f"mcmc_{self.backend}.nc"
        atomic_call(nc, lambda tmp: self.idata.to_netcdf(str(tmp)), suffix=".nc")
        written.append(nc)
        js = run_dir / "mcmc_summary.json"
        atomic_write_text(js, json.dumps(self.summary, indent=2, allow_nan=False) + "\n")
        written.append(js)
        if self.plots if plots is None else plots:
            from .plots import plot_corner, plot_residuals, plot_trace

            written += [
                plot_trace(self, run_dir / "mcmc_trace.png"),
                plot_corner(self, run_dir / "mcmc_corner.png"),
                plot_residuals(self, run_dir / "mcmc_residuals.png"),
            ]
        return written


def build_result(
    *,
    spec: PosteriorSpec,
    full_problem: Problem,
    z: np.ndarray,
    stats: Mapping[str, np.ndarray],
    backend: str,
    backend_name: str,
    device: str,
    settings: MCMCSettings,
    timing: Mapping[str, float],
    library: Mapping[str, str],
    plots: bool = True,
    extra: Mapping[str, Any] | None = None,
) -> MCMCResult:
    """Assemble the shared result from a backend's raw draws (z) and sample statistics."""
    from .._version import __version__

    attrs = {
        "inference_backend": backend,
        "backend_name": backend_name,
        "device": device,
        "homodyne_version": __version__,
        "settings": settings.to_dict(),
        **{f"{k}_version": v for k, v in library.items()},
    }
    idata = build_idata(spec, z, stats, attrs)
    return MCMCResult(
        idata=idata,
        backend=backend,
        backend_name=backend_name,
        device=device,
        spec=spec,
        settings=settings,
        reduction=reduction_report(full_problem, spec.problem),
        timing=dict(timing),
        library=dict(library),
        extra=dict(extra or {}),
        plots=plots,
    )
