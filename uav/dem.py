"""Ground heights from a DEM GeoTIFF: loaded once, sampled anywhere, whatever its CRS.

The planner (terrain following, home elevation) and georeferencing (rays marched onto the
ground) both read DEMs through :class:`ElevationModel`, so both refuse the same files with the
same reasons and interpolate the same way: bilinear between cell centres, up to the raster's
edge, NaN where the DEM has no height.
"""

from __future__ import annotations

import math
import os
from functools import lru_cache

import numpy as np
from pyproj import CRS, Transformer

from .errors import UavError
from .geo import WGS84

MAX_CELLS = 64_000_000  # 512 MB of float64 heights: larger DEMs must be clipped to the flight


class ElevationModel:
    """An elevation raster in memory.

    Parameters
    ----------
    path : str or path-like
        A single-band GeoTIFF of heights in metres (any CRS rasterio reads).
    error : type of UavError
        Raised, naming the file, when it is missing, unreadable, too large, without a CRS or
        without a single valid height (the caller's kind: planning or georeferencing).

    Attributes
    ----------
    heights : ndarray
        The raster, NaN on no-data cells.
    res_m : float
        Cell size in metres (the finer axis; degrees converted at the raster's middle).
    zmin, zmax : float
        Lowest and highest valid height.
    """

    def __init__(self, path: str | os.PathLike, *, error: type[UavError] = UavError):
        import rasterio

        self.path = str(path)
        self.error = error
        if not dem_exists(self.path):
            raise error(f"cannot read DEM {self.path}: the file does not exist")
        try:
            with rasterio.open(self.path) as src:
                if src.crs is None:
                    raise error(f"DEM {self.path} has no coordinate reference system")
                if src.width * src.height > MAX_CELLS:
                    raise error(f"DEM {self.path} is too large to load ({src.width}x{src.height}); "
                                "clip it to the flight area first")
                self.heights = src.read(1, masked=True).astype("float64").filled(np.nan)
                self.transform = src.transform
                self.crs = CRS.from_user_input(src.crs.to_wkt())
                bounds = src.bounds
        except rasterio.errors.RasterioIOError as exc:
            raise error(f"cannot read DEM {self.path}: {exc}") from None
        finite = self.heights[np.isfinite(self.heights)]
        if finite.size == 0:
            raise error(f"DEM {self.path} has no valid heights")
        self.zmin, self.zmax = float(finite.min()), float(finite.max())
        rx, ry = abs(self.transform.a), abs(self.transform.e)
        if self.crs.is_geographic:
            lat = (bounds.top + bounds.bottom) / 2
            rx, ry = rx * 111_320.0 * math.cos(math.radians(lat)), ry * 110_540.0
        self.res_m = float(min(rx, ry))
        self._inv = ~self.transform
        self._to_dem: dict = {}

    def sample_coords(self, x, y, crs=WGS84) -> tuple[np.ndarray, np.ndarray]:
        """Points as fractional ``(col, row)`` of the raster's cell centres: between the same
        two whole numbers both ways, points share one bilinear patch; the heights' slope
        breaks where a whole number is crossed."""
        key = crs if isinstance(crs, int) else CRS.from_user_input(crs).to_wkt()
        to_dem = self._to_dem.get(key)
        if to_dem is None:
            src = CRS.from_epsg(crs) if isinstance(crs, int) else CRS.from_user_input(crs)
            to_dem = self._to_dem[key] = Transformer.from_crs(src, self.crs, always_xy=True)
        dx, dy = to_dem.transform(np.atleast_1d(np.asarray(x, float)), np.atleast_1d(np.asarray(y, float)))
        a = self._inv
        col = a.a * np.asarray(dx) + a.b * np.asarray(dy) + a.c - 0.5
        row = a.d * np.asarray(dx) + a.e * np.asarray(dy) + a.f - 0.5
        return col, row

    def heights_at(self, x, y, crs=WGS84) -> np.ndarray:
        """Ground heights at points, bilinear between cell centres; NaN outside or on no-data.

        Parameters
        ----------
        x, y : array_like
            Coordinates in ``crs`` (lon, lat by default).
        crs : pyproj CRS, EPSG code or anything pyproj reads
            The points' CRS.
        """
        return self.heights_at_samples(*self.sample_coords(x, y, crs))

    def heights_at_samples(self, col, row) -> np.ndarray:
        """:meth:`heights_at` for points already given as :meth:`sample_coords`."""
        h, w = self.heights.shape
        c0 = np.floor(col).astype(int)
        r0 = np.floor(row).astype(int)
        fc, fr = col - c0, row - r0
        c0c, c1c = np.clip(c0, 0, w - 1), np.clip(c0 + 1, 0, w - 1)
        r0c, r1c = np.clip(r0, 0, h - 1), np.clip(r0 + 1, 0, h - 1)
        z = (self.heights[r0c, c0c] * (1 - fc) * (1 - fr) + self.heights[r0c, c1c] * fc * (1 - fr)
             + self.heights[r1c, c0c] * (1 - fc) * fr + self.heights[r1c, c1c] * fc * fr)
        outside = (col < -0.5) | (row < -0.5) | (col > w - 0.5) | (row > h - 0.5)
        return np.where(outside, np.nan, z)


def dem_exists(path: str | os.PathLike) -> bool:
    """Whether a DEM is there: a file, or the GDAL in-memory copy (``/vsimem/``) that a Dask
    worker which cannot read the analyst's disk was sent (processing.sent_dem)."""
    path = os.fspath(path)
    return path.startswith("/vsimem/") or os.path.exists(path)


@lru_cache(maxsize=4)
def _cached(path: str, stamp: tuple, error: type[UavError]) -> ElevationModel:
    return ElevationModel(path, error=error)


def load_dem(path, *, error: type[UavError] = UavError) -> ElevationModel:
    """A DEM loaded once per process and shared (every frame of a flight, every sortie).

    Reloaded when the file changes (its size and modification time are part of the key).
    """
    path = os.path.abspath(path)
    try:
        st = os.stat(path)
        stamp = (st.st_size, st.st_mtime_ns)
    except OSError:
        stamp = ()
    return _cached(path, stamp, error)


__all__ = ["MAX_CELLS", "ElevationModel", "dem_exists", "load_dem"]
