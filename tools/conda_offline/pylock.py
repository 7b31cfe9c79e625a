"""uv.lock (universal) and its PEP 751 exports, one per extra, in environments/.

    python -m tools.conda_offline.pylock --write   # uv lock, then export every pylock file
    python -m tools.conda_offline.pylock --check   # uv lock --check, and the exports match

Offline-capable: UV_PYTHON_DOWNLOADS=never and an explicit --python (this interpreter);
``--check`` needs no network (``uv lock --check --offline``, ``uv export --frozen``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from ._cli import write_or_check
from .depmap import REPO_ROOT

EXPORTS = {
    None: "pylock.toml",
    "mcmc": "pylock.mcmc.toml",
    "mcmc-gpu": "pylock.mcmc-gpu.toml",
    "mcmc-all": "pylock.mcmc-all.toml",
    "all": "pylock.all.toml",
    "dev": "pylock.dev.toml",
    "docs": "pylock.docs.toml",
}
OUT_DIR = REPO_ROOT / "environments"


def _uv(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    uv = shutil.which("uv") or str(Path(sys.executable).with_name("uv"))
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}
    py = f"--python={sys.executable}"
    return subprocess.run(
        [uv, *args, py], cwd=REPO_ROOT, env=env, check=check, capture_output=True, text=True
    )


def export(out_dir: Path) -> None:
    for extra, name in EXPORTS.items():
        args = [
            "export",
            "--frozen",
            "--format",
            "pylock.toml",
            "--no-emit-project",
            "--no-header",
            "--quiet",
            "-o",
            str(out_dir / name),
        ]
        if extra:
            args += ["--extra", extra]
        _uv(*args)


def check() -> list[str]:
    problems = []
    proc = _uv("lock", "--check", "--offline", check=False)
    if proc.returncode != 0:
        problems.append(f"uv.lock is out of date: {proc.stderr.strip()[-500:]}")
    with tempfile.TemporaryDirectory() as tmp:
        export(Path(tmp))
        for name in EXPORTS.values():
            committed = OUT_DIR / name
            if not committed.exists():
                problems.append(f"environments/{name} is missing")
            elif committed.read_text() != (Path(tmp) / name).read_text():
                problems.append(f"environments/{name} differs from `uv export` of uv.lock")
    return problems


def _write() -> None:
    _uv("lock")
    export(OUT_DIR)


def main(argv: list[str] | None = None) -> int:
    return write_or_check(
        __doc__, _write, check, "uv.lock and environments/pylock.*.toml are up to date", argv
    )


if __name__ == "__main__":
    sys.exit(main())
