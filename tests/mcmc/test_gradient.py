"""The hand-written gradient of the laminar log-likelihood (homodyne.bayes.gradient):
values and derivatives against the model and automatic differentiation, selection,
and its registration in each backend (in fresh interpreters, one stack each)."""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from homodyne.bayes import gradient as kg
from homodyne.errors import ConfigError
from homodyne.model import c2_pairs

from .conftest import HAVE_NUMPYRO, HAVE_PYMC, STACK_MODULES, run_python

sys.path.insert(0, str(Path(__file__).parent))
import _gradient_worker as gw

needs_numba = pytest.mark.skipif(not kg.kernel_available(), reason="Numba not installed")
CASE_IDS = [c[0] for c in gw.CASES]


def _inputs(case: tuple) -> tuple:
    t, phi, iu, ju, data, sigma, theta = gw.problem(case)
    A = phi.size
    p = list(theta[:7])
    F, G, th = kg.frame_terms(p, t, phi, gw.Q, gw.GAP, np)
    contrast, offset = theta[7 : 7 + A], theta[7 + A : 7 + 2 * A]
    weight = 1.0 / (theta[-1] * sigma) ** 2
    return p, t, phi, iu, ju, data, F, G, th, contrast, offset, weight


@needs_numba
@pytest.mark.parametrize("case", gw.CASES, ids=CASE_IDS)
def test_kernel_g1_squared_equals_the_model(case: tuple) -> None:
    """With the model's own c2 (contrast 1, offset 0) as data, every residual is the
    difference of the kernel's g1² from homodyne.model's: within ADDITION_TOLERANCE
    (sin and cos from the addition theorems) plus 1e-15 in absolute terms, Taylor branch
    and negative-rate windows included (max |r| <= sqrt(Σ r²))."""
    p, t, phi, iu, ju, _data, F, G, th, *_ = _inputs(case)
    A = phi.size
    ones, zeros = np.ones(A), np.zeros(A)
    g1sq = c2_pairs(p, t, phi, gw.Q, gw.GAP, iu, ju, ones, zeros, "laminar_flow")
    worst = 0.0
    for k in range(iu.size):  # one pair at a time: sqrt(ss_a) is then |Δg1²| of the pair
        sl = slice(k, k + 1)
        _v, ss = kg.laminar_sums(F, G, th, ones, zeros, ones, g1sq[:, sl], iu[sl], ju[sl], gw.Q**2)
        worst = max(worst, float(np.sqrt(ss.max())))
    assert worst <= kg.ADDITION_TOLERANCE + 1e-15, worst
    # and away from the data: the weighted sums equal the model's residual sums
    _p, _t, _phi, _iu, _ju, data, _F, _G, _th, contrast, offset, weight = _inputs(case)
    mu = c2_pairs(p, t, phi, gw.Q, gw.GAP, iu, ju, contrast, offset, "laminar_flow")
    ref = np.sum((data - mu) ** 2, axis=1)
    value, ss = kg.laminar_sums(F, G, th, contrast, offset, weight, data, iu, ju, gw.Q**2)
    np.testing.assert_allclose(ss, ref, rtol=1e-13)
    assert value == pytest.approx(float(weight @ ref), rel=1e-13)


def _addition_threshold(theta: np.ndarray, G: np.ndarray) -> np.ndarray:
    """Per angle, the |x| below which the kernel takes sin and cos of x itself: where
    2 u (2Θ + 13) / |x| (u = 2^-53, Θ = |θ| max |G|) exceeds ADDITION_TOLERANCE."""
    big_theta = np.abs(theta) * np.abs(G).max()
    return 2.0 * 2.0**-53 * (2.0 * big_theta + 13.0) / kg.ADDITION_TOLERANCE


def test_the_strong_shear_case_takes_both_forms_of_the_sine() -> None:
    """The strong-shear case has pairs on both sides of the kernel's threshold, so the
    per-pair test above checks the addition form and the fallback."""
    from homodyne.model import _SERIES_X

    case = next(c for c in gw.CASES if c[0] == "strong shear, strain plateau")
    _p, _t, _phi, iu, ju, _data, _F, G, th, *_ = _inputs(case)
    ax = np.abs(th[:, None] * (G[ju] - G[iu])[None, :])
    limit = _addition_threshold(th, G)[:, None]
    fallback = (ax >= _SERIES_X) & (ax < limit)
    assert 0.01 < fallback.mean() < 0.5 and (ax >= limit).mean() > 0.5, fallback.mean()


