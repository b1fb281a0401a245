"""The mosaic's warp over a DEM: time to map a frame's cells to its pixels, against projecting
every cell through the camera and the DEM (the baseline, and the truth the error is taken
against), on flat ground and on rolling hills.

A frame the size of Brighton's (4000x2250, 2340 px focal, no lens distortion) 80 m up, decoded
at 1/4, on the mosaic's default cell (4 x its GSD, 1,100-1,400 cells a side), over:

* flat ground;
* gentle hills (slopes to about 0.1) and steep ones (to about 0.4) on a 30 m DEM (as SRTM),
  bilinear between its samples, so the ground's slope breaks on every DEM cell edge.

The lattice is projected exactly every 16 cells and interpolated; a square that shows more
than 0.05 cell of error at its centre, or on a line of DEM posts that crosses it, is split in
four, down to single cells (:func:`processing.orthomosaic.warp.frame_map`).  Baselines, timed in the same run: every
cell projected (the truth the errors are taken against) and ``whole_frame``, what was done
before 7 Dec 2026: one square over the tolerance at its centre sent the whole frame to a
lattice twice as fine, until none was.

Run: ``python -m benchmarks.warp [--repeats 5]`` (prints JSON; a few seconds).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time

import numpy as np

LAT, LON, EPSG = 43.1, 131.2, 32652


def _hills(path: str, x0: float, y0: float, wave: float) -> str:
    import rasterio
    from rasterio.transform import from_origin

    res, n = 30.0, 100
    xs = x0 - n / 2 * res + (np.arange(n) + 0.5) * res
    ys = y0 + n / 2 * res - (np.arange(n) + 0.5) * res
    z = 300 + 15 * np.sin(xs / wave)[None, :] * np.cos(ys / (0.7 * wave))[:, None] + 10 * np.sin(ys / 70)[:, None]
    with rasterio.open(path, "w", driver="GTiff", width=n, height=n, count=1, dtype="float32", crs=f"EPSG:{EPSG}",
                       transform=from_origin(x0 - n / 2 * res, y0 + n / 2 * res, res, res)) as ds:
        ds.write(z.astype("float32"), 1)
    return path


def _whole_frame(geo, grid, window, reduce: int, step: int = 16, tol: float = 0.05):
    """The warp's mapping as it was made before 7 Dec 2026 (the baseline): the whole frame's
    lattice made finer until every square's centre is within the tolerance."""
    import cv2

    from processing.orthomosaic.warp import _OFF, _bilinear, _project, _square_errors

    c0, r0, c1, r1 = window
    w, h = c1 - c0, r1 - r0
    while True:
        cols = c0 + np.arange(-(-(w - 1) // step) + 1) * step
        rows = r0 + np.arange(-(-(h - 1) // step) + 1) * step
        U, V = _project(geo.camera, grid, cols, rows, reduce)
        if step == 1:
            return U, V, 1
        Uc, Vc = _project(geo.camera, grid, cols[:-1] + step / 2, rows[:-1] + step / 2, reduce)
        cu = (U[:-1, :-1], U[:-1, 1:], U[1:, :-1], U[1:, 1:])
        cv = (V[:-1, :-1], V[:-1, 1:], V[1:, :-1], V[1:, 1:])
        err = _square_errors(cu, cv, Uc - _bilinear(cu, 0.5, 0.5), Vc - _bilinear(cv, 0.5, 0.5), step,
                             (Uc > _OFF / 2) & (Vc > _OFF / 2))
        if err.max() <= tol:
            break
        step //= 2
    coarse = np.dstack([U, V]).astype(np.float32)
    gx = np.broadcast_to((np.arange(w, dtype=np.float32) / step)[None, :], (h, w))
    gy = np.broadcast_to((np.arange(h, dtype=np.float32) / step)[:, None], (h, w))
    uv = cv2.remap(coarse, np.ascontiguousarray(gx), np.ascontiguousarray(gy), cv2.INTER_LINEAR,
                   borderMode=cv2.BORDER_REPLICATE)
    return uv[..., 0], uv[..., 1], step


def run(repeats: int = 5) -> dict:
    from pyproj import Transformer

    from processing.georef import DemGround, FlatGround, georeference_frame
    from processing.orthomosaic.blend import Grid
    from processing.orthomosaic.warp import _project, frame_map
    from processing.poses import Intrinsics, Pose

    x0, y0 = Transformer.from_crs(4326, EPSG, always_xy=True).transform(LON, LAT)
    intr = Intrinsics(focal_px=2340.0, cx=1999.5, cy=1124.5, width=4000, height=2250)
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, wave in (("flat", None), ("gentle hills", 150.0), ("steep hills", 40.0)):
            ground = DemGround(_hills(os.path.join(tmp, f"{name}.tif"), x0, y0, wave)) if wave else FlatGround()
            geo = georeference_frame(Pose(lat=LAT, lon=LON, alt_amsl=380.0, alt_rel=80.0, yaw=30.0, pitch=-90.0),
                                     intr, ground)
            grid = Grid.covering(EPSG, geo.footprint_utm.bounds, geo.gsd_m * 4)
            window = (0, 0, grid.width, grid.height)
            fast, exact, before = [], [], []
            for _ in range(repeats):
                t = time.perf_counter()
                mx, my, step, err = frame_map(geo, grid, window, reduce=4)
                fast.append(time.perf_counter() - t)
                t = time.perf_counter()
                ex, ey, _, _ = frame_map(geo, grid, window, reduce=4, step=1)
                exact.append(time.perf_counter() - t)
                t = time.perf_counter()
                bx, by, bstep = _whole_frame(geo, grid, window, 4)
                before.append(time.perf_counter() - t)
            u, v = _project(geo.camera, grid, np.arange(grid.width), np.arange(grid.height), 4)
            seen = (u > -0.5) & (v > -0.5) & (u < 999.5) & (v < 561.5)
            px = np.hypot(mx - u, my - v)[seen]
            f, e, b = (statistics.median(x) for x in (fast, exact, before))
            out[name] = {"cells": [grid.width, grid.height], "finest_step": step,
                         "frame_map_s": round(f, 3), "every_cell_s": round(e, 3),
                         "whole_frame_s": round(b, 3), "whole_frame_step": bstep,
                         "vs_whole_frame": round(b / f, 2),
                         "max_error_px": round(float(px.max()), 3),
                         "whole_frame_max_error_px": round(float(np.hypot(bx - u, by - v)[seen].max()), 3),
                         "error_at_checks_cells": round(err, 3)}
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    print(json.dumps(run(ap.parse_args().repeats), indent=1))
