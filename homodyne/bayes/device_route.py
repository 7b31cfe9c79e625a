"""Which platform the NumPyro backend's chains run on: the GPU or the CPU, by size.

A GPU pays a fixed cost per NUTS step (kernel launches, a host round trip per tree
doubling) that a small problem never earns back: the static 4 x 80² benchmark (12 640
values) took 41 s on an H200 (2026-11-26) and 14 s on 2 CPU cores with its chains in
worker processes (2026-12-02); of two cases near 150 000 values one was faster on each
side by less than 20 % (docs/mcmc.rst, "GPU or CPU: routing by size").
``mcmc.platform = "auto"`` therefore runs a problem of fewer than ``mcmc.gpu_min_values``
values on the CPU although a GPU is present; ``"gpu"`` and ``"cpu"`` choose explicitly.

Pure: the caller says whether JAX sees a GPU (:func:`route_platform`). A process whose JAX
holds the GPU runs CPU-routed chains in worker processes of its own on the JAX CPU
platform (the ``processes`` chain method), so that the route changes no process-wide JAX
state: a later, larger problem in the same process still gets the GPU.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ConfigError

__all__ = ["PLATFORMS", "Route", "route_platform"]

#: The values of ``mcmc.platform``.
PLATFORMS = ("auto", "gpu", "cpu")


@dataclass(frozen=True)
class Route:
    """Where the chains run: ``platform`` is ``"gpu"`` or ``"cpu"``; ``routed`` is true
    when a GPU is in use by JAX but the chains go to the CPU; ``reason`` says why in words
    (empty where nothing was chosen: no GPU, so the CPU)."""

    platform: str
    routed: bool
    reason: str


def route_platform(
    requested: str | None, gpu_min_values: int, n_values: int, on_gpu: bool
) -> Route:
    """The platform of a problem of ``n_values`` c2 values.

    ``requested`` is ``mcmc.platform`` (``None`` counts as ``"auto"``), ``on_gpu`` whether
    JAX runs on a GPU in this process. ``"gpu"`` where JAX sees none is a
    :class:`~homodyne.errors.ConfigError` (the request cannot be met, and a run that
    silently took hours on the CPU instead would be worse than the error)."""
    req = (requested or "auto").strip().lower()
    if req not in PLATFORMS:
        raise ConfigError(f"mcmc.platform must be one of {', '.join(PLATFORMS)}, got {requested!r}")
    if gpu_min_values < 0:
        raise ConfigError(f"mcmc.gpu_min_values must be 0 or more, got {gpu_min_values!r}")
    if not on_gpu:
        if req == "gpu":
            raise ConfigError(
                "mcmc.platform is 'gpu' but JAX sees no GPU here (the log line 'JAX: no GPU "
                "in use (...)' says why); set mcmc.platform to 'auto' or 'cpu', or run where "
                "a CUDA-enabled jaxlib sees an NVIDIA GPU"
            )
        return Route("cpu", False, "")
    if req == "gpu":
        return Route("gpu", False, "mcmc.platform = 'gpu'")
    if req == "cpu":
        return Route("cpu", True, "mcmc.platform = 'cpu'")
    if n_values < gpu_min_values:
        return Route(
            "cpu",
            True,
            f"{n_values:,} values < mcmc.gpu_min_values {gpu_min_values:,}: "
            "faster on the CPU than on a GPU",
        )
    return Route("gpu", False, f"{n_values:,} values >= mcmc.gpu_min_values {gpu_min_values:,}")
