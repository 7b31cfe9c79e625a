"""Choosing the azimuthal angles to analyse: closed intervals of degrees.

Wrapping rule: angles are directions, so they are compared **modulo 360°**. An angle φ
lies in the closed interval [lo, hi] when φ + 360·k lies in it for some integer k. Thus
350° is in [-10, 10], -170° is in [170, 190], and an interval 360° wide or wider keeps
every angle. Bounds are inclusive, up to 1e-9° of rounding.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from numbers import Real
from typing import Literal

import numpy as np

from homodyne.errors import ConfigError, DataError

__all__ = ["DEFAULT_ANGLE_RANGES", "filter_angles", "in_angle_range"]

logger = logging.getLogger(__name__)

#: The ranges used when a configuration asks for filtering without naming any: angles
#: near the flow direction and its opposite (parallel to the shear).
DEFAULT_ANGLE_RANGES: tuple[tuple[float, float], ...] = ((-10.0, 10.0), (170.0, 190.0))

_EPS_DEG = 1e-9


def _validated_ranges(ranges: Iterable[Sequence[float]]) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for item in ranges:
        if isinstance(item, Real | str) or len(item) != 2:
            raise ConfigError(
                f"angle ranges must be [min, max] pairs in degrees, got {item!r} "
                f"(write [[-10, 10]] for one range)"
            )
        try:
            lo, hi = float(item[0]), float(item[1])
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"angle range {item!r} must hold two numbers") from exc
        if not (np.isfinite(lo) and np.isfinite(hi)) or lo > hi:
            raise ConfigError(f"angle range {item!r} must be finite with min <= max")
        out.append((lo, hi))
    return out


def in_angle_range(phi: Sequence[float] | np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Boolean mask: which angles lie in the closed interval [lo, hi] modulo 360°."""
    phi = np.asarray(phi, dtype=np.float64)
    width = hi - lo
    if width >= 360.0 - _EPS_DEG:
        return np.ones(phi.shape, dtype=bool)
    d = np.mod(phi - lo, 360.0)  # in [0, 360): how far φ lies past lo, going up
    return (d <= width + _EPS_DEG) | (d >= 360.0 - _EPS_DEG)


def filter_angles(
    phi: Sequence[float] | np.ndarray,
    ranges: Iterable[Sequence[float]],
    *,
    fallback: Literal["all", "error"] = "all",
) -> np.ndarray:
    """Indices (ascending) of the angles inside any of the closed ``ranges`` (degrees,
    compared modulo 360°).

    An empty ``ranges`` means no filtering: every index is returned. When ranges are given
    but no angle matches, ``fallback="all"`` returns every index and logs a warning, and
    ``fallback="error"`` raises :class:`DataError` listing the angles and the ranges.
    """
    if fallback not in ("all", "error"):
        raise ConfigError(f"fallback must be 'all' or 'error', got {fallback!r}")
    phi_arr = np.asarray(phi, dtype=np.float64).reshape(-1)
    if not np.all(np.isfinite(phi_arr)):
        raise DataError(f"angles must be finite, got {phi_arr.tolist()}")
    checked = _validated_ranges(ranges)
    everything = np.arange(phi_arr.size, dtype=np.intp)
    if not checked:
        return everything
    mask = np.zeros(phi_arr.shape, dtype=bool)
    for lo, hi in checked:
        mask |= in_angle_range(phi_arr, lo, hi)
    if mask.any():
        return np.flatnonzero(mask).astype(np.intp)
    shown = [round(float(p), 4) for p in phi_arr]
    if fallback == "error":
        raise DataError(
            f"no angle of {shown} deg lies in the ranges {checked} (modulo 360); widen the "
            f"ranges or allow the fallback to all angles"
        )
    logger.warning(
        "no angle of %s deg lies in the ranges %s (modulo 360); using all %d angles",
        shown,
        checked,
        phi_arr.size,
    )
    return everything