@needs_numba
def test_pairs_the_addition_theorems_would_get_wrong_take_the_sine_of_x() -> None:
    """Frames with large, nearly equal strains (θ G ~ 1e4, x = θ ΔG from 0.02 to 1; θ is
    not a power of 2, so θ G_j and θ G_i are rounded): sin x
    from the addition theorems misses the model's sinc² by far more than
    ADDITION_TOLERANCE there, and the kernel, which falls back to sin and cos of x for
    these pairs, agrees with the model to 1e-15."""
    from homodyne.model import sinc_squared, triangle_indices

    n = 50
    G = 1.0e4 + 0.02 * np.arange(n)
    theta = np.array([1.2345678])
    iu, ju = triangle_indices(n, None)
    x = theta[:, None] * (G[ju] - G[iu])[None, :]
    assert np.all(np.abs(x) < _addition_threshold(theta, G)[:, None])
    b, c = theta[0] * G[ju], theta[0] * G[iu]
    by_addition = ((np.sin(b) * np.cos(c) - np.cos(b) * np.sin(c)) / x[0]) ** 2
    want = sinc_squared(x[0], np)
    assert np.abs(by_addition - want).max() > 100 * kg.ADDITION_TOLERANCE
    F = np.zeros(n)  # E = 1: the residual is the sinc² difference
    one, zero = np.ones(1), np.zeros(1)
    for k in range(iu.size):
        sl = slice(k, k + 1)
        _v, ss = kg.laminar_sums(F, G, theta, one, zero, one, want[None, sl], iu[sl], ju[sl], 1.0)
        assert np.sqrt(ss[0]) <= 1e-15, (k, np.sqrt(ss[0]))


@needs_numba
@pytest.mark.parametrize("case", gw.CASES, ids=CASE_IDS)
def test_kernel_gradient_matches_finite_differences(case: tuple) -> None:
    """Directional derivatives along each input block (F, G, θ, contrast, offset,
    weight) against fourth-order central differences of the value."""
    _p, _t, _phi, iu, ju, data, *x = _inputs(case)
    out = kg.laminar_sums_and_gradient(*x[:5], x[5], data, iu, ju, gw.Q**2)
    value_only, ss = kg.laminar_sums(*x, data, iu, ju, gw.Q**2)
    assert out[0] == value_only
    np.testing.assert_array_equal(out[1], ss)
    grads = [out[2], out[3], out[4], out[5], out[6], out[1]]
    rng = np.random.default_rng(0)
    for k, (v, g) in enumerate(zip(x, grads, strict=True)):
        d = rng.normal(size=v.shape) * (np.abs(v) + 1e-3)
        h = 1e-6 if k != 1 else 3e-8  # G enters multiplied by θ (up to ~1e4)

        def at(s: float, k: int = k, d: np.ndarray = d) -> float:
            y = list(x)
            y[k] = x[k] + s * d
            return kg.laminar_sums(*y, data, iu, ju, gw.Q**2)[0]

        fd = (8 * (at(h) - at(-h)) - (at(2 * h) - at(-2 * h))) / (12 * h)
        assert float(g @ d) == pytest.approx(fd, rel=1e-6, abs=1e-9 * abs(out[0])), k


def test_selection_and_its_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    assert kg.uses_kernel("laminar_flow") == kg.kernel_available()
    assert not kg.uses_kernel("static_anisotropic")
    assert not kg.uses_kernel("laminar_flow", platform_ok=False)  # a GPU keeps autodiff
    assert not kg.uses_kernel("laminar_flow", "autodiff")
    monkeypatch.setenv("HOMODYNE_MCMC_GRADIENT", "autodiff")  # read by the command only
    assert kg.uses_kernel("laminar_flow") == kg.kernel_available()
    with pytest.raises(ConfigError, match=r"mcmc\.gradient must be one of auto"):
        kg.uses_kernel("laminar_flow", "fast")
    with pytest.raises(ConfigError, match="laminar_flow mode only"):
        kg.uses_kernel("static_isotropic", "kernel")
    with pytest.raises(ConfigError, match="CPU platform only"):
        kg.uses_kernel("laminar_flow", "kernel", platform_ok=False)
    with pytest.raises(ValueError, match="unknown mode"):
        kg.uses_kernel("turbulent")


