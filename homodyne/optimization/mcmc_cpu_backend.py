"""Isolated CPU MCMC backend: pure PyMC (PyTensor, ArviZ). Never imports JAX or NumPyro.

``run_cpu_mcmc_analysis(analysis_core=problem, config=config, ...)`` samples the
posterior of :mod:`homodyne.bayes` with PyMC's NUTS. The model c2 is
:func:`homodyne.model.c2_pairs` evaluated with ``pytensor.tensor`` as the array namespace;
priors and the likelihood are PyMC distributions (``pm.Normal``, ``pm.LogNormal``,
``pm.Uniform``), the whitened sampling vector ``z`` is a ``pm.Flat`` and the
reparameterisation's log-Jacobian a ``pm.Potential``.

Chains run in ``min(chains, 2)`` worker processes (forked on Linux). The PyTensor graph
is compiled with PyTensor's Numba backend (PyTensor 3's default, also of its ``FAST_RUN``
mode); ``mcmc.pytensor_mode = "c"`` (``--pytensor-mode``, or the ``pytensor_mode``
argument) compiles it with the C backend instead (PyTensor's ``CVM`` mode; see
``docs/mcmc.rst``). ``mcmc.sampler = "nutpie"`` (``--sampler``) samples
the same model with nutpie instead (:mod:`homodyne.optimization.nutpie_sampler`).

Importing this module is cheap: PyMC is imported when sampling starts.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..bayes.gradient import kernel_log_likelihood, uses_kernel
from ..bayes.joint import JointPosteriorSpec
from ..bayes.posterior import PosteriorSpec
from ..bayes.result import MCMCResult
from ..bayes.run import cpu_description, run_mcmc, timer
from ..bayes.sampler import Draws, MCMCBackend, module_available
from ..bayes.settings import MCMCSettings
from ..errors import ConfigError
from ..runtime import signals
from ..runtime.stacks import imported

__all__ = [
    "BACKEND",
    "SAMPLER",
    "PyMCSampler",
    "build_pymc_model",
    "is_cpu_mcmc_available",
    "log_density",
    "run_cpu_mcmc_analysis",
]

log = logging.getLogger(__name__)

_REQUIRES = ("pymc", "pytensor", "arviz")
#: ``mcmc.pytensor_mode`` -> PyTensor mode. Not ``FAST_RUN`` for C: since PyTensor 3 that
#: is the Numba mode wherever ``config.linker`` is ``auto`` (its default).
_MODES = {"c": "CVM", "numba": "NUMBA"}


def is_cpu_mcmc_available() -> bool:
    """Whether PyMC, PyTensor and ArviZ are installed (checked without importing them)."""
    return all(module_available(m) for m in _REQUIRES)


def build_pymc_model(spec: PosteriorSpec | JointPosteriorSpec, gradient: str | None = None) -> Any:
    """The PyMC model of a posterior specification (variables: ``z`` and ``c2_obs``).

    ``gradient`` (``mcmc.gradient``; None: ``auto``) selects the
    likelihood's gradient: the hand-written kernel of :mod:`homodyne.bayes.gradient`
    where it applies (laminar flow, Numba installed), else automatic differentiation.
    A :class:`~homodyne.bayes.joint.JointPosteriorSpec` (the joint posterior across q)
    gets the physical priors once and, per q ring, the same terms as a single-q model
    (data variables suffixed ``_q<i>``)."""
    import pymc as pm
    import pytensor
    import pytensor.tensor as pt

    xp = pt
    centre = pytensor.shared(spec.space.centre, name="centre")
    root_t = pytensor.shared(np.ascontiguousarray(spec.space.root.T), name="root_t")
    with pm.Model() as model:
        z = pm.Flat("z", shape=(spec.k,))
        theta, log_jac = spec.space.transform(z, xp, centre, root_t)
        pm.Potential("log_jacobian", log_jac)
        for j, prior in enumerate(spec.priors):
            pm.Potential(f"prior_{prior.name}", _prior_logp(pm, prior, theta[j]))
        if isinstance(spec, JointPosteriorSpec):
            params, per_ring = spec.split_rings(theta)
            for i, (ring, (contrast, offset, sigma_scale)) in enumerate(
                zip(spec.rings, per_ring, strict=True)
            ):
                _ring_terms(ring, params, contrast, offset, sigma_scale, gradient, f"_q{i}")
        else:
            params, contrast, offset, sigma_scale = spec.split(theta)
            _ring_terms(spec, params, contrast, offset, sigma_scale, gradient, "")
    return model


def _ring_terms(
    spec: PosteriorSpec,
    params: Any,
    contrast: Any,
    offset: Any,
    sigma_scale: Any,
    gradient: str | None,
    tag: str,
) -> None:
    """The scaling and noise priors and the likelihood of one q ring (inside a pm.Model)."""
    import pymc as pm
    import pytensor
    import pytensor.tensor as pt

    from ..bayes.posterior import gaussian_log_likelihood
    from ..bayes.priors import NOISE_PRIOR

    pr = spec.problem
    # Data enter as shared variables, not constants: the compiled program then does not
    # carry (and the Numba/LLVM compiler does not process) the large arrays.
    t = pytensor.shared(pr.t, name=f"t{tag}")
    iu = pytensor.shared(pr.iu.astype(np.int64), name=f"iu{tag}")
    ju = pytensor.shared(pr.ju.astype(np.int64), name=f"ju{tag}")
    data = pm.Data(f"c2_data{tag}", pr.data)
    sigma = pm.Data(f"sigma{tag}", pr.sigma)
    lo, hi = pr.contrast_bounds
    pm.Potential(
        f"prior_contrast{tag}", pt.sum(pm.logp(pm.Uniform.dist(lower=lo, upper=hi), contrast))
    )
    lo, hi = pr.offset_bounds
    pm.Potential(f"prior_offset{tag}", pt.sum(pm.logp(pm.Uniform.dist(lower=lo, upper=hi), offset)))
    pm.Potential(
        f"prior_sigma_scale{tag}",
        pm.logp(pm.LogNormal.dist(mu=NOISE_PRIOR.mu, sigma=NOISE_PRIOR.sigma), sigma_scale),
    )
    if uses_kernel(pr.mode, gradient):
        from .pytensor_gradient import weighted_sums_function

        sums = weighted_sums_function(pr.q * pr.q, data, iu, ju)
        loglik = kernel_log_likelihood(
            spec, params, contrast, offset, sigma, sigma_scale, pt, sums, t=t
        )
    else:
        mu = spec.c2_model(params, contrast, offset, pt, t=t, iu=iu, ju=ju)
        loglik = gaussian_log_likelihood(data, mu, sigma, sigma_scale, pt)
    pm.Potential(f"c2_obs{tag}", loglik)


def _prior_logp(pm: Any, prior: Any, value: Any) -> Any:
    if prior.dist == "Uniform":
        return pm.logp(pm.Uniform.dist(lower=prior.lower, upper=prior.upper), value)
    if prior.dist == "Normal":
        return pm.logp(pm.Normal.dist(mu=prior.mu, sigma=prior.sigma), value) + prior.log_norm
    if prior.dist == "LogNormal":
        return pm.logp(pm.LogNormal.dist(mu=prior.mu, sigma=prior.sigma), value) + prior.log_norm
    raise ValueError(f"unknown prior {prior.dist!r}")  # pragma: no cover


def log_density(
    spec: PosteriorSpec | JointPosteriorSpec, z: np.ndarray, gradient: str | None = None
) -> float:
    """The model's log density at z (for tests: it must equal the NumPyro backend's)."""
    model = build_pymc_model(spec, gradient)
    fn = model.compile_logp()
    return float(fn({"z": np.asarray(z, dtype=float)}))


def _pytensor_mode(requested: str | None, n_values: int = 0) -> str:
    """``mcmc.pytensor_mode`` resolved: ``auto`` is Numba (PyTensor 3 depends on it; C
    only where it is missing), what every run of ``auto`` compiled with since PyTensor 3,
    whatever the size. ``n_values`` is kept for the callers' signature."""
    default = "numba" if module_available("numba") else "c"
    mode = (requested or "auto").lower()
    if mode == "auto":
        mode = default
    if mode not in _MODES:
        from ..errors import ConfigError

        raise ConfigError(f"pytensor_mode must be auto, c or numba, got {mode!r}")
    return mode


