"""nutpie's NUTS for the PyMC backend's model (``mcmc.sampler = "nutpie"``; never imports JAX).

:func:`sample_nutpie` samples the model of
:func:`homodyne.optimization.mcmc_cpu_backend.build_pymc_model` with nutpie, which
compiles the log density and its gradient with PyTensor's Numba backend into one
``numba.cfunc`` and runs the chains as threads of its Rust sampler. The laminar-flow
gradient kernel enters the compiled program as itself (its Numba registration in
:mod:`homodyne.optimization.pytensor_gradient`), not through Python object mode.

nutpie starts every chain from one point (``init_mean``, jittered by nutpie), not from
one point per chain: the mean of the chains' starting points is used.

Importing this module is cheap: nutpie is imported when sampling starts.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from ..bayes.joint import JointPosteriorSpec
from ..bayes.posterior import PosteriorSpec
from ..bayes.run import cpu_description, timer
from ..bayes.sampler import Draws, module_available
from ..bayes.settings import MCMCSettings
from ..runtime import signals

__all__ = ["is_nutpie_available", "sample_nutpie"]

log = logging.getLogger(__name__)


def is_nutpie_available() -> bool:
    """Whether nutpie and Numba are installed (checked without importing them)."""
    return module_available("nutpie") and module_available("numba")


def _stat(ss: Any, *names: str, dtype: Any = float) -> np.ndarray:
    for name in names:
        if name in ss:
            return np.asarray(ss[name].values, dtype=dtype)
    raise KeyError(f"nutpie's sample statistics have none of {names}; got {sorted(ss)}")


def sample_nutpie(
    model: Any,
    spec: PosteriorSpec | JointPosteriorSpec,
    settings: MCMCSettings,
    start: np.ndarray,
    *,
    progress: bool,
    cores: int,
    gradient: str,
    clock: Any = None,
) -> Draws:
    """Sample the PyMC ``model`` of ``spec`` with nutpie (Numba-compiled log density).

    ``cores`` sampler threads run the chains; ``clock`` (of
    :func:`homodyne.bayes.run.timer`) started when the caller began preparing, so that
    ``prepare_s`` includes building the model."""
    if not is_nutpie_available():
        from ..errors import BackendUnavailableError

        raise BackendUnavailableError(
            "mcmc.sampler = 'nutpie' needs nutpie and Numba, which are not installed here; "
            'install them with: pip install "homodyne-analysis[mcmc-nutpie]" (or conda '
            "install -c conda-forge nutpie), or set mcmc.sampler = 'pymc'"
        )
    clock = clock or timer()
    import arviz
    import nutpie
    import pymc as pm
    import pytensor

    compiled = nutpie.compile_pymc_model(model, backend="numba")
    log.info(
        "nutpie NUTS: %d chains x (%d tune + %d draws) on %d thread(s), %d c2 values",
        settings.chains,
        settings.tune,
        settings.draws,
        cores,
        spec.n_data,
    )
    t_sample0 = clock()
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        trace = nutpie.sample(
            compiled,
            draws=settings.draws,
            tune=settings.tune,
            chains=settings.chains,
            cores=cores,
            seed=settings.seed,
            init_mean=np.asarray(start, dtype=float).mean(axis=0),
            target_accept=settings.target_accept,
            maxdepth=settings.max_treedepth,
            progress_bar=progress,
            save_warmup=False,
        )
    signals.check()
    t_sample = clock() - t_sample0
    ss = trace["sample_stats"]
    depth = _stat(ss, "depth", "tree_depth", dtype=np.int64)
    stats = {
        "diverging": _stat(ss, "diverging", dtype=bool),
        "n_steps": _stat(ss, "n_steps", dtype=np.int64),
        "tree_depth": depth,
        "reached_max_treedepth": _stat(ss, "maxdepth_reached", "reached_max_treedepth", dtype=bool),
        "step_size": _stat(ss, "step_size"),
        "acceptance_rate": _stat(ss, "mean_tree_accept", "acceptance_rate"),
        "energy": _stat(ss, "energy"),
        "lp": _stat(ss, "logp", "lp"),
    }
    return Draws(
        z=np.asarray(trace["posterior"]["z"].values, dtype=float),
        stats=stats,
        device=f"CPU: {cpu_description()}; {cores} sampler thread(s); nutpie (PyTensor numba)",
        library={
            "nutpie": nutpie.__version__,
            "pymc": pm.__version__,
            "pytensor": pytensor.__version__,
            "arviz": arviz.__version__,
        },
        prepare_s=t_sample0,
        sampling_s=t_sample,
        extra={"pytensor_mode": "numba", "gradient": gradient, "sampler": "nutpie"},
    )
