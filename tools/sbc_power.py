"""Power of the SBC checks of tests/calibration/test_sbc.py, by Monte Carlo on a Gaussian toy.

    python tools/sbc_power.py [REPLICATES ...]

The toy posterior is N(m, s²); a miscalibrated sampler returns draws from
N(m + b·s, (c·s)²) (c: width factor, b: bias in posterior sd). For R replicates the
script applies the two checks of the test to one quantity, with the test's constants
(L = 100 independent draws per replicate, 5 rank bins, χ² p < 0.001; Σz² outside the
two-sided 99.9 % band of χ²(R)) and prints how often each check (and either) fails.
The real draws are autocorrelated MCMC draws, so the rank test's power there is a little
lower; the Σz² check uses the posterior mean and sd only and is not affected.
"""

from __future__ import annotations

import sys

import numpy as np
from scipy import stats

L, BINS, P_MIN, TRIALS = 100, 5, 1e-3, 4000
CASES = [
    ("calibrated", 1.0, 0.0),
    ("sd x 1/sqrt2 (too narrow)", 2**-0.5, 0.0),
    ("sd x sqrt2 (too wide)", 2**0.5, 0.0),
    ("sd x 1/2", 0.5, 0.0),
    ("sd x 2", 2.0, 0.0),
    ("bias 0.5 sd", 1.0, 0.5),
    ("bias 1 sd", 1.0, 1.0),
]


def power(r: int, c: float, b: float, rng: np.random.Generator) -> tuple[float, float, float]:
    # In units of the true posterior: truth - m ~ N(0, 1); sampler draws ~ N(b, c²).
    truth = rng.normal(size=(TRIALS, r))
    draws = rng.normal(b, c, size=(TRIALS, r, L))
    ranks = np.sum(draws < truth[..., None], axis=-1)
    counts = np.stack([np.sum((ranks * BINS) // (L + 1) == k, axis=-1) for k in range(BINS)], -1)
    p = stats.chisquare(counts, axis=-1).pvalue
    z = (truth - b) / c
    s = np.sum(z * z, axis=-1)
    lo, hi = stats.chi2.ppf([P_MIN / 2, 1 - P_MIN / 2], r)
    rank_fail = p < P_MIN
    z_fail = (s < lo) | (s > hi)
    return float(rank_fail.mean()), float(z_fail.mean()), float((rank_fail | z_fail).mean())


def main(argv: list[str]) -> int:
    reps = [int(a) for a in argv] or [20, 30, 60, 100]
    rng = np.random.default_rng(1)
    print(f"{'case':28s} " + " ".join(f"{'R=' + str(r) + ' rank/z2/any':>24s}" for r in reps))
    for name, c, b in CASES:
        cells = []
        for r in reps:
            pr, pz, pa = power(r, c, b, rng)
            cells.append(f"{pr:6.2f} {pz:6.2f} {pa:6.2f}".rjust(24))
        print(f"{name:28s} " + " ".join(cells))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
