"""Initial values and bounds from the data's own scales (``"auto"`` in a configuration).

Fixed absolute defaults (D_offset within ±100 Å²/s, say) bind on data whose scale differs.
The template therefore writes ``"auto"`` for the value and bounds of the dimensional
parameters, and they are set here, once the data are loaded, from:

* the decay seen in the data: for each angle, the mean of c2 along each lag k (the k-th
  diagonal) over the frame window, normalised by its first lag against the baseline 1,
  gives g1²(lag); its 1/e lag time τ_a (interpolated, or extrapolated from the last lag
  when the data do not decay that far) is the decorrelation time of that angle;
* q, the frame time dt and the frame window (first and last frame time);
* the gap L of the shear cell.

Diffusion: g1² = exp(-q² J Δt), so the slowest angle gives the transport scale
``J_s = 1 / (q² τ_slow)``. Shear: the angle decaying fastest loses correlation also by
sinc²(q L |cos(φ0 - φ)| γ̇ Δt / 2), which is 1/e near an argument of 1.6; with
``1/τ_shear = 1/τ_fast - 1/τ_slow`` (or τ_fast when no angle decays clearly faster)
the shear-rate scale is ``γ̇_s = 3.2 / (q L τ_shear)``.

* ``D0``: initial J_s, bounds [1e-3 J_s, 1e3 J_s];
* ``D_offset``: initial 0, bounds [-3 J_s, 3 J_s];
* ``gamma_dot_t0``: initial γ̇_s, bounds [1e-3 γ̇_s, 1e3 γ̇_s];
* ``gamma_dot_t_offset``: initial 0, bounds [-3 γ̇_s, 3 γ̇_s].

Six decades for the amplitudes (as many as the former absolute defaults, centred on the
data) and ±3 scales for the offsets (J and γ̇ are rates that the power law and the
offset share; a larger offset would have to be cancelled by the power law). The
dimensionless exponents (alpha, beta) and phi0 keep their table defaults. Every
chosen number is logged and recorded in results.json (``input.defaults_from_data``).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

import numpy as np

from ..errors import ConfigError, DataError
from ..parameters import AUTO, AUTO_PARAMETERS, Parameters

__all__ = ["AUTO", "AUTO_PARAMETERS", "data_scales", "resolve_auto"]

log = logging.getLogger(__name__)


_E = float(np.exp(-1.0))


def _decay_time(g: np.ndarray, lags: np.ndarray) -> float:
    """1/e time of a normalised decay g(lag) (g[0] = 1 at the first lag)."""
    below = np.flatnonzero(g < _E)
    if below.size:
        k = int(below[0])
        if k == 0:
            return float(lags[0])
        g0, g1 = np.log(max(g[k - 1], 1e-12)), np.log(max(g[k], 1e-12))
        frac = (g0 + 1.0) / (g0 - g1) if g0 != g1 else 0.0  # linear in log g
        return float(lags[k - 1] + frac * (lags[k] - lags[k - 1]))
    tail = g[-max(1, g.size // 10) :]
    g_end = float(np.clip(np.mean(tail), 1e-6, 1.0 - 1e-6))
    return float(lags[-1] / -np.log(g_end))  # exponential extrapolation


def data_scales(c2: np.ndarray, t: np.ndarray, q: float, gap: float) -> dict[str, float]:
    """The scales of a (A, n, n) stack: decay times, J_s and γ̇_s (see the module)."""
    c2 = np.asarray(c2, dtype=float)
    n = c2.shape[1]
    dt = float(np.median(np.diff(t)))
    window = float(t[-1] - t[0])
    lags = np.arange(1, n) * dt
    taus = []
    for a in range(c2.shape[0]):
        m = np.full(n - 1, np.nan)
        for k in range(1, n):
            d = np.diagonal(c2[a], k)
            d = d[np.isfinite(d)]  # masked values (NaN/inf) do not count
            if d.size:
                m[k - 1] = d.mean()
        ok = np.isfinite(m)
        if not ok[0] or m[0] - 1.0 <= 0:
            continue  # no decay to time at this angle
        m = np.where(ok, m, np.interp(lags, lags[ok], m[ok]))
        amp = m[0] - 1.0
        # normalised at the first lag, so the decay is timed from there
        taus.append(_decay_time((m - 1.0) / amp, lags - lags[0]))
    if not taus:
        raise DataError(
            "cannot set the 'auto' parameters from these data: no angle shows a positive "
            "contrast at the first lag (c2 - 1 <= 0); give numbers for value, min and max"
        )
    tau = np.clip(np.asarray(taus), dt, 1e3 * window)
    tau_slow, tau_fast = float(np.max(tau)), float(np.min(tau))
    rate_shear = 1.0 / tau_fast - 1.0 / tau_slow
    # no angle clearly slower than the fastest: shear may cause all of the decay, so take
    # the rate that would explain the fastest decay by shear alone (an upper scale)
    tau_shear = 1.0 / rate_shear if rate_shear > 0.5 / tau_slow else tau_fast
    return {
        "tau_slow_s": tau_slow,
        "tau_fast_s": tau_fast,
        "tau_shear_s": float(tau_shear),
        "J_scale": 1.0 / (q * q * tau_slow),
        "gamma_dot_scale": 3.2 / (q * gap * tau_shear),
        "dt_s": dt,
        "window_s": window,
    }


def _rules(s: dict[str, float]) -> dict[str, tuple[float, float, float]]:
    J, g = s["J_scale"], s["gamma_dot_scale"]
    return {
        "D0": (J, 1e-3 * J, 1e3 * J),
        "D_offset": (0.0, -3.0 * J, 3.0 * J),
        "gamma_dot_t0": (g, 1e-3 * g, 1e3 * g),
        "gamma_dot_t_offset": (0.0, -3.0 * g, 3.0 * g),
    }


def resolve_auto(
    parameters: Parameters,
    auto: frozenset[tuple[str, str]] | set[tuple[str, str]],
    c2: np.ndarray,
    t: np.ndarray,
    q: float,
    gap: float,
    source: str = "<config>",
) -> tuple[Parameters, dict[str, Any] | None]:
    """The parameters with every ``(name, key)`` in ``auto`` set from the data.

    Returns the parameters and a record of the scales and the chosen numbers (``None``
    when nothing was ``"auto"``)."""
    auto = {(n, k) for n, k in auto if n in parameters}
    if not auto:
        return parameters, None
    scales = data_scales(c2, t, q, gap)
    rules = _rules(scales)
    items = dict(parameters.items())
    chosen: dict[str, dict[str, float]] = {}
    for name in sorted({n for n, _ in auto}):
        p = items[name]
        value, lo, hi = rules[name]
        new = {
            "value": value if (name, "value") in auto else p.value,
            "min": lo if (name, "min") in auto else p.min,
            "max": hi if (name, "max") in auto else p.max,
        }
        if not new["min"] < new["max"]:
            raise ConfigError(
                f"{source}: parameters.{name}: the bound set from the data and the one given "
                f"leave no range (min {new['min']:g}, max {new['max']:g}); give both bounds"
            )
        if (name, "value") in auto:
            new["value"] = min(max(new["value"], new["min"]), new["max"])
        elif not new["min"] <= new["value"] <= new["max"]:
            raise ConfigError(
                f"{source}: parameters.{name}.value {new['value']:g} is outside the bounds "
                f"[{new['min']:g}, {new['max']:g}] set from the data; give the bounds or an "
                f"initial value 'auto'"
            )
        items[name] = replace(p, value=new["value"], min=new["min"], max=new["max"])
        chosen[name] = {k: float(v) for k, v in new.items() if (name, k) in auto}
    log.info(
        "defaults from the data (decay 1/e times %.3g-%.3g s): %s",
        scales["tau_fast_s"],
        scales["tau_slow_s"],
        "; ".join(
            f"{n} {', '.join(f'{k} {v:.4g}' for k, v in c.items())}" for n, c in chosen.items()
        ),
    )
    return Parameters(parameters.mode, items), {"scales": scales, "parameters": chosen}
