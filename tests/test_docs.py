"""The documentation: generated pages in sync, examples that run, a clean Sphinx build."""

from __future__ import annotations

import importlib.util
import re
import runpy
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def _code_blocks(rst: str, language: str) -> list[str]:
    """The bodies of ``.. code-block:: <language>`` directives, dedented."""
    blocks = []
    lines = rst.splitlines()
    i = 0
    while i < len(lines):
        m = re.match(r"^(\s*)\.\. code-block:: *" + re.escape(language) + r"\s*$", lines[i])
        if not m:
            i += 1
            continue
        indent = len(m.group(1))
        i += 1
        body = []
        while i < len(lines) and (
            not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > indent
        ):
            body.append(lines[i])
            i += 1
        blocks.append(textwrap.dedent("\n".join(body)).strip("\n") + "\n")
    return blocks


def test_configuration_reference_is_generated_from_the_schema():
    from homodyne.config import reference_rst

    committed = (DOCS / "configuration.rst").read_text(encoding="utf-8")
    assert committed == reference_rst(), (
        "docs/configuration.rst is out of date; run: python docs/generate_config_reference.py"
    )


def test_generator_check_mode_agrees():
    done = subprocess.run(
        [sys.executable, str(DOCS / "generate_config_reference.py"), "--check"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr


def test_conf_reads_the_single_version_source():
    from homodyne._version import __version__

    conf = runpy.run_path(str(DOCS / "conf.py"))
    assert conf["release"] == __version__
    assert conf["project"] == "homodyne-analysis"
    assert not conf["nitpicky"]
    assert "sphinx.ext.intersphinx" not in conf["extensions"]
    for name in ("pymc", "pytensor", "arviz", "jax", "jaxlib", "numpyro"):
        assert name in conf["autodoc_mock_imports"]


def test_every_toctree_entry_has_a_page():
    index = (DOCS / "index.rst").read_text(encoding="utf-8")
    entries = []
    for block in re.findall(r"\.\. toctree::\n((?:[ \t]+.*\n|\n)+)", index):
        for line in block.splitlines():
            s = line.strip()
            if s and not s.startswith(":"):
                entries.append(s)
    for required in (
        "quickstart", "installation", "physics", "fitting", "cli", "configuration", "api",
        "benchmarks", "changelog", "packaging", "data_formats", "mcmc", "hpc_deployment",
        "release_checklist", "batch",
    ):  # fmt: skip
        assert required in entries, f"{required} is missing from the toctree of index.rst"
    for entry in entries:
        assert (DOCS / f"{entry}.rst").is_file(), f"toctree entry {entry!r} has no docs/{entry}.rst"


def test_quickstart_python_example_runs(capsys):
    blocks = _code_blocks((DOCS / "quickstart.rst").read_text(encoding="utf-8"), "python")
    assert blocks, "the quick start has no Python example"
    for code in blocks:
        exec(compile(code, "docs/quickstart.rst", "exec"), {"__name__": "__docs__"})
    out = capsys.readouterr().out
    assert "[[Fit]]" in out and "converged=True" in out


def test_cli_reference_documents_every_option():
    """Each option of ``homodyne`` and ``homodyne-config`` is named in docs/cli.rst."""
    from homodyne.run_homodyne import _main_parser

    cli = (DOCS / "cli.rst").read_text(encoding="utf-8")
    options = [
        opt
        for action in _main_parser("homodyne")._actions
        for opt in action.option_strings
        if opt.startswith("--") and opt != "--help"
    ]
    assert options
    missing = [o for o in options if f"``{o}" not in cli and f"{o} " not in cli]
    assert not missing, f"options of 'homodyne' not documented in docs/cli.rst: {missing}"

    import homodyne.cli.config_cli as config_cli

    source = Path(config_cli.__file__).read_text(encoding="utf-8")
    config_options = set(re.findall(r'add_argument\(\s*"(--[a-z-]+)"', source)) - {"--version"}
    section = cli.split("``homodyne-config``: configuration templates", 1)[1]
    missing = sorted(o for o in config_options if o not in section)
    assert not missing, f"options of 'homodyne-config' not documented in docs/cli.rst: {missing}"


@pytest.mark.skipif(
    importlib.util.find_spec("sphinx") is None,
    reason="sphinx is not installed (pip install 'homodyne-analysis[docs]')",
)
def test_sphinx_build_has_no_warnings(tmp_path):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "sphinx",
            "-W",
            "--keep-going",
            "-q",
            "-b",
            "html",
            str(DOCS),
            str(tmp_path / "html"),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert done.returncode == 0, f"sphinx build failed:\n{done.stdout}\n{done.stderr}"
    assert (tmp_path / "html" / "index.html").is_file()
    assert (tmp_path / "html" / "configuration.html").is_file()
