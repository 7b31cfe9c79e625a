"""Benchmark of the forward model and of complete classical fits (not a timed test).

Cases (issue targets in brackets):

* forward model, one evaluation of c2 on the strict upper triangle of every angle:
  static 4 x 200², laminar 8 x 200² [< 1 ms], laminar 23 x 1000²;
* classical fit, each in a fresh subprocess so that its peak resident memory is its own:
  static 4 x 200² [< 0.2 s], laminar 8 x 200² from the template defaults and from a
  start 50 % off the truth [< 5 s, truth recovered], laminar 23 x 1000² [< 60 s, < 2 GB];
* ``homodyne --help`` start-up [< 0.5 s].

Data come from the package's simulator (APS-U HDF5 files in a temporary folder) with
Gaussian noise σ = 0.003 and contrast 0.3; each fit also reports whether every free
parameter lies within 3 reported standard errors of the truth.

Usage::

    python benchmarks/bench_classical.py            # all cases, prints a table
    python benchmarks/bench_classical.py --quick    # skip the 23 x 1000² cases
    python benchmarks/bench_classical.py --write-docs   # also update docs/benchmarks.rst

The table between the ``.. BEGIN classical`` / ``.. END classical`` markers of
docs/benchmarks.rst is replaced by ``--write-docs``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from homodyne.data.simulate import REALISTIC_PARAMS

ROOT = Path(__file__).resolve().parents[1]
LAMINAR_TRUTH = {**REALISTIC_PARAMS, "phi0": 5.0}
STATIC_TRUTH = {"D0": 1324.1, "alpha": -0.3, "D_offset": 20.0}
PHI_8 = [-8.5, -3.2, 1.9, 7.4, 171.6, 176.8, 182.1, 187.3]
PHI_4 = [-6.2, 2.8, 84.7, 93.1]
PHI_23 = [float(-8.0 + k * 360.0 / 23) for k in range(23)]


# ------------------------------------------------------------------ forward model
def bench_forward(mode: str, phi: list[float], n: int, repeats: int) -> dict:
    from homodyne.model import MODES, c2_pairs, g1_squared_pairs_and_jacobian, triangle_indices

    truth = LAMINAR_TRUTH if mode == "laminar_flow" else STATIC_TRUTH
    p = [truth[k] for k in MODES[mode]]
    t = np.arange(1, n + 1) * 0.1
    ph = np.array(phi)
    iu, ju = triangle_indices(n)
    con, off = np.full(ph.size, 0.3), np.ones(ph.size)

    def timeit(fn) -> float:  # type: ignore[no-untyped-def]
        fn()
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return statistics.median(times)

    generic = timeit(lambda: c2_pairs(p, t, ph, 0.0054, 2e6, iu, ju, con, off, mode))
    fast = timeit(
        lambda: g1_squared_pairs_and_jacobian(p, t, ph, 0.0054, 2e6, iu, ju, mode, jacobian=False)
    )
    jac = timeit(lambda: g1_squared_pairs_and_jacobian(p, t, ph, 0.0054, 2e6, iu, ju, mode))
    return {
        "case": f"{mode} {len(phi)} x {n}²",
        "c2_pairs_ms": generic * 1e3,
        "g1sq_numpy_ms": fast * 1e3,
        "g1sq_and_jacobian_ms": jac * 1e3,
        "values": len(phi) * iu.size,
    }


# ------------------------------------------------------------------ fits (subprocess)
FIT_CHILD = r"""
import json, sys, time
import numpy as np
from homodyne.config import config_from_dict, template
from homodyne.data import load_dataset
from homodyne.problem import Problem
from homodyne.optimization.classical import fit
def peak_mb():
    # VmHWM: this process's own high-water mark (ru_maxrss would carry the parent's
    # peak across fork + exec)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
