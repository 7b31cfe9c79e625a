"""homodyne-analysis: the homodyne model of nonequilibrium XPCS, fitted by least squares
and by Bayesian MCMC (PyMC on the CPU, NumPyro/JAX on the GPU).

Importing the package is cheap: NumPy and the rest load when a submodule needs them.
Main entry points: :mod:`homodyne.model` (the physics), :func:`homodyne.config.load_config`,
:func:`homodyne.data.load_dataset`, :class:`homodyne.problem.Problem`,
:func:`homodyne.optimization.classical.fit`, :func:`homodyne.analysis.run_analysis`.
"""

from ._version import __version__

__all__ = ["__version__"]
