"""The one-job helpers of homodyne._util: atomic writes, file hashing, JSON conversion,
module availability."""

from __future__ import annotations

import hashlib
import json
import math
import os
import stat
from pathlib import Path

import numpy as np
import pytest

from homodyne._util.atomic import atomic_call, atomic_open, atomic_write_bytes, atomic_write_text
from homodyne._util.hashing import file_sha256
from homodyne._util.jsonable import json_default, jsonable
from homodyne._util.modules import module_available, version_tuple


def test_atomic_writes_replace_the_file_and_leave_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "a.txt"
    atomic_write_text(target, "old\n")
    atomic_write_text(target, "nëw\n")
    assert target.read_text(encoding="utf-8") == "nëw\n"
    atomic_write_bytes(tmp_path / "b.bin", b"\x00\x01")
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\x01"

    def savez(p: Path) -> None:
        with open(p, "wb") as fh:
            np.savez(fh, x=np.arange(3))

    atomic_call(tmp_path / "c.npz", savez, suffix=".npz")
    assert np.load(tmp_path / "c.npz")["x"].tolist() == [0, 1, 2]
    with atomic_open(tmp_path / "d.npz", "wb") as fh:
        np.savez(fh, y=np.ones(2))
    assert np.load(tmp_path / "d.npz")["y"].tolist() == [1.0, 1.0]
    assert sorted(p.name for p in tmp_path.rglob("*")) == [
        "a.txt",
        "b.bin",
        "c.npz",
        "d.npz",
        "sub",
    ]


def test_a_failed_write_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "a.txt"
    atomic_write_text(target, "old")

    def broken(p: Path) -> None:
        p.write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        atomic_call(target, broken)
    with pytest.raises(RuntimeError, match="stop"), atomic_open(target, "w") as fh:
        fh.write("half")
        raise RuntimeError("stop")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]
    with pytest.raises(ValueError, match="open_mode"):
        atomic_open(target, "a").__enter__()


def test_atomic_write_sets_the_requested_permissions(tmp_path: Path) -> None:
    p = atomic_write_text(tmp_path / "m.lua", "x", mode=0o644)
    assert stat.S_IMODE(os.stat(p).st_mode) == 0o644


def test_file_sha256_matches_hashlib_on_several_chunks(tmp_path: Path) -> None:
    data = os.urandom((1 << 20) * 2 + 17)
    (tmp_path / "f").write_bytes(data)
    assert file_sha256(tmp_path / "f") == hashlib.sha256(data).hexdigest()
    with pytest.raises(OSError):
        file_sha256(tmp_path / "missing")


def test_jsonable_turns_numpy_values_into_json_data(tmp_path: Path) -> None:
    v = {
        1: np.arange(3),
        "f": np.float32(0.5),
        "nan": float("nan"),
        "inf": np.array([1.0, np.inf]),
        "b": np.bool_(True),
        "t": (np.int64(2), Path("x/y")),
    }
    out = jsonable(v)
    assert out == {
        "1": [0, 1, 2],
        "f": 0.5,
        "nan": None,
        "inf": [1.0, None],
        "b": True,
        "t": [2, "x/y"],
    }
    json.dumps(out, allow_nan=False)
    text = json.dumps({"a": np.arange(2), "p": tmp_path}, default=json_default)
    assert json.loads(text) == {"a": [0, 1], "p": str(tmp_path)}
    with pytest.raises(TypeError, match="not JSON serialisable: object"):
        json.dumps({"o": object()}, default=json_default)
    assert math.isnan(float("nan"))


def test_module_available_with_and_without_a_minimum_version() -> None:
    assert module_available("json") and module_available("numpy")
    assert not module_available("no_such_module_for_homodyne_tests")
    assert not module_available("no_such_parent_for_homodyne.child")
    have = version_tuple(np.__version__)
    assert module_available("numpy", ".".join(map(str, have)))
    assert not module_available("numpy", f"{have[0] + 1}.0")
    assert not module_available("json", "1.0")  # a stdlib module has no distribution
    assert version_tuple("2.18.0rc1") == (2, 18, 0)
    assert version_tuple("1.26.4.post1") == (1, 26, 4)
