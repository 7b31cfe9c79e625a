"""Joint fit across q: recovers a multi-q truth that no single q pins down; flags q mismatch."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from homodyne.analysis import fit_classical
from homodyne.config import config_from_dict, template
from homodyne.data import simulate_dataset, write_simulated_file
from homodyne.joint import JointProblem, compare_with_separate, fit_joint, joint_problems
from homodyne.problem import Problem

#: Laminar flow in which no single q pins all the physics: at q = 0.001 the decay is
#: invisible (D0 free to wander) while the shear phase shows; at q = 0.05 the decay takes a
#: few frames and hides the shear (gamma_dot_t0 and phi0 loose). Together they share one J, γ̇.
TRUTH = {
    "D0": 5000.0,
    "alpha": 0.0,
    "D_offset": 0.0,
    "gamma_dot_t0": 5e-5,
    "beta": 0.0,
    "gamma_dot_t_offset": 0.0,
    "phi0": 5.0,
}
QS = [0.001, 0.05]
FREE = ("D0", "alpha", "gamma_dot_t0", "phi0")


def _laminar_config(data: Path) -> dict:
    cfg = template("laminar_flow", data_file=str(data))
    cfg["classical"]["multistart"] = 4
    cfg["angle_filter"]["enabled"] = False
    for n in ("beta", "gamma_dot_t_offset", "D_offset"):
        cfg["parameters"][n].update({"value": 0.0, "fixed": True})
    cfg["parameters"]["gamma_dot_t0"]["value"] = 1e-3
    return cfg


@pytest.fixture(scope="module")
def joint_case(tmp_path_factory: pytest.TempPathFactory):
    path = tmp_path_factory.mktemp("joint") / "two_q.h5"
    write_simulated_file(
        path,
        mode="laminar_flow",
        q_values=QS,
        params=TRUTH,
        phi=[0, 45, 90, 135],
        n_frames=100,
        dt=0.1,
        contrast=0.3,
        noise_sigma=0.005,
        seed=3,
    )
    config = config_from_dict(_laminar_config(path))
    problems = joint_problems(config, QS)
    separate = [fit_classical(config, p) for p in problems]
    joint = fit_joint(JointProblem(problems), separate)
    return path, config, problems, separate, joint


def _pinned(p, truth: float) -> bool:
    """Estimated to better than 10 % (phi0: 4°, alpha: 0.05) and within 3σ of the truth."""
    err = p.stderr if p.stderr is not None else np.inf
    tol = {"phi0": 4.0, "alpha": 0.05}.get(p.name, 0.1 * abs(truth))
    return err < tol and abs(p.value - truth) < 3 * err


def test_joint_fit_recovers_what_separate_fits_cannot(joint_case) -> None:
    _path, _config, _problems, separate, joint = joint_case
    assert joint.success and 0.9 < joint.chi2_red < 1.1
    for name in FREE:
        assert _pinned(joint.parameters[name], TRUTH[name]), (name, joint.parameters[name])
    for q, s in zip(QS, separate, strict=True):
        loose = [n for n in FREE if not _pinned(s.parameters[n], TRUTH[n])]
        assert loose, f"q = {q} alone pins every parameter; the test case is not degenerate"
    # the joint errors are at least as small as the best single q's, and clearly smaller for γ̇
    for name in FREE:
        best = min(s.parameters[name].stderr for s in separate)
        assert joint.parameters[name].stderr <= 1.05 * best
    g = [s.parameters["gamma_dot_t0"].stderr for s in separate]
    assert joint.parameters["gamma_dot_t0"].stderr < 0.5 * min(g)


def test_joint_run_folder_and_q2_check(joint_case, tmp_path: Path) -> None:
    from homodyne.joint import run_joint

    path, _config, *_ = joint_case
    cfg = _laminar_config(path)
    cfg["output"].update({"directory": str(tmp_path), "run_name": "joint", "plots": True})
    out = run_joint(config_from_dict(cfg), q_values=QS)
    doc = json.loads((out.run_dir / "results.json").read_text())
    assert doc["joint_q"]["q"] == pytest.approx(QS)
    assert len(doc["joint_q"]["separate"]) == 2
    chk = doc["joint_q"]["q2_scaling"]
    assert chk["consistent"] is True and chk["p_value"] > 0.01
    assert doc["parameters"]["D0"]["stderr"] > 0
    assert "q² scaling check" in (out.run_dir / "report.txt").read_text()
    assert (out.run_dir / "joint_q_D0.png").stat().st_size > 5000


def test_q_dependent_dynamics_is_flagged() -> None:
    """Rings simulated with different D0 cannot share one J(t): the check says so."""
    params = {"D0": 800.0, "alpha": 0.0, "D_offset": 0.0}
    cfg = template("static_isotropic")
    cfg["parameters"]["D_offset"].update({"value": 0.0, "fixed": True})
    cfg["classical"]["multistart"] = 0
    config = config_from_dict(cfg)
    problems = []
    for i, q in enumerate((0.01, 0.014, 0.02)):
        ds = simulate_dataset(
            "static_isotropic",
            {**params, "D0": 800.0 * (1 + i)},
            q=q,
            frames=(1, 60),
            contrast=0.3,
            noise_sigma=0.003,
            seed=i,
        )
        problems.append(Problem.from_arrays(ds.c2, ds.t, ds.phi, ds.q, config.parameters))
    separate = [fit_classical(config, p) for p in problems]
    joint = fit_joint(JointProblem(problems), separate)
    chk = compare_with_separate(
        joint,
        [
            {"q": p.q, "value": s.parameters["D0"].value, "stderr": s.parameters["D0"].stderr}
            for p, s in zip(problems, separate, strict=True)
        ],
    )
    assert chk["consistent"] is False
    assert chk["p_value"] < 1e-3 and chk["exponent_s"] > 3 * chk["exponent_s_stderr"]


def test_joint_problem_rejects_bad_input() -> None:
    from homodyne.errors import AnalysisError

    cfg = config_from_dict(template("static_isotropic"))
    ds = simulate_dataset(
        "static_isotropic",
        {"D0": 800.0, "alpha": 0.0, "D_offset": 0.0},
        q=0.01,
        frames=(1, 30),
        noise_sigma=0.003,
        seed=1,
    )
    p = Problem.from_arrays(ds.c2, ds.t, ds.phi, ds.q, cfg.parameters)
    with pytest.raises(AnalysisError, match="at least two q"):
        JointProblem([p])
    with pytest.raises(AnalysisError, match="appears twice"):
        JointProblem([p, p])


def test_joint_q_task_in_a_batch(tmp_path: Path) -> None:
    """A joint-q manifest: one task per file, its row in the summary carries the q² check."""
    from homodyne.batch import load_manifest, run_batch
    from homodyne.batch.summary import summary_rows
    from homodyne.batch.tasks import expand_tasks, run_task

    from .conftest import make_files, write_base_config, write_manifest

    make_files(tmp_path / "data", 1, frames=40)
    write_base_config(tmp_path)
    m = load_manifest(
        write_manifest(
            tmp_path,
            'config = "base.json"\nfiles = ["data/*.h5"]\nq = "all"\njoint_q = true\noutput = "out"\n',
        )
    )
    (task,) = expand_tasks(m)
    rec = run_task(task)  # in this process: the same function the workers run
    assert rec["status"] == "done", rec.get("traceback")
    (row,) = summary_rows([task], {task.id: rec})
    assert row["method"] == "classical" and row["q2_scaling_ok"] is True
    assert json.loads(row["q"]) == pytest.approx([0.012, 0.02])
    assert row["D0_err"] > 0 and 0.7 < row["chi2_red"] < 1.3
    res = run_batch(m, progress=None, plots=False)  # up to date: nothing runs, summary written
    assert not res.plan.to_run and (m.output / "summary.parquet").is_file()
