"""The mosaic written as a Cloud Optimized GeoTIFF (GDAL's COG driver).

Colour: RGB plus an alpha band (0 where no frame saw the ground), 8-bit, DEFLATE with the
horizontal predictor at level 1 (on the Brighton mosaic 0.5 % larger than level 6 and a
quarter less CPU).  Thermal: one float32 band of the frames' own values, NaN as nodata (a
GIS then styles it by value; an alpha band would have to be float too).  512 px tiles,
overviews down to one tile, averaged (``AVERAGE`` keeps the alpha edge honest: a half-covered
overview cell is half transparent, not a black rim).  The file is built aside and renamed into
place, so a GIS watching the folder never opens half a mosaic.  The full-size copy the COG
driver reads from is kept uncompressed in memory (``/vsimem``): compressing it only to
decompress it again cost as much as writing the COG.
"""

from __future__ import annotations

import os

import numpy as np

from uav.errors import MosaicError
from uav.files import write_atomic

from .blend import Grid

__all__ = ["write_cog"]

BLOCK = 512


def write_cog(path, pixels: np.ndarray, seen: np.ndarray, grid: Grid, thermal: bool) -> str:
    """Write ``pixels`` (float32, h, w, bands: BGR for colour, 1 band for thermal) as a COG."""
    import cv2
    import rasterio
    from rasterio.enums import ColorInterp
    from rasterio.io import MemoryFile
    from rasterio.shutil import copy as rio_copy
    from rasterio.transform import from_origin

    h, w = seen.shape
    transform = from_origin(grid.x0, grid.y1, grid.res, grid.res)
    if thermal:
        bands = [np.where(seen, pixels[..., 0], np.nan).astype(np.float32)]
        profile = dict(count=1, dtype="float32", nodata=float("nan"))
        interp = [ColorInterp.gray]
        opts = dict(PREDICTOR="FLOATING_POINT")
    else:
        bgr = cv2.convertScaleAbs(pixels)          # rounded and saturated to 0-255, as np.rint + clip
        alpha = seen.astype(np.uint8) * np.uint8(255)
        bands = [bgr[..., 2], bgr[..., 1], bgr[..., 0], alpha]
        profile = dict(count=4, dtype="uint8", photometric="RGB")
        interp = [ColorInterp.red, ColorInterp.green, ColorInterp.blue, ColorInterp.alpha]
        opts = dict(PREDICTOR="YES", LEVEL=1)

    def write(tmp):
        with MemoryFile() as plain:
            with plain.open(driver="GTiff", width=w, height=h, crs=f"EPSG:{grid.epsg}", transform=transform,
                            tiled=True, blockxsize=BLOCK, blockysize=BLOCK, BIGTIFF="IF_SAFER", **profile) as ds:
                for i, b in enumerate(bands, 1):
                    ds.write(b, i)
                ds.colorinterp = interp
            try:
                rio_copy(plain.name, os.fspath(tmp), driver="COG", COMPRESS="DEFLATE", BLOCKSIZE=BLOCK,
                         OVERVIEWS="AUTO", OVERVIEW_RESAMPLING="AVERAGE", RESAMPLING="AVERAGE",
                         BIGTIFF="IF_SAFER", NUM_THREADS="ALL_CPUS", **opts)
            except rasterio.errors.RasterioError as exc:
                raise MosaicError(f"GDAL could not write the mosaic {path}: {exc}") from None

    write_atomic(path, write, error=MosaicError, what="mosaic")
    return os.fspath(path)
