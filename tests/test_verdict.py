"""The verdict, identifiability and derived physics on real fits of simulated data.

Every level is provoked by a real fit on data (or a configuration) that causes it; the
clean case reads good. The static data set has D0 = 1324.1, alpha = -0.3, D_offset = 20.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from homodyne.config import config_from_dict, template
from homodyne.data import load_dataset
from homodyne.model import decorrelation_time, shear_phase_scale, sinc_squared
from homodyne.optimization.classical import fit
from homodyne.problem import Problem
from homodyne.results.derived import derived_curves, hdi
from homodyne.results.identifiability import near_degenerate_directions
from homodyne.results.verdict import EXIT_NOT_GOOD, LEVELS

from .conftest import STATIC_TRUTH, write_config

WIDE = {"D_offset": {"min": -1000.0, "max": 1000.0}}


def _fit(path: Path, *, parameters=None, noise=None, scaling=None, **kw):
    cfg = template("static_anisotropic", data_file=str(path))
    cfg["angle_filter"]["enabled"] = False
    for name, change in {**WIDE, **(parameters or {})}.items():
        cfg["parameters"][name].update(change)
    cfg["noise"].update(noise or {})
    cfg["scaling"].update(scaling or {})
    problem = Problem.from_config(config_from_dict(cfg), load_dataset(path, q=0.0054))
    return fit(problem, **kw), problem


def _levels(result) -> set[str]:
    return {f.level for f in result.assessment.findings}


def test_clean_fit_is_good(static_file: Path) -> None:
    result, _ = _fit(static_file)
    v = result.assessment
    assert v.good and v.level == "good" and v.exit_status == 0, result.verdict()
    assert all(c["ok"] in (True, None) for c in v.checks.values())
    assert v.checks["noise"]["dof"] == result.n_data - result.n_free
    assert result.verdict().startswith("good: every check holds")
    for name, truth in STATIC_TRUTH.items():
        p = result.parameters[name]
        assert abs(p.value - truth) < 3 * p.stderr, name


def test_parameter_at_bound_names_the_key(static_file: Path) -> None:
    # the truth alpha = -0.3 lies outside [-2, -0.35]: the fit ends on the bound
    result, _ = _fit(static_file, parameters={"alpha": {"max": -0.35, "value": -0.4}})
    assert result.assessment.level == "at-bound", result.verdict()
    f = next(f for f in result.assessment.findings if f.level == "at-bound")
    assert "alpha" in f.reason and "upper bound -0.35" in f.reason
    assert "the configured bound" in f.reason and "parameters.alpha.max" in f.remedy
    assert result.at_bounds == ["alpha"]
    assert "AT BOUND" in result.report()


def test_default_bound_within_one_sigma_is_at_bound(static_file: Path) -> None:
    """D_offset = 95 ± 49 with the template's ±100: 0.1 σ from the bound, not 1e-9 of the span."""
    result, _ = _fit(static_file, parameters={"D_offset": {"min": -100.0, "max": 100.0}})
    p = result.parameters["D_offset"]
    assert 100.0 - p.value > 1e-3 * 200.0 and 100.0 - p.value < p.stderr
    f = next(f for f in result.assessment.findings if f.level == "at-bound")
    assert "D_offset" in f.reason and "the template's default bound" in f.reason
    assert "σ" in f.reason and "parameters.D_offset.max" in f.remedy


def test_contrast_at_bound_is_flagged(static_file: Path) -> None:
    # the data have contrast 0.25; a maximum of 0.2 pins every angle's contrast there
    result, _ = _fit(static_file, scaling={"contrast_max": 0.2})
    assert "at-bound" in _levels(result)
    f = next(f for f in result.assessment.findings if "contrast" in f.reason)
    assert "8 of 8 angles" in f.reason and "scaling.contrast_max" in f.remedy


