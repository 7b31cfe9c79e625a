"""The ``homodyne`` command.

``homodyne --config FILE [--data HDF5] [--method classical|mcmc|all] ...`` runs an
analysis; ``homodyne simulate``, ``homodyne demo`` and ``homodyne backends`` are helper
subcommands. Exit status (:data:`EXIT_STATUSES`, docs/cli.rst): 0 success, 1 analysis
failure, 2 usage or configuration error, 3 results written but the verdict is not good,
130/143/129 interrupted by SIGINT/SIGTERM/SIGHUP; failures print one line on stderr (``-v``
adds the traceback).

Heavy modules (NumPy, SciPy, h5py, matplotlib, the MCMC stacks) are imported only once a
command needs them, so ``homodyne --help`` and ``--version`` stay fast.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NoReturn

from ._version import __version__

__all__ = ["EXIT_STATUSES", "get_mcmc_backend", "main"]

PROG = "homodyne"
_SUBCOMMANDS = ("simulate", "demo", "backends", "batch")

#: Every exit status of the commands and its meaning (``--help``, README, docs/cli.rst).
EXIT_STATUSES = (
    (0, "success"),
    (1, "analysis failure"),
    (2, "usage or configuration error"),
    (3, "results written, but the verdict is not good"),
    (130, "interrupted by SIGINT (Ctrl-C)"),
    (143, "interrupted by SIGTERM"),
    (129, "interrupted by SIGHUP"),
)


class UsageError(Exception):
    """Bad command-line usage (exit status 2)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, exit status 2
        raise UsageError(f"{message} (see '{self.prog} --help')")


def get_mcmc_backend() -> tuple[Callable[..., Any], str, bool]:
    """The MCMC backend for this process: ``(function, backend_name, has_gpu)``.

    Chosen by ``HOMODYNE_GPU_INTENT`` (``false``: PyMC on the CPU, the default of
    ``homodyne``; ``true``: NumPyro/JAX, GPU when visible, else JAX on the CPU, the default
    of ``homodyne-gpu``; ``auto``: GPU backend when a GPU is visible, else PyMC if
    installed, else NumPyro on the CPU). See :mod:`homodyne.optimization.backends`.
    """
    from .optimization.backends import get_mcmc_backend as _select

    return _select()


def _main_parser(prog: str) -> _Parser:
    p = _Parser(
        prog=prog,
        description="Fit the homodyne model of nonequilibrium XPCS to two-time correlation data.",
        epilog=(
            "subcommands: '%(prog)s simulate' writes synthetic data, '%(prog)s demo' runs a complete "
            "example fit, '%(prog)s backends' lists the MCMC backends, '%(prog)s batch' runs many files and q rings on Dask. Exit status: "
            + "; ".join(f"{code} {text}" for code, text in EXIT_STATUSES)
            + "."
        ),
    )
    p.add_argument(
        "--config", "-c", metavar="FILE", help="JSON configuration (write one with homodyne-config)"
    )
    p.add_argument(
        "--data",
        metavar="FILE",
        help="data file (APS HDF5, or NumPy .npy/.npz); overrides data.file of the configuration",
    )
    p.add_argument(
        "--method",
        choices=("classical", "mcmc", "all"),
        default="classical",
        help="fitting method (default: classical)",
    )
    p.add_argument(
        "--joint-q",
        nargs="*",
        metavar="Q",
        default=None,
        help="one joint fit over several q rings of the file (one physical parameter set, "
        "contrast/offset per q and angle): the q values given, or every ring ('all' or none)",
    )
    p.add_argument(
        "--output-dir",
        metavar="DIR",
        help="parent folder of the run folder; overrides output.directory",
    )
    p.add_argument(
        "--run-name",
        metavar="NAME",
        help="name of the run folder (a plain name, not a path); overrides output.run_name",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing run folder of the same name (only one that homodyne wrote)",
    )
    mode = p.add_mutually_exclusive_group()
    mode.add_argument(
        "--static-isotropic",
        dest="mode",
        action="store_const",
        const="static_isotropic",
        help="override the mode: static, one (averaged) angle",
    )
    mode.add_argument(
        "--static-anisotropic",
        dest="mode",
        action="store_const",
        const="static_anisotropic",
        help="override the mode: static, several angles",
    )
    mode.add_argument(
        "--laminar-flow",
        dest="mode",
        action="store_const",
        const="laminar_flow",
        help="override the mode: diffusion + shear flow (7 parameters)",
    )
    p.add_argument(
        "--plot-experimental-data",
        action="store_true",
        help="plot the selected data (c2 maps per angle) and stop",
    )
    p.add_argument(
        "--plot-simulated-data",
        action="store_true",
        help="plot the model at the initial parameters on the data's times and angles, and stop",
    )
    p.add_argument("--no-plots", action="store_true", help="do not write PNG plots")
    mc = p.add_argument_group(
        "MCMC", "override keys of the configuration's mcmc section (validated the same way)"
    )
    for flag, key, typ, text in _MCMC_FLAGS:
        mc.add_argument(flag, dest=f"mcmc_{key}", type=typ, metavar=key.upper(), help=text)
    mc.add_argument(
        "--mcmc-backend",
        dest="mcmc_backend",
        metavar="NAME",
        help="registered MCMC backend to use, mcmc.backend (see '%(prog)s backends')",
    )
    verb = p.add_mutually_exclusive_group()
    verb.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="more log output (-vv: debug); tracebacks on errors",
    )
    verb.add_argument("-q", "--quiet", action="store_true", help="only errors")
    p.add_argument(
        "--version", action="version", version=f"%(prog)s (homodyne-analysis) {__version__}"
    )
    return p


