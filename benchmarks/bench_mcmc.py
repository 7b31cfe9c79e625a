"""MCMC benchmark: wall time, ESS per second and peak memory of each backend.

    python benchmarks/bench_mcmc.py                      # all cases, both backends
    python benchmarks/bench_mcmc.py --cases static --backends pymc
    python benchmarks/bench_mcmc.py --out results.json   # also write the raw numbers
    python benchmarks/bench_mcmc.py --cases static,laminar --backends pymc --sampler nutpie \
        --out benchmarks/results/mcmc_cpu_nutpie.json   # nutpie on the PyMC model

Every (case, backend) pair runs in a fresh interpreter (so each backend loads only its own
stack and the peak memory is its own), routed by ``HOMODYNE_GPU_INTENT`` like the command
line. Data are simulated with :func:`homodyne.model.c2_matrix` plus Gaussian noise on the
upper triangle; each run starts from a classical fit (``init="classical"``, as under
``--method all``), whose time is reported separately.

Cases (issue 3):

``static``   static_anisotropic, 4 angles x 80 frames, 2 chains x (500 tune + 500 draws)
``laminar``  laminar_flow, 8 angles x 200 frames, 4 chains x (1000 + 1000)
``reduced``  laminar_flow, 23 angles x 1000 frames reduced with frame_stride=4, max_lag=25,
             4 chains x (500 + 500)
``full``     the same 23 x 1000² stack without reduction (1.1e7 values), 4 chains x
             (500 + 500): a GPU case (not in the default list). It starts from the
             classical fit of the reduced stack: a multistart fit of all 1.1e7 values
             takes many minutes on the host CPU and is not what this case measures.

``--sampler nutpie`` runs the PyMC backend with ``mcmc.sampler = "nutpie"`` (nutpie's
NUTS on the same model, :mod:`homodyne.optimization.nutpie_sampler`); it applies to the
``pymc`` backend only. ``--repeat N`` runs every pair N times; each result records the
process CPU time (user + system of the run and its workers) beside the wall time.

Each run prints its phases with elapsed times on stderr; ``HOMODYNE_BENCH_PROGRESS=1``
also shows the samplers' progress bars.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time

from homodyne.data.simulate import REALISTIC_PARAMS

#: The 23 angles x 1000 frames laminar-flow stack of the ``reduced`` and ``full`` cases.
STACK_23X1000 = {
    "mode": "laminar_flow",
    "truth": dict(REALISTIC_PARAMS),
    "phi": [round(-10.0 + i * 360.0 / 23, 3) for i in range(23)],
    "n": 1000,
    "dt": 0.1,
    "noise": 0.01,
}
CASES = {
    "static": {
        "mode": "static_anisotropic",
        "truth": {"D0": 1324.1, "alpha": -0.3, "D_offset": 20.0},
        "phi": [0.0, 45.0, 90.0, 135.0],
        "n": 80,
        "dt": 1.0,  # the correlation decays by e^-2 inside the window
        "noise": 0.01,
        "mcmc": {"chains": 2, "tune": 500, "draws": 500},
    },
    "laminar": {
        "mode": "laminar_flow",
        "truth": dict(REALISTIC_PARAMS),
        "phi": [-8.5, -3.2, 1.9, 7.4, 171.6, 176.8, 182.1, 187.3],
        "n": 200,
        "dt": 0.1,
        "noise": 0.01,
        "mcmc": {"chains": 4, "tune": 1000, "draws": 1000},
    },
    "reduced": {
        **STACK_23X1000,
        "mcmc": {"chains": 4, "tune": 500, "draws": 500, "frame_stride": 4, "max_lag": 25},
    },
    "full": {
        **STACK_23X1000,
        "mcmc": {"chains": 4, "tune": 500, "draws": 500},
        "fit_on": {"frame_stride": 4, "max_lag": 25},
    },
}
DEFAULT_CASES = ("static", "laminar", "reduced")
BACKENDS = {"pymc": "false", "numpyro": "true"}


def one(
    case: str,
    backend: str,
    out: str,
    sampler: str = "default",
    gradient: str = "auto",
    chain_method: str = "auto",
    jax_platform: str = "auto",
) -> None:
    """Run one case with one backend (in this fresh interpreter) and write its numbers."""
    os.environ["HOMODYNE_GPU_INTENT"] = BACKENDS[backend]
    import logging

    import numpy as np

    t_start = time.perf_counter()

    def phase(msg: str) -> None:
        print(f"[{case}/{backend} +{time.perf_counter() - t_start:6.1f}s] {msg}", file=sys.stderr)
        sys.stderr.flush()

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")

    from homodyne.model import MODES, c2_matrix
    from homodyne.optimization.backends import get_mcmc_backend
    from homodyne.optimization.classical import fit
    from homodyne.parameters import default_parameters
    from homodyne.problem import Problem

    c = CASES[case]
    rng = np.random.default_rng(2024)
    phi = np.asarray(c["phi"], dtype=float)
    A, n = phi.size, c["n"]
    t = c["dt"] * np.arange(1, n + 1)
    contrast, offset = np.linspace(0.25, 0.35, A), np.linspace(0.98, 1.02, A)
    c2 = c2_matrix(
        [c["truth"][k] for k in MODES[c["mode"]]],
        t,
        phi,
        0.0054,
        2.0e6,
        contrast,
        offset,
        c["mode"],
    )
    iu, ju = np.triu_indices(n)
    for a in range(A):
        c2[a, iu, ju] += rng.normal(0.0, c["noise"], iu.size)
        c2[a, ju, iu] = c2[a, iu, ju]
    problem = Problem.from_arrays(c2, t, phi, 0.0054, default_parameters(c["mode"]), gap=2.0e6)
    del c2
    settings = dict(c["mcmc"])
    settings["gradient"] = gradient
    if chain_method != "auto":
        settings["chain_method"] = chain_method
    if backend == "numpyro" and jax_platform != "auto":
        settings["platform"] = jax_platform
    if os.environ.get("HOMODYNE_BENCH_SMOKE"):  # a quick run of the pipeline, not a benchmark
        settings.update(chains=2, tune=20, draws=20)
    sampled = problem.reduced(settings.get("frame_stride", 1), settings.get("max_lag"))
    t0 = time.perf_counter()
    fit_on = c.get("fit_on")
    fit_problem = problem.reduced(fit_on["frame_stride"], fit_on["max_lag"]) if fit_on else sampled
    phase(f"data ready ({problem.n_data:,} values); classical fit of {fit_problem.n_data:,}")
    start = fit(fit_problem, multistart=8)
    t_fit = time.perf_counter() - t0
    fn, name, _ = get_mcmc_backend()
    if sampler == "nutpie":
        fn, name = nutpie_run, f"{name}+nutpie"
    sampling_cpu = time_sampling_cpu("nutpie" if sampler == "nutpie" else backend)
    t0 = time.perf_counter()
    cpu0 = cpu_seconds()
    phase(f"classical fit done in {t_fit:.1f} s; MCMC with {name}")
    progress = bool(os.environ.get("HOMODYNE_BENCH_PROGRESS"))
    result = fn(analysis_core=problem, init=start, progress=progress, seed=0, **settings)
    wall = time.perf_counter() - t0
    cpu = cpu_seconds() - cpu0
    phase(f"MCMC done in {wall:.1f} s")
    s = result.summary
    rows = {k: v for k, v in s["parameters"].items() if not v.get("fixed")}
    ess = [v["ess_bulk"] for v in rows.values()]
    rhat_all = [v["r_hat"] for v in rows.values()]
    rss_kb = max(
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
    )
    truth_in_hdi = {k: bool(v["hdi_3%"] <= c["truth"][k] <= v["hdi_97%"]) for k, v in rows.items()}
    res = {
        "case": case,
        "backend": backend,
        "backend_name": name,
        "sampler": sampler,
        "device": s["device"],
        "values_sampled": s["data_reduction"]["n_values_used"],
        "values_full": s["data_reduction"]["n_values_full"],
        "settings": {
            k: s["settings"][k]
            for k in ("chains", "tune", "draws", "frame_stride", "max_lag", "target_accept")
        },
        "classical_fit_s": t_fit,
        "classical_fit_values": fit_problem.n_data,
        "mcmc_wall_s": wall,
        "mcmc_cpu_s": cpu,
        "sampling_cpu_s": sampling_cpu.get("s"),
        "sampling_s": s["time"]["sampling_s"],
        "min_ess_bulk": min(ess),
        "ess_per_s": min(ess) / wall,
        "max_r_hat": max(rhat_all),
        "divergences": s["divergences"],
        "mean_tree_depth": s["tree_depth"]["mean"],
        "gradient_evaluations": s["gradient_evaluations"],
        "verdict": s["verdict"]["text"],
        "truth_in_94_hdi": truth_in_hdi,
        "posterior_mean": {k: v["mean"] for k, v in rows.items()},
        "posterior_sd": {k: v["sd"] for k, v in rows.items()},
        "peak_rss_mb": rss_kb / 1024.0,
        "extra": {
            k: s.get(k)
            for k in ("pytensor_mode", "chain_method", "gradient", "on_gpu", "platform_route")
        },
    }
    with open(out, "w", encoding="utf-8") as fh:
        json.dump(res, fh, indent=1)


def cpu_seconds() -> float:
    """User + system CPU time of this process and its finished children (PyMC's workers)."""
    own, kids = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def time_sampling_cpu(library: str) -> dict:
    """Wrap the sampling call of ``library`` (pymc.sample, nutpie.sample) so that the CPU
    time of the sampling alone, without the model's compilation, lands in the dict."""
    got: dict = {}
    if library not in ("pymc", "nutpie"):
        return got
    import importlib

    mod = importlib.import_module(library)
    original = mod.sample

    def timed(*args, **kwargs):
        c0 = cpu_seconds()
        try:
            return original(*args, **kwargs)
        finally:
            got["s"] = cpu_seconds() - c0

    mod.sample = timed
    return got


def nutpie_run(**kwargs):
    """The PyMC backend's run function with ``mcmc.sampler = "nutpie"``."""
    from homodyne.optimization.mcmc_cpu_backend import run_cpu_mcmc_analysis

    return run_cpu_mcmc_analysis(sampler="nutpie", **kwargs)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            cpu = next(
                (ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), cpu
            )
    except OSError:
        pass
    mem = ""
    try:
        with open("/proc/meminfo", encoding="utf-8") as fh:
            kb = int(next(ln for ln in fh if ln.startswith("MemTotal")).split()[1])
            mem = f", {kb / 1024**2:.0f} GiB RAM"
    except (OSError, StopIteration):
        pass
    return f"{cpu}, {os.cpu_count()} cores{mem}, {platform.system()} {platform.release()}, Python {platform.python_version()}"


def rst_table(results: list[dict]) -> str:
    """The results as a reStructuredText list-table (for docs/mcmc.rst)."""
    lines = [
        ".. list-table::",
        "   :header-rows: 1",
        "",
        "   * - case",
        "     - backend (device)",
        "     - values sampled",
        "     - chains x (tune + draws)",
        "     - MCMC wall time",
        "     - CPU time (sampling only)",
        "     - min bulk ESS",
        "     - ESS / s",
        "     - max R̂",
        "     - divergences",
        "     - mean tree depth",
        "     - gradient evaluations (draws)",
        "     - peak memory",
        "     - verdict (all variables)",
    ]
    for r in results:
        st = r["settings"]
        dev = (
            "JAX CPU"
            if r["backend"] == "numpyro" and "GPU" not in r["device"]
            else ("GPU" if r["backend"] == "numpyro" else "CPU")
        )
        mode = r["extra"].get("pytensor_mode") or r["extra"].get("chain_method") or ""
        if r["backend"] == "numpyro" and r["extra"].get("gradient"):
            mode = f"{mode}, {r['extra']['gradient']} gradient"
        if r.get("sampler") == "nutpie":
            mode = "nutpie"
        cpu = r.get("mcmc_cpu_s")
        samp = r.get("sampling_cpu_s")
        cpu_text = "n/a" if cpu is None else f"{cpu:.0f} s" + (f" ({samp:.0f} s)" if samp else "")
        lines += [
            f"   * - {r['case']}",
            f"     - {r['backend']} ({dev}{', ' + mode if mode else ''})",
            f"     - {r['values_sampled']:,}"
            + (f" of {r['values_full']:,}" if r["values_sampled"] != r["values_full"] else ""),
            f"     - {st['chains']} x ({st['tune']} + {st['draws']})",
            f"     - {r['mcmc_wall_s']:.0f} s",
            f"     - {cpu_text}",
            f"     - {r['min_ess_bulk']:.0f}",
            f"     - {r['ess_per_s']:.2f}",
            f"     - {r['max_r_hat']:.4f}",
            f"     - {r['divergences']}",
            f"     - {r['mean_tree_depth']:.2f}",
            f"     - {r['gradient_evaluations']:,}",
            f"     - {r['peak_rss_mb']:.0f} MB",
            f"     - {short_verdict(r['verdict'])}",
        ]
    return "\n".join(lines) + "\n"


def short_verdict(text: str) -> str:
    """'converged' or the first failed check of a summary verdict."""
    if text.startswith("converged"):
        return "converged"
    first = text.split(":", 1)[-1].split(";")[0].split("(run")[0].strip()
    return f"not converged: {first}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", default=",".join(DEFAULT_CASES), help=f"any of {', '.join(CASES)}")
    p.add_argument("--backends", default=",".join(BACKENDS))
    p.add_argument(
        "--sampler",
        choices=("default", "nutpie"),
        default="default",
        help="default: each backend's own NUTS; nutpie: nutpie on the PyMC model (pymc only)",
    )
    p.add_argument(
        "--gradient",
        choices=("auto", "kernel", "numba", "autodiff"),
        default="auto",
        help="mcmc.gradient of every run (default auto, as a run's default)",
    )
    p.add_argument(
        "--chain-method",
        choices=("auto", "parallel", "sequential", "vectorized", "processes"),
        default="auto",
        help="mcmc.chain_method of the NumPyro runs (default auto, as a run's default)",
    )
    p.add_argument(
        "--platform",
        choices=("auto", "gpu", "cpu"),
        default="auto",
        help="mcmc.platform of the NumPyro runs (default auto, as a run's default: a "
        "problem below mcmc.gpu_min_values runs on the CPU although a GPU is present)",
    )
    p.add_argument("--repeat", type=int, default=1, help="run every (case, backend) N times")
    p.add_argument("--out", help="write all results to this JSON file")
    p.add_argument(
        "--rst",
        metavar="JSON",
        help="print the results of a previous --out as an RST table and stop",
    )
    p.add_argument(
        "--one",
        nargs=7,
        metavar=("CASE", "BACKEND", "OUT", "SAMPLER", "GRADIENT", "CHAIN_METHOD", "PLATFORM"),
        help=argparse.SUPPRESS,
    )
    a = p.parse_args(argv)
    if a.one:
        one(*a.one)
        return 0
    if a.rst:
        with open(a.rst, encoding="utf-8") as fh:
            doc = json.load(fh)
        print(f"Machine: {doc['machine']}.\n")
        print(rst_table(doc["results"]))
        return 0
    if a.sampler == "nutpie" and a.backends != "pymc":
        p.error("--sampler nutpie samples the PyMC model: use it with --backends pymc")
    results = []
    print(f"machine: {machine()}")
    pairs = [(c, b) for c in a.cases.split(",") for b in a.backends.split(",")]
    for case, backend in [pair for pair in pairs for _ in range(a.repeat)]:
        with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as tmp:
            path = tmp.name
        t0 = time.perf_counter()
        proc = subprocess.run(
            [
                sys.executable,
                __file__,
                "--one",
                case,
                backend,
                path,
                a.sampler,
                a.gradient,
                a.chain_method,
                a.platform,
            ],
            stdout=subprocess.PIPE,  # the phase log (stderr) streams through
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            print(f"{case}/{backend}: FAILED (exit {proc.returncode}; its log is above)")
            continue
        with open(path, encoding="utf-8") as fh:
            r = json.load(fh)
        os.unlink(path)
        r["process_wall_s"] = time.perf_counter() - t0
        results.append(r)
        print(
            f"{case:8s} {backend:8s} {a.sampler:7s} values={r['values_sampled']:>8d} "
            f"wall={r['mcmc_wall_s']:7.1f}s cpu={r['mcmc_cpu_s']:7.1f}s "
            f"(fit {r['classical_fit_s']:.1f}s) minESS={r['min_ess_bulk']:7.0f} ESS/s={r['ess_per_s']:7.2f} "
            f"maxRhat={r['max_r_hat']:.4f} div={r['divergences']} depth={r['mean_tree_depth']:.2f} "
            f"peak={r['peak_rss_mb']:.0f}MB  {r['verdict'][:40]}",
            flush=True,
        )
        if a.out:  # after every case, so that an interrupted run keeps what finished
            write_json(a.out, {"machine": machine(), "results": results})
    return 0


def write_json(path: str, doc: dict) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(doc, fh, indent=1)
    os.replace(tmp, path)


if __name__ == "__main__":
    sys.exit(main())
