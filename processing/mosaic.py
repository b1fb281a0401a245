"""A quick-look mosaic of a flight: frames laid on their footprints, flags marked.

Each georeferenced frame is decoded at 1/8 size and warped onto a common north-up UTM grid by
the homography from its image corners to its footprint's corners (exact for a distortion-free
camera over flat ground; a quick look, not an orthomosaic).  Footprint outlines and flags are
drawn on the PNG; the GeoTIFF carries the pixels only.
"""

from __future__ import annotations

import os

import numpy as np

from uav.errors import FlightStoreError
from uav.geo import LocalFrame, utm_epsg

from .store import FlightStore

__all__ = ["quicklook"]

_FLAG_COLOURS = {"fire": (0, 0, 255), "smoke": (200, 200, 200), "vehicle": (255, 128, 0),
                 "hotspot": (0, 128, 255), "spotlight": (0, 255, 255)}


def quicklook(gpkg, out_png, out_tif: str | None = None, max_px: int = 2048, n_per_edge: int = 8) -> dict:
    """Render the flight's quick-look mosaic.

    Parameters
    ----------
    gpkg : path
        Flight GeoPackage (frames with footprints).
    out_png : path
        PNG to write.
    out_tif : path, optional
        Also write a GeoTIFF (UTM, nodata 0).
    max_px : int
        Longest side of the mosaic.
    n_per_edge : int
        Footprint vertices per image edge, as written by the pipeline (corners at 0, n, 2n, 3n).

    Returns
    -------
    dict
        ``frames`` drawn, ``epsg``, ``res_m``, ``size``.
    """
    import cv2

    from .frames import decode_frame, read_frame_bytes

    with FlightStore.open(gpkg) as store:
        frames = [f for f in store.frames() if f.footprint is not None]
        flags = store.flags()
    if not frames:
        raise FlightStoreError(f"{gpkg} has no georeferenced frames to draw")
    c = frames[0].footprint.centroid
    epsg = utm_epsg(c.x, c.y)
    frame = LocalFrame(epsg)
    polys = []
    for f in frames:
        lon, lat = np.asarray(f.footprint.exterior.coords).T
        x, y = frame.to_metric(lon, lat)
        polys.append(np.stack([x, y], -1))
    allxy = np.concatenate(polys)
    x0, y0 = allxy.min(0)
    x1, y1 = allxy.max(0)
    res = max(x1 - x0, y1 - y0) / max_px
    W, H = int(np.ceil((x1 - x0) / res)) + 1, int(np.ceil((y1 - y0) / res)) + 1
    canvas = np.zeros((H, W, 3), np.uint8)

    def to_px(xy):
        return np.stack([(xy[:, 0] - x0) / res, (y1 - xy[:, 1]) / res], -1)

    drawn = 0
    for f, poly in zip(frames, polys, strict=True):
        if len(poly) - 1 != 4 * n_per_edge or not f.width:
            continue
        try:
            img = decode_frame(read_frame_bytes(f.path), f.path, reduce=8)
        except Exception:
            continue  # moved or damaged since processing: outline only
        if img.ndim == 2:
            img = cv2.cvtColor(cv2.normalize(img, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8),
                               cv2.COLOR_GRAY2BGR)
        h, w = img.shape[:2]
        sx, sy = w / f.width, h / f.height
        src = (np.array([[-0.5, -0.5], [f.width - 0.5, -0.5], [f.width - 0.5, f.height - 0.5],
                         [-0.5, f.height - 0.5]]) * [sx, sy]).astype(np.float32)
        dst = to_px(poly[[0, n_per_edge, 2 * n_per_edge, 3 * n_per_edge]]).astype(np.float32)
        Hm = cv2.getPerspectiveTransform(src, dst)
        warped = cv2.warpPerspective(img, Hm, (W, H), flags=cv2.INTER_AREA)
        mask = cv2.warpPerspective(np.full((h, w), 255, np.uint8), Hm, (W, H)) > 0
        canvas[mask] = warped[mask]
        drawn += 1
    if out_tif:
        import rasterio
        from rasterio.transform import from_origin

        with rasterio.open(out_tif, "w", driver="GTiff", width=W, height=H, count=3, dtype="uint8",
                           crs=f"EPSG:{epsg}", transform=from_origin(x0, y1, res, res), nodata=0,
                           photometric="RGB", compress="deflate") as ds:
            for i, b in enumerate((2, 1, 0), 1):
                ds.write(canvas[:, :, b], i)
    png = canvas.copy()
    for poly in polys:
        cv2.polylines(png, [to_px(poly).astype(np.int32)], True, (0, 255, 0), 1, cv2.LINE_AA)
    for fl in flags:
        if fl.lat is None:
            continue
        x, y = frame.to_metric(fl.lon, fl.lat)
        p = to_px(np.array([[x, y]]))[0]
        cv2.circle(png, (int(p[0]), int(p[1])), 6, _FLAG_COLOURS.get(fl.cls, (255, 0, 255)), 2, cv2.LINE_AA)
    os.makedirs(os.path.dirname(os.path.abspath(out_png)), exist_ok=True)
    if not cv2.imwrite(os.fspath(out_png), png):
        raise FlightStoreError(f"cannot write {out_png}")
    return {"frames": drawn, "epsg": epsg, "res_m": res, "size": (W, H)}
