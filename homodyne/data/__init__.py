"""The data layer: APS 8-ID-I HDF5 files in, validated :class:`Dataset` objects out.

* :func:`load_dataset` reads one q ring (all or chosen angles, a 1-based inclusive frame
  window) from an APS-U or old-APS file, optionally through an ``.npz`` cache.
* :func:`load_numpy` reads c2 matrices from a NumPy ``.npy``/``.npz`` file (generic input).
* :class:`Dataset` holds the (A, n, n) stack, angles, q, dt, frames and provenance.
* :func:`filter_angles` picks angles inside closed ranges of degrees (modulo 360°).
* :func:`simulate_dataset` and :func:`write_simulated_file` make synthetic data from the
  model, in memory or as files of either layout.
* :func:`write_aps_u` / :func:`write_aps_old` (and their one-bin-at-a-time writers)
  produce files in the two layouts.

See ``docs/data_formats.rst``.
"""

from .angles import DEFAULT_ANGLE_RANGES, filter_angles, in_angle_range
from .aps_old import ApsOldWriter, write_aps_old
from .aps_u import ApsUWriter, write_aps_u
from .cache import CACHE_FORMAT_VERSION, cache_key, file_sha256
from .dataset import LAYOUTS, Dataset
from .hdf5_io import FRAME_TIME_KEY
from .loader import Q_RING_REL_TOLERANCE, load_dataset
from .numpy_io import NUMPY_SUFFIXES, load_numpy
from .simulate import (
    DEFAULT_PHI,
    REALISTIC_PARAMS,
    TRUTH_ATTR,
    default_params,
    simulate_dataset,
    write_simulated_file,
)

__all__ = [
    "CACHE_FORMAT_VERSION",
    "DEFAULT_ANGLE_RANGES",
    "DEFAULT_PHI",
    "FRAME_TIME_KEY",
    "LAYOUTS",
    "NUMPY_SUFFIXES",
    "Q_RING_REL_TOLERANCE",
    "REALISTIC_PARAMS",
    "TRUTH_ATTR",
    "ApsOldWriter",
    "ApsUWriter",
    "Dataset",
    "cache_key",
    "default_params",
    "file_sha256",
    "filter_angles",
    "in_angle_range",
    "load_dataset",
    "load_numpy",
    "simulate_dataset",
    "write_aps_old",
    "write_aps_u",
    "write_simulated_file",
]
