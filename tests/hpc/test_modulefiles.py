"""Modulefile text, both dialects: what they set, what they never set, help and whatis.

The load-time logic is run by the real interpreters where present (``lua`` comes with
Lmod, ``tclsh`` with Environment Modules) with the module commands recorded by stubs.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from homodyne.deploy import modulefiles as mf

SHA = "ab" * 32


def info(env: str = "cpu", **kw) -> mf.ModuleInfo:
    base = dict(
        version="1.2.3",
        env=env,
        prefix=f"/sw/homodyne/1.2.3-{env}",
        lock_path="/sw/locks/homodyne-1.2.3.lock",
        lock_sha256=SHA,
        lock_env=env,
        lock_copy=f"/sw/homodyne/1.2.3-{env}/homodyne-deploy/homodyne-1.2.3.lock",
        packages=44,
        env_vars={"CONDA_PREFIX": f"/sw/homodyne/1.2.3-{env}"},
    )
    base.update(kw)
    return mf.ModuleInfo(**base)


@pytest.mark.parametrize("env", ["cpu", "gpu"])
def test_lua_sets_path_family_and_variables(env):
    text = mf.render_lua(info(env))
    assert 'family("homodyne")' in text
    assert text.count("family(") == 1
    assert f'local root = "/sw/homodyne/1.2.3-{env}"' in text
    assert 'prepend_path("PATH", pathJoin(root, "homodyne-bin"))' in text
    assert '"bin")' not in text  # never the environment's bin (its gcc/g++, its python)
    assert 'pushenv("PYTHONNOUSERSITE", "1")' in text
    assert f'pushenv("CONDA_PREFIX", "/sw/homodyne/1.2.3-{env}")' in text
    assert "LD_LIBRARY_PATH" not in text
    assert "setenv(" not in text  # pushenv only: unloading restores the user's values
    if env == "cpu":
        assert 'pushenv("PYTENSOR_FLAGS", flags)' in text
        assert "XLA_PYTHON_CLIENT_PREALLOCATE" not in text
    else:
        assert 'pushenv("XLA_PYTHON_CLIENT_PREALLOCATE", "false")' in text
        assert "PYTENSOR" not in text


@pytest.mark.parametrize("env", ["cpu", "gpu"])
def test_tcl_sets_path_family_and_variables(env):
    text = mf.render_tcl(info(env))
    assert text.startswith("#%Module")
    assert "    family homodyne\n" in text and "    conflict homodyne\n" in text
    assert f'set root "/sw/homodyne/1.2.3-{env}"' in text
    assert "prepend-path PATH $root/homodyne-bin" in text
    assert "$root/bin" not in text
    assert 'homodyne_setenv PYTHONNOUSERSITE "1"' in text
    assert "LD_LIBRARY_PATH" not in text
    if env == "cpu":
        assert "homodyne_setenv PYTENSOR_FLAGS $flags" in text
        assert "XLA_PYTHON_CLIENT_PREALLOCATE" not in text
    else:
        assert 'homodyne_setenv XLA_PYTHON_CLIENT_PREALLOCATE "false"' in text
        assert "PYTENSOR" not in text


@pytest.mark.parametrize("render", [mf.render_lua, mf.render_tcl])
@pytest.mark.parametrize("env", ["cpu", "gpu"])
def test_help_and_whatis_name_version_backend_and_lock(render, env):
    i = info(env, note="test build")
    help_text = i.help_text()
    for needle in (
        "1.2.3",
        f"MCMC backend {env}",
        mf.BACKENDS[env],
        "/sw/locks/homodyne-1.2.3.lock",
        SHA,
        "homodyne-deploy/homodyne-1.2.3.lock",
        "NOTE: test build",
    ):
        assert needle in help_text
    whatis = "\n".join(i.whatis())
    for needle in (
        "Version: 1.2.3",
        f"Backend: {env}",
        "/sw/locks/homodyne-1.2.3.lock",
        f"sha256:{SHA}",
        "Note: test build",
    ):
        assert needle in whatis
    text = render(i)
    assert SHA in text and "/sw/locks/homodyne-1.2.3.lock" in text


@pytest.mark.parametrize("bad", ["LD_LIBRARY_PATH", "LD_PRELOAD", "PYTHONPATH", "PATH"])
def test_forbidden_variables_are_refused(bad):
    with pytest.raises(ValueError, match=bad):
        mf.render_lua(info(env_vars={bad: "/sw/homodyne/1.2.3-cpu/lib"}))
    with pytest.raises(ValueError, match=bad):
        mf.render_tcl(info(env_vars={bad: "/sw/homodyne/1.2.3-cpu/lib"}))


def test_write_atomic_is_readable_and_idempotent(tmp_path):
    i = info()
    written = mf.write(i, tmp_path / "lmod", tmp_path / "tcl")
    lua, tcl = Path(written["lmod"]), Path(written["tcl"])
    assert lua == tmp_path / "lmod" / "homodyne" / "1.2.3-cpu.lua"
    assert tcl == tmp_path / "tcl" / "homodyne" / "1.2.3-cpu"
    for p in (lua, tcl):
        assert stat.S_IMODE(p.stat().st_mode) == 0o644
    mtime = lua.stat().st_mtime_ns
    assert mf.write_atomic(lua, mf.render_lua(i)) is False  # same text: untouched
    assert lua.stat().st_mtime_ns == mtime
    assert mf.write_atomic(lua, mf.render_lua(info(version="1.2.3", note="x"))) is True
    # no temp files left; the cpu module is made the default of `module load homodyne`
    assert sorted(p.name for p in lua.parent.iterdir()) == [".modulerc.lua", "1.2.3-cpu.lua"]
    assert (lua.parent / ".modulerc.lua").read_text() == (
        'module_version("homodyne/1.2.3-cpu", "default")\n'
    )
    assert "module-version homodyne/1.2.3-cpu default" in (tcl.parent / ".modulerc").read_text()
    mf.write(info("gpu"), tmp_path / "lmod", tmp_path / "tcl")  # a gpu module moves no default
    assert "1.2.3-cpu" in (lua.parent / ".modulerc.lua").read_text()


def _fake_env(root: Path, *, cxx: bool) -> Path:
    prefix = root / "1.2.3-cpu"
    (prefix / "bin").mkdir(parents=True)
    names = ["python", "homodyne", "homodyne-config", "homodyne-gpu", "homodyne-deploy", "gcc"]
    for name in names + (["g++"] if cxx else []):
        exe = prefix / "bin" / name
        exe.write_text("#!/bin/sh\necho " + name + ' "$@"\n')
        exe.chmod(0o755)
    return prefix


def test_shims_hold_only_the_package_commands(tmp_path):
    prefix = _fake_env(tmp_path, cxx=True)
    mf.write(info(prefix=str(prefix)), tmp_path / "lmod", None)
    shims = prefix / mf.SHIM_DIR
    assert sorted(p.name for p in shims.iterdir()) == sorted(mf.SHIMS)
    assert not (shims / "gcc").exists() and not (shims / "g++").exists()
    out = subprocess.run([shims / "homodyne-python", "-c", "x"], capture_output=True, text=True)
    assert out.stdout.strip() == "python -c x"
    assert (
        subprocess.run(
            [shims / "homodyne", "--version"], capture_output=True, text=True
        ).stdout.strip()
        == "homodyne --version"
    )


@pytest.mark.parametrize("cxx", [True, False])
def test_pytensor_gets_the_environment_compiler_without_path(tmp_path, cxx):
    prefix = _fake_env(tmp_path, cxx=cxx)
    written = mf.write(info(prefix=str(prefix)), tmp_path / "lmod", tmp_path / "tcl")
    lua = Path(written["lmod"]).read_text()
    tcl = Path(written["tcl"]).read_text()
    flag = f",cxx={prefix}/bin/g++"
    assert (flag in lua) is cxx and (flag in tcl) is cxx
    assert mf.find_cxx(prefix) == (f"{prefix}/bin/g++" if cxx else "")


# --- the load-time logic, run by the real interpreters ------------------------------------

LUA_STUBS = r"""
local out = {}
function help(s) end
function whatis(s) out[#out + 1] = "whatis " .. s end
function family(s) out[#out + 1] = "family " .. s end
function pathJoin(...) return table.concat({...}, "/") end
function prepend_path(k, v) out[#out + 1] = "prepend_path " .. k .. "=" .. v end
function pushenv(k, v) out[#out + 1] = "pushenv " .. k .. "=" .. v end
function setenv(k, v) out[#out + 1] = "setenv " .. k .. "=" .. v end
function mode() return "load" end
dofile(arg[1])
for _, line in ipairs(out) do print(line) end
"""

TCL_STUBS = r"""
set mode load
proc module-whatis {s} { puts "whatis $s" }
proc family {s} { puts "family $s" }
proc conflict {s} { puts "conflict $s" }
proc prepend-path {k v} { puts "prepend_path $k=$v" }
proc pushenv {k v} { puts "pushenv $k=$v" }
proc setenv {k v} { puts "setenv $k=$v" }
proc module-info {what args} { global mode; return [expr {$mode eq [lindex $args 0]}] }
source [lindex $argv 0]
"""


def _run(tool: str, stubs: str, modulefile: Path, env: dict[str, str], tmp_path: Path) -> list[str]:
    exe = shutil.which(tool)
    if exe is None:
        pytest.skip(
            f"{tool} is not installed (comes with {'Lmod' if 'lua' in tool else 'Environment Modules'})"
        )
    script = tmp_path / ("stubs.lua" if "lua" in tool else "stubs.tcl")
    script.write_text(stubs)
    proc = subprocess.run(
        [exe, str(script), str(modulefile)],
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.splitlines()


LOAD_CASES = [
    (
        {"TMPDIR": "/scratch/job1", "USER": "alice", "SLURM_JOB_ID": "4242"},
        "base_compiledir=/scratch/job1/pytensor-alice-job4242",
    ),
    ({"USER": "bob", "PBS_JOBID": "77.server"}, "base_compiledir=/tmp/pytensor-bob-job77.server"),
    ({"TMPDIR": "", "USER": "carol"}, "base_compiledir=/tmp/pytensor-carol"),
    (
        {"TMPDIR": "/t", "USER": "dan", "PYTENSOR_FLAGS": "floatX=float32"},
        "base_compiledir=/t/pytensor-dan,floatX=float32",
    ),
]


@pytest.mark.parametrize("dialect", ["lua", "tcl"])
@pytest.mark.parametrize(("env", "expected"), LOAD_CASES)
def test_pytensor_compile_dir_is_worked_out_at_load_time(dialect, env, expected, tmp_path):
    i = info(
        "cpu", prefix="/sw/with space/1.2.3-cpu", pytensor_cxx="/sw/with space/1.2.3-cpu/bin/g++"
    )
    path = tmp_path / "mod"
    if dialect == "lua":
        path.write_text(mf.render_lua(i))
        lines = _run("lua", LUA_STUBS, path, env, tmp_path)
    else:
        path.write_text(mf.render_tcl(i))
        lines = _run("tclsh", TCL_STUBS, path, env, tmp_path)
    cxx = ",cxx=/sw/with space/1.2.3-cpu/bin/g++"
    want = expected.replace(",", cxx + ",", 1) if "," in expected else expected + cxx
    assert f"pushenv PYTENSOR_FLAGS={want}" in lines, lines
    assert "prepend_path PATH=/sw/with space/1.2.3-cpu/homodyne-bin" in lines
    assert "pushenv PYTHONNOUSERSITE=1" in lines
    assert "family homodyne" in lines and not any(line.startswith("conflict") for line in lines)
    assert not any("LD_LIBRARY_PATH" in line for line in lines)


@pytest.mark.parametrize("dialect", ["lua", "tcl"])
def test_gpu_module_evaluates(dialect, tmp_path):
    i = info("gpu", lock_path='/odd "quoted" [path] {x} $HOME\\lock')
    path = tmp_path / "mod"
    if dialect == "lua":
        path.write_text(mf.render_lua(i))
        lines = _run("lua", LUA_STUBS, path, {}, tmp_path)
    else:
        path.write_text(mf.render_tcl(i))
        lines = _run("tclsh", TCL_STUBS, path, {"HOME": "/home/x"}, tmp_path)
    assert "pushenv XLA_PYTHON_CLIENT_PREALLOCATE=false" in lines
    assert "prepend_path PATH=/sw/homodyne/1.2.3-gpu/homodyne-bin" in lines
    assert not any("PYTENSOR" in line for line in lines)
    # odd characters in the lock path come through literally, nothing is substituted
    assert any(
        line.endswith('/odd "quoted" [path] {x} $HOME\\lock [gpu] sha256:' + SHA) for line in lines
    )


def test_tcl_falls_back_to_conflict_without_family(tmp_path):
    """Environment Modules < 5.1 has no `family`: the module conflicts with itself instead."""
    path = tmp_path / "mod"
    path.write_text(mf.render_tcl(info("gpu")))
    stubs = TCL_STUBS.replace('proc family {s} { puts "family $s" }\n', "").replace(
        'proc pushenv {k v} { puts "pushenv $k=$v" }\n', ""
    )
    lines = _run("tclsh", stubs, path, {}, tmp_path)
    assert "conflict homodyne" in lines and not any(line.startswith("family") for line in lines)
    assert "setenv XLA_PYTHON_CLIENT_PREALLOCATE=false" in lines


def test_no_environment_leaks_into_rendering(monkeypatch):
    """Rendering is a pure function of the deployment record (no os.environ)."""
    monkeypatch.setenv("LD_LIBRARY_PATH", "/nope")
    monkeypatch.setenv("TMPDIR", "/should-not-appear")
    text = mf.render_lua(info()) + mf.render_tcl(info())
    assert "/nope" not in text and "/should-not-appear" not in text
    assert os.environ["TMPDIR"] == "/should-not-appear"
