"""Offline verification of the conda side of homodyne-analysis (recipe, pixi, environments).

Run from the repository root: ``python -m tools.conda_offline.verify`` (see docs/packaging.rst).
"""