#: Command-line overrides of the configuration's mcmc section: (flag, key, type, help).
_MCMC_FLAGS = (
    ("--draws", "draws", int, "posterior draws per chain"),
    ("--tune", "tune", int, "tuning (warm-up) steps per chain"),
    ("--chains", "chains", int, "number of chains"),
    ("--target-accept", "target_accept", float, "NUTS target acceptance probability"),
    ("--max-treedepth", "max_treedepth", int, "NUTS maximum tree depth"),
    ("--seed", "seed", int, "random seed of the sampler"),
    ("--frame-stride", "frame_stride", int, "data reduction: keep every k-th frame"),
    ("--max-lag", "max_lag", int, "data reduction: keep pairs with j - i <= MAX_LAG"),
    ("--reparam", "reparam", str, "power-law coordinates: auto, plain or power_law"),
    ("--pytensor-mode", "pytensor_mode", str, "PyMC backend: PyTensor compiler, auto, c or numba"),
    ("--gradient", "gradient", str, "likelihood gradient: auto, kernel, numba or autodiff"),
    ("--precision", "precision", str, "NumPyro backend, laminar: float64 or float32 per pair"),
    ("--sampler", "sampler", str, "PyMC backend: NUTS implementation, pymc or nutpie"),
    (
        "--chain-method",
        "chain_method",
        str,
        "NumPyro backend: auto, vectorized, sequential, parallel or processes",
    ),
    ("--platform", "platform", str, "NumPyro backend: where chains run, auto, gpu or cpu"),
    (
        "--gpu-min-values",
        "gpu_min_values",
        int,
        "NumPyro backend, platform auto: smallest problem run on a GPU",
    ),
)

#: Behaviour switches that may also come from the environment: variable -> mcmc key. The
#: environment is read here, at the entry point, and nowhere in the library (except
#: HOMODYNE_GPU_INTENT and HOMODYNE_MCMC_BACKEND, the routing of get_mcmc_backend); a
#: command-line option wins over the variable, the variable over the configuration file.
_MCMC_ENV = {
    "HOMODYNE_MCMC_REPARAM": "reparam",
    "HOMODYNE_PYTENSOR_MODE": "pytensor_mode",
    "HOMODYNE_CHAIN_METHOD": "chain_method",
    "HOMODYNE_MCMC_PLATFORM": "platform",
    "HOMODYNE_MCMC_GRADIENT": "gradient",
    "HOMODYNE_MCMC_SAMPLER": "sampler",
    "HOMODYNE_MCMC_BACKEND": "backend",
}


