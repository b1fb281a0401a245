"""The mosaic's fast warp: the camera model projected on a coarse lattice and interpolated must
put every cell where projecting that cell itself would, to a small fraction of a cell, even
for an oblique frame with a strong lens over hilly ground."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from pyproj import Transformer
from rasterio.transform import from_origin

from processing.georef import DemGround, FlatGround, georeference_frame
from processing.orthomosaic.blend import Grid
from processing.orthomosaic.warp import TOLERANCE_CELLS, _project, frame_map, warp_frame
from processing.poses import Intrinsics, Pose

LAT, LON, EPSG = 43.1, 131.2, 32652


def _hills(path, x0, y0, wave: float):
    """Rolling ground on 30 m cells (as SRTM; bilinear, so kinked every 30 m), slopes up to
    about 15 / ``wave``."""
    res, n = 30.0, 100
    xs = x0 - n / 2 * res + (np.arange(n) + 0.5) * res
    ys = y0 + n / 2 * res - (np.arange(n) + 0.5) * res
    z = 300 + 15 * np.sin(xs / wave)[None, :] * np.cos(ys / (0.7 * wave))[:, None] + 10 * np.sin(ys / 70)[:, None]
    with rasterio.open(path, "w", driver="GTiff", width=n, height=n, count=1, dtype="float32",
                       crs=f"EPSG:{EPSG}", transform=from_origin(x0 - n / 2 * res, y0 + n / 2 * res, res, res)) as ds:
        ds.write(z.astype("float32"), 1)
    return str(path)


@pytest.mark.parametrize("pitch, wave, coarsest", [(-90.0, None, 8), (-55.0, None, 4), (-90.0, 40.0, 1),
                                                  (-55.0, 40.0, 1)])
def test_lattice_mapping_stays_within_its_tolerance_of_the_camera_model(tmp_path, pitch, wave, coarsest):
    """A strong lens on flat ground keeps a coarse lattice (8 cells nadir, 4 at 55 degrees
    oblique); hills (slopes to 0.4, kinked at every 30 m DEM cell) need every cell and get it:
    the error is checked, not assumed."""
    x0, y0 = Transformer.from_crs(4326, EPSG, always_xy=True).transform(LON, LAT)
    ground = DemGround(_hills(tmp_path / "dem.tif", x0, y0, wave)) if wave else FlatGround()
    intr = Intrinsics(focal_px=900.0, cx=599.5, cy=449.5, width=1200, height=900,
                      distortion=(-0.12, 0.05, 0.0, 0.0, 0.0))
    geo = georeference_frame(Pose(lat=LAT, lon=LON, alt_amsl=380.0, alt_rel=80.0, yaw=30.0, pitch=pitch), intr, ground)
    res = (geo.gsd_m or 0.1) * 2
    grid = Grid.covering(EPSG, geo.footprint_utm.bounds, res)
    window = (0, 0, grid.width, grid.height)
    mx, my, step, err = frame_map(geo, grid, window, reduce=2)
    cols, rows = np.arange(grid.width), np.arange(grid.height)
    u, v = _project(geo.camera, grid, cols, rows, 2)
    seen = (u > -0.5) & (v > -0.5) & (u < 599.5) & (v < 449.5)
    assert seen.mean() > 0.3
    # pixel error -> cells through the mapping's local scale (pixels per cell)
    du = np.hypot(*np.gradient(u, axis=(1, 0)))
    dv = np.hypot(*np.gradient(v, axis=(1, 0)))
    scale = np.minimum(du, dv)
    cells = (np.hypot(mx - u, my - v) / scale)[seen]
    assert err <= TOLERANCE_CELLS and step >= coarsest, (err, step)
    # the check points (lattice squares' centres) stand for the whole: within twice the tolerance
    assert cells.max() < 2 * TOLERANCE_CELLS, (cells.max(), step)


def test_a_frame_warped_is_the_frame_where_the_camera_puts_it():
    """A frame of stripes warped on flat ground: each cell holds the pixel its centre projects to."""
    x0, y0 = Transformer.from_crs(4326, EPSG, always_xy=True).transform(LON, LAT)
    intr = Intrinsics(focal_px=800.0, cx=399.5, cy=299.5, width=800, height=600)
    geo = georeference_frame(Pose(lat=LAT, lon=LON, alt_amsl=250.0, alt_rel=50.0, yaw=10.0, pitch=-90.0), intr,
                             FlatGround())
    img = np.tile((np.arange(800) % 256).astype(np.uint8), (600, 1))        # pixel value = its column
    grid = Grid.covering(EPSG, geo.footprint_utm.bounds, 0.1)
    w = warp_frame(img, geo, grid, (0, 0, grid.width, grid.height))
    u, v = _project(geo.camera, grid, np.arange(grid.width), np.arange(grid.height), 1)
    inner = w.valid & (u > 1) & (u < 254)          # away from the value wrap
    assert inner.sum() > 10_000
    assert np.abs(w.pixels[inner].astype(float) - u[inner]).max() < 0.6    # bilinear of an integer ramp
    assert not w.valid[0, 0] or not w.valid[-1, -1]                          # a turned frame: corners empty
