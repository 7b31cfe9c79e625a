"""Simulation-based calibration of one MCMC backend, run in a fresh interpreter.

    python _sbc_worker.py BACKEND OUT.json REPLICATES [SEED]

For each replicate: draw every sampled quantity from its prior (D0 and alpha uniform in
their bounds, contrast and offset uniform in theirs, sigma_scale from NOISE_PRIOR),
simulate c2 on the strict upper triangle with Gaussian noise sigma_scale · σ, sample the
posterior with the backend, thin the draws and record the rank of the truth among them.
If the backend's posterior is the Bayesian posterior of the model, the ranks are uniform
on 0..L (Talts et al. 2018, arXiv:1804.06788).
"""

from __future__ import annotations

import json
import os
import sys
import time

import numpy as np

#: The small problem: one sector, 14 frames, two free physical parameters.
N_FRAMES, DT, Q, SIGMA = 14, 0.5, 0.01, 0.004
BOUNDS = {"D0": (300.0, 3000.0), "alpha": (-0.8, 0.2)}
CONTRAST_BOUNDS, OFFSET_BOUNDS = (0.1, 0.3), (0.95, 1.05)
CHAINS, TUNE, DRAWS, THIN = 2, 300, 200, 4


def problem_and_truth(rng: np.random.Generator):
    from homodyne.bayes.priors import NOISE_PRIOR
    from homodyne.model import c2_matrix
    from homodyne.parameters import Parameter, Parameters
    from homodyne.problem import Problem

    truth = {k: float(rng.uniform(*b)) for k, b in BOUNDS.items()}
    contrast = float(rng.uniform(*CONTRAST_BOUNDS))
    offset = float(rng.uniform(*OFFSET_BOUNDS))
    sigma_scale = float(np.exp(rng.normal(NOISE_PRIOR.mu, NOISE_PRIOR.sigma)))
    params = Parameters(
        "static_isotropic",
        {
            "D0": Parameter("D0", float(np.mean(BOUNDS["D0"])), *BOUNDS["D0"]),
            "alpha": Parameter("alpha", float(np.mean(BOUNDS["alpha"])), *BOUNDS["alpha"]),
            "D_offset": Parameter("D_offset", 0.0, -1.0, 1.0, fixed=True),
        },
    )
    t = DT * np.arange(1, N_FRAMES + 1)
    c2 = c2_matrix(
        [truth["D0"], truth["alpha"], 0.0],
        t,
        np.array([0.0]),
        Q,
        2e6,
        contrast,
        offset,
        "static_isotropic",
    )
    iu, ju = np.triu_indices(N_FRAMES, 1)
    e = rng.normal(0.0, sigma_scale * SIGMA, iu.size)
    c2[0, iu, ju] += e
    c2[0, ju, iu] += e
    problem = Problem.from_arrays(
        c2, t, [0.0], Q, params, noise_model="fixed", sigma=SIGMA,
        contrast_bounds=CONTRAST_BOUNDS, offset_bounds=OFFSET_BOUNDS,
    )  # fmt: skip
    truth.update(contrast=contrast, offset=offset, sigma_scale=sigma_scale)
    return problem, truth


def main() -> int:
    backend, out, reps = sys.argv[1], sys.argv[2], int(sys.argv[3])
    seed = int(sys.argv[4]) if len(sys.argv) > 4 else 0
    os.environ["HOMODYNE_GPU_INTENT"] = "true" if backend == "numpyro" else "false"
    from homodyne.optimization.backends import get_mcmc_backend
    from homodyne.optimization.classical import fit

    fn, name, _ = get_mcmc_backend()
    rows = []
    t0 = time.perf_counter()
    for r in range(reps):
        t_rep = time.perf_counter()
        rng = np.random.default_rng([seed, r])
        problem, truth = problem_and_truth(rng)
        start = fit(problem)
        res = fn(
            analysis_core=problem, init=start, progress=False,
            chains=CHAINS, tune=TUNE, draws=DRAWS, seed=1000 + r,
        )  # fmt: skip
        row = {"truth": truth, "ranks": {}, "z": {}, "diverging": 0}
        for k, v in truth.items():
            d = np.asarray(res.idata.posterior[k].values)  # (chains, draws[, S])
            d = d.reshape(d.shape[0], d.shape[1], -1)[:, :, 0]
            row["z"][k] = float((v - d.mean()) / d.std())
            d = d[:, ::THIN].ravel()
            row["ranks"][k] = int(np.sum(d < v))
            row["n_draws"] = int(d.size)
        ss = res.idata.sample_stats
        row["diverging"] = int(np.sum(ss["diverging"].values))
        row["step_size"] = float(np.mean(ss["step_size"].values))
        row["mean_tree_depth"] = float(np.mean(ss["tree_depth"].values))
        row["wall_s"] = round(time.perf_counter() - t_rep, 2)
        rows.append(row)
        _write(out, name, rows, time.perf_counter() - t0)  # after every replicate
        print(
            f"{name} replicate {r + 1}/{reps}: {row['wall_s']:.0f} s, "
            f"{row['diverging']} divergent, step size {row['step_size']:.3g}",
            file=sys.stderr,
            flush=True,
        )
    return 0


def _write(out: str, name: str, rows: list[dict], wall_s: float) -> None:
    """The report so far (written after each replicate: an interrupted run keeps its
    finished replicates), replaced atomically."""
    report = {"backend": name, "replicates": rows, "wall_s": wall_s}
    with open(out + ".tmp", "w") as fh:
        json.dump(report, fh)
    os.replace(out + ".tmp", out)


if __name__ == "__main__":
    sys.exit(main())
