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
from .depmap import REPO_ROOT, load_pyproject

OUT_DIR = REPO_ROOT / "environments"


def exports() -> dict[str | None, str]:
    """One export per extra of pyproject.toml (None: the core dependencies), so that a new
    extra gets its pylock file without an edit here."""
    extras = load_pyproject()["project"].get("optional-dependencies", {})
    return {None: "pylock.toml", **{e: f"pylock.{e}.toml" for e in extras}}


def _uv(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    uv = shutil.which("uv") or str(Path(sys.executable).with_name("uv"))
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}
    py = f"--python={sys.executable}"
    return subprocess.run(
        [uv, *args, py], cwd=REPO_ROOT, env=env, check=check, capture_output=True, text=True
    )


def export(out_dir: Path) -> None:
    for extra, name in exports().items():
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
        names = set(exports().values())
        for name in sorted(names):
            committed = OUT_DIR / name
            if not committed.exists():
                problems.append(f"environments/{name} is missing")
            elif committed.read_text() != (Path(tmp) / name).read_text():
                problems.append(f"environments/{name} differs from `uv export` of uv.lock")
        for stale in sorted(p.name for p in OUT_DIR.glob("pylock*.toml")):
            if stale not in names:
                problems.append(f"environments/{stale} belongs to no extra of pyproject.toml")
    return problems


def _write() -> None:
    _uv("lock")
    names = set(exports().values())
    for stale in OUT_DIR.glob("pylock*.toml"):
        if stale.name not in names:
            stale.unlink()
    export(OUT_DIR)


def main(argv: list[str] | None = None) -> int:
    return write_or_check(
        __doc__, _write, check, "uv.lock and environments/pylock.*.toml are up to date", argv
    )


if __name__ == "__main__":
    sys.exit(main())