class PyMCSampler:
    """The :class:`~homodyne.bayes.sampler.Sampler` of this backend: PyMC's NUTS."""

    def draw(
        self,
        spec: PosteriorSpec | JointPosteriorSpec,
        settings: MCMCSettings,
        start: np.ndarray,
        *,
        progress: bool,
        options: Mapping[str, Any],
    ) -> Draws:
        clock = timer()
        if settings.precision != "float64":
            raise ConfigError(
                f"mcmc.precision = {settings.precision!r} is a setting of the NumPyro backend "
                "(its XLA kernel); the PyMC backend evaluates in float64: remove the key"
            )
        mode = _pytensor_mode(settings.pytensor_mode, spec.n_data)
        import arviz
        import pymc as pm
        import pytensor

        gradient = "kernel" if uses_kernel(spec.problem.mode, settings.gradient) else "autodiff"
        model = build_pymc_model(spec, gradient)
        cores, mp_ctx = options.get("cores"), options.get("mp_ctx")
        n_cores = int(cores) if cores else min(settings.chains, 2)
        if settings.sampler == "nutpie":  # nutpie's NUTS on this model (docs/mcmc.rst)
            from .nutpie_sampler import sample_nutpie

            return sample_nutpie(
                model,
                spec,
                settings,
                start,
                progress=progress,
                cores=n_cores,
                gradient=gradient,
                clock=clock,
            )
        log.info(
            "PyMC NUTS: %d chains x (%d tune + %d draws) on %d core(s), %d c2 values, pytensor mode %s",
            settings.chains,
            settings.tune,
            settings.draws,
            n_cores,
            spec.n_data,
            mode,
        )
        if (
            mp_ctx is None
            and n_cores > 1
            and sys.platform.startswith("linux")
            and not imported("jax")
        ):
            # The workers inherit the loaded PyMC and the compiled model instead of importing
            # and compiling again (forkserver, PyMC's default, exists for fork-unsafe JAX).
            mp_ctx = "fork"
        t_sample0 = clock()
        # One BLAS/OpenMP thread per sampling process: the model's matrix products are tiny,
        # and PyMC applies no thread limit to forked workers, whose idle BLAS threads would
        # otherwise compete with the other chains for the cores.
        from threadpoolctl import threadpool_limits

        with model, threadpool_limits(limits=1):
            idata = pm.sample(
                draws=settings.draws,
                tune=settings.tune,
                chains=settings.chains,
                cores=n_cores,
                random_seed=settings.seed,
                initvals=[{"z": start[c]} for c in range(settings.chains)],
                init="adapt_diag",
                nuts={
                    "target_accept": settings.target_accept,
                    "max_treedepth": settings.max_treedepth,
                },
                progressbar=progress,
                compute_convergence_checks=False,
                compile_kwargs={"mode": _MODES[mode]},
                mp_ctx=mp_ctx,
            )
        signals.check()  # PyMC returns a partial trace after Ctrl-C: that is an interruption
        t_sample = clock() - t_sample0
        ss = idata.sample_stats
        stats = {
            "diverging": np.asarray(ss["diverging"].values, dtype=bool),
            "n_steps": np.asarray(ss["n_steps"].values, dtype=np.int64),
            "tree_depth": np.asarray(ss["tree_depth"].values, dtype=np.int64),
            "reached_max_treedepth": np.asarray(ss["reached_max_treedepth"].values, dtype=bool),
            "step_size": np.asarray(ss["step_size"].values, dtype=float),
            "acceptance_rate": np.asarray(ss["acceptance_rate"].values, dtype=float),
            "energy": np.asarray(ss["energy"].values, dtype=float),
            "lp": np.asarray(ss["lp"].values, dtype=float),
        }
        return Draws(
            z=np.asarray(idata.posterior["z"].values, dtype=float),
            stats=stats,
            device=f"CPU: {cpu_description()}; {n_cores} worker process(es); PyTensor {mode} backend",
            library={
                "pymc": pm.__version__,
                "pytensor": pytensor.__version__,
                "arviz": arviz.__version__,
            },
            prepare_s=t_sample0,
            sampling_s=t_sample,
            extra={"pytensor_mode": mode, "gradient": gradient},
        )


