"""The summary reads results.json defensively (verdict as text or as a levelled record)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from homodyne.batch.summary import _rows_of, _verdict, summary_rows, varying_metadata


@pytest.mark.parametrize(
    ("doc", "block", "expected"),
    [
        ({}, {"verdict": "good: reduced χ² = 1.01"}, ("good: reduced χ² = 1.01", "good")),
        (
            {},
            {"verdict": "FAILED: no finite result"},
            ("FAILED: no finite result", "not-converged"),
        ),
        ({}, {"verdict": "POOR: reduced χ² = 4"}, ("POOR: reduced χ² = 4", "wrong-noise")),
        (
            {"verdict": {"level": "at-bound", "text": "D0 at its bound"}},
            {"verdict": "good"},
            ("D0 at its bound", "at-bound"),
        ),
        (
            {},
            {"verdict": {"passed": False, "text": "NOT converged"}},
            ("NOT converged", "not-converged"),
        ),
        ({}, {"verdict": {"level": "degenerate"}}, ("degenerate", "degenerate")),
        ({}, {}, (None, None)),
    ],
)
def test_verdict_forms(doc: dict, block: dict, expected: tuple) -> None:
    assert _verdict(doc, block) == expected


def test_rows_of_a_minimal_and_a_full_document() -> None:
    base = {"task": "t", "q": 0.01}
    (row,) = _rows_of({}, base)
    assert row["method"] is None and row["q"] == 0.01
    doc = {
        "analysis_mode": "static_isotropic",
        "input": {"q": 0.0101, "phi_used": [0.0]},
        "classical": {
            "parameters": {
                "D0": {"value": 800.0, "stderr": 20.0},
                "alpha": {"value": -0.3, "stderr": None},
            },
            "reduced_chi2": 1.02,
            "converged": True,
            "verdict": "good: reduced χ² = 1.02",
        },
        "mcmc": {
            "parameters": {"D0": {"mean": 801.0, "sd": 21.0, "hdi_3%": 760.0, "hdi_97%": 840.0}},
            "verdict": {"passed": True, "text": "converged"},
        },
    }
    cl, mc = _rows_of(doc, base)
    assert (cl["method"], cl["D0"], cl["D0_err"], cl["alpha_err"], cl["q"]) == (
        "classical",
        800.0,
        20.0,
        None,
        0.0101,
    )
    assert (mc["method"], mc["D0_hdi_low"], mc["D0_hdi_high"], mc["converged"]) == (
        "mcmc",
        760.0,
        840.0,
        True,
    )
    assert mc["verdict_level"] == "good" and json.loads(cl["phi_used"]) == [0.0]


def test_pending_and_unreadable_results_still_give_rows(tmp_path: Path) -> None:
    from types import SimpleNamespace

    f = tmp_path / "x.h5"
    f.write_bytes(b"not hdf5")
    bad = tmp_path / "run"
    bad.mkdir()
    (bad / "results.json").write_text("{broken")
    tasks = [
        SimpleNamespace(id=i, file=str(f), q=(0.01,), joint_q=False, method="classical")
        for i in ("a", "b")
    ]
    rows = summary_rows(tasks, {"b": {"status": "done", "run_dir": str(bad)}})
    assert [r["status"] for r in rows] == ["pending", "done"]
    assert "unreadable" in rows[1]["error"] and rows[0]["meta_sample"] == "x"
    assert set(rows[0]) == set(rows[1])  # a tidy table


def test_varying_metadata() -> None:
    rows = [
        {"meta_sample": "a", "meta_T": 1.0, "meta_bl": "8"},
        {"meta_sample": "b", "meta_T": 2.0, "meta_bl": "8"},
    ]
    assert varying_metadata(rows) == ["meta_T"]
