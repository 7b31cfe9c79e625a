"""What an MCMC backend implements and what it registers.

A backend implements one thing, :class:`Sampler` (as numpyro's ``MCMCKernel``): draw
from this posterior specification with these settings and these starting points, and
return the raw :class:`Draws`. Everything else, the problem, the data reduction, the
start, the posterior specification, the result and the timing, is done once for every
backend by :func:`homodyne.bayes.run.run_mcmc`.

A backend registers an :class:`MCMCBackend` record under the entry-point group
``homodyne.mcmc_backends``; :class:`BackendRecord` is the protocol such a record
satisfies (checked when it is loaded), so that routing reads typed attributes and never
guesses defaults. A record's ``run`` is the backend's public run function; for a
:class:`Sampler` it is made by :func:`homodyne.bayes.run.run_function`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from .._util.modules import module_available
from ..errors import BackendUnavailableError

if TYPE_CHECKING:
    from .posterior import PosteriorSpec
    from .settings import MCMCSettings

__all__ = ["BackendRecord", "Draws", "MCMCBackend", "Sampler", "module_available"]


@dataclass(frozen=True)
class Draws:
    """The raw output of a sampler.

    ``z`` holds the sampled (whitened) vectors, shape (chains, draws, k); ``stats`` the
    sample statistics of :data:`homodyne.bayes.idata.SAMPLE_STATS` that the sampler
    records, each (chains, draws), with ArviZ's names. ``prepare_s`` is the time the
    sampler spent before its first step (importing its stack, building and compiling the
    model), ``sampling_s`` the time of the sampling itself. ``extra`` goes into the
    result's summary as it is (e.g. the chain method used).
    """

    z: np.ndarray
    stats: Mapping[str, np.ndarray]
    device: str
    library: Mapping[str, str]
    prepare_s: float
    sampling_s: float
    extra: Mapping[str, Any] = field(default_factory=dict)


class Sampler(Protocol):
    """What a backend implements: draw from a posterior with given settings and start."""

    def draw(
        self,
        spec: PosteriorSpec,
        settings: MCMCSettings,
        start: np.ndarray,
        *,
        progress: bool,
        options: Mapping[str, Any],
    ) -> Draws:
        """Sample ``settings.chains`` chains of ``settings.tune`` + ``settings.draws``
        steps of the posterior ``spec``; chain c starts at ``start[c]`` (z coordinates,
        shape (chains, k)). ``options`` are the backend's own keyword arguments of its
        run function (e.g. ``cores`` of the PyMC backend)."""
        ...


@runtime_checkable
class BackendRecord(Protocol):
    """The attributes routing and ``homodyne backends`` read from a registered backend."""

    name: str
    backend_name: str
    description: str
    requires: tuple[str, ...]
    uses_gpu: bool
    run: Callable[..., Any]

    def missing(self) -> list[str]: ...

    def is_available(self) -> bool: ...

    def install_hint(self) -> str: ...

    def unavailable_error(self, why: str = "") -> BackendUnavailableError: ...


@dataclass(frozen=True)
class MCMCBackend:
    """What a backend registers under the entry-point group ``homodyne.mcmc_backends``.

    ``run`` has the signature of :func:`homodyne.optimization.mcmc_cpu_backend.run_cpu_mcmc_analysis`
    and returns an :class:`~homodyne.bayes.result.MCMCResult` (a backend that implements
    :class:`Sampler` gets it from :func:`homodyne.bayes.run.run_function`). ``requires`` lists the top-level modules the
    backend imports; availability is checked with :func:`importlib.util.find_spec`,
    without importing them. The module that defines a backend must stay cheap to import
    (import its stack inside ``run``), so that listing backends loads no stack.
    """

    name: str  # entry-point name: "pymc", "numpyro", ...
    backend_name: str  # name reported by get_mcmc_backend(): "PyMC_CPU", "NumPyro_GPU_JAX"
    description: str
    run: Callable[..., Any]
    requires: tuple[str, ...]
    pip_extra: str | None = None  # e.g. "mcmc": pip install "homodyne-analysis[mcmc]"
    conda_package: str | None = None  # e.g. "homodyne-analysis-cpu"
    uses_gpu: bool = False  # runs on a GPU when one is visible
    device_hint: str = "CPU"

    def missing(self) -> list[str]:
        """The required modules that are not installed (or hidden) here."""
        return [m for m in self.requires if not module_available(m)]

    def is_available(self) -> bool:
        return not self.missing()

    def install_hint(self) -> str:
        parts = []
        if self.pip_extra:
            parts.append(f'pip install "homodyne-analysis[{self.pip_extra}]"')
        if self.conda_package:
            parts.append(f"conda install -c conda-forge {self.conda_package}")
        return " or ".join(parts) if parts else f"install {', '.join(self.requires)}"

    def unavailable_error(self, why: str = "") -> BackendUnavailableError:
        return BackendUnavailableError(
            f"the MCMC backend {self.name!r} ({self.backend_name}){' ' + why if why else ''} needs "
            f"{', '.join(self.missing()) or ', '.join(self.requires)}, which "
            f"{'is' if len(self.missing()) == 1 else 'are'} not installed here; install it with: "
            f"{self.install_hint()}"
        )
