"""Exit statuses (one table: --help, README, docs/cli.rst) and the cache as a run sees
it: a source replaced with the same size and modification time, an altered entry."""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

import h5py
import numpy as np

from homodyne.run_homodyne import EXIT_STATUSES

from .conftest import DONE, Cmd, write_cfg

ROOT = Path(__file__).resolve().parents[2]


def test_exit_statuses_agree_everywhere(tmp_path: Path) -> None:
    codes = [code for code, _ in EXIT_STATUSES]
    assert codes == [0, 1, 2, 3, 130, 143, 129]
    cmd = Cmd(["--help"], cwd=tmp_path)
    assert cmd.finish(timeout=60) == 0
    help_text = " ".join(cmd.stdout.split())
    for code, text in EXIT_STATUSES:
        assert f"{code} {text}" in help_text, (code, help_text[-600:])
    cli = (ROOT / "docs" / "cli.rst").read_text()
    table = cli.split("Exit status and errors", 1)[1].split("\n\n\n", 1)[0]
    rows = [int(m) for m in re.findall(r"^   \* - (\d+)\s*$", table, flags=re.M)]
    assert rows == codes, rows
    readme = " ".join((ROOT / "README.md").read_text().split())
    for code, text in EXIT_STATUSES:
        assert f"{code} {text}" in readme, code


def test_statuses_of_each_kind_of_failure(tmp_path: Path, lam_file: Path) -> None:
    cfg = write_cfg(tmp_path, "laminar_flow", lam_file)
    usage = Cmd(["--frobnicate"], cwd=tmp_path)
    assert usage.finish(timeout=60) == 2
    bad = tmp_path / "bad.json"
    bad.write_text(cfg.read_text().replace('"q": 0.0054', '"q": "x"'))
    config = Cmd(["-c", str(bad)], cwd=tmp_path)
    assert config.finish(timeout=60) == 2 and "homodyne: error:" in config.stderr
    data = Cmd(["-c", str(cfg), "--data", str(tmp_path / "missing.h5")], cwd=tmp_path)
    assert data.finish(timeout=60) == 1 and "data file not found" in data.stderr
    for c in (usage, config, data):
        assert "Traceback" not in c.stderr
        c.assert_no_process_left()


def _run(cfg: Path, name: str, tmp_path: Path) -> Cmd:
    cmd = Cmd(["-c", str(cfg), "--run-name", name, "--no-plots"], cwd=tmp_path)
    assert cmd.finish(timeout=300) in DONE, cmd.stderr
    cmd.assert_no_process_left()
    return cmd


def test_same_size_same_mtime_source_replacement(tmp_path: Path, lam_file: Path) -> None:
    src = tmp_path / "data.h5"
    src.write_bytes(lam_file.read_bytes())
    cache = tmp_path / "cache"
    cfg = write_cfg(tmp_path, "laminar_flow", src, data={"cache_dir": str(cache)})
    _run(cfg, "first", tmp_path)
    st = src.stat()
    with h5py.File(src, "a") as h5:  # same layout, same size: one value changed in place
        key = next(k for k in _c2_keys(h5))
        half = h5[key][()]
        half[5, 9] += 0.5
        h5[key][...] = half
    os.utime(src, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert (src.stat().st_size, src.stat().st_mtime_ns) == (st.st_size, st.st_mtime_ns)
    second = _run(cfg, "second", tmp_path)
    assert "loaded from cache" not in second.stderr  # a miss: the content changed
    doc = json.loads((tmp_path / "out" / "second" / "results.json").read_text())
    assert doc["input"]["sha256"] == hashlib.sha256(src.read_bytes()).hexdigest()
    old = json.loads((tmp_path / "out" / "first" / "results.json").read_text())
    assert old["input"]["sha256"] != doc["input"]["sha256"]
    assert len(list(cache.glob("*.npz"))) == 2


def test_an_altered_cache_entry_is_rebuilt_with_a_warning(tmp_path: Path, lam_file: Path) -> None:
    cache = tmp_path / "cache"
    cfg = write_cfg(tmp_path, "laminar_flow", lam_file, data={"cache_dir": str(cache)})
    _run(cfg, "first", tmp_path)
    (entry,) = cache.glob("*.npz")
    with np.load(entry, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays["c2_exp"] = arrays["c2_exp"] + 0.01  # values altered, metadata kept
    np.savez(entry, **arrays)
    again = _run(cfg, "second", tmp_path)
    assert "fails its checksum (altered or damaged); rebuilding it" in again.stderr
    a = json.loads((tmp_path / "out" / "first" / "results.json").read_text())
    b = json.loads((tmp_path / "out" / "second" / "results.json").read_text())
    assert a["chi2"] == b["chi2"]  # the fit saw the source's values, not the altered ones
    hit = _run(cfg, "third", tmp_path)
    assert "loaded from cache" in hit.stderr and "checksum" not in hit.stderr


def _c2_keys(h5: h5py.File) -> list[str]:
    keys: list[str] = []
    h5.visititems(
        lambda name, obj: (
            keys.append(name)
            if isinstance(obj, h5py.Dataset) and obj.ndim == 2 and obj.shape[0] == obj.shape[1]
            else None
        )
    )
    return keys
