"""The ``homodyne-gpu`` command: ``homodyne`` with the NumPyro/JAX MCMC backend.

It sets ``HOMODYNE_GPU_INTENT=true`` (so ``--method mcmc`` and ``all`` use NumPyro: on the
GPU when JAX sees one, else on the JAX CPU platform), applies the JAX environment once
(64-bit floats, no GPU memory preallocation, CPU platform where no GPU can be used;
see :mod:`homodyne.runtime.gpu`) and runs :func:`homodyne.run_homodyne.main` with the same
arguments. JAX itself is imported only if an MCMC run needs it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``homodyne-gpu``; returns the exit status."""
    os.environ["HOMODYNE_GPU_INTENT"] = "true"
    from . import apply_jax_environment

    apply_jax_environment()
    from ...run_homodyne import main as homodyne_main

    return int(homodyne_main(argv, prog="homodyne-gpu"))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