@functools.lru_cache(maxsize=2)  # one fresh interpreter per stack serves both tests
def _worker(stack: str) -> dict:
    hidden = STACK_MODULES[:2] if stack == "jax" else STACK_MODULES[2:]
    code = f"""
import runpy, sys, json, io, contextlib
buf = io.StringIO()
sys.argv = ["_gradient_worker.py", {stack!r}]
worker = runpy.run_path({str(Path(__file__).parent / "_gradient_worker.py")!r})
with contextlib.redirect_stdout(buf):
    worker["main"]()
out = json.loads(buf.getvalue())
out["loaded"] = sorted(m for m in sys.modules if m.split(".")[0] in {hidden!r})
print(json.dumps(out))
"""
    proc = run_python(code)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _close(kernel: list, autodiff: list) -> None:
    # the log-likelihood (~35 here) is a sum of terms of ~1e4 and of both signs, so a few
    # ulp of those terms are ~1e-12 of the value
    assert kernel[0] == pytest.approx(autodiff[0], rel=1e-11)
    gk, ga = np.asarray(kernel[1]), np.asarray(autodiff[1])
    np.testing.assert_allclose(gk, ga, rtol=1e-10, atol=1e-10 * np.abs(ga).max())


@pytest.mark.skipif(
    not (HAVE_NUMPYRO and kg.kernel_available()), reason="JAX/NumPyro or Numba missing"
)
def test_jax_custom_vjp_equals_jax_grad_of_the_model() -> None:
    out = _worker("jax")
    assert out["loaded"] == [], "the JAX registration loaded PyTensor or PyMC"
    for name in CASE_IDS:
        res = out[name]
        _close(res["kernel"], res["autodiff"])
        # vmap (vectorised chains): one kernel call per chain, same values
        (v0, v1), g = res["vmap"]
        assert v0 == pytest.approx(res["kernel"][0], rel=1e-11)
        assert v1 == pytest.approx(res["vmap_ref"][0], rel=1e-11)
        np.testing.assert_allclose(g[0], res["kernel"][1], rtol=1e-10)


@pytest.mark.skipif(not HAVE_PYMC, reason="PyMC/PyTensor missing")
def test_pytensor_op_equals_pytensor_grad_of_the_model() -> None:
    out = _worker("pytensor")
    assert out["loaded"] == [], "the PyTensor registration loaded JAX or NumPyro"
    for name in CASE_IDS:
        res = out[name]
        for mode in ("FAST_RUN", "NUMBA"):
            value, grad, n_ops = res[f"kernel_{mode}"]
            _close([value, grad], res["autodiff"])
            # the value and the gradient come from one application of the Op
            assert n_ops == 1, (name, mode, n_ops)


@pytest.mark.skipif(not HAVE_NUMPYRO, reason="JAX/NumPyro missing")
def test_xla_kernel_equals_jax_grad_and_finite_differences() -> None:
    """The XLA form of the kernel (homodyne.bayes.gradient_xla, registered as a
    jax.custom_vjp without a host callback): value and gradient equal jax.grad of the
    model, its gradient matches central differences of its own value, vmap over chains
    gives each chain's value; float32 per-pair terms with float64 sums stay within the
    single-precision error of the value (a few 1e-6 relative of the sums here)."""
    out = _worker("jax")
    assert out["loaded"] == [], "the JAX registration loaded PyTensor or PyMC"
    for name in CASE_IDS:
        res = out[name]
        _close(res["xla"], res["autodiff"])
        for analytic, fd in res["xla_fd"]:
            assert analytic == pytest.approx(fd, rel=1e-6, abs=1e-8 * abs(res["xla"][0])), name
        (v0, v1), g = res["xla_vmap"]
        assert v0 == pytest.approx(res["xla"][0], rel=1e-11)
        assert v1 == pytest.approx(res["vmap_ref"][0], rel=1e-11)
        np.testing.assert_allclose(g[0], res["xla"][1], rtol=1e-10)
        v32, g32 = res["xla_float32"]
        v64, g64 = res["xla"]
        assert v32 != v64  # really evaluated in single precision
        assert v32 == pytest.approx(v64, rel=1e-4, abs=1e-2), name
        g32, g64 = np.asarray(g32), np.asarray(g64)
        assert np.max(np.abs(g32 - g64)) <= 1e-2 * np.max(np.abs(g64)), name


