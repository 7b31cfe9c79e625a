"""The deployed modules in the real module tools, from a fresh shell with an empty
environment (``env -i``): load the cpu module, run homodyne (version, the backend check, a
tiny classical fit), swap to the gpu module (family), unload, and compare the environment
with the one before the load.

Lmod runs in a login shell (``bash -l``: Debian's /etc/profile.d/lmod.sh defines
``module``) and reads both the Lua and the Tcl tree; Environment Modules 5 runs in a clean
``bash`` that sources its init script. The gpu module is the test-only CPU-JAX deployment
(labelled so in its help text, see conftest.py): a CUDA build cannot be solved here.
Opt-in with the deployment tests (HOMODYNE_HPC_DEPLOY=1).
"""

from __future__ import annotations

import glob
import json
import os
import re
import subprocess
from pathlib import Path

from .conftest import VERSION, Site

# Module-tool bookkeeping, which load/unload may leave behind by design; everything else
# (PATH first) must come back exactly.
BOOKKEEPING = re.compile(
    r"^(_ModuleTable\d+_|_ModuleTable_Sz_|__LMOD_.*|LMOD_.*|_LMFILES_|LOADEDMODULES|"
    r"MODULEPATH(_ROOT)?|MODULESHOME|__MODULES_.*|MODULES_.*|BASH_FUNC_.*|_|SHLVL|PWD|OLDPWD)$"
)

SCRIPT = r"""
if ! type module >/dev/null 2>&1; then source "$HOMODYNE_TEST_INIT"; fi
type -t module > "$OUT/module-type.txt"
module use "$HOMODYNE_TEST_MODULES"
export PYTHONNOUSERSITE=0 PYTENSOR_FLAGS=floatX=float64 XLA_PYTHON_CLIENT_PREALLOCATE=true
export CONDA_PREFIX=/opt/users-own-conda
env -0 > "$OUT/before.env"
module load homodyne/$V-cpu || exit 11
module -t list > "$OUT/list-cpu.txt" 2>&1
homodyne --version > "$OUT/version-cpu.txt" || exit 12
homodyne-python -c "from homodyne.optimization.mcmc_cpu_backend import is_cpu_mcmc_available as ok; print(ok())" \
    > "$OUT/check-cpu.txt" || exit 13
{ command -v gcc; command -v g++; command -v python3; true; } > "$OUT/which-tools.txt"
# PyTensor compiles C with the compiler the module named (PYTENSOR_FLAGS cxx=), not on PATH
homodyne-python -c "import pytensor, pytensor.tensor as pt; from pytensor.compile.mode import Mode; \
x = pt.dscalar('x'); f = pytensor.function([x], pt.exp(x) * 2, mode=Mode(linker='cvm')); \
print(f(0.0), pytensor.config.cxx)" \
    > "$OUT/pytensor-cxx.txt" 2>&1 || exit 21
( cd "$OUT" && homodyne simulate --mode static_isotropic --frames 100 --seed 1 -o fit.h5 \
      --param D0=4000 --param alpha=-0.7 --param D_offset=800 >/dev/null \
  && homodyne-config -m static_isotropic -o fit.json --data fit.h5 >/dev/null \
  && homodyne --config fit.json --output-dir runs --no-plots -q ) \
  || exit 14  # an identifiable point: the fit must end with a good verdict (exit 0)
env -0 > "$OUT/cpu.env"
module help homodyne/$V-cpu > "$OUT/help-cpu.txt" 2>&1
module whatis homodyne/$V-gpu > "$OUT/whatis-gpu.txt" 2>&1
module swap homodyne/$V-cpu homodyne/$V-gpu || exit 15
module -t list > "$OUT/list-gpu.txt" 2>&1
homodyne-python -c "from homodyne.optimization.mcmc_gpu_backend import is_gpu_mcmc_available as ok; print(ok())" \
    > "$OUT/check-gpu.txt" || exit 16
env -0 > "$OUT/gpu.env"
module load homodyne/$V-cpu > "$OUT/load-other.txt" 2>&1
echo $? > "$OUT/load-other.rc"
module -t list > "$OUT/list-after-load.txt" 2>&1
module unload homodyne || exit 17
env -0 > "$OUT/after.env"
# no version given: the cpu module is the default
module load homodyne || exit 19
module -t list > "$OUT/list-default.txt" 2>&1
module unload homodyne || exit 20
# the family proper: another module of family "homodyne" under a different name
module use "$HOMODYNE_TEST_EXTRA"
module load homodyne-legacy/0.9 || exit 18
module load homodyne/$V-cpu > "$OUT/load-family.txt" 2>&1
echo $? > "$OUT/load-family.rc"
module -t list > "$OUT/list-family.txt" 2>&1
echo done > "$OUT/done"
"""

