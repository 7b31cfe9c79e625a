"""Isolated GPU MCMC backend: pure NumPyro/JAX. Never imports PyMC or PyTensor.

``run_gpu_mcmc_analysis(analysis_core=problem, config=config, ...)`` samples the
posterior of :mod:`homodyne.bayes` with NumPyro's NUTS. The model c2 is
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
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..bayes.device_route import Route, route_platform
from ..bayes.gradient import kernel_log_likelihood
from ..bayes.gradient_xla import numpyro_gradient
from ..bayes.joint import JointPosteriorSpec
from ..bayes.posterior import PosteriorSpec, gaussian_log_likelihood
from ..bayes.priors import NOISE_PRIOR
from ..bayes.result import MCMCResult
from ..bayes.run import cpu_description, run_mcmc, timer
from ..bayes.sampler import Draws, MCMCBackend, module_available
from ..bayes.settings import MCMCSettings, with_settings
from ..runtime import signals
from ..trig import polynomial_sin

__all__ = [
    "BACKEND",
    "SAMPLER",
    "CpuJaxNumpy",
    "NumPyroSampler",
    "choose_chain_method",
    "is_gpu_mcmc_available",
    "jax_device",
    "jax_namespace",
    "log_density",
    "numpyro_model",
    "plan_chains",
    "routed_chain_method",
    "run_gpu_mcmc_analysis",
    "usable_cores",
]

log = logging.getLogger(__name__)

_REQUIRES = ("numpyro", "jax", "jaxlib", "arviz")
_CHAIN_METHODS = ("vectorized", "sequential", "parallel", "processes")
#: The sample statistics NumPyro records for every draw.
_EXTRA_FIELDS = (
    "diverging",
    "num_steps",
    "accept_prob",
    "energy",
    "potential_energy",
    "adapt_state.step_size",
)


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


def usable_cores() -> list[int]:
    """The CPU cores this process may run on (its affinity mask); [] where unknown."""
    getaffinity = getattr(os, "sched_getaffinity", None)
    if getaffinity is None or not hasattr(os, "sched_setaffinity"):
        return []
    return sorted(getaffinity(0))


#: Smallest laminar problem (c2 values) whose chains ``chain_method = "auto"`` runs in
#: worker processes with the Numba kernel on the CPU: below it, starting the workers
#: (each imports JAX and compiles its model) costs about what the cheaper gradient saves.
PROCESSES_MIN_VALUES = 50_000


def auto_cpu_chain_method(
    mode: str, gradient: str | None, precision: str | None, n_values: int
) -> str:
    """What ``chain_method = "auto"`` asks for on the JAX CPU platform: ``processes``
    (one worker per core, each chain with the Numba kernel through the host callback) for
    laminar problems of at least :data:`PROCESSES_MIN_VALUES` values whose gradient may
    be the Numba kernel, else ``parallel``. On the laminar 8 x 200² benchmark (4 x
    (1000 + 1000), 2 cores) that took 84 s against 106 s for ``parallel`` with the XLA
    kernel and 132 s for ``parallel`` with the Numba kernel, at 0.7 GB against 1.7 GB
    of peak memory (docs/mcmc.rst). Whether the Numba kernel may serve the chains is
    :func:`~homodyne.bayes.gradient_xla.numpyro_gradient`'s rule for chains in processes
    of their own (a request that cannot run raises its ConfigError here).
    :func:`choose_chain_method` then checks what the machine allows (two usable cores,
    two chains)."""
    if n_values < PROCESSES_MIN_VALUES:
        return "parallel"
    numba = numpyro_gradient(mode, gradient, False, precision, "processes") == "numba"
    return "processes" if numba else "parallel"


def plan_chains(
    method: str,
    settings: Any,
    mode: str,
    n_values: int,
    jax_on_gpu: bool,
    devices: int,
    cores: int,
) -> tuple[Route, str]:
    """Where and how the chains of a problem of ``n_values`` values run: the platform
    (:func:`~homodyne.bayes.device_route.route_platform`, from ``mcmc.platform`` and
    ``mcmc.gpu_min_values``) and the chain method (``method`` is ``mcmc.chain_method``,
    lower case). ``jax_on_gpu`` says whether this process's JAX runs on a GPU, ``devices``
    how many JAX devices it has, ``cores`` how many cores this process may use."""
    route = route_platform(settings.platform, settings.gpu_min_values, n_values, jax_on_gpu)
    if route.routed:
        return route, routed_chain_method(method)
    on_gpu = route.platform == "gpu"
    if method == "auto" and not on_gpu:
        method = auto_cpu_chain_method(mode, settings.gradient, settings.precision, n_values)
    return route, choose_chain_method(method, settings.chains, on_gpu, devices, cores=cores)


def routed_chain_method(method: str) -> str:
    """The chain method of chains routed from the GPU to the CPU (:func:`route_platform`):
    always ``processes``, worker processes on the JAX CPU platform, because this process's
    JAX holds the GPU and cannot also run NumPyro's in-process methods on its CPU devices.
    An explicit in-process request is logged and replaced."""
    if method not in ("auto", "processes"):
        log.info(
            "chain_method %r runs on this process's JAX device, the GPU; chains routed to the "
            "CPU run in worker processes ('processes') instead",
            method,
        )
    return "processes"


def choose_chain_method(
    method: str,
    chains: int,
    on_gpu: bool,
    devices: int,
    cores: int = 0,
) -> str:
    """The chain method to use: one of NumPyro's, or ``processes``.

    ``auto``: on a GPU ``vectorized`` (all chains in one program); on the CPU ``parallel``
    (one chain per XLA CPU device, in threads of one process) when there are enough
    ``devices``, else ``sequential``. On the CPU a vectorised program over four chains
    costs about twice the chains one after another (the arrays of all chains leave the
    cache, and every chain waits for the longest trajectory), so it is not the CPU default.

    ``processes`` (CPU, Linux, at least two usable ``cores``): one worker process per core,
    each held to its core, taking the chains one at a time; with the Numba kernel it is
    what ``auto`` asks for on large laminar problems (:func:`auto_cpu_chain_method`,
    resolved before this function is called). Requests that cannot run
    here fall back: ``processes`` and ``parallel`` to ``vectorized`` on a GPU, to
    ``sequential`` on the CPU.
    """
    if chains <= 1:
        return "sequential"
    if method == "auto":
        method = "vectorized" if on_gpu else "parallel"
    fallback = "vectorized" if on_gpu else "sequential"
    if method == "processes" and (on_gpu or cores < 2):
        log.info(
            "chain_method 'processes' needs the JAX CPU platform and two usable cores "
            "(%s, %d cores); using %r",
            "GPU" if on_gpu else "CPU",
            cores,
            fallback,
        )
        method = fallback
    if method == "parallel" and devices < chains:
        log.info(
            "chain_method 'parallel' needs one device per chain (%d devices, %d chains); using %r",
            devices,
            chains,
            fallback,
        )
        method = fallback
    return method


class CpuJaxNumpy:
    """``jax.numpy`` with :func:`homodyne.trig.polynomial_sin` as its ``sin``.

    The array namespace this backend evaluates the model with on the JAX CPU platform:
    XLA's scalar CPU ``sin`` dominated the gradient of the laminar model, the polynomial
    form vectorises (see :mod:`homodyne.trig`). Everything else is ``jax.numpy``'s."""

    __name__ = "jax.numpy"

    def __init__(self, jnp: Any) -> None:
        self._jnp = jnp

    def __getattr__(self, name: str) -> Any:
        return getattr(self._jnp, name)

    def sin(self, x: Any) -> Any:
        return polynomial_sin(x, self._jnp)


