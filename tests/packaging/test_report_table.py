"""The measured verification table of docs/packaging.rst names the run's date and commit."""

from __future__ import annotations

import subprocess

from tools.conda_offline import report_table
from tools.conda_offline.depmap import REPO_ROOT
from tools.conda_offline.verify import source_commit


def test_table_header_names_date_and_commit():
    report = {
        "total_seconds": 12.5,
        "commit": "0123456789ab",
        "steps": [{"step": "static checks", "seconds": 1.0, "ok": True, "detail": {"a": 1}}],
    }
    text = report_table.render(report, 20.0, "2026-12-01")
    assert "Run of 2026-12-01 at commit 0123456789ab (" in text
    assert "verification 12.5 s, whole packaging stage 20 s." in text
    assert "   * - static checks" in text
    del report["commit"]  # a report of an older verify, or from outside a checkout
    assert "Run of 2026-12-01 (" in report_table.render(report, None, "2026-12-01")


def test_source_commit_is_this_checkout():
    head = subprocess.run(
        ["git", "rev-parse", "--short=12", "HEAD"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    got = source_commit()
    assert got is not None
    assert got.removesuffix("-dirty") == head
