"""The backend record: what an MCMC backend registers under ``homodyne.mcmc_backends``."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import BackendUnavailableError

__all__ = ["MCMCBackend", "module_available"]


@dataclass(frozen=True)
class MCMCBackend:
    """What a backend registers under the entry-point group ``homodyne.mcmc_backends``.

    ``run`` has the signature of :func:`homodyne.optimization.mcmc_cpu_backend.run_cpu_mcmc_analysis`
    and returns an :class:`MCMCResult`. ``requires`` lists the top-level modules the
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


def module_available(name: str) -> bool:
    """Whether a module can be imported here, found without importing it."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False