def jax_namespace() -> Any:
    """The array namespace of the model: ``jax.numpy``, with the polynomial sine on the
    JAX CPU platform (a GPU's own sine is fast). Imports JAX."""
    import jax
    import jax.numpy as jnp

    return CpuJaxNumpy(jnp) if jax.default_backend() == "cpu" else jnp


def numpyro_model(
    spec: PosteriorSpec | JointPosteriorSpec,
    gradient: str | None = None,
    precision: str | None = None,
) -> Any:
    """The NumPyro model function of a posterior specification.

    It takes the data as arguments (``model(data, sigma, t, iu, ju)``), so that large
    stacks are not embedded into the compiled program as constants and the compiled
    program can be reused (JAX's persistent cache) for other data of the same shape.
    For a :class:`~homodyne.bayes.joint.JointPosteriorSpec` (the joint posterior across
    q) each argument is a tuple with one array per q ring; the physical priors enter
    once, and every ring adds the terms of a single-q model.
    """
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist
    from numpyro.distributions import constraints

    xp = jax_namespace()
    rings = spec.rings if isinstance(spec, JointPosteriorSpec) else (spec,)
    on_gpu = jax_device()[1]
    kernels = [numpyro_gradient(r.problem.mode, gradient, on_gpu, precision) for r in rings]
    if "numba" in kernels:
        from .jax_gradient import weighted_sums_function
    if "xla" in kernels:
        from .jax_gradient import xla_weighted_sums_function

    def prior_logp(prior: Any, value: Any) -> Any:
        if prior.dist == "Uniform":
            return dist.Uniform(prior.lower, prior.upper).log_prob(value)
        if prior.dist == "Normal":
            return dist.Normal(prior.mu, prior.sigma).log_prob(value) + prior.log_norm
        if prior.dist == "LogNormal":
            return dist.LogNormal(prior.mu, prior.sigma).log_prob(value) + prior.log_norm
        raise ValueError(f"unknown prior {prior.dist!r}")  # pragma: no cover

    def ring_terms(
        r: PosteriorSpec, kernel: str, tag: str, params: Any, contrast: Any, offset: Any,
        sigma_scale: Any, data: Any, sigma: Any, t: Any, iu: Any, ju: Any,
    ) -> None:  # fmt: skip
        pr = r.problem
        clo, chi = pr.contrast_bounds
        olo, ohi = pr.offset_bounds
        numpyro.factor(f"prior_contrast{tag}", jnp.sum(dist.Uniform(clo, chi).log_prob(contrast)))
        numpyro.factor(f"prior_offset{tag}", jnp.sum(dist.Uniform(olo, ohi).log_prob(offset)))
        numpyro.factor(
            f"prior_sigma_scale{tag}",
            dist.LogNormal(NOISE_PRIOR.mu, NOISE_PRIOR.sigma).log_prob(sigma_scale),
        )
        if kernel == "xla":  # the kernel in XLA (homodyne.bayes.gradient_xla)
            xsums = xla_weighted_sums_function(
                pr.q * pr.q,
                pr.iu,
                pr.ju,
                pr.t.shape[0],
                precision=precision or "float64",
                on_gpu=on_gpu,
            )

            def sums(*a: Any) -> Any:
                return xsums(*a, data)

            loglik = kernel_log_likelihood(
                r, params, contrast, offset, sigma, sigma_scale, xp, sums, t=t
            )
        elif kernel == "numba":  # the Numba kernel through a host callback
            sums = weighted_sums_function(pr.q * pr.q, pr.data, pr.iu, pr.ju)  # host data
            loglik = kernel_log_likelihood(
                r, params, contrast, offset, sigma, sigma_scale, xp, sums, t=t
            )
        else:
            mu = r.c2_model(params, contrast, offset, xp, t=t, iu=iu, ju=ju)
            loglik = gaussian_log_likelihood(data, mu, sigma, sigma_scale, jnp)
        numpyro.factor(f"c2_obs{tag}", loglik)

    def model(data: Any, sigma: Any, t: Any, iu: Any, ju: Any) -> None:
        z = numpyro.sample(
            "z", dist.ImproperUniform(constraints.real_vector, (), event_shape=(spec.k,))
        )
        theta, log_jac = spec.space.transform(z, jnp)
        numpyro.factor("log_jacobian", log_jac)
        for j, prior in enumerate(spec.priors):
            numpyro.factor(f"prior_{prior.name}", prior_logp(prior, theta[j]))
        if isinstance(spec, JointPosteriorSpec):
            params, per_ring = spec.split_rings(theta)
            for i, (r, kernel, (con, off, ss)) in enumerate(
                zip(rings, kernels, per_ring, strict=True)
            ):
                ring_terms(r, kernel, f"_q{i}", params, con, off, ss, data[i], sigma[i], t[i], iu[i], ju[i])  # fmt: skip
        else:
            params, contrast, offset, sigma_scale = spec.split(theta)
            ring_terms(spec, kernels[0], "", params, contrast, offset, sigma_scale, data, sigma, t, iu, ju)  # fmt: skip

    return model


