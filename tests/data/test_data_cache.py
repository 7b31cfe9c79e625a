"""The .npz cache: hit, miss, invalidation, no pickle, atomic writes."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import h5py
import numpy as np
import pytest
from datahelpers import FRAME_TIME, PHI_VALUES, Q_VALUES, c2_key

import homodyne.data.loader as loader_module
from homodyne.data import CACHE_FORMAT_VERSION, cache_key, load_dataset
from homodyne.data.cache import cache_path

SELECTION = {"q": Q_VALUES[1], "frames": (3, 9)}


def entries(cache_dir: Path) -> list[Path]:
    return sorted(cache_dir.glob("*.npz"))


def forbid_reading_the_source(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Fail if the HDF5 file is opened; returns the list of files hashed (once per load:
    the content hash is the cache key)."""

    def boom(*args: object, **kwargs: object) -> None:
        raise AssertionError("the source file was read on a cache hit")

    hashed: list[Path] = []
    real = loader_module.file_sha256

    def counting(path: Path) -> str:
        hashed.append(path)
        return real(path)

    monkeypatch.setattr(loader_module, "open_hdf5", boom)
    monkeypatch.setattr(loader_module, "file_sha256", counting)
    return hashed


def test_second_load_is_a_hit_without_reading_the_source(
    data_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache_dir = tmp_path / "cache"
    first = load_dataset(data_file, cache_dir=cache_dir, **SELECTION)  # type: ignore[arg-type]
    assert len(entries(cache_dir)) == 1
    assert first.source_sha256 == hashlib.sha256(data_file.read_bytes()).hexdigest()

    hashed = forbid_reading_the_source(monkeypatch)
    second = load_dataset(data_file, cache_dir=cache_dir, **SELECTION)  # type: ignore[arg-type]
    assert hashed == [data_file.absolute()]  # hashed once, never opened as HDF5
    np.testing.assert_array_equal(second.c2, first.c2)
    np.testing.assert_array_equal(second.phi, first.phi)
    assert (second.q, second.dt, second.frames, second.layout) == (
        first.q,
        first.dt,
        first.frames,
        first.layout,
    )
    assert second.source == first.source
    assert second.source_sha256 == first.source_sha256
    np.testing.assert_array_equal(second.t, first.t)


def test_cache_file_holds_plain_arrays_and_loads_without_pickle(
    data_file: Path, tmp_path: Path, layout: str
) -> None:
    ds = load_dataset(data_file, cache_dir=tmp_path, **SELECTION)  # type: ignore[arg-type]
    (entry,) = entries(tmp_path)
    with np.load(entry, allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in npz.files}
    assert all(a.dtype != object for a in arrays.values())
    n = ds.n_frames
    assert arrays["c2_exp"].shape == (len(PHI_VALUES), n, n)
    np.testing.assert_array_equal(arrays["c2_exp"], ds.c2)
    np.testing.assert_array_equal(arrays["phi_angles_list"], PHI_VALUES)
    np.testing.assert_allclose(arrays["wavevector_q_list"], Q_VALUES[1])
    np.testing.assert_allclose(arrays["t1"], np.arange(3, 10) * FRAME_TIME)
    np.testing.assert_array_equal(arrays["t2"], arrays["t1"])
    assert str(arrays["layout"]) == layout
    assert str(arrays["source"]) == str(data_file.absolute())
    assert str(arrays["source_sha256"]) == ds.source_sha256
    assert int(arrays["format_version"]) == CACHE_FORMAT_VERSION
    assert arrays["frames"].tolist() == [3, 9]


def test_changing_the_source_invalidates_the_entry(
    data_file: Path, tmp_path: Path, stack: np.ndarray
) -> None:
    cache_dir = tmp_path / "cache"
    before = load_dataset(data_file, cache_dir=cache_dir, **SELECTION)  # type: ignore[arg-type]
    key = c2_key(data_file, 6)  # q index 1, phi index 0
    with h5py.File(data_file, "a") as h5:
        half = h5[key][()]
        half[3, 4] += 1.0  # same size, new content
        h5[key][...] = half
    st = data_file.stat()
    os.utime(data_file, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    after = load_dataset(data_file, cache_dir=cache_dir, **SELECTION)  # type: ignore[arg-type]
    assert after.c2[0, 1, 2] == pytest.approx(before.c2[0, 1, 2] + 1.0)
    assert after.c2[0, 2, 1] == after.c2[0, 1, 2]
    assert after.source_sha256 != before.source_sha256
    assert len(entries(cache_dir)) == 2


def test_touching_the_source_alone_keeps_the_entry(
    data_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The key is the content: a new modification time with the same bytes is a hit."""
    load_dataset(data_file, cache_dir=tmp_path, **SELECTION)  # type: ignore[arg-type]
    st = data_file.stat()
    os.utime(data_file, ns=(st.st_atime_ns, st.st_mtime_ns + 1))
    hashed = forbid_reading_the_source(monkeypatch)
    load_dataset(data_file, cache_dir=tmp_path, **SELECTION)  # type: ignore[arg-type]
    assert hashed == [data_file.absolute()]
    assert len(entries(tmp_path)) == 1


def test_same_size_same_mtime_replacement_is_a_miss(
    data_file: Path, tmp_path: Path, stack: np.ndarray
) -> None:
    """A source rewritten in place with the same size and modification time (what a
    copy with ``cp -p`` or a restore can do) is noticed: new values, new sha256."""
    cache_dir = tmp_path / "cache"
    before = load_dataset(data_file, cache_dir=cache_dir, **SELECTION)  # type: ignore[arg-type]
    st = data_file.stat()
    with h5py.File(data_file, "a") as h5:
        key = c2_key(data_file, 6)
        half = h5[key][()]
        half[3, 4] += 1.0
        h5[key][...] = half
    os.utime(data_file, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert (data_file.stat().st_size, data_file.stat().st_mtime_ns) == (
        st.st_size,
        st.st_mtime_ns,
    )
    after = load_dataset(data_file, cache_dir=cache_dir, **SELECTION)  # type: ignore[arg-type]
    assert after.c2[0, 1, 2] == pytest.approx(before.c2[0, 1, 2] + 1.0)
    assert after.source_sha256 == hashlib.sha256(data_file.read_bytes()).hexdigest()
    assert after.source_sha256 != before.source_sha256


def test_an_altered_entry_with_its_metadata_kept_is_rebuilt(
    data_file: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    good = load_dataset(data_file, cache_dir=tmp_path, **SELECTION)  # type: ignore[arg-type]
    (entry,) = entries(tmp_path)
    with np.load(entry, allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in npz.files}
    arrays["c2_exp"] = arrays["c2_exp"] * 1.01  # key, version, checksum field untouched
    np.savez(entry, **arrays)
    with caplog.at_level("WARNING"):
        again = load_dataset(data_file, cache_dir=tmp_path, **SELECTION)  # type: ignore[arg-type]
    np.testing.assert_array_equal(again.c2, good.c2)
    assert "fails its checksum" in caplog.text
    with np.load(entry, allow_pickle=False) as npz:  # rewritten from the source
        np.testing.assert_array_equal(npz["c2_exp"], good.c2)


@pytest.mark.parametrize(
    "change",
    [
        {"frames": (3, 8)},
        {"frames": (2, 9)},
        {"phi": [7.4, -8.5]},
        {"q": Q_VALUES[2]},
        {"q": Q_VALUES[1] * 1.01},
        {"q_rel_tolerance": 0.02},
        {"phi_tolerance": 0.25},
        {"dt": 0.3},
    ],
)
def test_a_different_selection_is_a_different_entry(
    data_file: Path, tmp_path: Path, change: dict[str, object]
) -> None:
    base = load_dataset(data_file, cache_dir=tmp_path, **SELECTION)  # type: ignore[arg-type]
    other = load_dataset(data_file, cache_dir=tmp_path, **{**SELECTION, **change})  # type: ignore[arg-type]
    assert len(entries(tmp_path)) == 2
    if "frames" in change:
        assert other.frames == change["frames"] != base.frames
    if "phi" in change:
        np.testing.assert_array_equal(other.phi, change["phi"])


def test_cache_key_is_stable_and_covers_content_and_selection(data_file: Path) -> None:
    selection = {"q": 0.0054, "frames": [3, 9], "phi": None}
    key = cache_key(data_file, selection)
    assert key == cache_key(data_file, dict(selection))
    assert len(key) == 64 and int(key, 16) >= 0
    assert key != cache_key(data_file, {**selection, "frames": [3, 10]})
    assert key != cache_key(data_file, {**selection, "q": 0.0054000001})
    assert key == cache_key(
        data_file, selection, hashlib.sha256(data_file.read_bytes()).hexdigest()
    )
    assert key != cache_key(data_file, selection, "0" * 64)


def test_a_damaged_entry_is_a_miss_and_gets_rewritten(data_file: Path, tmp_path: Path) -> None:
    good = load_dataset(data_file, cache_dir=tmp_path, **SELECTION)  # type: ignore[arg-type]
    (entry,) = entries(tmp_path)
    entry.write_bytes(b"PK\x03\x04 this is not a zip file")
    again = load_dataset(data_file, cache_dir=tmp_path, **SELECTION)  # type: ignore[arg-type]
    np.testing.assert_array_equal(again.c2, good.c2)
    with np.load(entry, allow_pickle=False) as npz:
        np.testing.assert_array_equal(npz["c2_exp"], good.c2)


def test_an_entry_with_a_foreign_key_is_ignored(data_file: Path, tmp_path: Path) -> None:
    load_dataset(data_file, cache_dir=tmp_path, **SELECTION)  # type: ignore[arg-type]
    (entry,) = entries(tmp_path)
    with np.load(entry, allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in npz.files}
    arrays["cache_key"] = np.str_("0" * 64)
    arrays["c2_exp"] = arrays["c2_exp"] * 0 + 5.0
    np.savez(entry, **arrays)
    ds = load_dataset(data_file, cache_dir=tmp_path, **SELECTION)  # type: ignore[arg-type]
    assert not np.any(ds.c2 == 5.0)


def test_an_entry_needing_pickle_is_not_loaded(data_file: Path, tmp_path: Path) -> None:
    load_dataset(data_file, cache_dir=tmp_path, **SELECTION)  # type: ignore[arg-type]
    (entry,) = entries(tmp_path)
    with np.load(entry, allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in npz.files}
    arrays["c2_exp"] = np.array([{"evil": 1}], dtype=object)
    np.savez(entry, **arrays)
    ds = load_dataset(data_file, cache_dir=tmp_path, **SELECTION)  # type: ignore[arg-type]
    assert ds.c2.dtype == np.float64 and ds.n_angles == len(PHI_VALUES)
    with np.load(entry, allow_pickle=False) as npz:  # rewritten as plain arrays
        assert npz["c2_exp"].dtype == np.float64


def test_writes_are_atomic_and_leave_no_temporary_files(
    data_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import homodyne.data.cache as cache_module

    def fail(fh: object, **arrays: object) -> None:
        fh.write(b"partial")  # type: ignore[attr-defined]
        raise OSError("disk full")

    monkeypatch.setattr(cache_module.np, "savez", fail)
    cache_dir = tmp_path / "cache"
    ds = load_dataset(data_file, cache_dir=cache_dir, **SELECTION)  # type: ignore[arg-type]
    assert ds.n_angles == len(PHI_VALUES)  # the data still come back
    assert list(cache_dir.iterdir()) == []  # neither a final nor a temporary file
    monkeypatch.undo()
    load_dataset(data_file, cache_dir=cache_dir, **SELECTION)  # type: ignore[arg-type]
    assert [p.suffix for p in cache_dir.iterdir()] == [".npz"]


def test_cache_path_names_the_source(data_file: Path, tmp_path: Path) -> None:
    key = "ab" * 32
    assert cache_path(tmp_path, data_file, key) == tmp_path / f"{data_file.stem}.{key[:24]}.npz"
