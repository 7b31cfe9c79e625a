"""Atomic file writes (see :mod:`homodyne._util.atomic`, where they live).

Kept as the import path of the results layer and of existing callers.
"""

from __future__ import annotations

from .._util.atomic import (
    atomic_call,
    atomic_open,
    atomic_path,
    atomic_write_bytes,
    atomic_write_text,
    current_umask,
    make_temp_dir,
    umask_mode,
)

__all__ = [
    "atomic_call",
    "atomic_open",
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_text",
    "current_umask",
    "make_temp_dir",
    "umask_mode",
]
