"""Where the offline channel imitates conda-forge's *run metadata*, not only its names.

Converted PyPI wheels carry PyPI's requirements. conda-forge's recipes add requirements
that change what an environment holds (read from the feedstocks' recipe files):

* pytensor-suite-feedstock: ``pytensor`` is a thin package over ``pytensor-base`` that
  runs with a C++ compiler package (``gxx`` on Linux) and a BLAS; ``gxx`` installs
  unprefixed ``gcc``/``g++`` into the environment's ``bin``. Here: the pytensor wheel
  depends on ``gxx``, and :func:`compiler_standin` is a ``gxx`` whose ``bin/gcc``,
  ``bin/g++``, ``bin/cc``, ``bin/c++`` run the machine's compiler, so that CI sees what a
  conda-forge environment puts on PATH (the HPC modules must not shadow site compilers with
  it, and PyTensor must still compile). The BLAS choice (``blas * mkl``) is not imitated.
* pymc-feedstock: ``pymc`` is a metapackage over ``pymc-base`` (noarch python). Here: the
  pymc wheel becomes ``pymc-base`` and a ``pymc`` metapackage pins it exactly.
* jaxlib-feedstock: CUDA builds depend on ``__cuda`` (see channel.cuda_overrides).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from .wheels import Override, Wheel

#: stand-in name -> the machine's compiler it runs
COMPILERS = {"gcc": "gcc", "cc": "gcc", "g++": "g++", "c++": "g++"}
GXX_VERSION = "14.2.0"


def overrides(wheels: dict[str, Wheel]) -> dict[str, Override]:
    out = {}
    if "pytensor" in wheels:
        out["pytensor"] = Override(extra_depends=["gxx"])
    if "pymc" in wheels:
        out["pymc"] = Override(name="pymc-base")
    return out


def metapackages(wheels: dict[str, Wheel]) -> list[dict]:
    out = []
    if "pymc" in wheels:
        v = wheels["pymc"].version
        out.append({"name": "pymc", "version": v, "depends": [f"pymc-base =={v}"]})
    return out


def compiler_standin(channel_dir: Path, real_bin: str = "/usr/bin") -> Path:
    """A linux-64 ``gxx`` package with unprefixed compiler commands in ``bin``."""
    from rattler_build import assemble_package

    with tempfile.TemporaryDirectory(prefix="homodyne-gxx-") as tmp:
        bin_dir = Path(tmp) / "bin"
        bin_dir.mkdir()
        for name, real in COMPILERS.items():
            script = bin_dir / name
            script.write_text(
                "#!/bin/sh\n"
                "# offline stand-in for conda-forge's gxx: unprefixed, like the real one\n"
                f'exec {real_bin}/{real} "$@"\n'
            )
            script.chmod(0o755)
        out = assemble_package(
            name="gxx",
            version=GXX_VERSION,
            target_platform="linux-64",
            build_string="offline_0",
            output_dir=channel_dir / "linux-64",
            files_dir=tmp,
            summary="offline stand-in for conda-forge's gxx (runs the machine's compiler)",
        )
    return Path(out.path) if hasattr(out, "path") else channel_dir / "linux-64"
