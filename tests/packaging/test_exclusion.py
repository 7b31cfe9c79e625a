"""cpu and gpu outputs cannot be installed together: checked with the solver on the
rendered recipe's metadata (repodata-only channel, stand-ins for every dependency)."""

from __future__ import annotations

import pytest

pytest.importorskip("rattler")
pytest.importorskip("rattler_build")

from tools.conda_offline import exclusion
from tools.conda_offline import recipe as rc


def _channel(tmp_path, outputs):
    return exclusion.write_channel(tmp_path / "ch", exclusion.rendered_records(outputs))


def test_cpu_and_gpu_exclude_each_other(tmp_path):
    result = exclusion.check([_channel(tmp_path, rc.render())])
    assert result["homodyne-analysis-cpu + homodyne-analysis-gpu"] == "unsolvable, as required"
    assert result["homodyne-analysis-gpu + pytensor"] == "unsolvable, as required"
    assert result["homodyne-analysis-cpu"].startswith("solves alone")
    assert result["homodyne-analysis-gpu"].startswith("solves alone")


def test_without_run_constraints_the_check_fails(tmp_path):
    outputs = rc.render()
    for o in outputs:
        o.run_constraints = [c for c in o.run_constraints if c.startswith("__")]
    with pytest.raises(AssertionError, match="solved together"):
        exclusion.check([_channel(tmp_path, outputs)])
