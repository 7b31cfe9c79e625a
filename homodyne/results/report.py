"""Pieces of report.txt shared by the classical and the MCMC report."""

from __future__ import annotations

import math

__all__ = ["truth_note"]


def truth_note(value: float, error: float | None, truth: float | None, at_bound: bool) -> str:
    """``"  truth 5 (+0.41 σ)"`` beside a value when the data carry the truth, else ``""``."""
    if truth is None:
        return ""
    truth = float(truth)
    if at_bound:
        return f"  truth {truth:.6g} (at a bound: no σ distance)"
    if error is None or not math.isfinite(error) or error <= 0:
        return f"  truth {truth:.6g}"
    return f"  truth {truth:.6g} ({(value - truth) / error:+.2f} σ)"
