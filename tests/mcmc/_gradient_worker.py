"""Log-likelihood and gradient of the laminar model, hand-written kernel against automatic
differentiation, in one backend's stack (run in a fresh interpreter by test_gradient.py).

    python _gradient_worker.py jax|pytensor   -> JSON on stdout
"""

from __future__ import annotations

import json
import sys

import numpy as np

from homodyne.bayes.gradient import kernel_log_likelihood
from homodyne.bayes.posterior import gaussian_log_likelihood
from homodyne.model import c2_pairs, triangle_indices

Q, GAP = 0.0054, 2.0e6

#: (name, parameters in MODES order, angles, frames, dt, max_lag)
CASES = [
    # the laminar benchmark's physics on a smaller window
    (
        "realistic",
        [1324.1, -0.014, -0.674, 0.003, -0.909, 0.0, 0.0],
        (-8.5, 1.9, 176.8),
        40,
        0.1,
        None,
    ),
    # J(t) and gdot(t) change sign inside the window: F is not monotonic (one exponential
    # per pair), strain increments of both signs
    (
        "negative rates",
        [800.0, 0.4, -900.0, 0.02, 0.5, -0.03, 4.0],
        (-4.0, 30.0, 95.0),
        36,
        0.1,
        None,
    ),
    # an angle perpendicular to the flow (θ = 0 exactly at φ0 + 90) and one within 1e-6
    # degrees of it: every x below the Taylor threshold; a third angle crosses it
    (
        "x near 0",
        [5000.0, -0.1, 10.0, 0.001, -0.5, 1e-4, 3.0],
        (93.0, 93.000001, 60.0),
        30,
        0.2,
        None,
    ),
    # a reduced problem: pairs up to a maximal lag, angles sharing one sinc² (φ, φ + 180)
    (
        "max lag, shared angles",
        [2000.0, -0.2, 5.0, 0.005, -0.7, 1e-3, -2.0],
        (0.0, 180.0, 45.0),
        50,
        0.1,
        7,
    ),
    # strong shear whose rate crosses zero near the end of the window: θ·G reaches ~7e3
    # while late pairs differ in x by ~1e-2 to 1, so the kernel takes sin and cos from the
    # addition theorems for most pairs and from x itself for the others
    (
        "strong shear, strain plateau",
        [1500.0, -0.3, 2.0, -1.0, -0.5, 0.5, 10.0],
        (-5.0, 40.0, 100.0),
        40,
        0.1,
        None,
    ),
]


def problem(case):
    _name, p, phi, n, dt, max_lag = case
    t = dt * np.arange(1, n + 1)
    phi = np.asarray(phi, dtype=float)
    iu, ju = triangle_indices(n, max_lag)
    A = phi.size
    contrast = np.linspace(0.2, 0.3, A)
    offset = np.linspace(0.99, 1.01, A)
    rng = np.random.default_rng(5)
    c2 = c2_pairs(p, t, phi, Q, GAP, iu, ju, contrast, offset, "laminar_flow")
    data = c2 + rng.normal(0.0, 0.01, c2.shape)
    sigma = np.full(A, 0.01)
    # a point away from the truth, so that residuals and gradients are not ~0
    theta = np.concatenate([np.asarray(p) * 1.01 + 1e-4, contrast * 0.97, offset + 1e-3, [1.05]])
    return t, phi, iu, ju, data, sigma, theta


class Spec:
    """The two attributes of a PosteriorSpec that kernel_log_likelihood reads."""

    def __init__(self, t, phi, iu, ju, data):
        self.problem = type("P", (), {"phi": phi, "q": Q, "gap": GAP, "data": data, "t": t})()
        self.scaling_index = np.arange(phi.size)


