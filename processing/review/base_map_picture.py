"""A base map (GeoTIFF in any CRS, or MBTiles) cut to the flight's area as one lon/lat picture.

Like the mosaic (processing/orthomosaic/overlay.py), the picture sits on a regular lon/lat grid,
so the review map, linear in longitude and latitude, places it exactly by its four bounds.  The
area is the flight's footprints with a margin around them: enough ground to see where the
flight is, and one picture of at most BASE_PX pixels, however large the park's map is.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from uav.errors import BaseMapError

from ..orthomosaic.overlay import stretch_to_bytes

__all__ = ["Area", "BasePicture", "render_base_map", "BASE_PX"]

BASE_PX = 2048           # longest side, as the mosaic's picture
MARGIN = 0.5             # of the flight's larger side, on every side ...
MIN_MARGIN_M = 300.0     # ... but at least this: a small flight still shows its surroundings
KX, KY = 111320.0, 110574.0   # metres per degree, as the page's projection (map.js)


@dataclass(frozen=True)
class Area:
    """Where the flight is (its footprints' bounds) and the area drawn around it (lon/lat)."""

    flight: tuple[float, float, float, float]
    bounds: tuple[float, float, float, float]

    @classmethod
    def around(cls, flight) -> Area:
        west, south, east, north = flight
        kx = KX * math.cos(math.radians((south + north) / 2))
        m = max(MIN_MARGIN_M, MARGIN * max((east - west) * kx, (north - south) * KY))
        return cls(tuple(flight), (west - m / kx, south - m / KY, east + m / kx, north + m / KY))

    def size_m(self) -> tuple[float, float]:
        west, south, east, north = self.bounds
        return (east - west) * KX * math.cos(math.radians((south + north) / 2)), (north - south) * KY


@dataclass(frozen=True)
class BasePicture:
    rgba: np.ndarray                                 # (h, w, 4) uint8, alpha 0 where the map has nothing
    bounds: tuple[float, float, float, float]        # west, south, east, north (degrees)
    covered: float                                   # share of the flight's own area the map covers
    extent: tuple[float, float, float, float]        # the whole map's bounds (degrees), for messages


def _res_m(src) -> float:
    """The source's cell in metres, roughly: enough not to blow a coarse map up for nothing."""
    res = float(min(src.res))
    if src.crs.is_geographic:
        return res * KY
    try:
        return res * float(src.crs.linear_units_factor[1])
    except Exception:   # a CRS without linear units: assume metres
        return res


def _colours(src, data: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The warped bands as RGBA: palette, grey, RGB or RGBA, whatever the park's file holds."""
    from rasterio.enums import ColorInterp

    interp = list(src.colorinterp)
    alpha = [i for i, c in enumerate(interp) if c == ColorInterp.alpha]
    colour = [i for i in range(data.shape[0]) if i not in alpha]
    ok = mask > 0
    if len(colour) == 1 and interp[colour[0]] == ColorInterp.palette:
        lut = np.zeros((256, 4), np.uint8)
        for k, c in src.colormap(1).items():
            if 0 <= k < 256:
                lut[k] = c
        rgba = lut[data[colour[0]].astype(np.uint8)]
        rgba[..., 3] = np.where(ok, rgba[..., 3], 0)
        return rgba
    bands = stretch_to_bytes(data[colour[:3]] if len(colour) >= 3 else data[colour[:1]].repeat(3, axis=0), ok)
    a = data[alpha[0]].astype(np.uint8) if alpha and data.dtype == np.uint8 else 255
    return np.dstack([*bands, np.where(ok, a, 0).astype(np.uint8)])


def _warp(src, area: Area, max_px: int) -> BasePicture:
    from rasterio.enums import ColorInterp, Resampling
    from rasterio.transform import from_bounds
    from rasterio.vrt import WarpedVRT
    from rasterio.warp import transform_bounds

    width_m, height_m = area.size_m()
    cell = max(max(width_m, height_m) / max_px, _res_m(src) / 2)
    w, h = max(1, math.ceil(width_m / cell)), max(1, math.ceil(height_m / cell))
    west, south, east, north = area.bounds
    palette = src.count == 1 and src.colorinterp[0] == ColorInterp.palette
    shrink = cell > _res_m(src) * 1.5
    resampling = Resampling.nearest if palette else (Resampling.average if shrink else Resampling.bilinear)
    # Without nodata or an alpha band, a warp fills the ground outside the map with black that
    # looks like map: an added alpha band tells the two apart.
    bare = src.nodata is None and ColorInterp.alpha not in src.colorinterp
    with WarpedVRT(src, crs="EPSG:4326", transform=from_bounds(west, south, east, north, w, h),
                   width=w, height=h, resampling=resampling, add_alpha=bare) as vrt:
        data = vrt.read(indexes=list(range(1, src.count + 1)))
        mask = vrt.dataset_mask()
    rgba = _colours(src, data, mask)
    fw, fs, fe, fn = area.flight
    c0, c1 = int((fw - west) / (east - west) * w), math.ceil((fe - west) / (east - west) * w)
    r0, r1 = int((north - fn) / (north - south) * h), math.ceil((north - fs) / (north - south) * h)
    inside = rgba[r0:max(r1, r0 + 1), c0:max(c1, c0 + 1), 3]
    return BasePicture(rgba, area.bounds, float((inside > 0).mean()) if inside.size else 0.0,
                       transform_bounds(src.crs, "EPSG:4326", *src.bounds))


def _open_geotiff(path: Path):
    import rasterio

    try:
        with warnings.catch_warnings():     # a plain TIFF is refused below, in words
            warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
            src = rasterio.open(path)
    except rasterio.errors.RasterioIOError:
        raise BaseMapError(f"the base map {path} is neither a GeoTIFF nor an MBTiles file") from None
    if src.driver != "GTiff":
        src.close()
        raise BaseMapError(f"the base map {path} is a {src.driver} file; give a GeoTIFF or an MBTiles file")
    if src.crs is None:
        src.close()
        raise BaseMapError(f"the base map {path} is a TIFF without a map projection (no CRS), so it cannot be "
                           "placed; save it from the GIS as a GeoTIFF")
    return src


def _from_mbtiles(path: Path, area: Area, max_px: int) -> tuple[BasePicture, str]:
    from rasterio.enums import ColorInterp
    from rasterio.io import MemoryFile
    from rasterio.transform import from_bounds

    from .mbtiles import read_mbtiles

    pic = read_mbtiles(path, area.bounds, area.flight)
    _, h, w = pic.rgba.shape
    with MemoryFile() as mem:
        with mem.open(driver="GTiff", width=w, height=h, count=4, dtype="uint8", crs="EPSG:3857",
                      transform=from_bounds(*pic.bounds_3857, w, h)) as ds:
            ds.write(pic.rgba)
            ds.colorinterp = [ColorInterp.red, ColorInterp.green, ColorInterp.blue, ColorInterp.alpha]
        with mem.open() as ds:
            return _warp(ds, area, max_px), f"MBTiles, zoom {pic.zoom}"


def render_base_map(path, area: Area, max_px: int = BASE_PX) -> tuple[BasePicture, str]:
    """The base map ``path`` over ``area``, and what it is ("GeoTIFF, EPSG:32652", "MBTiles, zoom 16")."""
    import rasterio

    from .mbtiles import is_mbtiles

    path = Path(path)
    if not path.exists():
        raise BaseMapError(f"the base map {path} does not exist")
    if not path.is_file():
        raise BaseMapError(f"the base map {path} is a folder; give a GeoTIFF or an MBTiles file")
    try:
        if is_mbtiles(path):
            return _from_mbtiles(path, area, max_px)
        with _open_geotiff(path) as src:
            crs = src.crs.to_string() if src.crs.to_epsg() is None else f"EPSG:{src.crs.to_epsg()}"
            return _warp(src, area, max_px), f"GeoTIFF, {crs}"
    except rasterio.errors.RasterioError as exc:
        raise BaseMapError(f"the base map {path} cannot be read: {exc}") from None
    except OSError as exc:
        raise BaseMapError(f"the base map {path} cannot be read: {exc.strerror or exc}") from None
