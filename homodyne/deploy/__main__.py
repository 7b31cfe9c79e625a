"""homodyne-deploy: put a homodyne-analysis environment into a site prefix as a module.

  homodyne-deploy install --prefix ROOT --version V --env cpu|gpu --lock FILE
        [--lock-env NAME] [--mirror [CHANNEL=]URL ...] [--pkgs-dir DIR]
        [--lmod-dir DIR] [--tcl-dir DIR] [--dialect lmod|tcl ...] [--no-fit] [--force] [--note TEXT]
  homodyne-deploy verify --prefix ROOT --version V --env cpu|gpu [--no-fit]
  homodyne-deploy modulefiles --prefix ROOT --version V --env cpu|gpu [--lmod-dir DIR] [--tcl-dir DIR]
  homodyne-deploy lock --version V --env cpu [--env gpu] --channel URL ... --output FILE
                       [--cuda 12] [--cuda-driver 12.2]

install: frozen install of the lock's records with py-rattler (no solve), smoke test
(homodyne --version, is_<env>_mcmc_available(), a tiny classical fit), modulefiles
homodyne/<V>-<env> for Lmod and Environment Modules. Re-running is a verified no-op.
lock: (source checkout only) solve homodyne-analysis-cpu/-gpu ==V from the channels and
write the deployment lock (pixi.lock format 7).
Exit status: 0 done, 1 failed (nothing left behind), 2 usage error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from .. import __version__
from . import install, lockfile


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="homodyne-deploy",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument(
        "--version", action="version", version=f"homodyne-deploy (homodyne-analysis) {__version__}"
    )
    sub = ap.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--prefix", type=Path, required=True, help="site prefix (ROOT/homodyne/<version>-<env>)"
        )
        p.add_argument(
            "--version",
            dest="release",
            default=__version__,
            help=f"homodyne-analysis version to deploy (default {__version__})",
        )
        p.add_argument("--env", choices=("cpu", "gpu"), required=True, help="which MCMC stack")

    def module_dirs(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--lmod-dir", type=Path, help="Lmod modulefile tree (default ROOT/modulefiles/lmod)"
        )
        p.add_argument(
            "--tcl-dir", type=Path, help="Tcl modulefile tree (default ROOT/modulefiles/tcl)"
        )
        p.add_argument(
            "--dialect",
            action="append",
            choices=("lmod", "tcl"),
            help="write only these dialects (repeatable; default both)",
        )

    p = sub.add_parser(
        "install", help="install an environment from its lockfile and write its modulefiles"
    )
    common(p)
    p.add_argument(
        "--lock", type=Path, required=True, help="the deployment lockfile (pixi.lock format)"
    )
    p.add_argument("--lock-env", help="environment name inside the lock (default: --env)")
    p.add_argument(
        "--mirror",
        action="append",
        default=[],
        metavar="[CHANNEL=]URL",
        help="fetch the locked packages from this mirror or local channel instead of the "
        "channel the lock names (all channels, or only CHANNEL); repeatable",
    )
    p.add_argument("--pkgs-dir", type=Path, help="rattler package cache (default: rattler's)")
    module_dirs(p)
    p.add_argument(
        "--no-fit", action="store_true", help="skip the tiny classical fit of the smoke test"
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="replace a deployment of this name made from another lock",
    )
    p.add_argument("--note", default="", help="a line shown in the modulefiles' help and whatis")
    p.add_argument("--json", action="store_true", help="print the result as JSON")

    p = sub.add_parser("verify", help="check a deployment against its lock and smoke-test it")
    common(p)
    p.add_argument("--no-fit", action="store_true")

    p = sub.add_parser("modulefiles", help="rewrite the modulefiles of a deployment")
    common(p)
    module_dirs(p)

    p = sub.add_parser("lock", help="write a deployment lock (needs py-rattler and the channels)")
    p.add_argument("--version", dest="release", default=__version__)
    p.add_argument("--env", action="append", choices=("cpu", "gpu"), required=True)
    p.add_argument(
        "--channel", action="append", required=True, help="channel name, URL or folder (repeatable)"
    )
    p.add_argument("--output", type=Path, required=True)
    p.add_argument(
        "--cuda",
        default="12",
        help="CUDA major of the gpu build (default 12; build strings cuda12_*)",
    )
    p.add_argument(
        "--cuda-driver",
        default=None,
        metavar="VERSION",
        help="CUDA version of the site's NVIDIA driver (nvidia-smi, e.g. 12.2) to solve the "
        "gpu environment for; default: the --cuda major",
    )
    return ap


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "install":
            req = install.Request(
                root=args.prefix,
                version=args.release,
                env=args.env,
                lock=args.lock,
                lock_env=args.lock_env,
                mirrors=args.mirror,
                pkgs_dir=args.pkgs_dir,
                lmod_dir=args.lmod_dir,
                tcl_dir=args.tcl_dir,
                dialects=tuple(args.dialect or ("lmod", "tcl")),
                fit=not args.no_fit,
                force=args.force,
                note=args.note,
                log=lambda m: print(f"homodyne-deploy: {m}", file=sys.stderr, flush=True),
            )
            res = install.deploy(req)
            if args.json:
                print(
                    json.dumps(
                        {
                            "status": res.status,
                            "prefix": str(res.env_dir),
                            "modulefiles": res.modulefiles,
                            "seconds": res.seconds,
                            "smoke": res.smoke,
                        },
                        indent=2,
                    )
                )
            else:
                print(f"{res.status}: {res.env_dir}")
                for dialect, path in res.modulefiles.items():
                    print(f"  {dialect}: {path}")
        elif args.command == "verify":
            smoke = install.verify(args.prefix, args.release, args.env, fit=not args.no_fit)
            print(json.dumps({"ok": True, "smoke": smoke}, indent=2))
        elif args.command == "modulefiles":
            written = install.write_modulefiles(
                args.prefix,
                args.release,
                args.env,
                args.lmod_dir,
                args.tcl_dir,
                tuple(args.dialect or ("lmod", "tcl")),
            )
            for dialect, path in written.items():
                print(f"{dialect}: {path}")
        else:
            specs = {
                env: lockfile.release_specs(env, args.release, args.cuda)
                for env in dict.fromkeys(args.env)
            }
            lock_path = lockfile.write_release_lock(
                args.output,
                args.release,
                args.channel,
                specs,
                cuda=(args.cuda_driver or lockfile.cuda_major(args.cuda))
                if "gpu" in specs
                else None,
            )
            sha = lockfile.file_sha256(lock_path)
            print(f"wrote {lock_path} ({', '.join(specs)}; sha256 {sha})")
    except (install.DeployError, lockfile.LockError) as exc:
        print(f"homodyne-deploy: error: {exc}", file=sys.stderr)
        return _exit_after_solve(args, 1, hard=argv is None)
    return _exit_after_solve(args, 0, hard=argv is None)


def _exit_after_solve(args: argparse.Namespace, code: int, hard: bool) -> int:
    """py-rattler 0.28 can crash (SIGSEGV) while the interpreter shuts down after a solve
    (seen after a failed one, 1 run in 6); the lock is written atomically before, so the
    command line (``hard``: main() called without argv, as the console script and
    ``python -m`` do) skips the interpreter's shutdown there and keeps the exit status."""
    if hard and args.command == "lock":
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


if __name__ == "__main__":
    sys.exit(main())