def evaluate(stack: str, case: tuple) -> dict:
    """Value and gradient of both forms of the log-likelihood for one case."""
    t, phi, iu, ju, data, sigma, theta0 = problem(case)
    A = phi.size
    spec = Spec(t, phi, iu, ju, data)

    def split(th, xp):
        params = [th[k] for k in range(7)]
        return params, th[7 : 7 + A], th[7 + A : 7 + 2 * A], th[7 + 2 * A]

    if stack == "jax":
        from homodyne.runtime.gpu import configure_jax

        configure_jax()
        import jax
        import jax.numpy as jnp

        from homodyne.optimization.jax_gradient import weighted_sums_function
        from homodyne.optimization.mcmc_gpu_backend import jax_namespace

        xp = jax_namespace()
        sums = weighted_sums_function(Q * Q, data, iu, ju)

        def kernel(th):
            p, c, o, s = split(th, jnp)
            return kernel_log_likelihood(
                spec, p, c, o, jnp.asarray(sigma), s, jnp, sums, t=jnp.asarray(t)
            )

        def autodiff(th):
            p, c, o, s = split(th, jnp)
            mu = c2_pairs(p, jnp.asarray(t), phi, Q, GAP, iu, ju, c, o, "laminar_flow", xp)
            return gaussian_log_likelihood(jnp.asarray(data), mu, jnp.asarray(sigma), s, jnp)

        from homodyne.optimization.jax_gradient import xla_weighted_sums_function

        def xla(precision):
            fn = xla_weighted_sums_function(Q * Q, iu, ju, t.size, precision=precision)

            def loglik(th):
                p, c, o, s = split(th, jnp)
                return kernel_log_likelihood(
                    spec,
                    p,
                    c,
                    o,
                    jnp.asarray(sigma),
                    s,
                    jnp,
                    lambda *a: fn(*a, jnp.asarray(data)),
                    t=jnp.asarray(t),
                )

            return loglik

        res = {}
        fns = (("kernel", kernel), ("autodiff", autodiff), ("xla", xla("float64")))
        for name, fn in (*fns, ("xla_float32", xla("float32"))):
            v, g = jax.jit(jax.value_and_grad(fn))(jnp.asarray(theta0))
            res[name] = [float(v), np.asarray(g).tolist()]
        # central differences of the XLA kernel's log-likelihood along random directions
        rng = np.random.default_rng(1)
        f = jax.jit(xla("float64"))
        g = np.asarray(res["xla"][1])
        fd = []
        for _ in range(4):
            d = rng.normal(size=theta0.shape) * (np.abs(theta0) + 1e-4)
            h = 1e-7
            diff = (float(f(theta0 + h * d)) - float(f(theta0 - h * d))) / (2 * h)
            fd.append([float(g @ d), diff])
        res["xla_fd"] = fd
        bxla = jnp.stack([jnp.asarray(theta0), jnp.asarray(theta0) * 1.001])
        vx, gx = jax.jit(jax.vmap(jax.value_and_grad(xla("float64"))))(bxla)
        res["xla_vmap"] = [np.asarray(vx).tolist(), np.asarray(gx).tolist()]
        # vectorised chains call the kernel once per chain
        batch = jnp.stack([jnp.asarray(theta0), jnp.asarray(theta0) * 1.001])
        vb, gb = jax.jit(jax.vmap(jax.value_and_grad(kernel)))(batch)
        res["vmap"] = [np.asarray(vb).tolist(), np.asarray(gb).tolist()]
        res["vmap_ref"] = [float(jax.value_and_grad(autodiff)(batch[1])[0])]
    else:
        import pytensor
        import pytensor.tensor as pt

        from homodyne.optimization.pytensor_gradient import weighted_sums_function

        th = pt.dvector("theta")
        p, c, o, s = split(th, pt)
        sums = weighted_sums_function(Q * Q, pt.as_tensor(data), pt.as_tensor(iu), pt.as_tensor(ju))
        lk = kernel_log_likelihood(
            spec, p, c, o, pt.as_tensor(sigma), s, pt, sums, t=pt.as_tensor(t)
        )
        mu = c2_pairs(p, pt.as_tensor(t), phi, Q, GAP, iu, ju, c, o, "laminar_flow", pt)
        la = gaussian_log_likelihood(pt.as_tensor(data), mu, pt.as_tensor(sigma), s, pt)
        res = {}
        for mode in ("FAST_RUN", "NUMBA"):
            fk = pytensor.function([th], [lk, pytensor.grad(lk, th)], mode=mode)
            n_ops = sum(
                type(node.op).__name__ == "LaminarSums" for node in fk.maker.fgraph.apply_nodes
            )
            v, g = fk(theta0)
            res[f"kernel_{mode}"] = [float(v), np.asarray(g).tolist(), n_ops]
        fa = pytensor.function([th], [la, pytensor.grad(la, th)])
        v, g = fa(theta0)
        res["autodiff"] = [float(v), np.asarray(g).tolist()]
    return res


def main() -> int:
    out = {case[0]: evaluate(sys.argv[1], case) for case in CASES}
    json.dump(out, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
