"""Write the measured tables of docs/mcmc.rst's XLA-kernel section from the benchmark JSONs.

    python docs/generate_benchmark_tables.py

Reads ``benchmarks/results/gradient_cpu_xla.json`` (bench_gradient.py --out),
``benchmarks/results/nuts_profile_cpu.json`` (profile_nuts.py --out) and, when present,
``benchmarks/results/mcmc_cpu_{xla,numba,processes,nutpie}.json`` (bench_mcmc.py --out), and the crossover of
GPU and CPU (``mcmc_gpu_h200.json`` beside ``mcmc_cpu_crossover.json``), and writes one included
page per table under ``docs/_measured/``; a missing JSON gives a page that says so. After
a re-run of the benchmarks only this script needs to run (no numbers are typed by hand).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
OUT = ROOT / "docs" / "_measured"
sys.path.insert(0, str(ROOT / "benchmarks"))


def _load(name: str) -> dict | None:
    path = RESULTS / name
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def _missing(name: str, command: str) -> str:
    return f"(not measured yet: ``{command}`` writes ``benchmarks/results/{name}``)\n"


def profile_table(doc: dict) -> str:
    lines = [
        f"Measured {doc['date']} ({doc['uptime'].split('load average:')[-1].strip()} load average).",
        "",
        ".. list-table::",
        "   :header-rows: 1",
        "",
        "   * - chain method",
        "     - gradient",
        "     - chains x (warm-up + draws)",
        "     - compilation",
        "     - leapfrog steps (warm-up, draws)",
        "     - steps per draw",
        "     - CPU ms per step (draws)",
        "     - wall ms per step (draws)",
        "     - divergences",
    ]
    for r in doc["rows"]:
        lines += [
            f"   * - {r['method']}",
            f"     - {r['gradient']}",
            f"     - {r['chains']} x ({r['warmup']} + {r['draws']})",
            f"     - {r['compile_warmup_s'] + r['compile_draws_s']:.1f} s",
            f"     - {r['steps_warmup']:,}, {r['steps_draws']:,}",
            f"     - {r['mean_steps_per_draw']:.2f}",
            f"     - {r['cpu_ms_per_step_draws']:.2f}",
            f"     - {r['wall_ms_per_step_draws']:.2f}",
            f"     - {r['divergences']}",
        ]
    return "\n".join(lines) + "\n"


def crossover_table(gpu: dict, cpu: dict) -> str:
    """Per benchmark case measured on both sides: the GPU run's wall time, the CPU run's
    in worker processes (the route of a problem below ``mcmc.gpu_min_values``), the
    faster side and where ``mcmc.platform = "auto"`` sends the case by default."""
    from homodyne.bayes.device_route import route_platform
    from homodyne.bayes.settings import MCMCSettings

    bound = MCMCSettings().gpu_min_values
    on_cpu = {r["case"]: r for r in cpu["results"]}
    lines = [
        f"{gpu['results'][0]['device']} ({gpu['note'].split(',')[1].strip()}); "
        f"CPU: {cpu['machine']}. Default ``mcmc.gpu_min_values`` = {bound:,}.",
        "",
        ".. list-table::",
        "   :header-rows: 1",
        "",
        "   * - case",
        "     - c2 values",
        "     - chains x (warm-up + draws)",
        "     - GPU wall",
        "     - CPU wall (worker processes)",
        "     - faster",
        "     - ``auto`` runs it on",
    ]
    for g in sorted(gpu["results"], key=lambda r: r["values_sampled"]):
        c = on_cpu.get(g["case"])
        if c is None:
            continue
        s = g["settings"]
        faster = "GPU" if g["mcmc_wall_s"] < c["mcmc_wall_s"] else "CPU"
        route = route_platform("auto", bound, g["values_sampled"], True).platform.upper()
        lines += [
            f"   * - {g['case']}",
            f"     - {g['values_sampled']:,}",
            f"     - {s['chains']} x ({s['tune']} + {s['draws']})",
            f"     - {g['mcmc_wall_s']:.1f} s",
            f"     - {c['mcmc_wall_s']:.1f} s",
            f"     - {faster} ({max(g['mcmc_wall_s'], c['mcmc_wall_s']) / min(g['mcmc_wall_s'], c['mcmc_wall_s']):.2f}x)",
            f"     - {route}",
        ]
    return "\n".join(lines) + "\n"


def main() -> int:
    from bench_gradient import rst_table as gradient_table
    from bench_mcmc import rst_table as mcmc_table

    OUT.mkdir(exist_ok=True)
    pages = {}
    grad = _load("gradient_cpu_xla.json")
    pages["gradient_cpu_xla.rst"] = (
        gradient_table(grad)
        if grad
        else _missing("gradient_cpu_xla.json", "python benchmarks/bench_gradient.py --out ...")
    )
    prof = _load("nuts_profile_cpu.json")
    pages["nuts_profile_cpu.rst"] = (
        profile_table(prof)
        if prof
        else _missing("nuts_profile_cpu.json", "python benchmarks/profile_nuts.py --out ...")
    )
    for name in ("mcmc_cpu_xla", "mcmc_cpu_numba", "mcmc_cpu_processes", "mcmc_cpu_nutpie"):
        mcmc = _load(f"{name}.json")
        pages[f"{name}.rst"] = (
            f"Machine: {mcmc['machine']}.\n\n" + mcmc_table(mcmc["results"])
            if mcmc
            else _missing(f"{name}.json", "python benchmarks/bench_mcmc.py --out ...")
        )
    gpu, cpu = _load("mcmc_gpu_h200.json"), _load("mcmc_cpu_crossover.json")
    pages["crossover.rst"] = (
        crossover_table(gpu, cpu)
        if gpu and cpu
        else _missing(
            "mcmc_cpu_crossover.json",
            "python benchmarks/bench_mcmc.py --backends numpyro --chain-method processes --out ...",
        )
    )
    for name, text in pages.items():
        (OUT / name).write_text(text, encoding="utf-8")
        print(f"wrote docs/_measured/{name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