def _model_args(
    spec: PosteriorSpec | JointPosteriorSpec, precision: str | None = None
) -> tuple[Any, ...]:
    """The model's arguments; with ``precision`` float32 the data are handed over in
    float32 (read by the XLA kernel only: half the bytes per pass)."""
    import jax.numpy as jnp

    data_dtype = jnp.float32 if precision == "float32" else jnp.float64

    def args(pr: Any) -> tuple[Any, ...]:
        return (
            jnp.asarray(pr.data, dtype=data_dtype),
            jnp.asarray(pr.sigma),
            jnp.asarray(pr.t),
            jnp.asarray(pr.iu),
            jnp.asarray(pr.ju),
        )

    if isinstance(spec, JointPosteriorSpec):
        per_ring = [args(r.problem) for r in spec.rings]
        return tuple(tuple(a[j] for a in per_ring) for j in range(5))
    return args(spec.problem)


def log_density(
    spec: PosteriorSpec | JointPosteriorSpec,
    z: np.ndarray,
    gradient: str | None = None,
    precision: str | None = None,
) -> float:
    """The model's log density at z (for tests: it must equal the PyMC backend's)."""
    from ..runtime.gpu import configure_jax

    configure_jax()
    import jax.numpy as jnp
    from numpyro.infer.util import log_density as _ld

    model = numpyro_model(spec, gradient, precision)
    args = _model_args(spec, precision)
    value, _ = _ld(model, args, {}, {"z": jnp.asarray(z, dtype=float)})
    return float(value)