def test_kernel_fingerprint_follows_its_code_and_constants() -> None:
    """The salt of PyTensor's disk-cache key changes with the kernel's code and with the
    module constants Numba compiles into it, and is stable otherwise."""
    import types

    base = kg.kernel_fingerprint()
    assert base == kg.kernel_fingerprint() and isinstance(base, int)
    code = kg._kernel_py.__code__
    tweaked = types.FunctionType(code.replace(co_consts=(*code.co_consts, 0.5)), kg.__dict__)
    assert kg.kernel_fingerprint(tweaked) != base
    other_globals = {**kg.__dict__, "_SERIES_X": 2e-2}
    assert kg.kernel_fingerprint(types.FunctionType(code, other_globals)) != base
    other_tolerance = {**kg.__dict__, "_ADDITION_SCALE": 2.0 * kg._ADDITION_SCALE}
    assert kg.kernel_fingerprint(types.FunctionType(code, other_tolerance)) != base


@pytest.mark.skipif(not (HAVE_PYMC and kg.kernel_available()), reason="PyTensor or Numba missing")
def test_pytensor_cache_key_of_the_kernel_op_carries_the_fingerprint() -> None:
    """PyTensor keys its on-disk Numba cache by the Op's type and props: with the kernel's
    fingerprint in the key, a new kernel is never read from an old cache entry."""
    code = """
import json
from homodyne.bayes import gradient as kg
from homodyne.optimization import pytensor_gradient as pg
from pytensor.link.numba.dispatch.basic import numba_funcify_and_cache_key
op = pg.LaminarSums(0.0054 ** 2)
_fn, key = numba_funcify_and_cache_key(op)
pg.kernel_fingerprint = lambda: kg.kernel_fingerprint() + 1  # as a changed kernel would
_fn, key2 = numba_funcify_and_cache_key(op)
print(json.dumps({"key": key, "key2": key2}))
"""
    proc = run_python(code)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["key"] and out["key2"] and out["key"] != out["key2"]


