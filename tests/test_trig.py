"""The polynomial sine used by the JAX namespace: accuracy and derivative."""

from __future__ import annotations

import numpy as np
import pytest

from homodyne import trig


@pytest.mark.parametrize("scale", [1e-6, 1e-2, 1.0, 30.0, 1e3, 1e5])
def test_polynomial_sine_matches_the_c_library(scale: float) -> None:
    x = np.random.default_rng(7).normal(size=200_000) * scale
    x = np.concatenate([x, [0.0, -0.0, np.pi / 4, np.pi / 2, np.pi, 3 * np.pi / 2, 1e6]])
    got = trig.polynomial_sin(x, np)
    want = np.sin(x)
    np.testing.assert_allclose(got, want, rtol=0, atol=4.5e-16)
    tiny = np.abs(x) < 1.0
    np.testing.assert_allclose(got[tiny], want[tiny], rtol=5e-16, atol=0)


def test_numpy_and_other_namespaces_keep_their_own_sine() -> None:
    x = np.linspace(-50.0, 50.0, 1001)
    np.testing.assert_array_equal(trig.sin(x, np), np.sin(x))


def test_jax_sine_and_its_derivative() -> None:
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    x = jnp.asarray(np.random.default_rng(3).normal(size=5000) * 40.0)
    np.testing.assert_allclose(np.asarray(trig.sin(x, jnp)), np.sin(np.asarray(x)), atol=4.5e-16)
    grad = jax.vmap(jax.grad(lambda v: trig.sin(v, jnp)))(x)
    np.testing.assert_allclose(np.asarray(grad), np.cos(np.asarray(x)), rtol=0, atol=2e-15)