class NumPyroSampler:
    """The :class:`~homodyne.bayes.sampler.Sampler` of this backend: NumPyro's NUTS."""

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
        method = (settings.chain_method or "auto").lower()
        if method not in (*_CHAIN_METHODS, "auto"):
            from ..errors import ConfigError

            raise ConfigError(
                f"chain_method must be auto or one of {', '.join(_CHAIN_METHODS)}, got {method!r}"
            )
        device, jax_on_gpu = jax_device()
        import arviz
        import jax
        import numpyro

        cores = usable_cores()
        route, method = plan_chains(
            method,
            settings,
            spec.problem.mode,
            spec.n_data,
            jax_on_gpu,
            jax.local_device_count(),
            len(cores),
        )
        on_gpu = route.platform == "gpu"
        if route.routed:
            device = f"JAX CPU platform: {cpu_description()} (worker processes; {route.reason})"
        base_settings = settings
        settings, gradient = _resolved_gradient(spec, settings, on_gpu, method)
        z0 = start
        # One key per chain, split as NumPyro splits them: chain c gets the same key (and so
        # the same draws) whichever chain method runs it.
        key = jax.random.PRNGKey(settings.seed)
        keys = np.asarray(
            jax.random.split(key, settings.chains) if settings.chains > 1 else key[None]
        )
        if route.routed and not cores:  # pragma: no cover - a GPU host without affinity control
            cores = [0]
        n_workers = min(settings.chains, len(cores)) if method == "processes" else 1
        log.info(
            "NumPyro NUTS: %d chains x (%d tune + %d draws), chain method %s%s, %d c2 values, on %s",
            settings.chains,
            settings.tune,
            settings.draws,
            method,
            f" ({n_workers} worker processes, one core each)" if method == "processes" else "",
            spec.n_data,
            device,
        )
        t_sample0 = clock()
        if method == "processes":
            from concurrent.futures.process import BrokenProcessPool

            try:
                z, ex = _sample_in_processes(spec, settings, keys, z0, cores[:n_workers], progress)
            except BrokenProcessPool as exc:
                # e.g. a script that starts sampling without an `if __name__ == "__main__":`
                # guard, which the spawned workers cannot import; chains routed away from
                # the GPU then run on it after all (this process's JAX holds it)
                on_gpu = jax_on_gpu
                method = choose_chain_method(
                    "parallel", settings.chains, on_gpu, jax.local_device_count()
                )
                if route.routed:
                    device = jax_device()[0]
                    route = Route(
                        "gpu" if on_gpu else "cpu",
                        False,
                        f"routed to the CPU ({route.reason}), but its worker processes could "
                        "not start",
                    )
                settings, gradient = _resolved_gradient(spec, base_settings, on_gpu, method)
                log.warning(
                    "the chain worker processes could not run (%s); sampling the chains in this "
                    "process instead (chain method %s)",
                    exc,
                    method,
                )
                z, ex = _sample(spec, settings, method, keys, z0, progress)
        else:
            z, ex = _sample(spec, settings, method, keys, z0, progress)
        signals.check()
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
        return Draws(
            z=z,
            stats=stats,
            device=device,
            library={
                "numpyro": numpyro.__version__,
                "jax": jax.__version__,
                "arviz": arviz.__version__,
            },
            prepare_s=t_sample0,
            sampling_s=t_sample,
            extra={
                "chain_method": method,
                "on_gpu": on_gpu,
                "platform_route": route.reason or None,
                "gradient": gradient,
                "precision": settings.precision,
                **({"worker_processes": n_workers} if method == "processes" else {}),
            },
        )