@pytest.mark.skipif(not HAVE_NUMPYRO, reason="JAX/NumPyro missing")
def test_xla_kernel_in_chunks_equals_one_pass_and_bounds_its_memory() -> None:
    """A stack larger than the kernel's chunk is summed chunk by chunk (a lax.scan over
    equal chunks plus the remainder): value and gradient equal the single pass to 1e-12,
    vectorised chains too, and XLA's temporary buffers shrink with the chunk."""
    code = f"""
import json, sys
sys.path.insert(0, {str(Path(__file__).parent)!r})
from homodyne.runtime.gpu import configure_jax
configure_jax()
import jax, jax.numpy as jnp, numpy as np
import _gradient_worker as gw
from homodyne.bayes import gradient as kg
from homodyne.optimization.jax_gradient import xla_weighted_sums_function
case = ("big", [1324.1, -0.014, -0.674, 0.003, -0.909, 0.0, 0.0], (-8.5, 1.9, 176.8), 300, 0.1, None)
t, phi, iu, ju, data, sigma, theta = gw.problem(case)
A, m = data.shape
F, G, th = kg.frame_terms(list(theta[:7]), t, phi, gw.Q, gw.GAP, np)
x = [jnp.asarray(v) for v in (F, G, th, theta[7:7 + A], theta[7 + A:7 + 2 * A],
                              1.0 / (theta[-1] * sigma) ** 2)]
d = jnp.asarray(data)
def vg(chunk_values):
    ws = xla_weighted_sums_function(gw.Q ** 2, iu, ju, t.size, chunk_values=chunk_values)
    return jax.jit(jax.value_and_grad(lambda *a: ws(*a, d), argnums=tuple(range(6))))
one = vg(None)
out = {{"m": m, "cases": {{}}}}
ref = one(*x)
for name, cv in [("remainder", 3 * 10000), ("exact", 3 * (m // 5)), ("tiny", 3 * 997)]:
    f = vg(cv)
    got = f(*x)
    err = max(float(jnp.max(jnp.abs(a - b)) / (jnp.max(jnp.abs(b)) + 1e-300))
              for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(ref)))
    mem = f.lower(*x).compile().memory_analysis().temp_size_in_bytes
    out["cases"][name] = {{"err": err, "temp": int(mem)}}
out["temp_one"] = int(one.lower(*x).compile().memory_analysis().temp_size_in_bytes)
# vectorised chains: two parameter sets at once equal two single calls
f = vg(3 * 10000)
x2 = [jnp.stack([v, v * (1 + 1e-3)]) for v in x]
batched = jax.vmap(f)(*x2)
single = f(*[v[1] for v in x2])
out["vmap_err"] = max(float(jnp.max(jnp.abs(a[1] - b)) / (jnp.max(jnp.abs(b)) + 1e-300))
                      for a, b in zip(jax.tree.leaves(batched), jax.tree.leaves(single)))
print(json.dumps(out))
"""
    proc = run_python(code)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["m"] % 10000 and out["m"] % 5 == 0  # a remainder in one case, none in the other
    for name, case in out["cases"].items():
        assert case["err"] < 1e-12, (name, case)
    assert out["vmap_err"] < 1e-12
    assert out["cases"]["remainder"]["temp"] < out["temp_one"] / 2, out
    assert out["cases"]["tiny"]["temp"] < out["cases"]["remainder"]["temp"], out


def test_xla_kernel_chunk_must_be_positive() -> None:
    pytest.importorskip("jax")
    code = """
from homodyne.runtime.gpu import configure_jax
configure_jax()
import numpy as np
from homodyne.optimization.jax_gradient import xla_weighted_sums_function
try:
    xla_weighted_sums_function(1.0, np.array([0]), np.array([1]), 2, chunk_values=0)
except ValueError as exc:
    print("refused:", exc)
"""
    proc = run_python(code)
    assert "refused: chunk_values must be positive" in proc.stdout, proc.stderr[-2000:]


@needs_numba
def test_kernel_machine_code_is_cached_where_the_installation_is_read_only(tmp_path) -> None:
    """A read-only installation (a shared conda environment, an HPC module) cannot hold
    Numba's cache beside the source; the kernel's machine code then goes to the user's
    cache folder and the next process loads it instead of compiling again. Numba is told
    to use only its user-wide locator, as it does when the source folder is not writable
    (a test running as root cannot make a folder unwritable)."""
    code = """
import json
import numpy as np
from homodyne.bayes import gradient as kg
k = kg.compiled_kernel()
n = 6
iu, ju = np.triu_indices(n, 1)
data = np.ones((1, iu.size))
out = kg.laminar_sums(np.linspace(0, 1, n), np.linspace(0, 2, n), np.ones(1), np.ones(1) * 0.3,
                      np.ones(1), np.ones(1), data, iu, ju, 1.0)
print(json.dumps({"path": k._cache._cache_path, "hits": sum(k.stats.cache_hits.values()),
                  "misses": sum(k.stats.cache_misses.values())}))
"""
    env = {"NUMBA_CACHE_LOCATOR_CLASSES": "UserWideCacheLocator", "XDG_CACHE_HOME": str(tmp_path)}
    runs = []
    for _ in range(2):
        proc = run_python(code, env=env, timeout=300)
        assert proc.returncode == 0, proc.stderr[-3000:]
        runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    assert runs[0]["path"].startswith(str(tmp_path / "numba"))
    assert (runs[0]["hits"], runs[0]["misses"]) == (0, 1)  # compiled, then written
    assert any(p.suffix == ".nbi" for p in (tmp_path / "numba").rglob("*"))
    assert (runs[1]["hits"], runs[1]["misses"]) == (1, 0)  # loaded from the user's cache
