"""NumPy values as plain JSON data."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["json_default", "jsonable"]


def jsonable(v: Any) -> Any:
    """``v`` with NumPy arrays and scalars, tuples and paths turned into JSON data.

    Dictionaries get string keys; non-finite floats (NaN, ±inf) become None, so that the
    result can be written with ``allow_nan=False``. Other values are returned as they are.
    """
    if isinstance(v, dict):
        return {str(k): jsonable(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [jsonable(x) for x in v]
    if isinstance(v, np.ndarray):
        return jsonable(v.tolist())
    if isinstance(v, bool | np.bool_):
        return bool(v)
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, float | np.floating):
        f = float(v)
        return f if math.isfinite(f) else None
    if isinstance(v, Path):
        return str(v)
    return v


def json_default(obj: Any) -> Any:
    """``default=`` of :func:`json.dumps` for NumPy values and paths (others: TypeError)."""
    if isinstance(obj, np.ndarray | np.generic | Path):
        return jsonable(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