def run_cpu_mcmc_analysis(
    analysis_core: Any = None,
    config: Any = None,
    c2_experimental: Any = None,
    phi_angles: Any = None,
    filter_angles_for_optimization: bool = True,
    init: Any = None,
    progress: bool = True,
    *,
    pytensor_mode: str | None = None,
    cores: int | None = None,
    mp_ctx: str | None = None,
    **overrides: Any,
) -> MCMCResult:
    """Sample the posterior with PyMC's NUTS on the CPU.

    ``analysis_core`` is a :class:`homodyne.problem.Problem` (or see
    :func:`homodyne.bayes.prepare.prepare_problem` for the seed's
    ``c2_experimental``/``phi_angles`` form); ``config`` a Config, a configuration dict or
    None (defaults); ``init`` a classical :class:`FitResult` to start from (used when
    ``mcmc.init`` is ``classical`` or ``auto``). ``overrides`` replace keys of the
    configuration's ``mcmc`` section (draws, tune, chains, target_accept, max_treedepth,
    seed, frame_stride, max_lag, init, rhat_max, ess_min, divergence_max_fraction).
    ``pytensor_mode`` overrides ``mcmc.pytensor_mode`` (auto, c, numba), ``sampler=`` (an
    override) ``mcmc.sampler`` (pymc, nutpie); ``cores`` is the
    number of worker processes (default ``min(chains, 2)``), ``mp_ctx`` their
    multiprocessing start method.
    """
    if not is_cpu_mcmc_available():
        raise BACKEND.unavailable_error()
    return run_mcmc(
        SAMPLER,
        backend=BACKEND.name,
        backend_name=BACKEND.backend_name,
        analysis_core=analysis_core,
        config=config,
        c2_experimental=c2_experimental,
        phi_angles=phi_angles,
        filter_angles_for_optimization=filter_angles_for_optimization,
        init=init,
        progress=progress,
        options={"cores": cores, "mp_ctx": mp_ctx},
        overrides={**overrides, "pytensor_mode": pytensor_mode},
    )


SAMPLER = PyMCSampler()
BACKEND = MCMCBackend(
    name="pymc",
    backend_name="PyMC_CPU",
    description="PyMC NUTS on the CPU (PyTensor); never loads JAX",
    run=run_cpu_mcmc_analysis,
    requires=_REQUIRES,
    pip_extra="mcmc",
    conda_package="homodyne-analysis-cpu",
    uses_gpu=False,
    device_hint="CPU",
)
