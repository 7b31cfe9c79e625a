"""Per-gradient cost of the MCMC log density: hand-written kernel against automatic
differentiation, per backend, on one core.

    python benchmarks/bench_gradient.py                   # laminar 8 x 200², both backends
    python benchmarks/bench_gradient.py --cases laminar,reduced --out grad.json
    python benchmarks/bench_gradient.py --precisions float64,float32 --out grad.json
    python benchmarks/bench_gradient.py --rst grad.json   # the docs table of a result

Gradients: ``kernel`` (PyMC: the Numba kernel; NumPyro: its XLA form,
homodyne.bayes.gradient_xla), ``numba`` (NumPyro: the Numba kernel through a host
callback), ``autodiff``; ``--precisions`` adds float32 rows of the XLA kernel.

Each (case, backend, gradient) runs in a fresh interpreter pinned to one core (JAX with
one intra-op thread, PyTensor with one BLAS thread). It builds the backend's own model of
the case's posterior (``build_pymc_model``, ``numpyro_model``) and times one evaluation
of the log density together with its gradient at the starting point, as NUTS calls it:
the CPU time of a batch of calls divided by its size, minimum over repeats. For JAX it
also records XLA's cost analysis of the compiled value-and-gradient (flops, bytes
accessed, and the time those bytes take at the measured copy bandwidth; the Numba
kernel's work runs in a host callback that XLA does not count, so for it its own counts
are given: the data it reads per pass and its flops per value), and the memory-bandwidth floor: bytes read per gradient over the bandwidth of a large
NumPy copy on this machine. ``uptime`` is recorded with the numbers: on a shared host
CPU times vary by up to 2x.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from bench_mcmc import CASES

#: Floating-point operations per (pair, angle) of the kernel's value-and-gradient loop,
#: counted from its source (reduction and polynomials of sin and cos, sinc², derivative,
#: residual, accumulations); the exponential is per pair, not per angle.
KERNEL_FLOPS_PER_VALUE = 34


def _problem(case: str):
    import numpy as np

    from homodyne.model import MODES, c2_matrix
    from homodyne.parameters import default_parameters
    from homodyne.problem import Problem

    c = CASES[case]
    rng = np.random.default_rng(2024)
    phi = np.asarray(c["phi"], dtype=float)
    A, n = phi.size, c["n"]
    t = c["dt"] * np.arange(1, n + 1)
    contrast, offset = np.linspace(0.25, 0.35, A), np.linspace(0.98, 1.02, A)
    p = [c["truth"][k] for k in MODES[c["mode"]]]
    c2 = c2_matrix(p, t, phi, 0.0054, 2.0e6, contrast, offset, c["mode"])
    iu, ju = np.triu_indices(n)
    for a in range(A):
        c2[a, iu, ju] += rng.normal(0.0, c["noise"], iu.size)
        c2[a, ju, iu] = c2[a, iu, ju]
    problem = Problem.from_arrays(c2, t, phi, 0.0054, default_parameters(c["mode"]), gap=2.0e6)
    mc = c["mcmc"]
    return problem.reduced(mc.get("frame_stride", 1), mc.get("max_lag"))


def _time(fn, x, batch: int, repeats: int) -> float:
    fn(x)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.process_time()
        for _ in range(batch):
            fn(x)
        best = min(best, (time.process_time() - t0) / batch)
    return best


def _bandwidth() -> float:
    """Bytes per second of a large NumPy copy (read + write counted)."""
    import numpy as np

    a = np.ones(2**25)  # 256 MiB
    b = np.empty_like(a)
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        np.copyto(b, a)
        best = min(best, time.perf_counter() - t0)
    return 2 * a.nbytes / best


def one(case: str, backend: str, gradient: str, precision: str, batch: int, repeats: int) -> dict:
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    import numpy as np

    from homodyne.bayes.gradient import uses_kernel
    from homodyne.bayes.posterior import build_posterior_spec

    problem = _problem(case)
    spec = build_posterior_spec(problem, None)
    z0 = np.zeros(spec.k)
    row = {"case": case, "backend": backend, "gradient": gradient, "n_values": problem.n_data}
    row["kernel"] = uses_kernel(problem.mode, "numba" if gradient == "numba" else gradient)
    if backend == "pymc":
        import pytensor
        from threadpoolctl import threadpool_limits

        from homodyne.optimization.mcmc_cpu_backend import _pytensor_mode, build_pymc_model

        mode = _pytensor_mode(None, problem.n_data)
        model = build_pymc_model(spec, gradient)
        value_var = model.rvs_to_values[model["z"]]
        lp = model.logp()
        fn = pytensor.function(
            [value_var],
            [lp, pytensor.grad(lp, value_var)],
            mode={"c": "FAST_RUN", "numba": "NUMBA"}[mode],
        )
        row["pytensor_mode"] = mode
        with threadpool_limits(limits=1):
            row["gradient_ms"] = 1e3 * _time(fn, z0, batch, repeats)
    else:
        os.environ["XLA_FLAGS"] = (
            "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1 "
            + os.environ.get("XLA_FLAGS", "")
        )
        from homodyne.optimization.mcmc_gpu_backend import _model_args, numpyro_model
        from homodyne.runtime.gpu import configure_jax

        configure_jax()
        import jax
        import jax.numpy as jnp
        from numpyro.infer.util import log_density

        from homodyne.bayes.gradient_xla import numpyro_gradient

        row["jax_gradient"] = numpyro_gradient(problem.mode, gradient, False, precision)
        row["precision"] = precision
        row["kernel"] = row["jax_gradient"] != "autodiff"
        model = numpyro_model(spec, gradient, precision)
        args = _model_args(spec, precision)

        def f(z):
            return log_density(model, args, {}, {"z": z})[0]

        vg = jax.jit(jax.value_and_grad(f))
        zj = jnp.asarray(z0)
        compiled = vg.lower(zj).compile()
        cost = compiled.cost_analysis()
        cost = cost[0] if isinstance(cost, list) else cost
        row["xla_flops"] = float(cost.get("flops", float("nan")))
        row["xla_bytes_accessed"] = float(cost.get("bytes accessed", float("nan")))

        def call(z):
            return vg(z)[1].block_until_ready()

        row["gradient_ms"] = 1e3 * _time(call, zj, batch, repeats)
    # What one gradient must read at least: the data, the pair indices, t (one pass).
    A, m = problem.data.shape
    row["min_bytes"] = 8 * (A * m + 2 * m + problem.t.size)
    if row["kernel"] and row.get("jax_gradient", "numba") == "numba":  # XLA does not see it
        row["kernel_flops"] = KERNEL_FLOPS_PER_VALUE * A * m
    return row


def rst_table(doc: dict) -> str:
    """The rows of a previous ``--out`` as a reStructuredText list-table (docs/mcmc.rst)."""
    lines = [
        f"Measured {doc['date']} ({doc['uptime'].split('load average:')[-1].strip()} load"
        f" average), copy bandwidth {doc['copy_bandwidth_GBps']:.1f} GB/s.",
        "",
        ".. list-table::",
        "   :header-rows: 1",
        "",
        "   * - backend",
        "     - gradient",
        "     - ms per gradient (one core, CPU time)",
        "     - XLA cost analysis (flops, bytes accessed)",
        "     - time of those bytes at copy bandwidth",
        "     - floor: one pass over data and indices",
    ]
    names = {"xla": "kernel (XLA)", "numba": "kernel (Numba, host callback)"}
    for r in doc["rows"]:
        grad = names.get(r.get("jax_gradient"), r["gradient"])
        if r["backend"] == "pymc" and r["kernel"]:
            grad = "kernel (Numba)"
        if r.get("precision", "float64") != "float64":
            grad += f", {r['precision']}"
        backend = (
            f"PyMC (PyTensor {r['pytensor_mode']})"
            if r["backend"] == "pymc"
            else "NumPyro (JAX CPU)"
        )
        xla = (
            f"{r['xla_flops'] / 1e6:.1f} Mflop, {r['xla_bytes_accessed'] / 1e6:.1f} MB"
            if "xla_flops" in r
            else "—"
        )
        bytes_t = f"{r['xla_bytes_time_us']:.0f} µs" if "xla_bytes_time_us" in r else "—"
        lines += [
            f"   * - {backend}",
            f"     - {grad}",
            f"     - {r['gradient_ms']:.2f}",
            f"     - {xla}",
            f"     - {bytes_t}",
            f"     - {r['bandwidth_floor_us']:.0f} µs",
        ]
    return "\n".join(lines) + "\n"


def _run_one(a: argparse.Namespace, case: str, backend: str, gradient: str, precision: str):
    """One row in a fresh interpreter (its JSON), or None after printing its error."""
    cmd = [sys.executable, __file__, "--batch", str(a.batch), "--repeats", str(a.repeats)]
    proc = subprocess.run(
        [*cmd, "--one", case, backend, gradient, precision],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        print(proc.stderr[-3000:], file=sys.stderr)
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", default="laminar")
    ap.add_argument("--backends", default="pymc,numpyro")
    ap.add_argument("--gradients", default="kernel,numba,autodiff")
    ap.add_argument("--precisions", default="float64", help="NumPyro rows: float64,float32")
    ap.add_argument("--batch", type=int, default=50)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--out")
    ap.add_argument("--rst", metavar="JSON", help="print a previous --out as an RST table")
    ap.add_argument("--one", nargs=4, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.one:
        print(json.dumps(one(*a.one, a.batch, a.repeats)))
        return 0
    if a.rst:
        with open(a.rst, encoding="utf-8") as fh:
            print(rst_table(json.load(fh)), end="")
        return 0
    bw = _bandwidth()
    rows = []
    for case in a.cases.split(","):
        for backend in a.backends.split(","):
            for gradient in a.gradients.split(","):
                precisions = a.precisions.split(",") if backend == "numpyro" else ["float64"]
                if backend == "pymc" and gradient == "numba":
                    continue  # the PyMC backend's kernel is the Numba one
                for precision in precisions:
                    if precision != "float64" and gradient != "kernel":
                        continue  # float32 is evaluated by the XLA kernel only
                    row = _run_one(a, case, backend, gradient, precision)
                    if row is None:
                        return 1
                    row["bandwidth_floor_us"] = 1e6 * row["min_bytes"] / bw
                    if "xla_bytes_accessed" in row:  # XLA's own traffic at copy bandwidth
                        row["xla_bytes_time_us"] = 1e6 * row["xla_bytes_accessed"] / bw
                    rows.append(row)
                    extra = ""
                    if "xla_flops" in row:
                        extra = f", XLA {row['xla_flops'] / 1e6:.1f} Mflop, {row['xla_bytes_accessed'] / 1e6:.1f} MB"
                    print(
                        f"{case:8s} {backend:8s} {gradient:9s} {precision} {row['gradient_ms']:7.3f} ms"
                        f" per gradient ({row['n_values']} values; floor"
                        f" {row['bandwidth_floor_us']:.0f} us{extra})",
                        flush=True,
                    )
    doc = {
        "machine": f"{platform.machine()}, {os.cpu_count()} logical cores",
        "uptime": subprocess.run(
            ["uptime"], capture_output=True, text=True, check=False
        ).stdout.strip(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "copy_bandwidth_GBps": bw / 1e9,
        "rows": rows,
    }
    if a.out:
        with open(a.out, "w") as fh:
            json.dump(doc, fh, indent=1)
    print(doc["uptime"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
