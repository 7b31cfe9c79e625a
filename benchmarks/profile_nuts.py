"""Where the NumPyro sampler's time goes on the JAX CPU platform: compilation, gradient
and NUTS's own work per leapfrog step, per chain method and gradient.

    python benchmarks/profile_nuts.py                         # laminar 8 x 200², defaults
    python benchmarks/profile_nuts.py --methods parallel,sequential --gradients kernel,autodiff \\
        --warmup 300 --draws 300 --out benchmarks/results/nuts_profile_cpu.json

Each (chain method, gradient) runs in a fresh interpreter: NumPyro's NUTS on the backend's
model of the case (``numpyro_model``), started as a run starts: the whitened space around a
classical fit (one local fit from the case's truth) and the run's start points
(``--start none``: no fit, the space's defaults, far from the mode: deep trees). Recorded: wall and process CPU time of warm-up and draws, XLA
compilation time (JAX's compile log), leapfrog steps of warm-up and draws, and the CPU
and wall time per leapfrog step of a second run of the draws from the last state (the
compiled program reused: gradient plus NUTS's own work, no compilation); with ``--gradient-ms`` (a row of bench_gradient.py, one core)
the NUTS overhead per step is the difference. CPU time is the robust number on a shared
machine; wall times need a quiet one.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))


def finished(mcmc: object) -> dict:
    """The extra fields of the last run, once the computation has ended.

    JAX dispatches asynchronously: ``MCMC.run`` returns while the device still computes,
    so a clock read right after it measures the dispatch only (an earlier version of this
    script did so and reported 0.03-0.06 ms per leapfrog step, far below one gradient).
    Blocking on the samples and the extra fields makes the clock include the work."""
    import jax

    jax.block_until_ready(mcmc.get_samples())  # type: ignore[attr-defined]
    return jax.block_until_ready(mcmc.get_extra_fields())  # type: ignore[attr-defined, no-any-return]


def one(
    case: str, method: str, gradient: str, warmup: int, draws: int, chains: int, start_from: str
) -> dict:
    from bench_gradient import _problem

    from homodyne.runtime.gpu import configure_jax

    configure_jax()
    import jax
    import jax.numpy as jnp
    import numpy as np
    from numpyro.infer import MCMC, NUTS

    from homodyne.bayes.posterior import build_posterior_spec
    from homodyne.bayes.start import initial_points
    from homodyne.optimization.mcmc_gpu_backend import _model_args, numpyro_model

    compile_s = []

    class _Compiles(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            m = re.search(r"compilation of .* in ([0-9.e+-]+) sec", record.getMessage())
            if m:
                compile_s.append(float(m.group(1)))

    jax.config.update("jax_log_compiles", True)
    for name in ("jax._src.dispatch", "jax._src.interpreters.pxla", "jax._src.compiler"):
        lg = logging.getLogger(name)
        lg.addHandler(_Compiles())
        lg.setLevel(logging.DEBUG)
        lg.propagate = False

    problem = _problem(case)
    start = None
    if start_from == "fit":
        # as a run starts: the whitened space around a classical fit (here one local fit
        # from the case's truth), chains jittered by ±1 posterior sd around it
        from bench_mcmc import CASES

        from homodyne.optimization.classical import fit

        truth = problem.parameters.updated(CASES[case]["truth"])
        start = fit(problem.with_parameters(truth), multistart=0)
    spec = build_posterior_spec(problem, start)
    if gradient == "xla":
        os.environ["HOMODYNE_JAX_KERNEL"] = "xla"
    kernel = NUTS(
        numpyro_model(spec, "kernel" if gradient == "xla" else gradient),
        target_accept_prob=0.8,
        dense_mass=False,
    )
    mcmc = MCMC(
        kernel,
        num_warmup=warmup,
        num_samples=draws,
        num_chains=chains,
        chain_method=method,
        progress_bar=False,
    )
    keys = jax.random.split(jax.random.PRNGKey(0), chains)
    z0 = jnp.asarray(initial_points(spec, chains, 0))
    args = _model_args(spec)
    row: dict = {"case": case, "method": method, "gradient": gradient, "chains": chains}
    row["start"] = start_from
    row.update(warmup=warmup, draws=draws, n_values=problem.n_data)
    w0, c0 = time.perf_counter(), time.process_time()
    mcmc.warmup(
        keys, *args, init_params={"z": z0}, extra_fields=("num_steps",), collect_warmup=True
    )
    steps_w = int(np.asarray(finished(mcmc)["num_steps"]).sum())
    w1, c1 = time.perf_counter(), time.process_time()
    ncomp = len(compile_s)
    mcmc.run(mcmc.post_warmup_state.rng_key, *args, extra_fields=("num_steps", "diverging"))
    ex = finished(mcmc)
    w2, c2 = time.perf_counter(), time.process_time()
    steps_d = int(np.asarray(ex["num_steps"]).sum())
    row.update(
        warmup_wall_s=w1 - w0,
        warmup_cpu_s=c1 - c0,
        draws_wall_s=w2 - w1,
        draws_cpu_s=c2 - c1,
        compile_warmup_s=sum(compile_s[:ncomp]),
        compile_draws_s=sum(compile_s[ncomp:]),
        steps_warmup=steps_w,
        steps_draws=steps_d,
        divergences=int(np.asarray(ex["diverging"]).sum()),
        mean_steps_per_draw=steps_d / (chains * draws),
    )
    # the same number of draws again from the last state: the compiled program is reused
    # (any compilation is logged and recorded), so this phase is gradient + NUTS only
    ncomp = len(compile_s)
    mcmc.post_warmup_state = mcmc.last_state
    w3, c3 = time.perf_counter(), time.process_time()
    mcmc.run(mcmc.post_warmup_state.rng_key, *args, extra_fields=("num_steps", "diverging"))
    ex_r = finished(mcmc)
    w4, c4 = time.perf_counter(), time.process_time()
    steps_r = int(np.asarray(ex_r["num_steps"]).sum())
    row.update(
        rerun_wall_s=w4 - w3,
        rerun_cpu_s=c4 - c3,
        rerun_steps=steps_r,
        compile_rerun_s=sum(compile_s[ncomp:]),
    )
    row["cpu_ms_per_step_draws"] = 1e3 * (c4 - c3) / max(steps_r, 1)
    row["wall_ms_per_step_draws"] = 1e3 * (w4 - w3) / max(steps_r, 1)
    row["jax_devices"] = jax.local_device_count()
    return row


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--case", default="laminar")
    ap.add_argument("--methods", default="parallel,sequential")
    ap.add_argument("--gradients", default="kernel,numba,autodiff")
    ap.add_argument("--chains", type=int, default=4)
    ap.add_argument("--warmup", type=int, default=300)
    ap.add_argument("--draws", type=int, default=300)
    ap.add_argument(
        "--start",
        choices=("fit", "none"),
        default="fit",
        help="fit: whitened space around a classical fit, as a run (default); none: "
        "no fit (the space's defaults, far from the mode: deep trees in warm-up)",
    )
    ap.add_argument("--out")
    ap.add_argument("--one", nargs=3, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.one:
        row = one(a.one[0], a.one[1], a.one[2], a.warmup, a.draws, a.chains, a.start)
        print(json.dumps(row))
        return 0
    rows = []
    for method in a.methods.split(","):
        for gradient in a.gradients.split(","):
            cmd = [sys.executable, __file__, "--one", a.case, method, gradient]
            cmd += ["--warmup", str(a.warmup), "--draws", str(a.draws), "--chains", str(a.chains)]
            cmd += ["--start", a.start]
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                print(proc.stderr[-3000:], file=sys.stderr)
                return proc.returncode
            row = json.loads(proc.stdout.strip().splitlines()[-1])
            rows.append(row)
            print(
                f"{method:10s} {gradient:8s} warmup {row['warmup_wall_s']:6.1f} s wall "
                f"(compile {row['compile_warmup_s']:.1f} s, {row['steps_warmup']} steps), draws "
                f"{row['draws_wall_s']:6.1f} s wall, {row['steps_draws']} steps: "
                f"{row['cpu_ms_per_step_draws']:.2f} ms CPU / step, "
                f"{row['wall_ms_per_step_draws']:.2f} ms wall / step",
                flush=True,
            )
    doc = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "uptime": subprocess.run(
            ["uptime"], capture_output=True, text=True, check=False
        ).stdout.strip(),
        "rows": rows,
    }
    if a.out:
        with open(a.out, "w", encoding="utf-8") as fh:
            json.dump(doc, fh, indent=1)
    print(doc["uptime"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
