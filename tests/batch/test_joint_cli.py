"""``homodyne --joint-q`` on the main command: a complete run folder (classical and MCMC),
and clear errors for bad inputs (one q ring, a NumPy file, mixed modes)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from homodyne.config import config_from_dict, template
from homodyne.data import simulate_dataset
from homodyne.errors import AnalysisError
from homodyne.joint import JointProblem
from homodyne.problem import Problem

from ..mcmc._joint_worker import PARAMS as TRUTH
from ..mcmc._joint_worker import QS, config_dict, write_case_file

HAVE_PYMC = all(importlib.util.find_spec(m) is not None for m in ("pymc", "pytensor", "arviz"))


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A three-ring static file and its configuration (D_offset fixed)."""
    d = tmp_path_factory.mktemp("joint_cli")
    data = write_case_file(d / "three_q.h5")
    cfg = config_dict(data, "pymc")
    path = d / "config.json"
    path.write_text(json.dumps(cfg))
    return data, path


def homodyne(*args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "MPLBACKEND": "Agg"}
    env.pop("HOMODYNE_MCMC_BACKEND", None)
    return subprocess.run(
        [sys.executable, "-m", "homodyne.run_homodyne", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )


def test_joint_q_classical_writes_a_complete_run_folder(case, tmp_path: Path) -> None:
    _data, config = case
    proc = homodyne("--config", str(config), "--joint-q", "--output-dir", str(tmp_path), "-q")
    assert proc.returncode == 0, proc.stderr
    run = tmp_path / "joint_q"
    assert {"results.json", "report.txt", "joint_q_D0.png"} <= {p.name for p in run.iterdir()}
    doc = json.loads((run / "results.json").read_text())
    assert doc["joint_q"]["q"] == pytest.approx(QS, rel=1e-3)
    assert len(doc["joint_q"]["separate"]) == 3
    assert doc["joint_q"]["q2_scaling"]["consistent"] is True
    d0 = doc["parameters"]["D0"]
    assert abs(d0["value"] - TRUTH["D0"]) < 3 * d0["stderr"]
    assert "mcmc_joint" not in doc  # classical only


def test_joint_q_selected_rings(case, tmp_path: Path) -> None:
    _data, config = case
    proc = homodyne(
        "--config", str(config), "--joint-q", "0.012", "0.024", "--output-dir", str(tmp_path)
    )
    assert proc.returncode == 0, proc.stderr
    assert "[[Joint fit across q]] q = 0.012, 0.024" in proc.stdout
    doc = json.loads((tmp_path / "joint_q" / "results.json").read_text())
    assert doc["joint_q"]["q"] == pytest.approx([0.012, 0.024], rel=1e-3)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--joint-q", "0.017"], "needs at least two q rings"),
        (["--joint-q", "0.017", "0.017"], "a q value twice"),
        (["--joint-q", "big", "small"], "expected q values or 'all'"),
        (["--joint-q", "--plot-experimental-data"], "cannot be combined"),
    ],
)
def test_joint_q_bad_inputs_are_clear_errors(case, tmp_path: Path, args, message) -> None:
    _data, config = case
    proc = homodyne("--config", str(config), *args, "--output-dir", str(tmp_path))
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "joint_q").exists()


def test_joint_q_on_a_single_q_numpy_file_is_refused(case, tmp_path: Path) -> None:
    _data, config = case
    npz = tmp_path / "one.npz"
    np.savez(npz, c2=np.ones((1, 10, 10)), phi=np.array([0.0]), t=np.arange(1, 11) * 0.1)
    proc = homodyne("--config", str(config), "--data", str(npz), "--joint-q")
    assert proc.returncode == 2, proc.stderr
    assert "multi-q APS HDF5 file" in proc.stderr


def test_mixed_modes_cannot_be_fitted_jointly() -> None:
    probs = []
    for mode, q in (("static_isotropic", 0.01), ("static_anisotropic", 0.02)):
        cfg = template(mode)
        ds = simulate_dataset(mode, TRUTH, q=q, frames=(1, 30), phi=[0.0, 90.0], seed=1)
        probs.append(Problem.from_config(config_from_dict(cfg), ds))
    with pytest.raises(AnalysisError, match="share one mode"):
        JointProblem(probs)
    from homodyne.bayes.joint import build_joint_spec

    with pytest.raises(AnalysisError, match="share one mode"):
        build_joint_spec(probs, None)
    with pytest.raises(AnalysisError, match="at least two q rings"):
        build_joint_spec(probs[:1], None)


@pytest.mark.mcmc
@pytest.mark.slow
@pytest.mark.skipif(not HAVE_PYMC, reason="PyMC not installed")
def test_joint_q_mcmc_writes_the_joint_posterior(case, tmp_path: Path) -> None:
    _data, config = case
    proc = homodyne(
        "--config", str(config), "--joint-q", "all", "--method", "mcmc",
        "--draws", "400", "--tune", "300", "--output-dir", str(tmp_path), "--run-name", "jq",
    )  # fmt: skip
    assert proc.returncode in (0, 3), proc.stderr
    run = tmp_path / "jq"
    names = {p.name for p in run.iterdir()}
    assert {"results.json", "report.txt", "mcmc_joint_pymc.nc", "mcmc_joint_summary.json"} <= names
    assert {f"mcmc_q{q:.5g}" for q in QS} <= names
    doc = json.loads((run / "results.json").read_text())
    joint = doc["mcmc_joint"]
    assert joint["joint_q"] is True and joint["q"] == pytest.approx(QS, rel=1e-3)
    assert doc["verdict"]["exit_status"] == proc.returncode
    assert doc["verdict"]["methods"] == {"mcmc": joint["assessment"]["level"]}
    d0 = joint["parameters"]["D0"]
    assert abs(d0["mean"] - TRUTH["D0"]) < 3 * d0["sd"]
    assert d0["hdi_3%"] < TRUTH["D0"] < d0["hdi_97%"]
    # the joint posterior pins D0 better than the posterior of any single q
    per_q = [s["summary"]["parameters"]["D0"]["sd"] for s in doc["joint_q"]["separate_mcmc"]]
    assert len(per_q) == 3 and d0["sd"] < min(per_q)
    chk = doc["joint_q"]["posterior_q2_scaling"]
    assert chk["consistent"] is True and chk["joint"]["stderr"] == pytest.approx(d0["sd"], rel=1e-6)
    report = (run / "report.txt").read_text()
    assert "[[Joint posterior across q (MCMC, PyMC_CPU)]]" in report
    assert "this is the JOINT result" in report
    assert "posterior, MCMC" in report
