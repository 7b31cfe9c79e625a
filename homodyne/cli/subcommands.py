"""``homodyne simulate``, ``homodyne demo``, ``homodyne backends`` (and the ``homodyne batch`` hook)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..model import MODES

__all__ = ["dispatch"]


def _simulate(argv: Sequence[str], prog: str, parser_cls: type[argparse.ArgumentParser]) -> int:
    p = parser_cls(
        prog=prog,
        description="Write synthetic two-time correlation data (model + Gaussian noise) in an APS HDF5 layout.",
    )
    p.add_argument("--mode", choices=tuple(MODES), default="laminar_flow")
    p.add_argument(
        "--output",
        "-o",
        required=True,
        metavar="HDF5",
        help="file to write (refuses to replace an existing file without --force)",
    )
    p.add_argument("--layout", choices=("aps_u", "aps_old"), default="aps_u")
    p.add_argument("--frames", type=int, default=200, help="number of frames (default 200)")
    p.add_argument("--dt", type=float, default=0.1, help="frame time [s] (default 0.1)")
    p.add_argument(
        "--noise",
        type=float,
        default=0.003,
        help="absolute Gaussian noise σ per c2 value (default 0.003)",
    )
    p.add_argument("--contrast", type=float, default=0.3)
    p.add_argument("--offset", type=float, default=1.0)
    p.add_argument(
        "--phi", type=float, nargs="+", help="angles [deg] (default: the mode's standard set)"
    )
    p.add_argument(
        "--q",
        type=float,
        nargs="+",
        default=[0.0044, 0.0054, 0.0064],
        help="q values [1/Å] written to the file",
    )
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a model parameter (repeatable)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--force", action="store_true")
    a = p.parse_args(argv)
    from ..data import write_simulated_file
    from ..errors import ConfigError, OutputExistsError

    # The demo's point, which these data determine (unlike the near-constant J of
    # homodyne.data.REALISTIC_PARAMS, where D0, alpha and D_offset trade off).
    params = {name: DEMO_TRUTH[name] for name in MODES[a.mode]}
    for item in a.param:
        name, _, value = item.partition("=")
        if name not in params:
            raise ConfigError(
                f"--param {item!r}: unknown parameter {name!r} for mode {a.mode} (one of {', '.join(params)})"
            )
        try:
            params[name] = float(value)
        except ValueError:
            raise ConfigError(f"--param {item!r}: {value!r} is not a number") from None
    out = Path(a.output)
    if out.exists() and not a.force:
        raise OutputExistsError(f"{out}: file exists; pass --force to replace it")
    write_simulated_file(
        out,
        layout=a.layout,
        q_values=a.q,
        mode=a.mode,
        params=params,
        phi=a.phi,
        dt=a.dt,
        n_frames=a.frames,
        contrast=a.contrast,
        offset=a.offset,
        noise_sigma=a.noise,
        seed=a.seed,
    )
    print(f"wrote {a.mode} data ({a.frames} frames, q = {a.q}, layout {a.layout}) to {out}")
    print("truth: " + json.dumps(params))
    return 0


#: The demo: a small laminar-flow data set (8 angles x 200 frames) with a realistic noise.
#: An ageing sample (J falls as t^-0.8 onto a plateau of 2000 Å²/s, decorrelating within
#: the window) under a decaying shear rate: every parameter is determined by these data
#: (largest correlation about 0.95), unlike the near-constant J of REALISTIC_PARAMS, where
#: D0, alpha and D_offset move together.
DEMO_TRUTH = {
    "D0": 10000.0,
    "alpha": -0.8,
    "D_offset": 2000.0,
    "gamma_dot_t0": 0.003,
    "beta": -0.909,
    "gamma_dot_t_offset": 0.0,
    "phi0": 5.0,
}
#: The demo's angles [deg]: 8 sectors spread over 0-157.5°, as a detector ring gives them.
DEMO_PHI = tuple(22.5 * k for k in range(8))


def _demo(argv: Sequence[str], prog: str, parser_cls: type[argparse.ArgumentParser]) -> int:
    p = parser_cls(
        prog=prog,
        description="Run a complete example: simulate a small laminar-flow data set, write its configuration, fit it and write the results.",
    )
    p.add_argument(
        "--output-dir",
        default="homodyne_demo",
        metavar="DIR",
        help="folder for the data, config and results (default: homodyne_demo)",
    )
    p.add_argument("--method", choices=("classical", "mcmc", "all"), default="classical")
    p.add_argument("--frames", type=int, default=200)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("-q", "--quiet", action="store_true")
    a = p.parse_args(argv)
    from .._util.atomic import atomic_write_text
    from ..analysis import run_analysis
    from ..config import config_from_dict, template
    from ..data import write_simulated_file

    root = Path(a.output_dir)
    root.mkdir(parents=True, exist_ok=True)
    data = root / "demo_laminar_flow.h5"
    write_simulated_file(
        data,
        layout="aps_u",
        mode="laminar_flow",
        params=DEMO_TRUTH,
        phi=DEMO_PHI,
        n_frames=a.frames,
        contrast=0.3,
        noise_sigma=0.003,
        seed=a.seed,
    )
    cfg = template("laminar_flow", data_file=data.name)
    cfg["description"] = (
        f"homodyne demo: synthetic laminar flow, 8 angles x {a.frames} frames, truth {json.dumps(DEMO_TRUTH)}"
    )
    cfg["output"]["directory"] = str(root / "results")
    cfg["output"]["overwrite"] = True
    cfg["output"]["run_name"] = "demo"
    cfg["mcmc"].update({"draws": 500, "tune": 500, "chains": 2, "frame_stride": 2})
    cfg_path = root / "demo_config.json"
    atomic_write_text(cfg_path, json.dumps(cfg, indent=2) + "\n")
    config = config_from_dict(cfg, source=str(cfg_path), path=cfg_path.resolve())
    outcome = run_analysis(
        config, method=a.method, command=["homodyne", "demo", *argv], quiet=a.quiet
    )
    truth_of_file = outcome.problem.truth or DEMO_TRUTH  # read back from the file's attributes
    if not a.quiet and outcome.classical is not None:
        from ..data.angle_selection import input_lines

        print(input_lines(outcome.problem), end="")
        print(outcome.classical.report())
        print("\nrecovery (truth vs fit):")
        for name, truth in truth_of_file.items():
            par = outcome.classical.parameters[name]
            err = par.stderr or float("nan")
            print(
                f"  {name:<20s} truth {truth:< 11.5g} fit {par.value:< 12.6g} ± {err:<10.3g} ({(par.value - truth) / err:+.2f} σ)"
            )
    if not a.quiet and outcome.mcmc is not None:
        print(outcome.mcmc.report())
    print(f"data: {data}\nconfig: {cfg_path}\nresults: {outcome.run_dir}")
    from ..run_homodyne import _verdict_status

    return _verdict_status(outcome)


def _backends(argv: Sequence[str], prog: str, parser_cls: type[argparse.ArgumentParser]) -> int:
    p = parser_cls(
        prog=prog,
        description="List the MCMC backends registered (entry-point group homodyne.mcmc_backends), whether each is usable here, and which one HOMODYNE_GPU_INTENT selects.",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    a = p.parse_args(argv)
    from ..optimization.backends import list_backends, selection_reason

    rows: list[dict[str, Any]] = list_backends()
    if a.json:
        print(json.dumps(rows, indent=2))
        return 0
    for r in rows:
        mark = "*" if r.get("selected") else " "
        print(
            f"{mark} {r.get('name', '?'):<10s} {'available' if r.get('available') else 'not installed':<14s} {r.get('description', '')}"
        )
        if r.get("available") and r.get("device"):
            print(f"  {'':<10s} runs on: {r['device']}")
        if not r.get("available") and r.get("install"):
            print(f"  {'':<10s} install: {r['install']}")
    why = selection_reason()
    if any(r.get("selected") for r in rows):
        print(f"* selected here ({why})")
    else:
        print(f"no usable backend is selected here ({why})")
    return 0


def _batch(argv: Sequence[str], prog: str, parser_cls: type[argparse.ArgumentParser]) -> int:
    from ..batch.cli import batch_main

    return batch_main(argv, prog, parser_cls)


_COMMANDS = {"simulate": _simulate, "demo": _demo, "backends": _backends, "batch": _batch}


def dispatch(
    name: str, argv: Sequence[str], *, prog: str, parser_cls: type[argparse.ArgumentParser]
) -> int:
    return _COMMANDS[name](argv, prog, parser_cls)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(
        dispatch(
            sys.argv[1],
            sys.argv[2:],
            prog=f"homodyne {sys.argv[1]}",
            parser_cls=argparse.ArgumentParser,
        )
    )
