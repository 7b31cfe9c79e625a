"""The result of the joint posterior across q: draws, summary, diagnostics and verdict.

The same statistics (:func:`~homodyne.bayes.diagnostics.summary_table`: mean, sd, 94 %
HDI, MCSE, ESS, R̂), convergence check (:func:`~homodyne.bayes.diagnostics.verdict`) and
shared verdict (:func:`homodyne.results.mcmc_outputs.mcmc_verdict`) as a single-q run;
the scaling of every ring and the noise multiplier over all rings enter the verdict.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._util.jsonable import jsonable
from .diagnostics import HDI_PROB, summary_table, verdict
from .joint import JointPosteriorSpec, build_joint_idata, ring_label
from .settings import MCMCSettings

__all__ = ["JointMCMCResult", "build_joint_result"]


@dataclass
class JointMCMCResult:
    """The joint posterior of several q rings (one physical parameter set)."""

    idata: Any
    backend: str
    backend_name: str
    device: str
    spec: JointPosteriorSpec
    settings: MCMCSettings
    timing: dict[str, float]
    library: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    _summary: dict[str, Any] | None = field(default=None, repr=False)
    _assessment: Any = field(default=None, repr=False)

    @property
    def free_names(self) -> tuple[str, ...]:
        return self.spec.free_names

    @property
    def q(self) -> list[float]:
        return self.spec.q

    def draws(self, name: str) -> np.ndarray:
        """Posterior draws of one variable, chains and draws flattened into the first axis."""
        v = np.asarray(self.idata.posterior[name].values)
        return v.reshape(-1, *v.shape[2:])

    def sampled_names(self) -> list[str]:
        names = list(self.free_names)
        for i in range(len(self.spec.rings)):
            lab = ring_label(i)
            names += [f"contrast_{lab}", f"offset_{lab}", f"sigma_scale_{lab}"]
        return names

    @property
    def converged(self) -> bool:
        return bool(self.summary["verdict"]["passed"])

    @property
    def summary(self) -> dict[str, Any]:
        if self._summary is None:
            self._summary = self._make_summary()
        return self._summary

    def _make_summary(self) -> dict[str, Any]:
        spec, st = self.spec, self.settings
        table = summary_table(self.idata, self.sampled_names())
        pars = spec.problem.parameters
        params: dict[str, Any] = {}
        for name in pars.names:
            p = pars[name]
            if p.fixed:
                params[name] = {"mean": p.value, "sd": 0.0, "fixed": True, "unit": p.unit}
            else:
                params[name] = {**table[name], "fixed": False, "unit": p.unit}
        rings = []
        for i, r in enumerate(spec.rings):
            lab = ring_label(i)
            S = r.n_scaling
            rings.append(
                {
                    "q": r.problem.q,
                    "phi": r.problem.phi,
                    "n_data": r.problem.n_data,
                    "contrast": [table[f"contrast_{lab}[{s}]"] for s in range(S)],
                    "offset": [table[f"offset_{lab}[{s}]"] for s in range(S)],
                    "sigma_scale": table[f"sigma_scale_{lab}"],
                }
            )
        ss = self.idata.sample_stats
        div = int(np.asarray(ss["diverging"].values).sum()) if "diverging" in ss else 0
        n_draws = st.chains * st.draws
        conv = verdict(table, div, n_draws, st.chains, st)
        self._assessment = self._assess(conv)
        return jsonable(
            {
                "joint_q": True,
                "q": spec.q,
                "backend": self.backend,
                "backend_name": self.backend_name,
                "device": self.device,
                "library": self.library,
                "mode": spec.problem.mode,
                "parameters": params,
                "rings": rings,
                "priors": spec.prior_table(),
                "reparameterisation": spec.space.describe(),
                "start": {"source": spec.start["source"], "classical_fit": spec.start["fit"]},
                "settings": st.to_dict(),
                "n_data": spec.n_data,
                "divergences": div,
                "divergence_fraction": div / max(n_draws, 1),
                "time": self.timing,
                "hdi_prob": HDI_PROB,
                "verdict": conv,
                "assessment": self._assessment.to_dict(),
                **self.extra,
            }
        )

    def _assess(self, convergence: dict[str, Any]) -> Any:
        from ..results.mcmc_outputs import mcmc_verdict

        spec = self.spec
        n = len(self.draws(self.free_names[0])) if self.free_names else 0
        draws = np.column_stack([self.draws(nm).reshape(-1) for nm in self.free_names])
        con, off, phi = [], [], []
        ss2, n_tot = np.zeros(n), 0
        for i, r in enumerate(spec.rings):
            lab = ring_label(i)
            con.append(self.draws(f"contrast_{lab}").reshape(n, -1))
            off.append(self.draws(f"offset_{lab}").reshape(n, -1))
            if r.n_scaling == r.problem.n_angles:  # labels per angle (else "shared")
                phi += [float(x) for x in r.problem.phi]
            m = r.problem.n_data
            ss2 += m * self.draws(f"sigma_scale_{lab}").reshape(-1) ** 2
            n_tot += m
        pr = spec.problem
        stats = {k: np.asarray(self.idata.sample_stats[k].values).reshape(-1) for k in ("tree_depth", "step_size") if k in self.idata.sample_stats}  # fmt: skip
        return mcmc_verdict(
            convergence=convergence,
            names=list(self.free_names),
            draws=draws,
            parameters=pr.parameters,
            contrast={"contrast": np.hstack(con), "offset": np.hstack(off)},
            contrast_bounds={"contrast": pr.contrast_bounds, "offset": pr.offset_bounds},
            phi=phi,
            tree_depth=stats.get("tree_depth"),
            max_treedepth=int(self.settings.max_treedepth),
            step_size=stats.get("step_size"),
            sigma_scale=np.sqrt(ss2 / max(n_tot, 1)),
            noise_model=pr.noise_model,
            n_data=int(n_tot),
            start_source=str(spec.start["source"]),
        )

    @property
    def assessment(self) -> Any:
        """The shared verdict (:class:`homodyne.results.verdict.Verdict`) of this run."""
        if self._assessment is None:
            self._summary = self._make_summary()
        return self._assessment

    def save(self, run_dir: str | Path) -> list[Path]:
        """Write ``mcmc_joint_<backend>.nc`` and ``mcmc_joint_summary.json`` (atomically)."""
        from .._util.atomic import atomic_call, atomic_write_text

        run_dir = Path(run_dir)
        nc = run_dir / f"mcmc_joint_{self.backend}.nc"
        atomic_call(nc, lambda tmp: self.idata.to_netcdf(str(tmp)), suffix=".nc")
        js = run_dir / "mcmc_joint_summary.json"
        atomic_write_text(js, json.dumps(self.summary, indent=2, allow_nan=False) + "\n")
        return [nc, js]


def build_joint_result(
    *,
    spec: JointPosteriorSpec,
    draws: Any,
    backend: str,
    backend_name: str,
    settings: MCMCSettings,
    timing: dict[str, float],
) -> JointMCMCResult:
    """The joint result from a sampler's :class:`~homodyne.bayes.sampler.Draws`."""
    from .._version import __version__

    attrs = {
        "inference_backend": backend,
        "backend_name": backend_name,
        "device": draws.device,
        "homodyne_version": __version__,
        "settings": settings.to_dict(),
        **{f"{k}_version": v for k, v in draws.library.items()},
    }
    idata = build_joint_idata(spec, draws.z, draws.stats, attrs)
    return JointMCMCResult(
        idata=idata,
        backend=backend,
        backend_name=backend_name,
        device=draws.device,
        spec=spec,
        settings=settings,
        timing=dict(timing),
        library=dict(draws.library),
        extra=dict(draws.extra),
    )