# A stand-in for some other module a site may have in the same family (an older install).
LEGACY_LUA = 'family("homodyne")\nsetenv("HOMODYNE_LEGACY", "1")\n'
LEGACY_TCL = "#%Module1.0\nfamily homodyne\nsetenv HOMODYNE_LEGACY 1\n"


def _env(path: Path) -> dict[str, str]:
    out = {}
    for item in path.read_bytes().decode().split("\0"):
        key, sep, value = item.partition("=")
        if sep:
            out[key] = value
    return out


def _user_vars(env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if not BOOKKEEPING.match(k)}


def _loaded(path: Path) -> list[str]:
    return re.findall(r"homodyne[-\w]*/[^\s:]+", path.read_text())


def _run(site: Site, tmp_path: Path, init: Path, modules: Path, login: bool) -> Path:
    out = tmp_path / "out"
    home = tmp_path / "home"
    scratch = tmp_path / "scratch"
    extra = tmp_path / "extra-modules" / "homodyne-legacy"
    for d in (out, home, scratch, extra):
        d.mkdir(parents=True)
    if modules.name == "lmod":
        (extra / "0.9.lua").write_text(LEGACY_LUA)
    else:
        (extra / "0.9").write_text(LEGACY_TCL)
    env = {
        "HOME": str(home),
        "USER": "tester",
        "LOGNAME": "tester",
        "TMPDIR": str(scratch),
        "TERM": "dumb",
        "PATH": "/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "MPLBACKEND": "Agg",
        "SLURM_JOB_ID": "4242",
        "OUT": str(out),
        "V": VERSION,
        "HOMODYNE_TEST_INIT": str(init),
        "HOMODYNE_TEST_MODULES": str(modules),
        "HOMODYNE_TEST_EXTRA": str(extra.parent),
    }
    shell = (
        ["bash", "-l", "-c", SCRIPT] if login else ["bash", "--noprofile", "--norc", "-c", SCRIPT]
    )
    proc = subprocess.run(
        ["env", "-i", *(f"{k}={v}" for k, v in env.items()), *shell],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=tmp_path,
    )
    files = {p.name: p.read_text(errors="replace")[-1500:] for p in sorted(out.glob("*.txt"))}
    assert proc.returncode == 0 and (out / "done").exists(), (
        f"exit {proc.returncode}\nstdout: {proc.stdout[-3000:]}\nstderr: {proc.stderr[-3000:]}\n{files}"
    )
    return out


