"""The mosaic written as a Cloud Optimized GeoTIFF (GDAL's COG driver).

Colour: RGB plus an alpha band (0 where no frame saw the ground), 8-bit, DEFLATE with the
horizontal predictor at level 1 (on the Brighton mosaic 0.5 % larger than level 6 and a
quarter less CPU).  Thermal: one float32 band of the frames' own values, NaN as nodata (a
GIS then styles it by value; an alpha band would have to be float too).  512 px tiles,
overviews down to one tile, averaged (``AVERAGE`` keeps the alpha edge honest: a half-covered
overview cell is half transparent, not a black rim).  The file is built aside and renamed into
place, so a GIS watching the folder never opens half a mosaic.  The full-size copy the COG
driver reads from is kept uncompressed in memory (``/vsimem``) up to :data:`IN_MEMORY_MB`
(compressing it only to decompress it again cost as much as writing the COG), in a file beside
the mosaic above that; it is filled block by block, so the mosaic is never held whole.
"""

from __future__ import annotations

import os

import numpy as np

from uav.errors import MosaicError
from uav.files import write_atomic

from .blend import Grid

__all__ = ["write_cog", "write_cog_blocks"]

BLOCK = 512
IN_MEMORY_MB = 512.0   # the plain copy held in memory up to this size (60 M colour cells: 229 MB)
GDAL_CACHE_MB = 64


def write_cog(path, pixels: np.ndarray, seen: np.ndarray, grid: Grid, thermal: bool) -> str:
    """Write ``pixels`` (float32, h, w, bands: BGR for colour, 1 band for thermal) as a COG."""
    return write_cog_blocks(path, lambda c0, r0, c1, r1: (pixels[r0:r1, c0:c1], seen[r0:r1, c0:c1]), grid, thermal)


def write_cog_blocks(path, read, grid: Grid, thermal: bool) -> str:
    """Write the mosaic on ``grid`` as a COG, asking ``read(col0, row0, col1, row1)`` for one
    block of it at a time (``(pixels, seen)`` as :func:`write_cog` takes them), so a mosaic
    never has to be held whole.  Up to :data:`IN_MEMORY_MB` the full-size copy the COG driver
    reads from is kept in memory, above it in a file beside ``path`` (removed after)."""
    import rasterio
    from rasterio.enums import ColorInterp
    from rasterio.io import MemoryFile
    from rasterio.shutil import copy as rio_copy
    from rasterio.transform import from_origin
    from rasterio.windows import Window

    h, w = grid.height, grid.width
    transform = from_origin(grid.x0, grid.y1, grid.res, grid.res)
    if thermal:
        profile = dict(count=1, dtype="float32", nodata=float("nan"))
        interp = [ColorInterp.gray]
        opts = dict(PREDICTOR="FLOATING_POINT")
    else:
        profile = dict(count=4, dtype="uint8", photometric="RGB")
        interp = [ColorInterp.red, ColorInterp.green, ColorInterp.blue, ColorInterp.alpha]
        opts = dict(PREDICTOR="YES", LEVEL=1)
    size_mb = w * h * profile["count"] * (4 if thermal else 1) / 2**20

    def fill(ds):
        ds.colorinterp = interp     # before any block: TIFF's alpha tag cannot change once one is out
        for r0 in range(0, h, BLOCK):
            for c0 in range(0, w, BLOCK):
                c1, r1 = min(c0 + BLOCK, w), min(r0 + BLOCK, h)
                pixels, seen = read(c0, r0, c1, r1)
                ds.write(_bands(pixels, seen, thermal), window=Window(c0, r0, c1 - c0, r1 - r0))

    def write(tmp):
        plain_args = dict(driver="GTiff", width=w, height=h, crs=f"EPSG:{grid.epsg}", transform=transform,
                          tiled=True, blockxsize=BLOCK, blockysize=BLOCK, BIGTIFF="IF_SAFER", **profile)
        mem, plain_file = None, None
        try:
            if size_mb <= IN_MEMORY_MB:
                mem = MemoryFile()
                with mem.open(**plain_args) as ds:
                    fill(ds)
                src = mem.name
            else:       # too large to hold: a plain tiled file on the same disk, read once
                plain_file = f"{os.fspath(tmp)}.plain.tif"
                with rasterio.open(plain_file, "w", **plain_args) as ds:
                    fill(ds)
                src = plain_file
            rio_copy(src, os.fspath(tmp), driver="COG", COMPRESS="DEFLATE", BLOCKSIZE=BLOCK,
                     OVERVIEWS="AUTO", OVERVIEW_RESAMPLING="AVERAGE", RESAMPLING="AVERAGE",
                     BIGTIFF="IF_SAFER", NUM_THREADS="ALL_CPUS", **opts)
        except rasterio.errors.RasterioError as exc:
            raise MosaicError(f"GDAL could not write the mosaic {path}: {exc}") from None
        finally:
            if mem is not None:
                mem.close()
            if plain_file and os.path.exists(plain_file):
                os.unlink(plain_file)

    # GDAL's block cache is 5 % of the computer's memory by default, and writing the COG and its
    # overviews fills it: on 1,200 frames that was most of the peak (the copy it reads is
    # already in memory or on the local disk)
    with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB * 2**20):
        write_atomic(path, write, error=MosaicError, what="mosaic")
    return os.fspath(path)


def _bands(pixels: np.ndarray, seen: np.ndarray, thermal: bool) -> np.ndarray:
    """One block's bands as the file holds them: RGBA 8-bit, or the thermal values with NaN."""
    import cv2

    if thermal:
        return np.where(seen, pixels[..., 0], np.nan).astype(np.float32)[None]
    bgr = cv2.convertScaleAbs(pixels)          # rounded and saturated to 0-255, as np.rint + clip
    alpha = seen.astype(np.uint8) * np.uint8(255)
    return np.stack([bgr[..., 2], bgr[..., 1], bgr[..., 0], alpha])
