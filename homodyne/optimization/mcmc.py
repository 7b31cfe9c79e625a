"""Legacy MCMC interface of the seed: ``MCMCSampler(analyzer, config).run_mcmc_analysis()``.

Kept so that existing scripts work unchanged::

    from homodyne.optimization.mcmc import MCMCSampler
    sampler = MCMCSampler(analyzer, config)
    results = sampler.run_mcmc_analysis()

It routes exactly like :func:`homodyne.run_homodyne.get_mcmc_backend`
(``HOMODYNE_GPU_INTENT``: false → PyMC, true → NumPyro/JAX, auto → GPU backend when a GPU
is visible, else PyMC, else NumPyro on the CPU) and returns the backend's
:class:`~homodyne.bayes.result.MCMCResult`. ``analyzer`` is a
:class:`homodyne.problem.Problem` (the seed's ``analysis_core``); ``config`` a
:class:`homodyne.config.Config`, a configuration dict, or None for the defaults. New code
can call :func:`~homodyne.optimization.backends.get_mcmc_backend` directly.
"""

from __future__ import annotations

from typing import Any

from .backends import get_mcmc_backend

__all__ = ["MCMCSampler", "run_mcmc_analysis"]


class MCMCSampler:
    """Seed-compatible sampler facade around the routed MCMC backend."""

    def __init__(self, analyzer: Any, config: Any = None) -> None:
        self.analyzer = analyzer
        self.analysis_core = analyzer
        self.config = config
        self.backend_name: str | None = None
        self.has_gpu: bool | None = None
        self.results: Any = None

    def run_mcmc_analysis(
        self,
        c2_experimental: Any = None,
        phi_angles: Any = None,
        filter_angles_for_optimization: bool = True,
        **kwargs: Any,
    ) -> Any:
        """Run the selected backend; keyword arguments override the ``mcmc`` section."""
        fn, self.backend_name, self.has_gpu = get_mcmc_backend()
        self.results = fn(
            analysis_core=self.analyzer,
            config=self.config,
            c2_experimental=c2_experimental,
            phi_angles=phi_angles,
            filter_angles_for_optimization=filter_angles_for_optimization,
            **kwargs,
        )
        return self.results


def run_mcmc_analysis(analysis_core: Any, config: Any = None, **kwargs: Any) -> Any:
    """Functional form of :meth:`MCMCSampler.run_mcmc_analysis`."""
    return MCMCSampler(analysis_core, config).run_mcmc_analysis(**kwargs)
