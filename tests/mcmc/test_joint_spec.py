"""The joint posterior's specification, without a sampling stack: layout, start and
whitening (the NumPy log density is close to a unit Gaussian at the start)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from homodyne.analysis import fit_classical
from homodyne.bayes.joint import build_joint_spec
from homodyne.joint import JointProblem, fit_joint, joint_problems

sys.path.insert(0, str(Path(__file__).parent))
from _joint_worker import QS, config_for, reference_log_density, write_case_file


@pytest.fixture(scope="module")
def spec_and_fit(tmp_path_factory: pytest.TempPathFactory):
    path = write_case_file(tmp_path_factory.mktemp("joint_spec") / "three_q.h5")
    config = config_for(str(path), "pymc")
    problems = joint_problems(config, QS)
    joint = fit_joint(JointProblem(problems), [fit_classical(config, p) for p in problems])
    return build_joint_spec(problems, joint), joint


def test_layout_and_start_are_the_joint_fit(spec_and_fit) -> None:
    spec, joint = spec_and_fit
    assert spec.free_names == ("D0", "alpha")
    assert spec.k == 2 + 3 * (2 * 1 + 1)  # D0, alpha | per ring: contrast, offset, sigma_scale
    assert spec.q == pytest.approx(QS, rel=1e-3)
    theta = spec.space.to_theta(np.zeros(spec.k))
    params, rings = spec.split_rings(theta)
    assert params[0] == pytest.approx(joint.parameters["D0"].value, rel=1e-6)
    assert params[1] == pytest.approx(joint.parameters["alpha"].value, rel=1e-6)
    assert params[2] == 0.0  # D_offset, fixed
    for i, (con, off, ss) in enumerate(rings):
        assert con == pytest.approx(joint.contrast[i], rel=1e-6)
        assert off == pytest.approx(joint.offset[i], rel=1e-6)
        assert 0.8 < float(ss) < 1.2  # the simulated noise is the data's σ


def test_whitening_makes_the_joint_posterior_nearly_isotropic(spec_and_fit) -> None:
    """The Hessian of the log density in z at the start is close to -I: the summed
    information of the rings was assembled into the right coordinates."""
    spec, _ = spec_and_fit
    k, h = spec.k, 1e-3
    f0 = reference_log_density(spec, np.zeros(k))
    H = np.empty((k, k))
    for i in range(k):
        for j in range(i, k):
            e_i, e_j = np.eye(k)[i] * h, np.eye(k)[j] * h
            H[i, j] = H[j, i] = (
                reference_log_density(spec, e_i + e_j)
                - reference_log_density(spec, e_i - e_j)
                - reference_log_density(spec, -e_i + e_j)
                + reference_log_density(spec, -e_i - e_j)
            ) / (4 * h * h)
    assert np.isfinite(f0)
    lam = np.linalg.eigvalsh(-H)
    assert lam.min() > 0.5 and lam.max() < 2.0, lam
