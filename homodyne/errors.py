"""Exception types. Every user-facing failure is one of these, with a message that names
the file, the key and what was expected; the command line turns them into one-line
reasons and exit codes instead of tracebacks."""

from __future__ import annotations


class HomodyneError(Exception):
    """Base class of all errors the package raises on purpose."""

    exit_code = 1


class ConfigError(HomodyneError, ValueError):
    """A configuration file or value is malformed, incomplete or inconsistent (exit 2)."""

    exit_code = 2


class DataError(HomodyneError, ValueError):
    """An input data file is missing, unreadable, or lacks what was asked for."""


class AnalysisError(HomodyneError, RuntimeError):
    """An analysis step failed (for example a fit that produced no finite result)."""


class BackendUnavailableError(HomodyneError, ImportError):
    """An optional backend (PyMC, NumPyro/JAX) is not installed or not usable here.

    The message names the pip extra and the conda package that provide it."""


class OutputExistsError(HomodyneError, FileExistsError):
    """An output folder already holds results and overwriting was not requested, or
    overwriting was asked for a folder this package did not create (exit 2)."""

    exit_code = 2


class OutputError(HomodyneError, OSError):
    """The output folder cannot be created or written, or another run is writing the
    same run folder."""
