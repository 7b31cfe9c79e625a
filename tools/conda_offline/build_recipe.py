"""Build the conda packages of recipe/ with py-rattler-build, running each output's tests.

    python -m tools.conda_offline.build_recipe --channel conda-forge [--output-dir DIR]
        [--only homodyne-analysis,homodyne-analysis-cpu] [--cuda 12] [--no-test]

This is what ``pixi run -e dev build`` runs; the offline verification calls ``build()``
with its local channel instead of conda-forge.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from .depmap import REPO_ROOT
from .recipe import Output, render


class _Log:
    """Progress callback: keeps the log, prints warnings/errors and the test output."""

    def __init__(self, echo: bool) -> None:
        self.lines: list[str] = []
        self.echo = echo

    def on_download_start(self, event) -> None: ...
    def on_download_progress(self, event) -> None: ...
    def on_download_complete(self, event) -> None: ...

    def on_build_step(self, event) -> None:
        self.lines.append(f"== {event.step_name}: {event.message}")

    def on_log(self, event) -> None:
        self.lines.append(event.message)
        if self.echo and event.level != "info":
            print(f"  [{event.level}] {event.message}", flush=True)


def build(
    outputs: list[Output],
    channels: list[str],
    output_dir: Path,
    *,
    test: bool = True,
    echo: bool = True,
) -> list[dict]:
    """Build the given rendered outputs in order; raise on the first failure (with its log)."""
    from rattler_build import ToolConfiguration

    output_dir.mkdir(parents=True, exist_ok=True)
    # the outputs built so far are a channel too: cpu/gpu need the core package
    channels = [output_dir.resolve().as_uri(), *channels]
    tool = ToolConfiguration(
        test_strategy="native" if test else "skip", channel_priority="disabled"
    )
    results = []
    for out in outputs:
        log = _Log(echo)
        t0 = time.monotonic()
        try:
            res = out.rendered.run_build(
                tool_config=tool, output_dir=output_dir, channels=channels, progress_callback=log
            )
        except Exception as exc:
            tail = "\n".join(log.lines[-60:])
            raise RuntimeError(
                f"building {out.name} ({out.build_string}) failed: {exc}\n{tail}"
            ) from exc
        packages = [str(p) for p in res.packages]
        results.append(
            {
                "name": out.name,
                "build": out.build_string,
                "seconds": round(time.monotonic() - t0, 1),
                "tested": test,
                "packages": packages,
            }
        )
        print(
            f"built {out.name} {out.build_string} in {time.monotonic() - t0:.1f}s "
            f"({'tests passed' if test else 'tests skipped'})",
            flush=True,
        )
    return results


def select(outputs: list[Output], only: list[str] | None, cuda: list[str] | None) -> list[Output]:
    chosen = [
        o
        for o in outputs
        if (not only or o.name in only)
        and (o.cuda_major is None or not cuda or o.cuda_major in cuda)
    ]
    # core first: the others pin it
    return sorted(chosen, key=lambda o: (o.name != "homodyne-analysis", o.name, o.build_string))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--channel", action="append", default=[], help="channel to resolve from (repeatable)"
    )
    ap.add_argument("--output-dir", type=Path, default=REPO_ROOT / "build" / "conda")
    ap.add_argument("--only", help="comma-separated output names")
    ap.add_argument(
        "--cuda", action="append", help="CUDA major of the gpu output (repeatable; default all)"
    )
    ap.add_argument("--no-test", action="store_true", help="skip the recipe tests")
    args = ap.parse_args(argv)
    outputs = select(render(), args.only.split(",") if args.only else None, args.cuda)
    build(outputs, args.channel or ["conda-forge"], args.output_dir, test=not args.no_test)
    return 0


if __name__ == "__main__":
    sys.exit(main())