def _resolved_gradient(
    spec: PosteriorSpec | JointPosteriorSpec, settings: Any, on_gpu: bool, method: str
) -> tuple[Any, str]:
    """(``settings``, the gradient the chains run: ``xla``, ``numba`` or ``autodiff``,
    :func:`numpyro_gradient` for the chain method). Where ``mcmc.gradient`` is ``auto``
    and that is the Numba kernel (chains in processes of their own on the CPU), the
    settings returned name it, so that the model built here and in worker processes uses
    it; auto's other choices are what the model makes of ``auto`` without a chain method."""
    chosen = numpyro_gradient(
        spec.problem.mode, settings.gradient, on_gpu, settings.precision, method
    )
    if chosen == "numba" and (settings.gradient or "auto").lower() == "auto":
        settings = with_settings(settings, gradient="numba")
    return settings, chosen


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
    ``chain_method`` overrides the configuration's ``mcmc.chain_method``: ``auto``
    (default: ``vectorized`` on a GPU; on the CPU ``processes`` for laminar problems of
    at least :data:`PROCESSES_MIN_VALUES` values, else ``parallel``; see
    :func:`auto_cpu_chain_method` and :func:`choose_chain_method`), ``vectorized`` (all chains in one program),
    ``sequential``, ``parallel`` (one XLA device per chain) or ``processes`` (one worker
    process per core, Linux).
    """
    if not is_gpu_mcmc_available():
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
        overrides={**overrides, "chain_method": chain_method},
    )


def _sample(
    spec: PosteriorSpec | JointPosteriorSpec,
    settings: Any,
    method: str,
    keys: np.ndarray,
    z0: np.ndarray,
    progress: bool,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Run NumPyro's NUTS on the chains of ``keys`` (one key and start point per chain) in
    this process; returns z (chains, draws, k) and the extra fields, grouped by chain."""
    import jax.numpy as jnp
    from numpyro.infer import MCMC, NUTS

    kernel = NUTS(
        numpyro_model(spec, settings.gradient, settings.precision),
        target_accept_prob=settings.target_accept,
        max_tree_depth=settings.max_treedepth,
        dense_mass=False,
    )
    n = int(keys.shape[0])
    mcmc = MCMC(
        kernel,
        num_warmup=settings.tune,
        num_samples=settings.draws,
        num_chains=n,
        chain_method=method if n > 1 else "sequential",
        progress_bar=progress,
    )
    mcmc.run(
        jnp.asarray(keys if n > 1 else keys[0]),
        *_model_args(spec, settings.precision),
        init_params={"z": jnp.asarray(z0 if n > 1 else z0[0])},
        extra_fields=_EXTRA_FIELDS,
    )
    z = np.asarray(mcmc.get_samples(group_by_chain=True)["z"], dtype=float)
    ex = {k: np.asarray(v) for k, v in mcmc.get_extra_fields(group_by_chain=True).items()}
    if n == 1 and z.ndim == 2:  # pragma: no cover - NumPyro versions without a chain axis
        z, ex = z[None], {k: v[None] for k, v in ex.items()}
    return z, ex


