"""``homodyne --joint-q``: the joint fit across q of one file from the main command.

``--joint-q [Q ...]`` fits the selected q rings of the configured data file with one
physical parameter set (:func:`homodyne.joint.run_joint`, the same analysis as ``homodyne
batch --joint-q``): the q rings listed (the nearest ring of the file to each), or every
ring of the file with ``--joint-q all`` or ``--joint-q`` alone. ``--method mcmc``/``all`` also samples the joint posterior.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import ConfigError

__all__ = ["joint_q_values", "run_joint_command"]


def joint_q_values(config: Any, q_arg: list[str] | None, data_file: str | None) -> list[float]:
    """The q rings of the joint fit: the ``--joint-q`` values, or every ring of the file."""
    if q_arg and q_arg != ["all"]:
        try:
            qs = [float(v) for v in q_arg]
        except ValueError as exc:
            raise ConfigError(f"--joint-q: expected q values or 'all', got {q_arg}") from exc
    else:
        from ..batch.tasks import file_q_rings

        path = Path(data_file) if data_file else config.resolve_path(config.data["file"])
        if path is None or not Path(path).is_file():
            raise ConfigError(
                f"--joint-q: data file {path} not found (give --data FILE or data.file)"
            )
        if Path(path).suffix.lower() in (".npy", ".npz"):
            raise ConfigError(
                f"--joint-q needs a multi-q APS HDF5 file; {path} is a NumPy file with one q"
            )
        qs = file_q_rings(Path(path), config.data["layout"])
    if len(qs) < 2:
        raise ConfigError(
            f"--joint-q needs at least two q rings, got {qs}; list them with --joint-q Q1 Q2 ... "
            "(or --joint-q all for every ring of the file)"
        )
    return qs


def run_joint_command(args: Any, config: Any, command: list[str]) -> int:
    """Run the joint fit of the main command; returns the exit status (0 good, 3 not good)."""
    import sys

    from ..joint import run_joint
    from ..joint_output import joint_report

    if args.data:
        config = config.with_overrides("data", {"file": str(Path(args.data).resolve())}, "--data")
    qs = joint_q_values(config, args.joint_q, None)
    outcome = run_joint(
        config, q_values=qs, method=args.method, output_dir=args.output_dir, command=command
    )
    if not args.quiet:
        print(joint_report(outcome))
        print(f"results written to {outcome.run_dir}")
    good = outcome.joint.success and outcome.joint.chi2_red <= 1.5 and outcome.check["consistent"]
    if outcome.joint_mcmc is not None:
        good = good and outcome.joint_mcmc.assessment.good
    if not good:
        print(
            f"{command[0]}: the results are written, but the joint fit's verdict is not good; exit status 3",
            file=sys.stderr,
        )
    return 0 if good else 3
