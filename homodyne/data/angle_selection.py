"""Which angles a fit uses, why the others are left out, and whether a laminar-flow fit
can tell the flow direction from the shear amplitude with them.

Default: every angle the file holds at the configured q. The angle filter
(``angle_filter.enabled``) is an explicit choice; its ranges then decide, and each angle
left out is recorded with its reason. The record (:func:`selection_record`) is what
results.json (``input.angle_selection``), the console and report.txt show as
"k of n angles".

Laminar flow: the shear term of angle φ depends on the shear amplitude only through
``gamma_dot_t0 · |cos(φ0 - φ)|`` (sinc² is even). Angles that are equal modulo 180° give
the same |cos(φ0 - φ)| for every φ0, so when all angles used lie in one such direction
the data constrain the product only: phi0 and the shear amplitude are not separately
determined. :func:`check_flow_angles` refuses that fit with a message naming the ways out,
or, when ``angle_filter.phi0_when_undetermined`` is ``"fix"``, fixes phi0 at its initial
value with a warning.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..parameters import Parameters
from .angles import filter_angles

__all__ = [
    "DIRECTION_TOLERANCE_DEG",
    "check_flow_angles",
    "distinct_directions",
    "input_lines",
    "select",
    "selection_line",
    "selection_record",
]

log = logging.getLogger(__name__)

#: Angles closer than this (degrees, modulo 180°) count as one direction of the flow term.
DIRECTION_TOLERANCE_DEG = 0.5


def selection_record(
    available: np.ndarray, used_index: np.ndarray, reasons: dict[int, str]
) -> dict[str, Any]:
    """``{"used", "available", "excluded": [{"phi", "reason"}]}`` (angles in degrees)."""
    used = [float(available[i]) for i in used_index]
    excluded = [
        {"phi": float(available[i]), "reason": reasons.get(i, "not selected")}
        for i in range(available.size)
        if i not in set(int(k) for k in used_index)
    ]
    return {"used": used, "available": [float(v) for v in available], "excluded": excluded}


def select(
    phi: np.ndarray, angle_filter: dict[str, Any], mode: str
) -> tuple[np.ndarray, dict[str, Any]]:
    """Indices of the angles to fit and the selection record."""

    phi = np.asarray(phi, dtype=float)
    keep = np.arange(phi.size)
    reasons: dict[int, str] = {}
    if angle_filter.get("enabled") and mode != "static_isotropic":
        ranges = angle_filter["ranges"]
        keep = np.asarray(filter_angles(phi, ranges, fallback=angle_filter["fallback"]))
        shown = ", ".join(f"[{lo:g}, {hi:g}]" for lo, hi in ranges)
        for i in range(phi.size):
            if i not in set(keep.tolist()):
                reasons[i] = f"outside angle_filter.ranges {shown} (angle_filter.enabled is true)"
    record = selection_record(phi, keep, reasons)
    if mode == "static_isotropic" and keep.size > 1:
        record["note"] = f"static isotropic mode: the {keep.size} angles are averaged into one"
    return keep, record


def selection_line(record: dict[str, Any] | None) -> str:
    """One line for the console and report.txt: "angles: k of n used ...; left out ..."."""
    if not record:
        return ""
    used, avail = record["used"], record["available"]
    line = f"angles: {len(used)} of {len(avail)} used ({', '.join(f'{v:g}' for v in used)} deg)"
    if record["excluded"]:
        by_reason: dict[str, list[float]] = {}
        for e in record["excluded"]:
            by_reason.setdefault(e["reason"], []).append(e["phi"])
        parts = [f"{', '.join(f'{v:g}' for v in vs)} deg: {r}" for r, vs in by_reason.items()]
        line += "; left out: " + "; ".join(parts)
    if record.get("note"):
        line += f"; {record['note']}"
    if record.get("phi0_fixed"):
        line += f"; {record['phi0_fixed']}"
    return line


def distinct_directions(phi: np.ndarray, tol: float = DIRECTION_TOLERANCE_DEG) -> int:
    """Number of distinct directions among ``phi`` modulo 180° (classes within ``tol``)."""
    r = np.sort(np.mod(np.asarray(phi, dtype=float), 180.0))
    if r.size == 0:
        return 0
    gaps = np.diff(np.concatenate([r, [r[0] + 180.0]]))
    n = int(np.sum(gaps > tol))
    return max(n, 1)


def check_flow_angles(
    phi_used: np.ndarray, parameters: Parameters, policy: str, record: dict[str, Any] | None
) -> Parameters:
    """Refuse (or, with ``policy == "fix"``, fix phi0 in) a laminar fit whose angles
    cannot separate phi0 from the shear amplitude. Returns the parameters to fit."""
    if parameters.mode != "laminar_flow":
        return parameters
    if parameters["phi0"].fixed or parameters["gamma_dot_t0"].fixed:
        return parameters
    if distinct_directions(phi_used) >= 2:
        return parameters
    shown = ", ".join(f"{v:g}" for v in np.asarray(phi_used, dtype=float))
    why = (
        f"laminar flow: the angle(s) used ({shown} deg) lie in one direction modulo 180°, so "
        "|cos(phi0 - phi)| takes one value for every phi0 within its bounds and the data "
        "determine only gamma_dot_t0 · |cos(phi0 - phi)|, not phi0 and the shear amplitude "
        "separately"
    )
    if policy == "fix":
        p0 = parameters["phi0"]
        log.warning("%s; phi0 is fixed at its initial value %g deg", why, p0.value)
        if record is not None:
            record["phi0_fixed"] = (
                f"phi0 fixed at {p0.value:g} deg (angle_filter.phi0_when_undetermined 'fix')"
            )
        items = dict(parameters.items())
        items["phi0"] = replace(p0, fixed=True)
        return Parameters(parameters.mode, items)
    raise ConfigError(
        f"{why}. Use data with angles in at least two directions (not 180° apart): disable "
        "angle_filter or widen angle_filter.ranges, or list more angles in data.phi; or fix "
        "phi0 (parameters.phi0.fixed = true, at the value you know); or set "
        "angle_filter.phi0_when_undetermined to 'fix' to hold phi0 at its initial value"
    )


def input_lines(problem: Any) -> str:
    """The report's lines on the input (console and report.txt): the angles used of those
    available, and the values masked as NaN/inf."""
    lines = [selection_line(getattr(problem, "angle_selection", None))]
    m = getattr(problem, "provenance", {}).get("masked")
    if m:
        lines.append(
            f"masked: {m['nonfinite_values']} NaN/inf values off the diagonal; "
            f"{m['pairs_left_out']} pairs (i, j) left out at every angle"
        )
    return "".join(f"{line}\n" for line in lines if line)
