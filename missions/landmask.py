"""Is this point on land?  A 1 km global land mask, read a few rows at a time.

The mask is the one the ``global-land-mask`` package ships (NOAA GLOBE, public domain): a
21600 x 43200 boolean grid, 1/120 degree per cell, row 0 at latitude 90 N, column 0 at
longitude 180 W, stored deflated in an ``.npz``.  Importing that package unpacks all of it
(about 1 GB of memory and several seconds), which a planner run cannot afford, so this module
streams the compressed grid and keeps only the rows it is asked about (bit-packed, cached).

Used to catch sectors whose coordinates were given in the wrong order: a park in Primorye read
as lat,lon instead of lon,lat lands in the Indian Ocean or off the map.
"""

from __future__ import annotations

import importlib.util
import os
import threading
import zipfile

import numpy as np
from numpy.lib import format as npy_format

CELLS_PER_DEGREE = 120
N_ROWS = 180 * CELLS_PER_DEGREE
N_COLS = 360 * CELLS_PER_DEGREE
_MASK_FILE = "globe_combined_mask_compressed.npz"

_rows: dict[int, np.ndarray] = {}  # row index -> np.packbits(row)
_lock = threading.Lock()


def mask_path() -> str | None:
    """Path of the land mask file, or ``None`` when the package is not installed."""
    # find_spec does not execute the package (whose import would load the whole grid).
    spec = importlib.util.find_spec("global_land_mask")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        path = os.path.join(folder, _MASK_FILE)
        if os.path.exists(path):
            return path
    return None


def available() -> bool:
    """Whether :func:`is_land` can answer."""
    return mask_path() is not None


def _row_index(lat: np.ndarray) -> np.ndarray:
    return np.clip(np.floor((90.0 - lat) * CELLS_PER_DEGREE).astype(np.int64), 0, N_ROWS - 1)


def _col_index(lon: np.ndarray) -> np.ndarray:
    lon = (np.asarray(lon, dtype=float) + 180.0) % 360.0 - 180.0
    return np.clip(np.floor((lon + 180.0) * CELLS_PER_DEGREE).astype(np.int64), 0, N_COLS - 1)


BAND_MARGIN_ROWS = 60   # half a degree: neighbouring checks then need no second pass
MAX_BAND_ROWS = 2400     # 20 degrees (13 MB packed); taller requests keep only the rows asked


def _load_rows(wanted: set[int]) -> None:
    """Stream the deflated grid once, keeping the ``wanted`` rows (and a band around them)."""
    if not wanted or all(r in _rows for r in wanted):
        return
    lo, hi = min(wanted), max(wanted)
    if hi - lo <= MAX_BAND_ROWS:
        wanted = set(range(max(0, lo - BAND_MARGIN_ROWS), min(N_ROWS, hi + BAND_MARGIN_ROWS + 1)))
    missing = sorted(r for r in wanted if r not in _rows)
    if not missing:
        return
    path = mask_path()
    if path is None:  # pragma: no cover - guarded by callers
        raise FileNotFoundError("global-land-mask is not installed")
    with zipfile.ZipFile(path) as zf, zf.open("mask.npy") as f:
        version = npy_format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = npy_format.read_array_header_1_0(f)
        else:
            shape, fortran, dtype = npy_format.read_array_header_2_0(f)
        if tuple(shape) != (N_ROWS, N_COLS) or fortran or np.dtype(dtype) != np.bool_:
            raise ValueError(f"unexpected land mask layout {shape} {dtype} in {path}")
        start = f.tell()
        for row in missing:
            # Forward seeks in a deflated member decompress and discard: one pass, no memory.
            f.seek(start + row * N_COLS)
            data = np.frombuffer(f.read(N_COLS), dtype=np.uint8)
            # The file stores "is ocean"; keep "is land".
            _rows[row] = np.packbits(~data.astype(bool))


def is_land(lon, lat) -> np.ndarray:
    """Whether each ``lon, lat`` (degrees, arrays or scalars) is on land, at ~1 km resolution.

    Raises
    ------
    FileNotFoundError
        When the ``global-land-mask`` package is not installed.
    """
    lon = np.atleast_1d(np.asarray(lon, dtype=float))
    lat = np.atleast_1d(np.asarray(lat, dtype=float))
    if mask_path() is None:
        raise FileNotFoundError("the global-land-mask package is not installed")
    rows = _row_index(lat)
    cols = _col_index(lon)
    with _lock:
        _load_rows(set(rows.tolist()))
        out = np.empty(rows.shape, dtype=bool)
        for i, (r, c) in enumerate(zip(rows.tolist(), cols.tolist(), strict=True)):
            packed = _rows[r]
            out[i] = bool((packed[c >> 3] >> (7 - (c & 7))) & 1)
    return out
