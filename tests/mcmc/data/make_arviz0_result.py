"""Write ``mcmc_pymc_arviz0.nc``: a result file laid out as releases on ArviZ < 1 wrote it.

Run with ArviZ 0.x (``pip install "arviz<1"`` in a separate environment):

    python tests/mcmc/data/make_arviz0_result.py tests/mcmc/data/mcmc_pymc_arviz0.nc

Same groups, variables, dims and attributes as ``build_idata`` of those releases
(``az.from_dict(posterior=..., sample_stats=..., observed_data=..., constant_data=...,
attrs=...)``), small sizes: 2 chains x 60 draws, 2 angles, 3 frames.
"""

import json
import sys

import arviz as az
import numpy as np

assert az.__version__.split(".")[0] == "0", az.__version__
rng = np.random.default_rng(7)
chains, draws, angles, frames = 2, 60, 2, 3
iu, ju = np.triu_indices(frames, 1)
post = {
    "D0": 1000.0 + 10.0 * rng.standard_normal((chains, draws)),
    "alpha": -0.5 + 0.01 * rng.standard_normal((chains, draws)),
    "D_offset": 5.0 + 0.1 * rng.standard_normal((chains, draws)),
    "contrast": 0.3 + 0.01 * rng.standard_normal((chains, draws, angles)),
    "offset": 1.0 + 0.001 * rng.standard_normal((chains, draws, angles)),
    "sigma_scale": 1.0 + 0.02 * rng.standard_normal((chains, draws)),
}
stats = {
    "diverging": np.zeros((chains, draws), bool),
    "tree_depth": np.full((chains, draws), 3, np.int64),
    "step_size": np.full((chains, draws), 0.5),
    "lp": rng.standard_normal((chains, draws)),
}
idata = az.from_dict(
    posterior=post,
    sample_stats=stats,
    observed_data={"c2_obs": 1.0 + 0.3 * rng.random((angles, iu.size))},
    constant_data={
        "phi": np.array([0.0, 45.0]),
        "sigma": np.full(angles, 0.01),
        "t": np.arange(frames, dtype=float),
        "iu": iu.astype(np.int64),
        "ju": ju.astype(np.int64),
    },
    coords={"angle": np.arange(angles), "pair": np.arange(iu.size), "frame": np.arange(frames)},
    dims={
        "contrast": ["angle"],
        "offset": ["angle"],
        "c2_obs": ["angle", "pair"],
        "phi": ["angle"],
        "sigma": ["angle"],
        "t": ["frame"],
        "iu": ["pair"],
        "ju": ["pair"],
    },
    attrs={
        "homodyne_mode": "static_isotropic",
        "q": 0.0054,
        "fixed_parameters": json.dumps({}),
        "backend": "pymc",
        "arviz_version_written_with": az.__version__,
    },
)
idata.to_netcdf(sys.argv[1])