def test_degenerate_pair_is_named(tmp_path: Path) -> None:
    # data with alpha = 0 fitted with alpha fixed at 0: J = D0 + D_offset, only the sum
    # is determined by the data
    from homodyne.data import write_simulated_file

    path = write_simulated_file(
        tmp_path / "flat.h5",
        mode="static_anisotropic",
        params={"D0": 1000.0, "alpha": 0.0, "D_offset": 300.0},
        n_frames=60,
        contrast=0.25,
        noise_sigma=0.003,
        seed=5,
    )
    result, _ = _fit(path, parameters={"alpha": {"value": 0.0, "fixed": True}})
    assert result.assessment.level == "degenerate", result.verdict()
    d = result.assessment.directions[0]
    assert set(d.names) == {"D0", "D_offset"} and d.degenerate
    assert d.coefficients[1] == pytest.approx(1.0, rel=1e-3)
    assert "the data constrain" in d.text and "not each" in d.text
    # the combination is well determined although each part is not
    assert d.error < 0.01 * min(d.separate_errors)
    assert "[[Identifiability]]" in result.report()
    assert d.value == pytest.approx(1300.0, rel=0.05)
    assert set(result.assessment.checks["constrained"]["not_constrained"]) == {"D0", "D_offset"}


def test_wrong_noise_level(static_file: Path) -> None:
    # the data's noise is 0.003; an absolute σ of 0.002 makes χ²_red ≈ 2.25
    result, _ = _fit(static_file, noise={"model": "fixed", "sigma": 0.002})
    assert result.assessment.level == "wrong-noise", result.verdict()
    c = result.assessment.checks["noise"]
    assert c["p_value"] < 1e-3 and c["dof"] == result.n_data - result.n_free
    right, _ = _fit(static_file, noise={"model": "fixed", "sigma": 0.003})
    assert right.assessment.checks["noise"]["ok"], right.verdict()


def test_not_converged(static_file: Path) -> None:
    result, _ = _fit(static_file, parameters={"D0": {"value": 100.0}}, max_iterations=1)
    assert not result.success
    assert result.assessment.level == "not-converged"
    f = result.assessment.findings[0]
    assert "classical.max_iterations" in f.remedy


def test_multistart_agreement_is_checked(static_file: Path) -> None:
    result, _ = _fit(static_file, multistart=3)
    ms = result.assessment.checks["multistart"]
    assert ms["starts"] == 4 and ms["reached_best"] >= 2 and ms["disagree"] == []
    assert result.assessment.good, result.verdict()
    assert "[[Multistart]] 4 starts" in result.report()


def test_truth_column_in_report(tmp_path: Path, static_file: Path) -> None:
    """report.txt shows the truth beside each value whenever the problem carries it."""
    from homodyne.analysis import RunOutcome, write_run

    result, problem = _fit(static_file)
    assert "truth" not in result.report()
    problem.truth = dict(STATIC_TRUTH)  # what a simulated file's Dataset/Problem carries
    cfg = config_from_dict(template("static_anisotropic", data_file=str(static_file)))
    folder = write_run(
        RunOutcome(cfg, problem, classical=result),
        output_dir=tmp_path,
        run_name="t",
        overwrite=False,
        plots=False,
    )
    text = (folder / "report.txt").read_text()
    line = next(ln for ln in text.splitlines() if ln.strip().startswith("alpha"))
    assert "truth -0.3 (" in line and "σ)" in line


def test_identifiability_of_a_known_covariance() -> None:
    # x = (a, b, c): a and b enter only as a + 2b (variance 1e-6), c is independent
    rng = np.random.default_rng(0)
    s = rng.normal(size=(20000, 2))
    a = 10 * s[:, 0]
    b = (1e-3 * s[:, 1] - a) / 2.0
    c = rng.normal(size=20000)
    cov = np.cov(np.stack([a, b, c]), rowvar=True)
    dirs = near_degenerate_directions(
        ["a", "b", "c"], cov, [1.0, 2.0, 3.0], units={"a": "s", "b": "s"}
    )
    assert len(dirs) == 1
    d = dirs[0]
    assert set(d.names) == {"a", "b"} and d.degenerate and d.unit == "s"
    coef = dict(zip(d.names, d.coefficients, strict=True))
    assert coef["b"] / coef["a"] == pytest.approx(2.0, rel=1e-3)
    assert d.error == pytest.approx(1e-3 * abs(coef["a"]), rel=0.05)


