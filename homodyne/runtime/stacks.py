"""Which MCMC stack a process has really imported.

ArviZ 1 (arviz-base) registers *lazy* placeholders for ``jax`` and ``numpyro`` in
``sys.modules`` when they are installed (``lazy_loader``): such a module has not run a line
of its code until an attribute is read. ``"jax" in sys.modules`` therefore no longer says
whether JAX was imported; :func:`imported` does.
"""

from __future__ import annotations

import importlib.util
import sys
from typing import Any

__all__ = ["imported", "imported_modules"]


#: importlib's lazy-module class (private; an empty tuple where it does not exist)
_LAZY_MODULE: Any = getattr(importlib.util, "_LazyModule", ())


def _executed(module: object) -> bool:
    return module is not None and not isinstance(module, _LAZY_MODULE)


def imported(name: str) -> bool:
    """True when module ``name`` has been imported (executed), not only registered lazily."""
    return _executed(sys.modules.get(name))


def imported_modules(roots: tuple[str, ...] | set[str] | frozenset[str]) -> list[str]:
    """Sorted names of the executed modules whose top-level package is in ``roots``."""
    return sorted(
        name
        for name, module in list(sys.modules.items())
        if name.split(".")[0] in roots and _executed(module)
    )
