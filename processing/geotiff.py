"""Per-frame GeoTIFFs in the local UTM zone: each output pixel looked up through the camera.

For every cell of a north-up UTM grid covering the footprint, the ground point (flat ground or
the DEM's height there) is projected into the frame (lens distortion included) and the frame
sampled with ``cv2.remap``; cells the frame does not see are nodata (0).  This is a true
orthorectification onto the DEM, not a four-corner warp.
"""

from __future__ import annotations

import os

import numpy as np

from uav.errors import GeoreferenceError
from uav.files import write_atomic

from .georef import FrameGeoref

__all__ = ["orthorectify", "write_frame_geotiff"]


def orthorectify(image: np.ndarray, geo: FrameGeoref, *, reduce: int = 1, res_m: float | None = None,
                 bounds=None, max_px: int = 4096, strip: int = 256):
    """Resample a frame onto a north-up UTM grid.

    Parameters
    ----------
    image : ndarray
        The frame's pixels (possibly decoded at 1/``reduce`` size).
    geo : FrameGeoref
    reduce : int
        How much smaller ``image`` is than the frame the camera model describes.
    res_m : float, optional
        Cell size; the frame's centre GSD (times ``reduce``) by default.
    bounds : (xmin, ymin, xmax, ymax), optional
        UTM extent; the footprint's by default.
    max_px : int
        Largest output side; the cell size grows to keep within it.

    Returns
    -------
    (array, affine.Affine, valid_mask)
    """
    import cv2
    from rasterio.transform import from_origin

    cam = geo.camera
    x0, y0, x1, y1 = bounds or geo.footprint_utm.bounds
    res = res_m or (geo.gsd_m or 0.1) * reduce
    res = max(res, (x1 - x0) / max_px, (y1 - y0) / max_px)
    w, h = int(np.ceil((x1 - x0) / res)), int(np.ceil((y1 - y0) / res))
    if w <= 0 or h <= 0:
        raise GeoreferenceError("empty footprint: nothing to write")
    out = np.zeros((h, w) + image.shape[2:], image.dtype)
    valid = np.zeros((h, w), bool)
    xs = x0 + (np.arange(w) + 0.5) * res
    ih, iw = image.shape[:2]
    for r0 in range(0, h, strip):
        r1 = min(h, r0 + strip)
        ys = y1 - (np.arange(r0, r1) + 0.5) * res
        X, Y = np.meshgrid(xs, ys)
        if cam.dem is not None:
            Z = cam.dem.height(X.ravel(), Y.ravel())
            Z = np.where(np.isfinite(Z), Z, cam.C[2] - cam.height_agl)
        else:
            Z = np.full(X.size, cam.ground_z)
        u, v, front = cam.world_to_pixel(np.stack([X.ravel(), Y.ravel(), Z], -1))
        # full-frame pixel centres -> reduced-image pixel centres
        u = (u + 0.5) / reduce - 0.5
        v = (v + 0.5) / reduce - 0.5
        ok = front & (u >= -0.5) & (v >= -0.5) & (u <= iw - 0.5) & (v <= ih - 0.5)
        mx = np.where(ok, u, -10).astype(np.float32).reshape(X.shape)
        my = np.where(ok, v, -10).astype(np.float32).reshape(X.shape)
        out[r0:r1] = cv2.remap(image, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                               borderValue=0)
        valid[r0:r1] = ok.reshape(X.shape)
    return out, from_origin(x0, y1, res, res), valid


def write_frame_geotiff(image: np.ndarray, geo: FrameGeoref, out_path: str | os.PathLike, *,
                        reduce: int = 1, max_px: int = 4096) -> str:
    """Write a frame as a GeoTIFF in its UTM zone (nodata 0 outside the frame); returns the path.

    The ground (flat or a DEM) is the one ``geo`` was made with.  The file appears whole (written
    aside, then renamed), so a GIS watching the folder never opens half a GeoTIFF.
    """
    import rasterio

    arr, transform, valid = orthorectify(image, geo, reduce=reduce, max_px=max_px)
    if arr.dtype == np.uint8:
        arr = np.where(valid[..., None] if arr.ndim == 3 else valid, np.maximum(arr, 1), 0).astype(np.uint8)
    else:
        arr = np.where(valid[..., None] if arr.ndim == 3 else valid, arr, 0)
    bands = [arr] if arr.ndim == 2 else [arr[:, :, i] for i in ((2, 1, 0) if arr.shape[2] == 3 else range(arr.shape[2]))]
    profile = dict(driver="GTiff", width=arr.shape[1], height=arr.shape[0], count=len(bands),
                   dtype=arr.dtype, crs=f"EPSG:{geo.epsg}", transform=transform, nodata=0,
                   compress="deflate", tiled=True, blockxsize=256, blockysize=256)
    if arr.shape[1] < 256 or arr.shape[0] < 256:
        profile.update(tiled=False)
        profile.pop("blockxsize")
        profile.pop("blockysize")
    if len(bands) == 3:
        profile["photometric"] = "RGB"

    def write(tmp):
        with rasterio.open(tmp, "w", **profile) as ds:
            for i, b in enumerate(bands, 1):
                ds.write(b, i)

    write_atomic(out_path, write, error=GeoreferenceError, what="GeoTIFF")
    return os.fspath(out_path)