def environment_overrides(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The ``mcmc`` keys set by ``HOMODYNE_*`` variables (:data:`_MCMC_ENV`)."""
    env = os.environ if environ is None else environ
    return {key: env[var].strip() for var, key in _MCMC_ENV.items() if env.get(var, "").strip()}


def _setup_logging(verbose: int, quiet: bool) -> None:
    level = logging.WARNING if quiet else (logging.DEBUG if verbose > 1 else logging.INFO)
    logging.basicConfig(
        level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr, force=True
    )
    if not verbose:
        # PyTensor reports its compiler probing and configuration at INFO; only with -v
        logging.getLogger("pytensor").setLevel(max(level, logging.WARNING))


def _run(args: argparse.Namespace, argv: list[str]) -> int:
    from .config import load_config

    if not args.config:
        raise UsageError(
            f"--config FILE is required (write a template with 'homodyne-config --mode MODE -o FILE'; see '{PROG} --help')"
        )
    config = load_config(args.config)
    if args.mode:
        config = config.with_mode(args.mode)
    config = config.with_overrides("mcmc", environment_overrides(), "environment")
    overrides = {
        key: getattr(args, f"mcmc_{key}")
        for _flag, key, _t, _h in _MCMC_FLAGS
        if getattr(args, f"mcmc_{key}") is not None
    }
    if args.mcmc_backend:
        overrides["backend"] = args.mcmc_backend
    config = config.with_overrides("mcmc", overrides, "command line")
    output: dict[str, Any] = {}
    if args.run_name is not None:
        output["run_name"] = args.run_name
    if args.overwrite:
        output["overwrite"] = True
    if args.no_plots:
        output["plots"] = False
    config = config.with_overrides("output", output, "command line")
    if (args.plot_experimental_data or args.plot_simulated_data) and args.joint_q is not None:
        raise UsageError(
            "--joint-q cannot be combined with --plot-experimental-data/--plot-simulated-data"
        )
    if args.plot_experimental_data or args.plot_simulated_data:
        from .cli.plot_only import plot_only

        folder = plot_only(
            config,
            data_file=args.data,
            output_dir=args.output_dir,
            experimental=args.plot_experimental_data,
            simulated=args.plot_simulated_data,
        )
        if not args.quiet:
            print(f"plots written to {folder}")
        return 0
    if args.joint_q is not None:
        from .cli.joint_cli import run_joint_command

        return run_joint_command(args, config, [PROG, *argv])
    from .analysis import run_analysis

    outcome = run_analysis(
        config,
        data_file=args.data,
        method=args.method,
        output_dir=args.output_dir,
        command=[PROG, *argv],
        quiet=args.quiet,
    )
    if not args.quiet:
        from .data.angle_selection import input_lines

        print(input_lines(outcome.problem), end="")
        if outcome.classical is not None:
            print(outcome.classical.report(truth=getattr(outcome.problem, "truth", None)))
        if outcome.mcmc is not None:
            print(outcome.mcmc.report(getattr(outcome.problem, "truth", None)))
        print(f"results written to {outcome.run_dir}")
    return _verdict_status(outcome)


def _verdict_status(outcome: Any) -> int:
    """0 when the run's verdict is good, else 3 (results are written either way)."""
    from .results.verdict import run_verdict

    v = run_verdict(outcome.classical, outcome.mcmc)
    if not v["good"]:
        print(
            f"{PROG}: the results are written, but the verdict is not good ({v['text']}); "
            f"exit status {v['exit_status']}",
            file=sys.stderr,
        )
    return int(v["exit_status"])


def main(argv: Sequence[str] | None = None, *, prog: str = PROG) -> int:
    """Entry point of the ``homodyne`` command; returns the exit status."""
    from .runtime import signals

    argv = list(sys.argv[1:] if argv is None else argv)
    verbose = "-v" in argv or "--verbose" in argv or any(a.startswith("-vv") for a in argv)
    try:
        with signals.guard(prog):
            code = _dispatch(argv, prog)
        signum = signals.interrupted()
        if signum is not None and code != signals.exit_code(signum):
            # A signal arrived, but no code reported it (a library dropped the
            # interruption and the run went on to its end): a signal is never lost. The
            # line says whether results were written before it.
            return signals.report(signum, signals.current_stage(), prog)
        return code
    except UsageError as exc:
        print(f"{prog}: usage error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:  # signals.Interrupted for SIGINT, SIGTERM, SIGHUP
        signum = getattr(exc, "signum", None) or signals.interrupted() or 2
        return signals.report(signum, getattr(exc, "stage", "the run"), prog)
    except Exception as exc:  # every failure becomes one line (and a traceback with -v)
        from .errors import HomodyneError

        signum = signals.interrupted()
        if signum is not None:  # a library failed because it was interrupted
            return signals.report(signum, signals.current_stage(), prog)

        if verbose:
            import traceback

            traceback.print_exc()
        if isinstance(exc, HomodyneError):
            print(f"{prog}: error: {exc}", file=sys.stderr)
            return exc.exit_code
        if isinstance(exc, MemoryError):
            print(
                f"{prog}: error: out of memory; reduce the frame window or the number of angles",
                file=sys.stderr,
            )
            return 1
        if isinstance(exc, OSError) and exc.filename:
            print(f"{prog}: error: {exc.filename}: {exc.strerror or exc}", file=sys.stderr)
            return 1
        print(
            f"{prog}: internal error: {type(exc).__name__}: {exc} (run with -v for the traceback and report it)",
            file=sys.stderr,
        )
        return 1


def _dispatch(argv: list[str], prog: str) -> int:
    if argv and argv[0] in _SUBCOMMANDS:
        from .cli import subcommands

        return int(
            subcommands.dispatch(argv[0], argv[1:], prog=f"{prog} {argv[0]}", parser_cls=_Parser)
        )
    parser = _main_parser(prog)
    args = parser.parse_args(argv)
    _setup_logging(args.verbose, args.quiet)
    return _run(args, argv)


if __name__ == "__main__":  # pragma: no cover
    os.environ.setdefault("HOMODYNE_GPU_INTENT", "false")
    sys.exit(main())