#: State of a worker process of the ``processes`` chain method (set by its initializer).
_WORKER: dict[str, Any] = {}


def _init_chain_worker(
    cores: Any, spec: PosteriorSpec | JointPosteriorSpec, settings: Any, parent: int | None = None
) -> None:
    """Initializer of one worker process of the ``processes`` chain method: die with the
    parent, take a core from the queue and hold this process to it (before JAX sizes its
    thread pool from the affinity mask), set up JAX on the CPU platform, keep the
    posterior for the chains."""
    signals.worker_setup(parent)
    os.sched_setaffinity(0, {cores.get()})
    os.environ["JAX_PLATFORMS"] = "cpu"
    _thread_lock_for_progress_bars()
    from ..runtime.gpu import configure_jax

    configure_jax()
    _WORKER.update(spec=spec, settings=settings)


def _thread_lock_for_progress_bars() -> None:
    """Give tqdm (NumPyro's progress bar) a thread lock in this worker process.

    Its default lock includes a multiprocessing lock, a named semaphore registered with
    the parent's resource tracker. A spawned worker shares it with no other process, so
    it guards nothing here; but a worker killed after an interruption leaves it
    registered, and the tracker then warns about a leaked semaphore after the run's
    interruption line."""
    import threading

    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover - NumPyro requires tqdm
        return
    tqdm.set_lock(threading.RLock())


def _chain_task(
    key: np.ndarray, z0: np.ndarray, progress: bool
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """One chain in a worker process (the compiled sampler is reused by its next chain)."""
    return _sample(
        _WORKER["spec"], _WORKER["settings"], "sequential", key[None], z0[None], progress
    )


def _sample_in_processes(
    spec: PosteriorSpec | JointPosteriorSpec,
    settings: Any,
    keys: np.ndarray,
    z0: np.ndarray,
    cores: list[int],
    progress: bool,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The ``processes`` chain method: one worker process per core (started fresh with
    ``spawn``: JAX does not survive ``fork``), each held to its core; every chain is a task
    that the next free worker takes, so that a chain with long trajectories does not hold
    back chains queued behind it on the same worker. Results are joined in chain order;
    chain 0 shows its progress bar."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    for core in cores:
        queue.put(core)
    with ProcessPoolExecutor(
        max_workers=len(cores),
        mp_context=ctx,
        initializer=_init_chain_worker,
        initargs=(queue, spec, settings, os.getpid()),
    ) as pool:
        futures = [
            pool.submit(_chain_task, keys[c], z0[c], progress and c == 0)
            for c in range(keys.shape[0])
        ]
        try:
            parts = [f.result() for f in futures]
        except BaseException:  # an interruption: stop the workers now, not after their chains
            signals.kill_pool(pool)
            raise
    z = np.concatenate([p[0] for p in parts], axis=0)
    ex = {k: np.concatenate([p[1][k] for p in parts], axis=0) for k in parts[0][1]}
    return z, ex


SAMPLER = NumPyroSampler()

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