spec = json.loads(sys.argv[1])
rss0 = peak_mb()
cfg = template(spec["mode"], data_file=spec["file"])
cfg["angle_filter"]["enabled"] = spec["filter"]
for name, value in spec["start"].items():
    cfg["parameters"][name]["value"] = value
config = config_from_dict(cfg)
t0 = time.perf_counter()
ds = load_dataset(spec["file"], q=0.0054, checksum=False)
problem = Problem.from_config(config, ds)
del ds
t1 = time.perf_counter()
c = config.classical
res = fit(problem, method=c["method"], multistart=c["multistart"], coarse_frames=c["coarse_frames"], seed=c["seed"])
t2 = time.perf_counter()
truth = spec["truth"]
z = {n: (p.value - truth[n]) / p.stderr for n, p in res.parameters.items() if not p.fixed and p.stderr}
print(json.dumps({
    "load_s": t1 - t0, "fit_s": t2 - t1, "fit_internal_s": res.wall_time,
    "peak_rss_mb": peak_mb(), "baseline_rss_mb": rss0,
    "reduced_chi2": res.chi2_red, "converged": res.success, "multistart": c["multistart"],
    "evaluations": res.n_evaluations, "max_abs_z": max(abs(v) for v in z.values()),
    "recovered_3sigma": all(abs(v) < 3 for v in z.values()), "z": z,
}))
"""


def bench_fit(
    label: str, mode: str, file: Path, truth: dict, start: dict, angle_filter: bool
) -> dict:
    spec = {"mode": mode, "file": str(file), "truth": truth, "start": start, "filter": angle_filter}
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    out = subprocess.run(
        [sys.executable, "-c", FIT_CHILD, json.dumps(spec)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    res = json.loads(out.stdout.strip().splitlines()[-1])
    res["case"] = label
    return res


def bench_help(repeats: int = 5) -> dict:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "homodyne.run_homodyne", "--help"],
            capture_output=True,
            check=True,
        )
        times.append(time.perf_counter() - t0)
    exe = Path(sys.executable).with_name("homodyne")
    script_times = []
    if exe.exists():
        for _ in range(repeats):
            t0 = time.perf_counter()
            subprocess.run([str(exe), "--help"], capture_output=True, check=True)
            script_times.append(time.perf_counter() - t0)
    return {
        "python_m_help_s": min(times),
        "homodyne_help_s": min(script_times) if script_times else None,
    }


# ------------------------------------------------------------------ report
def machine() -> str:
    import numpy
    import scipy

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores; Python {platform.python_version()}, NumPy {numpy.__version__}, SciPy {scipy.__version__}"


def rst(results: dict) -> str:
    lines = [
        f"Measured on {results['date']} ({results['machine']}); 1-minute load average "
        f"{results['load_before']:.1f} before and {results['load_after']:.1f} after the run "
        "(a load above 0 means other processes shared the cores, so times are upper bounds).",
        "",
        ".. list-table:: Forward model (median of repeated evaluations)",
        "   :header-rows: 1",
        "",
        "   * - case",
        "     - c2 values",
        "     - ``c2_pairs`` (array-namespace model, NumPy)",
        "     - g1² (NumPy fitting path)",
        "     - g1² + analytic Jacobian",
    ]
    for r in results["forward"]:
        lines += [
            f"   * - {r['case']}",
            f"     - {r['values']:,}",
            f"     - {r['c2_pairs_ms']:.2f} ms",
            f"     - {r['g1sq_numpy_ms']:.2f} ms",
            f"     - {r['g1sq_and_jacobian_ms']:.2f} ms",
        ]
    lines += [
        "",
        ".. list-table:: Classical fits (each in a fresh process; time excludes loading)",
        "   :header-rows: 1",
        "",
        "   * - case",
        "     - multistart",
        "     - fit wall time",
        "     - load time",
        "     - peak RSS",
        "     - reduced χ²",
        "     - truth within 3σ (max abs z)",
    ]
    for r in results["fits"]:
        lines += [
            f"   * - {r['case']}",
            f"     - {r['multistart']}",
            f"     - {r['fit_s']:.2f} s",
            f"     - {r['load_s']:.2f} s",
            f"     - {r['peak_rss_mb']:.0f} MB (interpreter + libraries {r['baseline_rss_mb']:.0f} MB)",
            f"     - {r['reduced_chi2']:.4f}",
            f"     - {'yes' if r['recovered_3sigma'] else 'NO'} ({r['max_abs_z']:.2f})",
        ]
    h = results["help"]
    lines += [
        "",
        f"Start-up: ``python -m homodyne.run_homodyne --help`` {h['python_m_help_s']:.3f} s",
    ]
    if h["homodyne_help_s"] is not None:
        lines[-1] += f", ``homodyne --help`` {h['homodyne_help_s']:.3f} s (best of 5)."
    return "\n".join(lines) + "\n"


def write_docs(text: str) -> None:
    path = ROOT / "docs" / "benchmarks.rst"
    doc = path.read_text()
    begin, end = ".. BEGIN classical", ".. END classical"
    if begin not in doc:
        raise SystemExit(f"{path}: markers '{begin}' / '{end}' not found")
    head, rest = doc.split(begin, 1)
    _, tail = rest.split(end, 1)
    path.write_text(f"{head}{begin}\n\n{text}\n{end}{tail}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="skip the 23 x 1000² cases")
    ap.add_argument("--write-docs", action="store_true")
    ap.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "classical.json")
    args = ap.parse_args()
    from homodyne.data import write_simulated_file

    results: dict = {
        "date": dt.date.today().isoformat(),
        "machine": machine(),
        "forward": [],
        "fits": [],
        "load_before": os.getloadavg()[0],
    }
    results["forward"].append(bench_forward("static_anisotropic", PHI_4, 200, 200))
    results["forward"].append(bench_forward("laminar_flow", PHI_8, 200, 200))
    if not args.quick:
        results["forward"].append(bench_forward("laminar_flow", PHI_23, 1000, 5))
    half = {k: (v * 1.5 if v else 0.001) for k, v in LAMINAR_TRUTH.items()}
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        common = {"contrast": 0.3, "noise_sigma": 0.003, "q_values": [0.0054], "seed": 1}
        st = write_simulated_file(
            d / "static.h5",
            mode="static_anisotropic",
            params=STATIC_TRUTH,
            phi=PHI_4,
            n_frames=200,
            **common,
        )
        lam = write_simulated_file(
            d / "laminar.h5",
            mode="laminar_flow",
            params=LAMINAR_TRUTH,
            phi=PHI_8,
            n_frames=200,
            **common,
        )
        results["fits"].append(
            bench_fit(
                "static 4 x 200², template start", "static_anisotropic", st, STATIC_TRUTH, {}, False
            )
        )
        results["fits"].append(
            bench_fit(
                "laminar 8 x 200², template start", "laminar_flow", lam, LAMINAR_TRUTH, {}, True
            )
        )
        results["fits"].append(
            bench_fit(
                "laminar 8 x 200², start 50 % off", "laminar_flow", lam, LAMINAR_TRUTH, half, True
            )
        )
        if not args.quick:
            big = write_simulated_file(
                d / "big.h5",
                mode="laminar_flow",
                params=LAMINAR_TRUTH,
                phi=PHI_23,
                n_frames=1000,
                dtype=np.float32,
                **common,
            )
            results["fits"].append(
                bench_fit(
                    "laminar 23 x 1000² (all angles), template start",
                    "laminar_flow",
                    big,
                    LAMINAR_TRUTH,
                    {},
                    False,
                )
            )
    results["help"] = bench_help()
    results["load_after"] = os.getloadavg()[0]
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2) + "\n")
    text = rst(results)
    print(text)
    if args.write_docs:
        write_docs(text)


if __name__ == "__main__":
    main()
