"""Single source of the package version (read by pyproject, the recipe and the docs)."""

__version__ = "0.1.0"
