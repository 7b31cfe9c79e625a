"""conda-lock lock files for the environment files: the one place their commands come from.

    python -m tools.conda_offline.condalock --print   # the commands, one a line
    python -m tools.conda_offline.condalock --run     # run them (needs conda-forge)

conda-lock uses its *own* virtual packages (linux-64 ``__cuda`` 11.4 by default) and
ignores ``CONDA_OVERRIDE_CUDA``: a CUDA environment needs ``--with-cuda <major>``, else
jaxlib's CUDA 12 builds (which depend on ``__cuda``) cannot be chosen. The platforms of
each file are those of its pixi environment (tools/conda_offline/manifest.py), the CUDA
major that of its CUDA-aware platform. docs/packaging.rst and .github/workflows/lock.yml
use these commands (tests/packaging/test_condalock.py keeps them in step).
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
from dataclasses import dataclass

from . import envfiles
from . import manifest as mf
from .depmap import REPO_ROOT


@dataclass(frozen=True)
class LockJob:
    env_file: str  # relative to the repository root
    platforms: tuple[str, ...]  # conda subdirs
    cuda: str | None  # the --with-cuda major, None for CPU environments
    lockfile: str

    def argv(self, channels: tuple[str, ...] = ()) -> list[str]:
        args = ["conda-lock", "lock", "-f", self.env_file]
        for p in self.platforms:
            args += ["-p", p]
        if self.cuda:
            args += ["--with-cuda", self.cuda]
        for c in channels:
            args += ["-c", c]
        return [*args, "--lockfile", self.lockfile]

    def command(self) -> str:
        return shlex.join(self.argv())


def jobs(manifest: dict | None = None) -> list[LockJob]:
    """One lock job per environment file of the default workspace (not the opt-in CUDA 13)."""
    manifest = manifest or mf.load()
    named = mf.platforms(manifest)
    out = []
    for env, fname in envfiles.FILES.items():
        subdirs: list[str] = []
        cudas = set()
        for name in mf.env_platforms(manifest, env):
            p = named[name]
            if p["subdir"] not in subdirs:
                subdirs.append(p["subdir"])
            if p["cuda"]:
                cudas.add(str(p["cuda"]))
        if len(cudas) > 1:
            raise ValueError(f"environment {env}: more than one CUDA major {sorted(cudas)}")
        stem = fname.removesuffix(".yml")
        out.append(
            LockJob(
                env_file=f"environments/{fname}",
                platforms=tuple(subdirs),
                cuda=cudas.pop() if cudas else None,
                lockfile=f"environments/{stem}.conda-lock.yml",
            )
        )
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--print", action="store_true", help="print the conda-lock commands")
    g.add_argument("--run", action="store_true", help="run them (needs conda-forge)")
    args = ap.parse_args(argv)
    for job in jobs():
        if args.print:
            print(job.command())
        else:
            print("+", job.command(), flush=True)
            subprocess.run(job.argv(), cwd=REPO_ROOT, check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
