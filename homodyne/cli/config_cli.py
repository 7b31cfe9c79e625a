"""The ``homodyne-config`` command: write a complete configuration template."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .._version import __version__
from ..model import MODES

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="homodyne-config",
        description="Write a complete JSON configuration template for one analysis mode. "
        "Every key is explained in the configuration reference of the documentation.",
    )
    p.add_argument(
        "--mode",
        "-m",
        choices=tuple(MODES),
        default="laminar_flow",
        help="analysis mode (default: laminar_flow)",
    )
    p.add_argument(
        "--output",
        "-o",
        default="my_config.json",
        metavar="FILE",
        help="file to write (default: my_config.json)",
    )
    p.add_argument(
        "--data", metavar="FILE", help="data file (HDF5, .npy or .npz) to put into data.file"
    )
    p.add_argument("--force", action="store_true", help="replace FILE if it exists")
    p.add_argument(
        "--version", action="version", version=f"%(prog)s (homodyne-analysis) {__version__}"
    )
    args = p.parse_args(argv)
    from ..config import write_template
    from ..errors import HomodyneError

    try:
        path = write_template(args.mode, args.output, overwrite=args.force, data_file=args.data)
    except HomodyneError as exc:
        print(f"homodyne-config: error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(
            f"homodyne-config: error: cannot write {args.output}: {exc.strerror}", file=sys.stderr
        )
        return 1
    print(f"wrote {args.mode} template to {path}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
