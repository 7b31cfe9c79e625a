"""The ``--write`` / ``--check`` command line shared by the generators."""

from __future__ import annotations

import argparse
from collections.abc import Callable


def write_or_check(
    doc: str,
    write: Callable[[], None],
    check: Callable[[], list[str]],
    ok: str,
    argv: list[str] | None,
) -> int:
    ap = argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--write", action="store_true", help="regenerate the files")
    g.add_argument("--check", action="store_true", help="exit 1 if a file is out of step")
    args = ap.parse_args(argv)
    if args.write:
        write()
        return 0
    problems = check()
    print("\n".join(problems) or ok)
    return 1 if problems else 0