def test_derived_band_matches_monte_carlo(static_file: Path) -> None:
    result, problem = _fit(static_file)
    derived = derived_curves(problem, result.parameters.values(), covariance=result.covariance)
    J = derived["curves"]["J"]
    t = np.asarray(derived["t"])
    rng = np.random.default_rng(1)
    free = np.nonzero(problem.parameters.free_mask)[0]
    theta = result.parameters.values()
    draws = rng.multivariate_normal(theta[free], result.covariance, size=40000)
    Jmc = draws[:, 0:1] * t[None, :] ** draws[:, 1:2] + draws[:, 2:3]
    sd_lin = np.asarray(J["upper"]) - np.asarray(J["value"])
    assert np.allclose(sd_lin, Jmc.std(axis=0), rtol=0.05)
    assert np.allclose(J["value"], theta[0] * t ** theta[1] + theta[2])
    # τ_e of the diffusion term is 1/(q² J)
    assert np.allclose(
        derived["curves"]["tau_e"]["value"], 1.0 / (problem.q**2 * np.asarray(J["value"]))
    )
    # the same band from draws: the 94% HDI of J(t) holds 94% of the draws at each t
    from_draws = derived_curves(problem, theta, draws=draws[:4000])
    lo, hi = (np.asarray(from_draws["curves"]["J"][k]) for k in ("lower", "upper"))
    inside = ((Jmc[:4000] >= lo) & (Jmc[:4000] <= hi)).mean(axis=0)
    assert np.all(np.abs(inside - 0.94) < 0.01)
    assert from_draws["band"] == "94% HDI"


def test_decorrelation_time_with_shear_solves_its_equation() -> None:
    theta = [1000.0, -0.2, 5.0, 0.01, -0.5, 0.0, 5.0]
    t = np.array([0.5, 2.0, 8.0])
    q, gap = 0.0054, 2.0e6
    tau = decorrelation_time(theta, t, q, phi_deg=10.0, gap=gap)
    J = theta[0] * t ** theta[1] + theta[2]
    g = theta[3] * t ** theta[4] + theta[5]
    th = float(shear_phase_scale(theta[6], 10.0, q, gap))
    f = q * q * J * tau - np.log(sinc_squared(th * g * tau))
    assert np.allclose(f, 1.0, atol=1e-9)
    assert np.all(tau < 1.0 / (q * q * J))  # shear only shortens it
    lo, hi = hdi(np.arange(100.0)[:, None], 0.9)
    assert hi[0] - lo[0] == 90.0  # floor(0.9 n) steps, as ArviZ counts them


def test_levels_are_ordered() -> None:
    assert LEVELS[-1] == "good" and LEVELS[0] == "stuck" and EXIT_NOT_GOOD == 3


def test_exit_status_3_in_a_subprocess(tmp_path: Path, static_file: Path) -> None:
    cfg = write_config(
        tmp_path,
        "static_anisotropic",
        static_file,
        output={"run_name": "bound", "plots": False},
        angle_filter={"enabled": False},
        parameters={"alpha": {"max": -0.35, "value": -0.4}, **WIDE},
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.run(
        [sys.executable, "-m", "homodyne.run_homodyne", "--config", str(cfg), "-q"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert proc.returncode == 3, proc.stderr
    assert "verdict is not good" in proc.stderr and "alpha" in proc.stderr
    doc = json.loads((tmp_path / "out" / "bound" / "results.json").read_text())
    assert doc["verdict"]["level"] == "at-bound" and doc["verdict"]["exit_status"] == 3
    assert doc["classical"]["verdict"]["findings"][0]["remedy"].startswith(
        "widen parameters.alpha.max"
    )
    assert doc["classical"]["parameters"]["alpha"]["at_bound"] is True
    assert set(doc["derived"]["classical"]["curves"]) == {"J", "tau_e"}
    report = (tmp_path / "out" / "bound" / "report.txt").read_text()
    assert "verdict: AT-BOUND" in report and "[[Derived]]" in report
    # the same configuration with alpha free to reach its truth exits 0
    good = write_config(
        tmp_path,
        "static_anisotropic",
        static_file,
        output={"run_name": "good", "plots": False},
        angle_filter={"enabled": False},
        parameters=WIDE,
    )
    proc = subprocess.run(
        [sys.executable, "-m", "homodyne.run_homodyne", "--config", str(good), "-q"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