def _check(site: Site, out: Path, scratch: Path) -> dict[str, dict[str, str]]:
    cpu_dir = site.root / "homodyne" / f"{VERSION}-cpu"
    gpu_dir = site.root / "homodyne" / f"{VERSION}-gpu"
    before, cpu, gpu, after = (_env(out / f"{n}.env") for n in ("before", "cpu", "gpu", "after"))

    assert (out / "module-type.txt").read_text().strip() == "function"
    # cpu loaded: its bin in front of the old PATH, nothing else in PATH changed
    # only the shim folder (the package's commands) in front: no compiler, python or other
    # tool of the environment shadows the site's
    assert cpu["PATH"] == f"{cpu_dir}/homodyne-bin:{before['PATH']}"
    assert str(cpu_dir) not in (out / "which-tools.txt").read_text()
    compiled, cxx_used = (out / "pytensor-cxx.txt").read_text().split()[-2:]
    assert float(compiled) == 2.0
    env_gxx = cpu_dir / "bin" / "g++"  # the gxx stand-in of the offline channel (pytensor's)
    if env_gxx.exists():
        assert cxx_used == str(env_gxx)
    else:
        assert str(cpu_dir) not in cxx_used
    assert _loaded(out / "list-default.txt") == [f"homodyne/{VERSION}-cpu"]
    assert _loaded(out / "list-cpu.txt") == [f"homodyne/{VERSION}-cpu"]
    assert (out / "version-cpu.txt").read_text().split()[-1] == VERSION
    assert (out / "check-cpu.txt").read_text().strip() == "True"
    results = glob.glob(str(out / "runs" / "*" / "results.json"))
    assert len(results) == 1
    fit = json.loads(Path(results[0]).read_text())["classical"]
    assert fit["converged"] and 0.5 < fit["reduced_chi2"] < 2.0
    assert cpu["PYTHONNOUSERSITE"] == "1"
    assert cpu["CONDA_PREFIX"] == str(cpu_dir)
    # the environment's own compiler (conda-forge's gxx) reaches PyTensor by its flags
    cxx = f",cxx={cpu_dir}/bin/g++" if (cpu_dir / "bin" / "g++").exists() else ""
    assert (
        cpu["PYTENSOR_FLAGS"]
        == f"base_compiledir={scratch}/pytensor-tester-job4242{cxx},floatX=float64"
    )
    assert cpu["XLA_PYTHON_CLIENT_PREALLOCATE"] == "true"  # not the cpu module's business
    for env in (cpu, gpu):
        assert env.get("LD_LIBRARY_PATH") == before.get("LD_LIBRARY_PATH")
    help_text = (out / "help-cpu.txt").read_text()
    assert VERSION in help_text and "MCMC backend cpu" in help_text
    assert site.material.lock.name in help_text
    from homodyne.deploy.lockfile import file_sha256

    assert file_sha256(site.material.lock) in help_text
    whatis = (out / "whatis-gpu.txt").read_text()
    assert "Backend: gpu" in whatis
    assert ("TEST ONLY" in whatis) is not bool(os.environ.get("HOMODYNE_HPC_GPU_LOCK"))

    # swapped to gpu: the cpu module is gone entirely, its variables restored
    assert _loaded(out / "list-gpu.txt") == [f"homodyne/{VERSION}-gpu"]
    assert gpu["PATH"] == f"{gpu_dir}/homodyne-bin:{before['PATH']}"
    assert (out / "check-gpu.txt").read_text().strip() == "True"
    assert gpu["XLA_PYTHON_CLIENT_PREALLOCATE"] == "false"
    assert gpu["PYTENSOR_FLAGS"] == "floatX=float64"
    assert gpu["CONDA_PREFIX"] == str(gpu_dir)

    # unloaded: exactly the environment of before
    assert after["PATH"] == before["PATH"]
    assert _user_vars(after) == _user_vars(before)
    return {"before": before, "after": after}


def test_lmod_load_run_swap_unload(site_with_gpu: Site, lmod_init: Path, tmp_path: Path):
    site = site_with_gpu
    out = _run(site, tmp_path, lmod_init, site.lmod_dir, login=True)
    _check(site, out, tmp_path / "scratch")
    # Lmod's family: loading the other member swaps instead of stacking
    assert (out / "load-other.rc").read_text().strip() == "0"
    assert _loaded(out / "list-after-load.txt") == [f"homodyne/{VERSION}-cpu"]
    # the family swaps out another member under a different name
    assert (out / "load-family.rc").read_text().strip() == "0"
    assert _loaded(out / "list-family.txt") == [f"homodyne/{VERSION}-cpu"]
    assert "automatically replacing" in (out / "load-family.txt").read_text()


def test_lmod_reads_the_tcl_modulefiles(site_with_gpu: Site, lmod_init: Path, tmp_path: Path):
    site = site_with_gpu
    out = _run(site, tmp_path, lmod_init, site.tcl_dir, login=True)
    _check(site, out, tmp_path / "scratch")
    assert _loaded(out / "list-after-load.txt") == [f"homodyne/{VERSION}-cpu"]


def test_environment_modules_load_run_swap_unload(
    site_with_gpu: Site, envmodules_init: Path, tmp_path: Path
):
    version = subprocess.run(
        ["bash", "--noprofile", "--norc", "-c", f"source {envmodules_init}; module --version"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "Modules Release" in version.stdout + version.stderr
    site = site_with_gpu
    out = _run(site, tmp_path, envmodules_init, site.tcl_dir, login=False)
    _check(site, out, tmp_path / "scratch")
    # one homodyne at a time: loading the other member never stacks the two
    loaded = _loaded(out / "list-after-load.txt")
    assert len(loaded) == 1, (loaded, (out / "load-other.txt").read_text())
    # another member of the family is not stacked either (EM 5: refused; Lmod: swapped)
    family = _loaded(out / "list-family.txt")
    assert len(family) == 1, (family, (out / "load-family.txt").read_text())
