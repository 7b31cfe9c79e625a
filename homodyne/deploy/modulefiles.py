"""Modulefiles for a deployed environment, in both dialects.

* Lmod (``<lmod-dir>/homodyne/<version>-<env>.lua``)
* Environment Modules, Tcl (``<tcl-dir>/homodyne/<version>-<env>``), also read by Lmod

Both modules of one version belong to the family ``homodyne`` (Tcl: ``family`` where the
module tool has it, Environment Modules >= 5.1 and Lmod; otherwise ``conflict homodyne``),
so ``module load homodyne/1.0.0-gpu`` replaces ``homodyne/1.0.0-cpu`` (Lmod) or
``module swap`` does (both). The cpu module is the default version (``module load
homodyne`` loads it; ``.modulerc.lua`` / ``.modulerc`` in the family folder, rewritten by
each cpu deployment). They set only ``PATH`` (a shim folder ``<prefix>/homodyne-bin``
prepended, holding the package's own commands and ``homodyne-python``, never the
environment's ``bin``: conda-forge's pytensor pulls in gxx, whose unprefixed ``gcc`` and
``g++`` would shadow the site's compilers),
the environment's own activation variables (``CONDA_PREFIX`` and whatever its activation
scripts export, recorded at deployment), ``PYTHONNOUSERSITE=1``, and per backend:

* cpu: ``PYTENSOR_FLAGS=base_compiledir=${TMPDIR:-/tmp}/pytensor-$USER[-job<ID>]``, worked
  out when the module is loaded, so each batch job compiles into its own directory instead
  of fighting over the lock of one shared compile cache; with ``,cxx=<prefix>/bin/g++``
  when the environment has its own compiler, so PyTensor uses it without it being on PATH;
* gpu: ``XLA_PYTHON_CLIENT_PREALLOCATE=false`` (JAX takes GPU memory as it needs it rather
  than 75 % of the card at start-up).

Scalar variables use ``pushenv``, so unloading restores the value a user had before.
``LD_LIBRARY_PATH`` is never set: conda packages find their libraries through RPATH, and an
``LD_LIBRARY_PATH`` into the environment would shadow the system's CUDA driver.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

from .._util.atomic import atomic_write_text

FAMILY = "homodyne"
BACKENDS = {
    "cpu": "PyMC/PyTensor on the CPU",
    "gpu": "NumPyro/JAX, CUDA GPU (JAX falls back to the CPU without one)",
}
# Never written into a modulefile, whatever an activation script exports.
FORBIDDEN = frozenset({"LD_LIBRARY_PATH", "LD_PRELOAD", "PYTHONPATH", "PYTHONHOME", "PATH"})
#: The folder of ``<prefix>`` the modules put on PATH, and what it holds: name -> target in
#: ``<prefix>/bin`` (homodyne-python runs the environment's interpreter).
SHIM_DIR = "homodyne-bin"
SHIMS = {
    "homodyne": "homodyne",
    "homodyne-config": "homodyne-config",
    "homodyne-gpu": "homodyne-gpu",
    "homodyne-deploy": "homodyne-deploy",
    "homodyne-python": "python",
}
#: The environment's C++ compiler, as conda-forge's gxx installs it (unprefixed link first).
_CXX = ("g++", "x86_64-conda-linux-gnu-g++", "aarch64-conda-linux-gnu-g++")
_JOB_ID_VARS = ("SLURM_JOB_ID", "PBS_JOBID", "LSB_JOBID", "JOB_ID")


@dataclass(frozen=True)
class ModuleInfo:
    """Everything a modulefile says; all of it comes from the deployment record."""

    version: str
    env: str  # "cpu" | "gpu"
    prefix: str  # the deployed environment
    lock_path: str  # the lockfile it was installed from
    lock_sha256: str
    lock_env: str  # the environment inside that lockfile
    lock_copy: str  # the copy kept inside the prefix
    packages: int
    env_vars: dict[str, str] = field(default_factory=dict)  # activation variables, PATH aside
    note: str = ""
    pytensor_cxx: str = ""  # the environment's g++ for PyTensor (cpu), found by write()

    @property
    def name(self) -> str:
        return f"{FAMILY}/{self.version}-{self.env}"

    def variables(self) -> dict[str, str]:
        """The static variables, in a stable order (PYTENSOR_FLAGS is set at load time)."""
        bad = sorted(set(self.env_vars) & FORBIDDEN)
        if bad:
            raise ValueError(f"refusing to write {', '.join(bad)} into a modulefile")
        out = dict(sorted(self.env_vars.items()))
        out["PYTHONNOUSERSITE"] = "1"
        if self.env == "gpu":
            out["XLA_PYTHON_CLIENT_PREALLOCATE"] = "false"
        return out

    def help_text(self) -> str:
        lines = [
            f"homodyne-analysis {self.version}, MCMC backend {self.env}: {BACKENDS[self.env]}",
            "",
            f"Environment:  {self.prefix} ({self.packages} conda packages)",
            f"Lockfile:     {self.lock_path} (environment {self.lock_env!r}, linux-64)",
            f"  sha256:     {self.lock_sha256}",
            f"  copy:       {self.lock_copy}",
            "",
            "Commands: homodyne, homodyne-config, homodyne-gpu, homodyne-deploy, and",
            "homodyne-python (this environment's Python); the environment's bin is not on PATH.",
            f"Family {FAMILY!r}: loading homodyne/{self.version}-{_other(self.env)} swaps this one out.",
        ]
        if self.env == "cpu":
            lines.append(
                "PyTensor compiles into ${TMPDIR:-/tmp}/pytensor-$USER[-job<ID>], "
                "set when the module is loaded: load it inside the batch job."
            )
        else:
            lines.append("XLA_PYTHON_CLIENT_PREALLOCATE=false: JAX allocates GPU memory on demand.")
        if self.note:
            lines += ["", f"NOTE: {self.note}"]
        return "\n".join(lines)

    def whatis(self) -> list[str]:
        out = [
            "Name: homodyne-analysis",
            f"Version: {self.version}",
            f"Backend: {self.env} ({BACKENDS[self.env]})",
            f"Lockfile: {self.lock_path} [{self.lock_env}] sha256:{self.lock_sha256}",
            "Description: nonequilibrium XPCS analysis, homodyne model fitted by least squares and MCMC",
        ]
        if self.note:
            out.append(f"Note: {self.note}")
        return out


def _other(env: str) -> str:
    return "gpu" if env == "cpu" else "cpu"


# --- Lmod (Lua) ---------------------------------------------------------------------------


def _lua(s: str) -> str:
    s = s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{s}"'


def _lua_long(s: str) -> str:
    level = 0
    while f"]{'=' * level}]" in s:
        level += 1
    eq = "=" * level
    return f"[{eq}[\n{s}\n]{eq}]"


def render_lua(info: ModuleInfo) -> str:
    out = [
        f"-- {info.name}: generated by homodyne-deploy from {info.lock_path}; do not edit.",
        f"help({_lua_long(info.help_text())})",
        *(f"whatis({_lua(w)})" for w in info.whatis()),
        f"family({_lua(FAMILY)})",
        "",
        f"local root = {_lua(info.prefix)}",
        f'prepend_path("PATH", pathJoin(root, {_lua(SHIM_DIR)}))',
    ]
    out += [f"pushenv({_lua(k)}, {_lua(v)})" for k, v in info.variables().items()]
    if info.env == "cpu":
        jobs = " or ".join(f"nonempty({_lua(v)})" for v in _JOB_ID_VARS)
        out += [
            "",
            "-- PyTensor: one compile directory per user and batch job, on node-local scratch",
            "local function nonempty(name)",
            "  local v = os.getenv(name)",
            '  if v == nil or v == "" then return nil end',
            "  return v",
            "end",
            f"local job = {jobs}",
            'local dir = pathJoin(nonempty("TMPDIR") or "/tmp", "pytensor-" .. (nonempty("USER") or "user")',
            '                     .. (job and ("-job" .. job) or ""))',
            'local flags = "base_compiledir=" .. dir',
            *(
                [f"flags = flags .. {_lua(',cxx=' + info.pytensor_cxx)}"]
                if info.pytensor_cxx
                else []
            ),
            'local old = nonempty("PYTENSOR_FLAGS")',
            "-- the user's own flags stay (later entries win); unloading pops what load pushed",
            'if mode() == "load" then',
            '  if old then flags = flags .. "," .. old end',
            "elseif old then",
            "  flags = old",
            "end",
            'pushenv("PYTENSOR_FLAGS", flags)',
        ]
    return "\n".join(out) + "\n"


# --- Environment Modules (Tcl) ------------------------------------------------------------


def _tcl(s: str) -> str:
    s = re.sub(r'([\\$\[\]"{}])', r"\\\1", s).replace("\n", "\\n")
    return f'"{s}"'


def render_tcl(info: ModuleInfo) -> str:
    out = [
        "#%Module1.0",
        f"## {info.name}: generated by homodyne-deploy from {info.lock_path}; do not edit.",
        "",
        "proc ModulesHelp {} {",
        f"    puts stderr {_tcl(info.help_text())}",
        "}",
        *(f"module-whatis {_tcl(w)}" for w in info.whatis()),
        "",
        "# one homodyne at a time: family where the tool has it (Lmod, Environment Modules >= 5.1)",
        "if {[info commands family] ne {}} {",
        f"    family {FAMILY}",
        "} else {",
        f"    conflict {FAMILY}",
        "}",
        "# pushenv restores the previous value on unload (Environment Modules >= 5.1, Lmod)",
        "proc homodyne_setenv {name value} {",
        "    if {[info commands pushenv] eq {}} {",
        "        setenv $name $value",
        "        return",
        "    }",
        "    if {[info commands initGA] ne {}} {",
        "        # Lmod reading this Tcl file: its in-process Tcl sets the variable before Lmod's",
        "        # pushenv saves the old value (TACC/Lmod#584); put the old value back for it",
        "        set had [info exists ::env($name)]",
        "        if {$had} { set prev $::env($name) }",
        "        pushenv $name $value",
        "        if {$had} { set ::env($name) $prev } else { unset -nocomplain ::env($name) }",
        "        return",
        "    }",
        "    # Environment Modules 5.2 loses the value from before the first load when",
        "    # `module swap` replaces a module by one pushing the same variable (the emptied",
        "    # stack still exists): record it the way its own pushenv does",
        "    set stack __MODULES_PUSHENV_$name",
        "    if {[module-info mode load] && [info exists ::env($stack)] && $::env($stack) eq {}",
        "            && [info exists ::env($name)]} {",
        "        prepend-path $stack &$::env($name)",
        "    }",
        "    pushenv $name $value",
        "}",
        "",
        f"set root {_tcl(info.prefix)}",
        f"prepend-path PATH $root/{SHIM_DIR}",
    ]
    out += [f"homodyne_setenv {k} {_tcl(v)}" for k, v in info.variables().items()]
    if info.env == "cpu":
        out += [
            "",
            "# PyTensor: one compile directory per user and batch job, on node-local scratch",
            "proc homodyne_getenv {name} {",
            "    if {[info exists ::env($name)]} { return $::env($name) }",
            "    return {}",
            "}",
            "set job {}",
            f"foreach v {{{' '.join(_JOB_ID_VARS)}}} {{",
            "    if {[homodyne_getenv $v] ne {}} { set job -job[homodyne_getenv $v]; break }",
            "}",
            "set tmp [homodyne_getenv TMPDIR]",
            "if {$tmp eq {}} { set tmp /tmp }",
            "set user [homodyne_getenv USER]",
            "if {$user eq {}} { set user user }",
            "set flags base_compiledir=$tmp/pytensor-$user$job",
            *([f"append flags {_tcl(',cxx=' + info.pytensor_cxx)}"] if info.pytensor_cxx else []),
            "# the user's own flags stay (later entries win); unloading pops the value load pushed",
            "set old [homodyne_getenv PYTENSOR_FLAGS]",
            "if {[module-info mode load]} {",
            "    if {$old ne {}} { append flags , $old }",
            "} elseif {$old ne {}} {",
            "    set flags $old",
            "}",
            "homodyne_setenv PYTENSOR_FLAGS $flags",
        ]
    return "\n".join(out) + "\n"


# --- writing ------------------------------------------------------------------------------


def lua_path(lmod_dir: Path, version: str, env: str) -> Path:
    return Path(lmod_dir) / FAMILY / f"{version}-{env}.lua"


def tcl_path(tcl_dir: Path, version: str, env: str) -> Path:
    return Path(tcl_dir) / FAMILY / f"{version}-{env}"


def write_atomic(path: Path, text: str, mode: int = 0o644) -> bool:
    """Write ``text`` to ``path`` by rename (readers see the old or the new file, never a
    partial one). Returns False when the file already had exactly this content."""
    path = Path(path)
    if path.is_file() and path.read_text() == text:
        if (path.stat().st_mode & 0o777) != mode:
            path.chmod(mode)
        return False
    atomic_write_text(path, text, mode=mode)
    return True


def find_cxx(prefix: str | Path) -> str:
    """The environment's own C++ compiler (conda-forge's gxx), or "" when it has none."""
    for name in _CXX:
        path = Path(prefix) / "bin" / name
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
    return ""


def write_shims(prefix: str | Path) -> list[str]:
    """``<prefix>/homodyne-bin``: one small script per command of the package (and
    ``homodyne-python``) that execs it from ``<prefix>/bin``; nothing else, so that a loaded
    module adds no compiler, python or other tool of the environment to PATH."""
    if not (Path(prefix) / "bin").is_dir():
        return []  # no environment there (yet): nothing to point at
    folder = Path(prefix) / SHIM_DIR
    folder.mkdir(exist_ok=True)
    made = []
    for name, target in SHIMS.items():
        dest = Path(prefix) / "bin" / target
        shim = folder / name
        if not dest.exists():
            shim.unlink(missing_ok=True)
            continue
        write_atomic(shim, f'#!/bin/sh\nexec "{dest}" "$@"\n', mode=0o755)
        made.append(name)
    return made


def write_default(version: str, lmod_dir: Path | None, tcl_dir: Path | None) -> list[str]:
    """Make ``homodyne/<version>-cpu`` the default of ``module load homodyne``."""
    out = []
    name = f"{FAMILY}/{version}-cpu"
    if lmod_dir is not None:
        p = Path(lmod_dir) / FAMILY / ".modulerc.lua"
        write_atomic(p, f'module_version({_lua(name)}, "default")\n')
        out.append(str(p))
    if tcl_dir is not None:
        p = Path(tcl_dir) / FAMILY / ".modulerc"
        write_atomic(p, f"#%Module1.0\nmodule-version {name} default\n")
        out.append(str(p))
    return out


def write(info: ModuleInfo, lmod_dir: Path | None, tcl_dir: Path | None) -> dict[str, str]:
    """Write the modulefiles of the dialects asked for, the shim folder they put on PATH
    and, for the cpu module, the default version; returns {dialect: path}."""
    write_shims(info.prefix)
    if info.env == "cpu" and not info.pytensor_cxx:
        info = replace(info, pytensor_cxx=find_cxx(info.prefix))
    if info.env == "cpu":
        write_default(info.version, lmod_dir, tcl_dir)
    written = {}
    if lmod_dir is not None:
        p = lua_path(lmod_dir, info.version, info.env)
        write_atomic(p, render_lua(info))
        written["lmod"] = str(p)
    if tcl_dir is not None:
        p = tcl_path(tcl_dir, info.version, info.env)
        write_atomic(p, render_tcl(info))
        written["tcl"] = str(p)
    return written
