"""The shared verdict on real MCMC runs: a sampler started far from the posterior with a
short tuning phase is named stuck, with the remedy; the run still writes its results and
exits with status 3; report.txt has the classical report's sections."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ..conftest import write_config
from .conftest import HAVE_NUMPYRO, HAVE_PYMC, run_python

BACKENDS = [
    pytest.param("pymc", marks=pytest.mark.skipif(not HAVE_PYMC, reason="PyMC not installed")),
    pytest.param(
        "numpyro", marks=pytest.mark.skipif(not HAVE_NUMPYRO, reason="NumPyro not installed")
    ),
]


@pytest.mark.parametrize("backend", BACKENDS)
def test_stuck_sampler_is_named_with_its_remedy(
    tmp_path: Path, static_file: Path, backend: str
) -> None:
    cfg = write_config(
        tmp_path,
        "static_anisotropic",
        static_file,
        output={"run_name": "stuck"},
        angle_filter={"enabled": False},
        # the configured start (D0 = 30, alpha = 1.5) is far from the truth (1324, -0.3)
        parameters={
            "D0": {"value": 30.0},
            "alpha": {"value": 1.5},
            "D_offset": {"min": -1000.0, "max": 1000.0},
        },
        mcmc={"init": "config"},
    )
    argv = [
        "--config", str(cfg), "--method", "mcmc", "-q", "--chains", "2", "--tune", "15",
        "--draws", "40", "--seed", "1", "--max-treedepth", "5", "--frame-stride", "4",
    ]  # fmt: skip
    code = f"""
import os, sys
os.environ["HOMODYNE_GPU_INTENT"] = "false"
from homodyne.run_homodyne import main
sys.exit(main({argv!r}))
"""
    proc = run_python(
        code, env={"MPLBACKEND": "Agg", "HOMODYNE_MCMC_BACKEND": backend}, timeout=600
    )
    assert proc.returncode == 3, proc.stderr[-4000:]
    assert "verdict is not good" in proc.stderr and "stuck" in proc.stderr
    folder = tmp_path / "out" / "stuck"
    doc = json.loads((folder / "results.json").read_text())
    assert doc["verdict"]["level"] == "stuck" and doc["verdict"]["methods"] == {"mcmc": "stuck"}
    a = doc["mcmc"]["assessment"]
    stuck = next(f for f in a["findings"] if f["level"] == "stuck")
    assert "maximum tree depth" in stuck["reason"] or "R-hat" in stuck["reason"]
    assert "mcmc.init 'classical'" in stuck["remedy"]
    assert a["checks"]["tree_depth"]["fraction_at_max"] > 0.5
    # sigma_scale far above 1 is also a noise finding of its own (sigma_scale² vs χ²(dof))
    assert any(f["level"] == "wrong-noise" and "sigma_scale²" in f["reason"] for f in a["findings"])
    # the MCMC summary file carries the same assessment
    summary = json.loads((folder / "mcmc_summary.json").read_text())
    assert summary["assessment"]["level"] == "stuck" and summary["backend"] == backend
    # derived curves with HDI bands
    assert doc["derived"]["mcmc"]["band"] == "94% HDI"
    assert set(doc["derived"]["mcmc"]["curves"]) == {"J", "tau_e"}
    report = (folder / "report.txt").read_text()
    for needle in (
        "[[MCMC]]",
        "verdict: STUCK",
        "remedy: start from the classical fit",
        "[[Parameters]]",
        "[[Scaling]]",
        "residuals / σ (posterior-mean model)",
        "sigma_scale",
        "[[Derived]]",
    ):
        assert needle in report, needle
    # residuals are in units of the noise σ: far above 1 here, not rescaled to 1
    line = next(ln for ln in report.splitlines() if "residuals / σ" in ln)
    assert float(line.split("sd ")[1].split(",")[0]) > 1.3
    for png in ("mcmc_corner.png", "mcmc_residuals.png", "derived_physics.png"):
        assert (folder / png).stat().st_size > 1000
