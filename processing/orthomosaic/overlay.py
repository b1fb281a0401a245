"""The mosaic as one picture in longitude/latitude, for the review page's map.

The review map draws in a local projection that is linear in longitude and latitude, so a
picture on a regular lon/lat grid lands on the map exactly by its four bounds: one ``<image>``,
no tiles, nothing fetched from the internet.  The COG's overviews make a page-sized copy quick
to read even from a large mosaic.  Made once per mosaic file (by size and time) and cached.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from uav.errors import MosaicError
from uav.files import write_atomic

__all__ = ["Overlay", "mosaic_overlay", "OVERLAY_PX", "stretch_to_bytes"]

OVERLAY_PX = 2048     # longest side: sharp on a laptop's map pane, a few MB at most


@dataclass(frozen=True)
class Overlay:
    png: Path
    bounds: tuple[float, float, float, float]     # west, south, east, north (degrees)
    kind: str                                     # "colour" or "thermal"
    res_m: float                                  # the mosaic's own cell


def stretch_to_bytes(bands: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """Bands ``(B, H, W)`` that are not 0-255 bytes (thermal values, a DEM, 16-bit imagery) to
    0-255, between the 2nd and 98th percentile of the finite values where ``ok``; bytes as
    they are.  The thermal mosaic and the park's base map are drawn with it."""
    if bands.dtype == np.uint8:
        return bands
    vals = bands[:, ok].astype(float)
    fin = np.isfinite(vals)
    lo, hi = np.percentile(vals[fin], [2, 98]) if fin.any() else (0.0, 1.0)
    return np.clip((np.nan_to_num(bands.astype(float)) - lo) / max(hi - lo, 1e-9) * 255, 0, 255).astype(np.uint8)


def mosaic_overlay(tif, cache_dir, max_px: int = OVERLAY_PX) -> Overlay:
    """The mosaic ``tif`` as a PNG with alpha on a lon/lat grid, and its bounds."""
    import cv2
    import rasterio
    from rasterio.enums import Resampling
    from rasterio.vrt import WarpedVRT

    tif = Path(tif)
    try:
        st = tif.stat()
        with rasterio.open(tif) as src, WarpedVRT(src, crs="EPSG:4326", resampling=Resampling.bilinear) as vrt:
            res_m = float(src.res[0])
            thermal = src.count == 1
            scale = max(vrt.width, vrt.height) / max_px
            w, h = (max(1, round(vrt.width / scale)), max(1, round(vrt.height / scale))) if scale > 1 else (vrt.width, vrt.height)
            west, south, east, north = vrt.bounds
            png = Path(cache_dir) / "mosaic" / f"{tif.stem}-{st.st_size}-{int(st.st_mtime_ns)}-{w}x{h}.png"
            if not png.is_file():
                data = vrt.read(out_shape=(vrt.count, h, w), resampling=Resampling.average)
                if thermal:
                    ok = np.isfinite(data[0])
                    grey = stretch_to_bytes(data[:1], ok)[0]
                    rgba = np.dstack([grey, grey, grey, np.where(ok, 255, 0).astype(np.uint8)])
                else:
                    rgba = np.dstack([data[2], data[1], data[0], data[3]])       # -> BGRA for OpenCV
                ok, buf = cv2.imencode(".png", rgba)
                write_atomic(png, buf.tobytes(), error=MosaicError, what="mosaic picture")
    except rasterio.errors.RasterioIOError as exc:
        raise MosaicError(f"the mosaic {tif} cannot be read: {exc}") from None
    except OSError as exc:
        raise MosaicError(f"the mosaic {tif} cannot be read: {exc.strerror or exc}") from None
    return Overlay(png, (west, south, east, north), "thermal" if thermal else "colour", res_m)
