"""Property-based fuzzing (hypothesis) of the configuration loader and the HDF5 loaders:
every input either loads or fails with a :class:`homodyne.errors.HomodyneError` whose
message is one line; never another exception (which the command would report as an
internal error with a traceback). A fixed number of examples, derandomized, so that CI
runs the same cases every time."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from homodyne.config import load_config, template
from homodyne.data import load_dataset, write_simulated_file
from homodyne.errors import HomodyneError

FUZZ = settings(
    max_examples=80,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    database=None,
)

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    st.text(max_size=12),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=8,
)


def _paths(doc: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix] if prefix else []
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += _paths(v, (*prefix, i))
    return out


@st.composite
def configs(draw: st.DrawFn) -> Any:
    mode = draw(st.sampled_from(["static_isotropic", "static_anisotropic", "laminar_flow"]))
    doc: Any = template(mode, data_file="data.h5")
    for _ in range(draw(st.integers(1, 4))):
        paths = _paths(doc)
        if not paths:
            break
        where = draw(st.sampled_from(paths))
        parent = doc
        for k in where[:-1]:
            parent = parent[k]
        action = draw(st.sampled_from(["replace", "delete", "add"]))
        if action == "delete":
            del parent[where[-1]]
        elif action == "replace":
            parent[where[-1]] = draw(json_values)
        elif isinstance(parent, dict):
            parent[draw(st.text(max_size=10))] = draw(json_values)
    if draw(st.booleans()):
        return doc
    return draw(json_values)  # not even an object, sometimes


def _one_line_error(exc: HomodyneError) -> None:
    msg = str(exc)
    assert msg and "\n" not in msg.strip(), msg


@FUZZ
@given(doc=configs())
def test_config_loader_never_fails_unclearly(doc: Any) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "cfg.json"
        path.write_text(json.dumps(doc))
        try:
            load_config(path)
        except HomodyneError as exc:
            _one_line_error(exc)


@FUZZ
@given(text=st.text(max_size=200))
def test_config_loader_on_arbitrary_text(text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "cfg.json"
        path.write_text(text)
        try:
            load_config(path)
        except HomodyneError as exc:
            _one_line_error(exc)


_BASE: dict[str, Path] = {}


def _base(layout: str) -> Path:
    if layout not in _BASE:
        folder = Path(tempfile.mkdtemp(prefix="homodyne-fuzz-"))
        _BASE[layout] = write_simulated_file(
            folder / f"{layout}.h5",
            layout=layout,  # type: ignore[arg-type]
            mode="static_anisotropic",
            phi=[0.0, 45.0],
            n_frames=8,
            noise_sigma=0.003,
            seed=1,
        )
    return _BASE[layout]


def _datasets(h5: h5py.File) -> list[str]:
    names: list[str] = []
    h5.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
    return sorted(names)


replacements = st.one_of(
    st.just(np.array([np.nan, np.inf])),
    st.just(np.zeros((0,))),
    st.just(np.zeros((3, 5))),
    st.just(np.zeros((2, 2, 2))),
    st.just(np.array(b"text")),
    st.just(np.array([-1, 0, 99], dtype=np.int64)),
    st.just(np.float64(-1.0)),
    st.just(np.float64(0.0)),
    st.just(np.ones((8, 8), dtype=np.float32) * np.nan),
    st.just(np.ones((7, 7))),
    st.just(np.array([1e300, -1e300])),
)


@FUZZ
@given(
    layout=st.sampled_from(["aps_u", "aps_old"]),
    edits=st.lists(
        st.tuples(
            st.sampled_from(["delete", "replace", "truncate"]), st.integers(0, 100), replacements
        ),
        min_size=1,
        max_size=3,
    ),
    q=st.sampled_from([0.0054, 0.0044, 0.02]),
    frames=st.sampled_from([None, (1, 8), (2, 6), (0, 3), (5, 50), (6, 2)]),
    phi=st.sampled_from([None, [0.0], [45.0, 0.0], [10.0]]),
)
def test_hdf5_loaders_never_fail_unclearly(
    layout: str, edits: list, q: float, frames: Any, phi: Any
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "data.h5"
        path.write_bytes(_base(layout).read_bytes())
        truncate = False
        with h5py.File(path, "a") as h5:
            for action, index, value in edits:
                names = _datasets(h5)
                if not names:
                    break
                name = names[index % len(names)]
                if action == "truncate":
                    truncate = True
                    continue
                del h5[name]
                if action == "replace":
                    h5[name] = value
        if truncate:
            data = path.read_bytes()
            path.write_bytes(data[: max(1, len(data) * (1 + edits[0][1] % 9) // 10)])
        try:
            ds = load_dataset(path, q=q, frames=frames, phi=phi, cache_dir=Path(tmp) / "c")
        except HomodyneError as exc:
            _one_line_error(exc)
        else:
            assert np.all(np.isfinite(ds.c2))
