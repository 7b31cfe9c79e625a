"""Small helpers with one job each, used across the package (the bottom layer: they
import nothing from homodyne).

* :mod:`.atomic`: atomic file writes (temporary file in the same folder, flushed and
  fsync'ed, then renamed over the target);
* :mod:`.hashing`: the SHA-256 of a file, read in chunks;
* :mod:`.jsonable`: NumPy values (and paths) as plain JSON data;
* :mod:`.modules`: whether a module is installed (found without importing it), with an
  optional minimum version.
"""
