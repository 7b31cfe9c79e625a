"""The content of ``results.json``: one document for a run, from its result objects."""

from __future__ import annotations

import datetime as _dt
from typing import Any

from .writer import environment_info, fit_to_dict

__all__ = ["results_document"]


def results_document(
    problem: Any,
    config: Any,
    classical: Any = None,
    mcmc: Any = None,
    command: list[str] | None = None,
) -> dict[str, Any]:
    """``results.json`` of a run: version, time, command, input and its provenance,
    environment, configuration snapshot, and the classical fit and/or the MCMC summary.

    ``parameters`` holds the classical values and errors, or, for an MCMC-only run, the
    posterior means and standard deviations."""
    doc: dict[str, Any] = {
        "homodyne_version": environment_info()["homodyne_analysis"],
        "created_utc": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "command": command or [],
        "analysis_mode": problem.mode,
        "input": {
            "file": problem.provenance.get("source"),
            "sha256": problem.provenance.get("source_sha256"),
            "layout": problem.provenance.get("layout"),
            "q": problem.q,
            "dt": problem.provenance.get("dt"),
            "frames": problem.provenance.get("frames"),
            "phi_used": problem.phi.tolist(),
            "angle_selection": getattr(problem, "angle_selection", None),
            "n_pairs_per_angle": problem.n_pairs,
            "masked": problem.provenance.get("masked"),
            "defaults_from_data": problem.provenance.get("defaults_from_data"),
        },
        "truth": getattr(problem, "truth", None),
        "environment": environment_info(),
        "config": config.to_dict(),
    }
    if classical is not None:
        cl = fit_to_dict(classical, problem)
        doc["parameters"] = cl["parameters"]
        doc["chi2"] = {
            "chi2": cl["chi2"],
            "reduced_chi2": cl["reduced_chi2"],
            "reduced_chi2_per_angle": cl["reduced_chi2_per_angle"],
        }
        doc["scaling"] = cl["scaling"]
        doc["classical"] = cl
    if mcmc is not None:
        doc["mcmc"] = mcmc.summary
        if "parameters" not in doc:
            doc["parameters"] = {
                name: {
                    "value": s["mean"],
                    "stderr": s["sd"],
                    "unit": problem.parameters[name].unit,
                    "fixed": problem.parameters[name].fixed,
                }
                for name, s in mcmc.summary.get("parameters", {}).items()
                if name in problem.parameters
            }
    from .verdict import run_verdict

    doc["verdict"] = run_verdict(classical, mcmc)
    return doc
