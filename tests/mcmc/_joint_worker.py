"""Run in a fresh interpreter by the joint-MCMC tests: the joint posterior across q with one
backend, the other stack hidden.

    python _joint_worker.py BACKEND DATA_FILE OUTDIR

Fits the q rings of DATA_FILE classically (separately and jointly), samples the joint
posterior with BACKEND, evaluates the backend's joint log density and a NumPy reference at
fixed points, saves the result and writes ``OUTDIR/report.json``.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _worker import STACKS, Blocker, loaded

#: The q rings of the joint test case and the truth (static, D_offset fixed at 0).
QS = [0.012, 0.017, 0.024]
TRUTH = {"D0": 800.0, "alpha": -0.3}
#: All the parameters of the case file: TRUTH, and D_offset fixed at 0.
PARAMS = {**TRUTH, "D_offset": 0.0}
SETTINGS = {"chains": 2, "tune": 400, "draws": 800, "seed": 1}


def write_case_file(path: str | Path) -> Path:
    """The three-ring static data file of the joint tests (TRUTH, D_offset 0)."""
    from homodyne.data import write_simulated_file

    return write_simulated_file(
        path,
        mode="static_isotropic",
        q_values=QS,
        params=PARAMS,
        phi=[0.0],
        n_frames=40,
        dt=0.1,
        contrast=0.3,
        noise_sigma=0.005,
        seed=5,
    )


def config_dict(data_file: str | Path, backend: str, out: str | None = None) -> dict:
    """The configuration of the joint tests, as the template writes it: D_offset fixed at
    0, no multistart, the SETTINGS of the sampler."""
    from homodyne.config import template

    cfg = template("static_isotropic", data_file=str(data_file))
    cfg["parameters"]["D_offset"].update({"value": 0.0, "fixed": True})
    cfg["classical"]["multistart"] = 0
    cfg["mcmc"].update({**SETTINGS, "backend": backend})
    if out:
        cfg["output"].update({"directory": out, "plots": False})
    return cfg


def config_for(data_file: str, backend: str, out: str | None = None):
    from homodyne.config import config_from_dict

    return config_from_dict(config_dict(data_file, backend, out))


def reference_log_density(spec, z):
    """The joint log density written out with NumPy/SciPy (no sampling stack)."""
    import numpy as np
    from scipy import stats

    from homodyne.bayes.posterior import gaussian_log_likelihood
    from homodyne.bayes.priors import NOISE_PRIOR

    theta, lj = spec.space.transform(np.asarray(z, dtype=float), np)
    total = float(lj)
    for j, prior in enumerate(spec.priors):
        v = theta[j]
        if prior.dist == "Uniform":
            total += stats.uniform(prior.lower, prior.upper - prior.lower).logpdf(v)
        elif prior.dist == "Normal":
            total += stats.norm(prior.mu, prior.sigma).logpdf(v) + prior.log_norm
        else:
            total += stats.lognorm(prior.sigma, scale=math.exp(prior.mu)).logpdf(v) + prior.log_norm
    params, rings = spec.split_rings(theta)
    for r, (con, off, ss) in zip(spec.rings, rings, strict=True):
        pr = r.problem
        for v, (lo, hi) in ((con, pr.contrast_bounds), (off, pr.offset_bounds)):
            total += float(np.sum(stats.uniform(lo, hi - lo).logpdf(v)))
        total += stats.lognorm(NOISE_PRIOR.sigma, scale=math.exp(NOISE_PRIOR.mu)).logpdf(ss)
        mu = np.broadcast_to(r.c2_model(params, con, off, np), pr.data.shape)
        total += float(gaussian_log_likelihood(pr.data, mu, pr.sigma, ss, np))
    return float(total)


def main() -> int:
    backend, data_file, outdir = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    other = "numpyro" if backend == "pymc" else "pymc"
    sys.meta_path[:] = [Blocker(STACKS[other], list(sys.meta_path))]
    import numpy as np

    from homodyne.analysis import fit_classical
    from homodyne.joint import JointProblem, fit_joint, joint_problems
    from homodyne.joint_mcmc import run_joint_mcmc

    config = config_for(data_file, backend)
    problems = joint_problems(config, QS)
    separate = [fit_classical(config, p) for p in problems]
    joint = fit_joint(JointProblem(problems), separate)
    before = loaded(STACKS["pymc"] + STACKS["numpyro"])
    res = run_joint_mcmc(problems, config, joint, options={"cores": 1})
    if backend == "pymc":
        from homodyne.optimization.mcmc_cpu_backend import log_density
    else:
        from homodyne.optimization.mcmc_gpu_backend import log_density
    rng = np.random.default_rng(0)
    points = rng.normal(0.0, 0.5, size=(3, res.spec.k))
    outdir.mkdir(parents=True, exist_ok=True)
    files = [p.name for p in res.save(outdir)]
    sm = res.summary
    report = {
        "backend": backend,
        "hidden": list(STACKS[other]),
        "loaded_before_sampling": before,
        "loaded_after_sampling": loaded(STACKS["pymc"] + STACKS["numpyro"]),
        "log_density": [log_density(res.spec, z) for z in points],
        "reference_log_density": [reference_log_density(res.spec, z) for z in points],
        "parameters": sm["parameters"],
        "verdict": sm["verdict"],
        "assessment": sm["assessment"],
        "rings": len(sm["rings"]),
        "classical_joint": {n: [p.value, p.stderr] for n, p in joint.parameters.items()},
        "classical_separate": [
            {n: [p.value, p.stderr] for n, p in s.parameters.items()} for s in separate
        ],
        "files": files,
    }
    (outdir / "report.json").write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
