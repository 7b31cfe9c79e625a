"""Sphinx configuration of the homodyne-analysis documentation.

Build with ``python -m sphinx -W --keep-going -b html docs docs/_build/html``.
The build needs no network access and never imports an MCMC stack.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))


def _read_version() -> str:
    """The version from homodyne/_version.py, read as text (no package import)."""
    text = (ROOT / "homodyne" / "_version.py").read_text(encoding="utf-8")
    match = re.search(r"""^__version__\s*=\s*["']([^"']+)["']""", text, re.MULTILINE)
    if match is None:
        raise RuntimeError("homodyne/_version.py does not define __version__")
    return match.group(1)


# -- project -----------------------------------------------------------------------------
project = "homodyne-analysis"
author = "The homodyne-analysis developers"
copyright = "The homodyne-analysis developers (MIT licence)"
release = _read_version()
version = ".".join(release.split(".")[:2])

# -- general -----------------------------------------------------------------------------
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
]
# No intersphinx: the build must not fetch anything from the network.

exclude_patterns = ["_build", "_measured", "Thumbs.db", ".DS_Store"]  # _measured: included pages
templates_path: list[str] = []
nitpicky = False
language = "en"
today_fmt = "%Y-%m-%d"

# -- autodoc -----------------------------------------------------------------------------
autodoc_mock_imports = ["pymc", "pytensor", "arviz", "jax", "jaxlib", "numpyro"]
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_format = "short"
autodoc_default_options = {"members": True, "show-inheritance": False}
napoleon_google_docstring = True
napoleon_numpy_docstring = True
napoleon_use_rtype = False

# -- html --------------------------------------------------------------------------------
try:
    import furo  # noqa: F401
except ImportError:  # pragma: no cover - depends on the environment
    html_theme = "alabaster"
else:
    html_theme = "furo"
html_title = f"homodyne-analysis {release}"
html_static_path: list[str] = []
html_show_sourcelink = False

# -- docstrings --------------------------------------------------------------------------
# Module docstrings in the package use plain reStructuredText section titles
# ("How the structure is exploited" / "----"). Inside an autodoc directive a section
# title is not allowed, so such titles are turned into rubrics before the docstring is
# parsed. The NumPy-style sections that napoleon understands ("Parameters", "Returns",
# "Attributes", ...) are left to napoleon; "Methods" is prose in this package (a list of
# fitting methods, not of class methods), so it becomes a rubric too.
_UNDERLINE = re.compile(r"^\s*([-=~^\"'`#*+])\1{2,}\s*$")
_NAPOLEON_SECTIONS = {
    "args", "arguments", "attention", "attributes", "caution", "danger", "error",
    "example", "examples", "hint", "important", "keyword args", "keyword arguments",
    "note", "notes", "other parameters", "parameters", "receive", "receives", "return",
    "returns", "raise", "raises", "references", "see also", "tip", "todo", "warning",
    "warnings", "warns", "yield", "yields",
}  # fmt: skip


def _titles_to_rubrics(app, what, name, obj, options, lines):
    i = 0
    while i < len(lines) - 1:
        title, under = lines[i], lines[i + 1]
        if (
            title.strip()
            and _UNDERLINE.match(under)
            and len(under.strip()) >= len(title.strip())
            and (i == 0 or not lines[i - 1].strip())
            and title.strip().lower() not in _NAPOLEON_SECTIONS
        ):
            indent = title[: len(title) - len(title.lstrip())]
            lines[i : i + 2] = [f"{indent}.. rubric:: {title.strip()}", ""]
        i += 1


# Docstrings and the generated configuration reference write absolute values as |x|,
# which reStructuredText reads as a substitution reference. Bars that touch text are
# escaped, except inside inline literals, roles, literal blocks and code/math blocks,
# where the text is shown as written.
_INLINE_LITERAL = re.compile(r"(``.+?``|:[\w:+-]+:`[^`]*`|`[^`]*`_{0,2})")
_BAR = re.compile(r"(?<!\\)\|(?=\S)|(?<=[^\s\\])\|")
_LITERAL_DIRECTIVE = re.compile(
    r"^\s*\.\. (code-block|code|sourcecode|math|highlight|parsed-literal)::"
)
_DIRECTIVE = re.compile(r"^\s*\.\. [\w:-]+::")


def _escape_bars(lines: list[str]) -> None:
    block_indent: int | None = None
    for i, line in enumerate(lines):
        indent = len(line) - len(line.lstrip())
        if block_indent is not None:
            if not line.strip() or indent > block_indent:
                continue
            block_indent = None
        parts = _INLINE_LITERAL.split(line)
        lines[i] = "".join(p if k % 2 else _BAR.sub(r"\\|", p) for k, p in enumerate(parts))
        is_directive = _DIRECTIVE.match(line) is not None
        if _LITERAL_DIRECTIVE.match(line) or (line.rstrip().endswith("::") and not is_directive):
            block_indent = indent


def _process_docstring(app, what, name, obj, options, lines):
    _titles_to_rubrics(app, what, name, obj, options, lines)
    _escape_bars(lines)


def _process_source(app, docname, source):
    if docname == "configuration":  # generated text; it must stay byte-identical on disk
        lines = source[0].split("\n")
        _escape_bars(lines)
        source[0] = "\n".join(lines)


def setup(app):
    # Run before napoleon (priority 500) so that it never sees these titles.
    app.connect("autodoc-process-docstring", _process_docstring, priority=100)
    app.connect("source-read", _process_source)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
