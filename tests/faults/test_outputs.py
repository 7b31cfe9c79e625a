"""Output paths: run names, --overwrite, concurrent runs, unwritable directories and
permissions; each case a real ``homodyne`` process."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from .conftest import DONE, Cmd, leftovers, write_cfg


def _run(args: list[str], cwd: Path, **kw: object) -> Cmd:
    cmd = Cmd(args, cwd=cwd, **kw)  # type: ignore[arg-type]
    cmd.finish(timeout=300)
    cmd.assert_no_process_left()
    return cmd


def _error_line(cmd: Cmd) -> str:
    lines = [ln for ln in cmd.stderr.splitlines() if ln.startswith("homodyne: ")]
    assert len(lines) == 1, cmd.stderr
    assert "Traceback" not in cmd.stderr and "internal error" not in cmd.stderr
    return lines[0]


@pytest.mark.parametrize(
    "name,why",
    [
        ("/some/other/dir", "contains a path separator"),
        ("..", "is not a name"),
        (".", "is not a name"),
        ("a/b", "contains a path separator"),
        (".hidden", "starts with '.'"),
        ("", "run_name"),
    ],
)
def test_a_run_name_must_be_a_name(name: str, why: str, tmp_path: Path, lam_file: Path) -> None:
    victim = tmp_path / "some" / "other" / "dir"
    victim.mkdir(parents=True)
    (victim / "precious.txt").write_text("keep me")
    cfg = write_cfg(tmp_path, "laminar_flow", lam_file)
    cmd = _run(["-c", str(cfg), "--run-name", name, "--overwrite", "--no-plots"], tmp_path)
    assert cmd.proc.returncode == 2
    line = _error_line(cmd)
    assert "run_name" in line and why in line, line
    assert "classical fit" not in cmd.stderr  # refused before any work
    assert (victim / "precious.txt").read_text() == "keep me"
    assert not (tmp_path / "out").exists() or leftovers(tmp_path / "out") == []


def test_overwrite_replaces_only_a_folder_homodyne_wrote(tmp_path: Path, lam_file: Path) -> None:
    cfg = write_cfg(tmp_path, "laminar_flow", lam_file)
    out = tmp_path / "out"
    foreign = out / "mine"
    foreign.mkdir(parents=True)
    (foreign / "notes.txt").write_text("not from homodyne")
    cmd = _run(["-c", str(cfg), "--run-name", "mine", "--overwrite", "--no-plots"], tmp_path)
    assert cmd.proc.returncode == 2
    assert "was not written by homodyne" in _error_line(cmd)
    assert "classical fit" not in cmd.stderr
    assert sorted(p.name for p in foreign.iterdir()) == ["notes.txt"]
    # a folder homodyne wrote is replaced, and only its own files are in the new one
    first = _run(["-c", str(cfg), "--run-name", "ours", "--no-plots"], tmp_path)
    assert first.proc.returncode in DONE, first.stderr
    assert (out / "ours" / ".homodyne-run").is_file()
    second = _run(["-c", str(cfg), "--run-name", "ours", "--overwrite", "--no-plots"], tmp_path)
    assert second.proc.returncode in DONE, second.stderr
    assert sorted(p.name for p in (out / "ours").iterdir()) == [
        ".homodyne-run",
        "fit.npz",
        "report.txt",
        "results.json",
    ]
    assert leftovers(out) == []


@pytest.mark.parametrize("kind", ["symlink", "file"])
def test_overwrite_never_follows_a_link_or_replaces_a_file(
    kind: str, tmp_path: Path, lam_file: Path
) -> None:
    cfg = write_cfg(tmp_path, "laminar_flow", lam_file)
    out = tmp_path / "out"
    out.mkdir()
    target = tmp_path / "elsewhere"
    target.mkdir()
    (target / ".homodyne-run").write_text("{}")  # even a marker behind a link is not enough
    (target / "data.txt").write_text("keep")
    if kind == "symlink":
        (out / "run").symlink_to(target)
    else:
        (out / "run").write_text("a file")
    cmd = _run(["-c", str(cfg), "--run-name", "run", "--overwrite", "--no-plots"], tmp_path)
    assert cmd.proc.returncode == 2
    assert "is not a run folder" in _error_line(cmd)
    assert (target / "data.txt").read_text() == "keep"
    assert os.path.lexists(out / "run")


def test_two_runs_into_one_run_folder(tmp_path: Path, lam_file: Path) -> None:
    cfg = write_cfg(tmp_path, "laminar_flow", lam_file)
    out = tmp_path / "out"
    first = Cmd(["-c", str(cfg), "--run-name", "same", "--no-plots"], cwd=tmp_path)
    first.wait_for(r"stage: classical fit")
    second = _run(["-c", str(cfg), "--run-name", "same", "--no-plots", "--overwrite"], tmp_path)
    assert second.proc.returncode == 1
    line = _error_line(second)
    assert f"another run (process {first.proc.pid}) is writing this run folder" in line, line
    assert "classical fit" not in second.stderr
    assert first.finish(timeout=300) in DONE, first.stderr
    first.assert_no_process_left()
    import json

    doc = json.loads((out / "same" / "results.json").read_text())
    assert "--overwrite" not in doc["command"]  # the first run's files, only
    assert leftovers(out) == []


def test_an_output_directory_under_a_file(tmp_path: Path, lam_file: Path) -> None:
    cfg = write_cfg(tmp_path, "laminar_flow", lam_file)
    (tmp_path / "afile").write_text("x")
    bad = tmp_path / "afile" / "out"
    cmd = _run(["-c", str(cfg), "--output-dir", str(bad), "--no-plots"], tmp_path)
    assert cmd.proc.returncode == 1
    line = _error_line(cmd)
    assert str(bad) in line and "cannot create the output directory" in line, line
    assert "loading data" not in cmd.stderr  # before any work


def test_an_output_directory_that_cannot_be_created(tmp_path: Path, lam_file: Path) -> None:
    cfg = write_cfg(tmp_path, "laminar_flow", lam_file)
    cmd = _run(["-c", str(cfg), "--output-dir", "/sys/homodyne-out", "--no-plots"], tmp_path)
    assert cmd.proc.returncode == 1
    line = _error_line(cmd)
    assert "/sys/homodyne-out: cannot create the output directory" in line, line


def _unshare_ok() -> bool:
    exe = shutil.which("unshare")
    if exe is None:
        return False
    probe = subprocess.run(
        [exe, "-rm", "sh", "-c", "mount -t tmpfs -o ro tmpfs /mnt 2>/dev/null || exit 1"],
        capture_output=True,
        check=False,
    )
    return probe.returncode == 0


def test_a_read_only_output_directory(tmp_path: Path, lam_file: Path) -> None:
    """Root ignores permission bits, so the directory is a read-only tmpfs mounted in a
    private user + mount namespace (``unshare -rm``): writes fail with EROFS."""
    if not _unshare_ok():
        if os.environ.get("CI"):
            pytest.fail("unshare -rm with a read-only tmpfs is needed for this test in CI")
        pytest.skip("no unprivileged mount namespace here (unshare -rm)")
    cfg = write_cfg(tmp_path, "laminar_flow", lam_file)
    ro = tmp_path / "ro"
    ro.mkdir()
    inner = f'mount -t tmpfs -o ro tmpfs {ro} && exec "$@"'
    cmd = _run(
        ["-c", str(cfg), "--output-dir", str(ro), "--no-plots"],
        tmp_path,
        prefix=[shutil.which("unshare") or "unshare", "-rm", "sh", "-c", inner, "sh"],
    )
    assert cmd.proc.returncode == 1, cmd.stderr
    line = _error_line(cmd)
    assert f"{ro}: the output directory cannot be written (Read-only file system)" in line, line
    assert "loading data" not in cmd.stderr


@pytest.mark.parametrize("umask,fmode,dmode", [(0o022, 0o644, 0o755), (0o077, 0o600, 0o700)])
def test_files_follow_the_umask(
    umask: int, fmode: int, dmode: int, tmp_path: Path, lam_file: Path
) -> None:
    cfg = write_cfg(tmp_path, "laminar_flow", lam_file, data={"cache_dir": str(tmp_path / "c")})
    cmd = _run(
        ["-c", str(cfg), "--run-name", "run"],
        tmp_path,
        prefix=["sh", "-c", f'umask {umask:03o} && exec "$@"', "sh"],
    )
    assert cmd.proc.returncode in DONE, cmd.stderr
    folder = tmp_path / "out" / "run"
    files = [p for p in folder.iterdir()] + list((tmp_path / "c").iterdir())
    assert any(p.suffix == ".png" for p in files) and any(p.suffix == ".npz" for p in files)
    for p in files:
        assert stat.S_IMODE(p.stat().st_mode) == fmode, p
    assert stat.S_IMODE(folder.stat().st_mode) == dmode


def test_a_failure_while_committing_leaves_no_temporary_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The commit itself can fail (here: the final rename); the temporary folder, whose
    owner file is already gone by then, must not stay behind."""
    from homodyne.results import writer

    def failing_replace(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    out = tmp_path / "out"
    with pytest.raises(OSError, match="No space left"):
        with writer.run_folder(out, "run") as rf:
            rf.write_text("report.txt", "x\n")
            monkeypatch.setattr(writer.os, "replace", failing_replace)
    monkeypatch.undo()
    assert not (out / "run").exists()
    assert leftovers(out) == []
