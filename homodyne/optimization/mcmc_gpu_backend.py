"""Isolated GPU MCMC backend: pure NumPyro/JAX. Never imports PyMC or PyTensor.

``run_gpu_mcmc_analysis(analysis_core=problem, config=config, ...)`` samples the
posterior of :mod:`homodyne.optimization.mcmc_common` with NumPyro's NUTS. The model c2 is
:func:`homodyne.model.c2_pairs` evaluated with ``jax.numpy`` as the array namespace;
priors and the likelihood are NumPyro distributions (``Normal``, ``LogNormal``,
``Uniform``), the whitened sampling vector ``z`` has an improper flat prior and the
reparameterisation's log-Jacobian enters through ``numpyro.factor``.

It runs on the GPU when JAX sees one and on the JAX CPU platform otherwise (always on
macOS and Windows), saying which in one log line. JAX settings (64-bit floats, platform,
no GPU memory preallocation) are applied by :func:`homodyne.runtime.gpu.configure_jax`
when sampling starts or at the ``homodyne-gpu`` entry point, never on import.

Importing this module is cheap: JAX and NumPyro are imported when sampling starts.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import numpy as np

from .mcmc_common import (
    NOISE_PRIOR,
    MCMCBackend,
    MCMCResult,
    PosteriorSpec,
    build_result,
    cpu_description,
    gaussian_log_likelihood,
    initial_points,
    module_available,
    setup_run,
    timer,
)

__all__ = [
    "BACKEND",
    "choose_chain_method",
    "is_gpu_mcmc_available",
    "jax_device",
    "log_density",
    "numpyro_model",
    "run_gpu_mcmc_analysis",
]

log = logging.getLogger(__name__)

_REQUIRES = ("numpyro", "jax", "jaxlib", "arviz")
_CHAIN_METHODS = ("vectorized", "sequential", "parallel")


def is_gpu_mcmc_available() -> bool:
    """Whether NumPyro, JAX and ArviZ are installed (checked without importing them).

    True means the backend can run, on the GPU when JAX sees one, else on the JAX CPU
    platform; :func:`jax_device` tells which (it imports JAX).
    """
    return all(module_available(m) for m in _REQUIRES)


def jax_device() -> tuple[str, bool]:
    """(description of the device NumPyro will use, whether it is a GPU). Imports JAX."""
    from ..runtime.gpu import configure_jax

    configure_jax()
    import jax

    dev = jax.devices()[0]
    if dev.platform == "gpu" or dev.platform == "cuda":
        kind = getattr(dev, "device_kind", "GPU")
        return f"GPU: {kind} ({dev.platform}:{dev.id}, {len(jax.devices())} visible)", True
    return f"JAX CPU platform: {cpu_description()}", False


def choose_chain_method(method: str, chains: int, on_gpu: bool, devices: int) -> str:
    """The NumPyro ``chain_method`` to use.

    ``auto``: on a GPU ``vectorized`` (all chains in one program); on the CPU ``parallel``
    (one chain per CPU device, in parallel threads) when there are enough devices, else
    ``sequential``. On the CPU a vectorised program over several chains costs more than the
    chains one by one (the arrays leave the cache, and all chains wait for the longest
    trajectory), so ``vectorized`` is not the CPU default. ``parallel`` with fewer devices
    than chains falls back to ``sequential`` (CPU) or ``vectorized`` (GPU).
    """
    if chains <= 1:
        return "sequential"
    if method == "auto":
        method = "vectorized" if on_gpu else "parallel"
    if method == "parallel" and devices < chains:
        fallback = "vectorized" if on_gpu else "sequential"
        log.info(
            "chain_method 'parallel' needs one device per chain (%d devices, %d chains); using %r",
            devices,
            chains,
            fallback,
        )
        method = fallback
    return method


def numpyro_model(spec: PosteriorSpec) -> Any:
    """The NumPyro model function of a posterior specification.

    It takes the data as arguments (``model(data, sigma, t, iu, ju)``), so that large
    stacks are not embedded into the compiled program as constants and the compiled
    program can be reused (JAX's persistent cache) for other data of the same shape.
    """
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist
    from numpyro.distributions import constraints

    pr = spec.problem
    clo, chi = pr.contrast_bounds
    olo, ohi = pr.offset_bounds

    def prior_logp(prior: Any, value: Any) -> Any:
        if prior.dist == "Uniform":
            return dist.Uniform(prior.lower, prior.upper).log_prob(value)
        if prior.dist == "Normal":
            return dist.Normal(prior.mu, prior.sigma).log_prob(value) + prior.log_norm
        if prior.dist == "LogNormal":
            return dist.LogNormal(prior.mu, prior.sigma).log_prob(value) + prior.log_norm
        raise ValueError(f"unknown prior {prior.dist!r}")  # pragma: no cover

    def model(data: Any, sigma: Any, t: Any, iu: Any, ju: Any) -> None:
        z = numpyro.sample(
            "z", dist.ImproperUniform(constraints.real_vector, (), event_shape=(spec.k,))
        )
        theta, log_jac = spec.space.transform(z, jnp)
        numpyro.factor("log_jacobian", log_jac)
        params, contrast, offset, sigma_scale = spec.split(theta)
        for j, prior in enumerate(spec.priors):
            numpyro.factor(f"prior_{prior.name}", prior_logp(prior, theta[j]))
        numpyro.factor("prior_contrast", jnp.sum(dist.Uniform(clo, chi).log_prob(contrast)))
        numpyro.factor("prior_offset", jnp.sum(dist.Uniform(olo, ohi).log_prob(offset)))
        numpyro.factor(
            "prior_sigma_scale",
            dist.LogNormal(NOISE_PRIOR.mu, NOISE_PRIOR.sigma).log_prob(sigma_scale),
        )
        mu = spec.c2_model(params, contrast, offset, jnp, t=t, iu=iu, ju=ju)
        numpyro.factor("c2_obs", gaussian_log_likelihood(data, mu, sigma, sigma_scale, jnp))

    return model


def _model_args(spec: PosteriorSpec) -> tuple[Any, ...]:
    import jax.numpy as jnp

    pr = spec.problem
    return (
        jnp.asarray(pr.data),
        jnp.asarray(pr.sigma),
        jnp.asarray(pr.t),
        jnp.asarray(pr.iu),
        jnp.asarray(pr.ju),
    )


def log_density(spec: PosteriorSpec, z: np.ndarray) -> float:
    """The model's log density at z (for tests: it must equal the PyMC backend's)."""
    from ..runtime.gpu import configure_jax

    configure_jax()
    import jax.numpy as jnp
    from numpyro.infer.util import log_density as _ld

    model = numpyro_model(spec)
    value, _ = _ld(model, _model_args(spec), {}, {"z": jnp.asarray(z, dtype=float)})
    return float(value)


def run_gpu_mcmc_analysis(
    analysis_core: Any = None,
    config: Any = None,
    c2_experimental: Any = None,
    phi_angles: Any = None,
    filter_angles_for_optimization: bool = True,
    init: Any = None,
    progress: bool = True,
    *,
    chain_method: str | None = None,
    **overrides: Any,
) -> MCMCResult:
    """Sample the posterior with NumPyro's NUTS (GPU when visible, else JAX on the CPU).

    Same arguments as :func:`homodyne.optimization.mcmc_cpu_backend.run_cpu_mcmc_analysis`.
    ``chain_method`` (or ``HOMODYNE_CHAIN_METHOD``): ``auto`` (default: ``vectorized`` on
    a GPU, ``parallel`` on the CPU; see :func:`choose_chain_method`), ``vectorized`` (all
    chains in one program), ``sequential``, or ``parallel`` (one device per chain).
    """
    if not is_gpu_mcmc_available():
        raise BACKEND.unavailable_error()
    clock = timer()
    full, spec, settings, cfg = setup_run(
        analysis_core,
        config,
        c2_experimental,
        phi_angles,
        filter_angles_for_optimization,
        init,
        overrides,
    )
    method = (chain_method or os.environ.get("HOMODYNE_CHAIN_METHOD") or "auto").lower()
    if method not in (*_CHAIN_METHODS, "auto"):
        from ..errors import ConfigError

        raise ConfigError(
            f"chain_method must be auto or one of {', '.join(_CHAIN_METHODS)}, got {method!r}"
        )
    device, on_gpu = jax_device()
    import arviz
    import jax
    import jax.numpy as jnp
    import numpyro
    from numpyro.infer import MCMC, NUTS

    t_setup = clock()
    model = numpyro_model(spec)
    kernel = NUTS(
        model,
        target_accept_prob=settings.target_accept,
        max_tree_depth=settings.max_treedepth,
        dense_mass=False,
    )
    method = choose_chain_method(method, settings.chains, on_gpu, jax.local_device_count())
    mcmc = MCMC(
        kernel,
        num_warmup=settings.tune,
        num_samples=settings.draws,
        num_chains=settings.chains,
        chain_method=method,
        progress_bar=progress,
    )
    z0 = initial_points(spec, settings.chains, settings.seed)
    init_params = {"z": jnp.asarray(z0 if settings.chains > 1 else z0[0])}
    log.info(
        "NumPyro NUTS: %d chains x (%d tune + %d draws), chain method %s, %d c2 values, on %s",
        settings.chains,
        settings.tune,
        settings.draws,
        method,
        spec.problem.n_data,
        device,
    )
    t_sample0 = clock()
    mcmc.run(
        jax.random.PRNGKey(settings.seed),
        *_model_args(spec),
        init_params=init_params,
        extra_fields=(
            "diverging",
            "num_steps",
            "accept_prob",
            "energy",
            "potential_energy",
            "adapt_state.step_size",
        ),
    )
    z = np.asarray(mcmc.get_samples(group_by_chain=True)["z"], dtype=float)
    ex = {k: np.asarray(v) for k, v in mcmc.get_extra_fields(group_by_chain=True).items()}
    t_sample = clock() - t_sample0
    n_steps = ex["num_steps"].astype(np.int64)
    depth = np.ceil(np.log2(n_steps + 1.0)).astype(np.int64)
    stats = {
        "diverging": ex["diverging"].astype(bool),
        "n_steps": n_steps,
        "tree_depth": depth,
        "reached_max_treedepth": depth >= settings.max_treedepth,
        "step_size": ex["adapt_state.step_size"].astype(float),
        "acceptance_rate": ex["accept_prob"].astype(float),
        "energy": ex["energy"].astype(float),
        "lp": -ex["potential_energy"].astype(float),
    }
    timing = {"setup_s": t_setup, "sampling_s": t_sample, "total_s": clock()}
    return build_result(
        spec=spec,
        full_problem=full,
        z=z,
        stats=stats,
        backend=BACKEND.name,
        backend_name=BACKEND.backend_name,
        device=device,
        settings=settings,
        timing=timing,
        library={
            "numpyro": numpyro.__version__,
            "jax": jax.__version__,
            "arviz": arviz.__version__,
        },
        plots=bool(cfg.output["plots"]),
        extra={"chain_method": method, "on_gpu": on_gpu},
    )


BACKEND = MCMCBackend(
    name="numpyro",
    backend_name="NumPyro_GPU_JAX",
    description="NumPyro NUTS on JAX: the GPU when JAX sees one, else the JAX CPU platform; never loads PyTensor",
    run=run_gpu_mcmc_analysis,
    requires=_REQUIRES,
    pip_extra="mcmc-gpu",
    conda_package="homodyne-analysis-gpu",
    uses_gpu=True,
    device_hint="GPU (CUDA) when JAX sees one, else JAX CPU",
)
