"""MCMC backend registry and routing (``HOMODYNE_GPU_INTENT``).

Backends register under the entry-point group ``homodyne.mcmc_backends``; each entry
point names an :class:`~homodyne.bayes.sampler.MCMCBackend` object. The two
built-in ones are registered by this package's own metadata like any third-party plugin:

    [project.entry-points."homodyne.mcmc_backends"]
    pymc = "homodyne.optimization.mcmc_cpu_backend:BACKEND"
    numpyro = "homodyne.optimization.mcmc_gpu_backend:BACKEND"

(and are known even when the package runs from a source tree without metadata).
Availability is decided with :func:`importlib.util.find_spec`: listing or choosing a
backend never imports PyMC, PyTensor, JAX or NumPyro.

Routing, :func:`get_mcmc_backend`:

====================================  ==========================================================
``HOMODYNE_GPU_INTENT``               backend
====================================  ==========================================================
``false`` (default of ``homodyne``)   PyMC on the CPU
``true`` (set by ``homodyne-gpu``)    NumPyro/JAX: the GPU when JAX sees one, else the JAX CPU
``auto``                              NumPyro when a GPU is visible, else PyMC if installed,
                                      else NumPyro on the CPU
====================================  ==========================================================

``HOMODYNE_MCMC_BACKEND=<entry-point name>`` (or the ``name`` argument) picks a registered
backend by name instead, e.g. a third-party plugin. When the wanted backend is not
installed, :class:`~homodyne.errors.BackendUnavailableError` names the pip extra and the
conda package that provide it.
"""

from __future__ import annotations

import importlib
import importlib.metadata as md
import os
from collections.abc import Callable
from typing import Any

from ..bayes.sampler import BackendRecord, MCMCBackend
from ..errors import BackendUnavailableError, ConfigError

__all__ = [
    "ENTRY_POINT_GROUP",
    "BackendRecord",
    "MCMCBackend",
    "get_mcmc_backend",
    "gpu_intent",
    "gpu_visible",
    "list_backends",
    "load_backend",
    "registered_backends",
    "select_backend_name",
]

ENTRY_POINT_GROUP = "homodyne.mcmc_backends"
#: The built-in backends, used when the package metadata is not installed.
BUILTIN = {
    "pymc": "homodyne.optimization.mcmc_cpu_backend:BACKEND",
    "numpyro": "homodyne.optimization.mcmc_gpu_backend:BACKEND",
}
_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off", "")


def gpu_intent(value: str | None = None) -> str:
    """``"true"``, ``"false"`` or ``"auto"`` from ``HOMODYNE_GPU_INTENT`` (default false)."""
    raw = os.environ.get("HOMODYNE_GPU_INTENT", "false") if value is None else value
    v = raw.strip().lower()
    if v in _TRUE:
        return "true"
    if v in _FALSE:
        return "false"
    if v == "auto":
        return "auto"
    raise ConfigError(f"HOMODYNE_GPU_INTENT must be true, false or auto, got {raw!r}")


def gpu_visible() -> bool:
    """Whether JAX would see a GPU here (decided without importing JAX)."""
    from ..runtime.gpu import gpu_visible as _visible

    return _visible()


def registered_backends() -> dict[str, str]:
    """Entry-point name → ``module:attribute`` of every registered backend."""
    found = {ep.name: ep.value for ep in md.entry_points(group=ENTRY_POINT_GROUP)}
    for name, value in BUILTIN.items():
        found.setdefault(name, value)
    return found


def load_backend(name: str) -> BackendRecord:
    """The backend object registered as ``name`` (imports its module, not its stack)."""
    reg = registered_backends()
    if name not in reg:
        raise ConfigError(
            f"no MCMC backend named {name!r} is registered; known: {', '.join(sorted(reg))}"
        )
    module, _, attr = reg[name].partition(":")
    obj: Any = importlib.import_module(module)
    for part in (attr or "BACKEND").split("."):
        obj = getattr(obj, part)
    if not isinstance(obj, BackendRecord):
        lacking = [
            a
            for a in (*BackendRecord.__annotations__, "is_available", "missing", "install_hint")
            if not hasattr(obj, a)
        ]
        raise ConfigError(
            f"the MCMC backend entry point {name!r} ({reg[name]}) is not a backend record "
            f"(homodyne.bayes.sampler.MCMCBackend); it has no {', '.join(map(repr, lacking))}"
        )
    return obj


def select_backend_name(intent: str | None = None, name: str | None = None) -> str:
    """Which registered backend to use, without importing any stack."""
    name = name or os.environ.get("HOMODYNE_MCMC_BACKEND") or None
    if name:
        return name
    intent = gpu_intent(intent)
    if intent == "true":
        return "numpyro"
    if intent == "false":
        return "pymc"
    if gpu_visible() and load_backend("numpyro").is_available():
        return "numpyro"
    if load_backend("pymc").is_available():
        return "pymc"
    return "numpyro"


def selection_reason() -> str:
    """The setting that :func:`select_backend_name` follows here, as ``VARIABLE=value``
    (``HOMODYNE_MCMC_BACKEND`` when set, else ``HOMODYNE_GPU_INTENT``, default false)."""
    by_name = os.environ.get("HOMODYNE_MCMC_BACKEND")
    if by_name:
        return f"HOMODYNE_MCMC_BACKEND={by_name}"
    return f"HOMODYNE_GPU_INTENT={os.environ.get('HOMODYNE_GPU_INTENT', 'false')}"


def get_mcmc_backend(name: str | None = None) -> tuple[Callable[..., Any], str, bool]:
    """The MCMC backend for this process: ``(function, backend_name, has_gpu)``.

    ``function`` is the backend's run function (``run_cpu_mcmc_analysis`` or
    ``run_gpu_mcmc_analysis`` for the built-in ones), ``backend_name`` its reported name
    (``"PyMC_CPU"``, ``"NumPyro_GPU_JAX"``) and ``has_gpu`` whether it can use a GPU here
    (``mcmc.platform`` then decides per problem).
    Raises :class:`BackendUnavailableError` naming the pip extra and the conda package
    when the selected backend is not installed.
    """
    chosen = select_backend_name(name=name)
    backend = load_backend(chosen)
    if not backend.is_available():
        by_name = name or os.environ.get("HOMODYNE_MCMC_BACKEND")
        why = "(requested by name)" if by_name else f"(selected by {selection_reason()})"
        raise backend.unavailable_error(why)
    has_gpu = backend.uses_gpu and gpu_visible()
    return backend.run, backend.backend_name, has_gpu


def list_backends() -> list[dict[str, Any]]:
    """One row per registered backend, for ``homodyne backends`` (imports no stack)."""
    try:
        selected: str | None = select_backend_name()
    except (ConfigError, BackendUnavailableError):
        selected = None
    visible = gpu_visible()
    rows = []
    for name, target in sorted(registered_backends().items()):
        row: dict[str, Any] = {"name": name, "entry_point": target, "selected": name == selected}
        try:
            b = load_backend(name)
        except Exception as exc:  # a broken third-party plugin must not break the listing
            row.update(
                available=False, description=f"cannot be loaded: {type(exc).__name__}: {exc}"
            )
            rows.append(row)
            continue
        available = bool(b.is_available())
        row.update(
            backend_name=b.backend_name,
            description=b.description,
            available=available,
            requires=list(b.requires),
            missing=list(b.missing()),
            device=("GPU" if visible else "JAX CPU (no GPU visible)") if b.uses_gpu else "CPU",
        )
        if not available:
            row["install"] = b.install_hint()
        rows.append(row)
    return rows
