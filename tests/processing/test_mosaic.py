"""The flight's mosaic as a GIS user gets it: `uav process --mosaic` and `uav mosaic` write a
Cloud Optimized GeoTIFF that GDAL's own validator passes and gdalinfo opens (UTM, RGB + alpha,
overviews), and whose cells show the ground where it is: frames rendered from a known ground
picture come back as that picture, seams included.  Bad input gets one clear line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from mosaicflight import EPSG, make_survey

from tests.readers.own_readers import gdalinfo, needs_cog_validator, needs_gdal, validate_cog
from uav.cli import cli

BRIGHTON = Path(__file__).resolve().parents[3] / "shared" / "data" / "brighton"


def _uav(*args, code: int = 0) -> str:
    r = CliRunner().invoke(cli, [str(a) for a in args])
    assert r.exit_code == code, r.output
    return r.output


@pytest.fixture(scope="module")
def survey(tmp_path_factory):
    """Six overlapping nadir frames of a known ground, processed with --mosaic."""
    root = tmp_path_factory.mktemp("mosaic")
    s = make_survey(root)
    out = _uav("process", s.frames, "--out", root / "flight.gpkg", "--detectors", "none", "--workers", 0,
               "--quiet", "--mosaic")
    assert f"Wrote {root / 'flight_mosaic.tif'}: colour mosaic of 6 frame(s)" in out
    return root, s


def _read(tif):
    import rasterio

    with rasterio.open(tif) as ds:
        return ds.read(), ds.transform, ds.res


@needs_gdal
@needs_cog_validator
def test_process_mosaic_is_a_valid_cog_in_utm_with_alpha(survey):
    root, _ = survey
    tif = root / "flight_mosaic.tif"
    verdict = validate_cog(tif)
    assert verdict.ok and "is a valid cloud optimized GeoTIFF" in verdict.output, verdict
    assert "ERROR" not in verdict.output and "WARNING" not in verdict.output, verdict
    info = gdalinfo(tif)
    assert f'ID["EPSG",{EPSG}]' in info["coordinateSystem"]["wkt"]
    assert [b["colorInterpretation"] for b in info["bands"]] == ["Red", "Green", "Blue", "Alpha"]
    assert info["metadata"]["IMAGE_STRUCTURE"]["LAYOUT"] == "COG"
    # default cell: the frames' median GSD (6.25 cm here) x 4
    assert info["geoTransform"][1] == pytest.approx(0.25, rel=1e-6)


@needs_gdal
@needs_cog_validator
def test_uav_mosaic_at_a_chosen_resolution_has_overviews_and_shows_the_ground(survey, tmp_path):
    root, s = survey
    tif = tmp_path / "fine.tif"
    out = _uav("mosaic", root / "flight.gpkg", "-o", tif, "--resolution", 0.0625)
    assert "0.062 m cells" in out
    verdict = validate_cog(tif)
    assert verdict.ok and "ERROR" not in verdict.output and "WARNING" not in verdict.output, verdict
    info = gdalinfo(tif)
    assert len(info["bands"][0]["overviews"]) >= 2      # a GIS zoomed out reads the small copies
    a, transform, res = _read(tif)
    assert res == pytest.approx((0.0625, 0.0625))
    rows, cols = np.nonzero(a[3] == 255)
    # every cell a frame saw is opaque; cells outside all footprints are transparent
    assert 0.9 < len(rows) / a[3].size < 1.0
    import rasterio

    xs, ys = rasterio.transform.xy(transform, rows, cols)
    truth = s.ground_at(np.asarray(xs), np.asarray(ys)).astype(int)
    got = a[:3, rows, cols].T[:, ::-1].astype(int)          # RGB -> BGR like the ground picture
    err = np.abs(got - truth).mean(axis=1)
    # JPEG and two resamplings leave a few grey levels over the whole mosaic (measured: median
    # 1.3, p90 3.3)
    assert np.median(err) <= 3 and np.percentile(err, 90) <= 6, (np.median(err), np.percentile(err, 90))
    # Where the ground has an edge, placement shows: measured there, median 7.7 grey levels as
    # placed, 13 against the ground moved by half a cell (3 cm), 28 by one cell.
    for dx, dy in ((0.0625, 0), (0, 0.0625)):
        moved = s.ground_at(np.asarray(xs) + dx, np.asarray(ys) + dy).astype(int)
        edge = np.abs(moved - truth).mean(axis=1) > 15
        assert edge.sum() > 5000
        assert np.median(err[edge]) <= 10, np.median(err[edge])
        assert np.median(np.abs(got - moved).mean(axis=1)[edge]) > 2 * np.median(err[edge])

def _seams(gpkg) -> dict:
    import json

    from processing.store import FlightStore

    with FlightStore.open(gpkg) as store:
        raw = store.get_meta("mosaic_seams")
    return None if raw is None else json.loads(raw)


def test_overlapping_frames_agree_at_the_seams_and_a_shifted_frame_is_caught(survey, tmp_path):
    """The rendered frames are exact: the same ground lies within a pixel in every overlapping
    pair's warps.  One frame's position moved 1 m east (4 cells) shows up in its pairs."""
    import shutil
    import sqlite3

    root, _ = survey
    out = _uav("mosaic", root / "flight.gpkg", "-o", tmp_path / "m.tif")
    assert "seams: frames agree to" in out
    seams = _seams(root / "flight.gpkg")
    # 3 x 2 frames, each pair overlapping by 10 % or more: in a row 3 (the two ends share 20 %)
    # x 2 rows, 3 above each other, 4 diagonal neighbours, 2 diagonals across the ends
    assert seams["overlapping"] == 15 and seams["pairs"] >= 11, seams
    assert seams["median_px"] < 0.5 and seams["p90_px"] < 1.0 and seams["worst_pair_px"] < 1.0, seams

    moved = tmp_path / "moved.gpkg"
    shutil.copy(root / "flight.gpkg", moved)
    with sqlite3.connect(moved) as con:
        # 1 m east at 43.1 N: 1 / (111320 cos 43.1) degrees of longitude
        con.execute("UPDATE frames SET lon = lon + ? WHERE name = 'DJI_0001.JPG'", (1 / (111320 * np.cos(np.radians(43.1))),))
    out = _uav("mosaic", moved, "-o", tmp_path / "moved.tif")
    bad = _seams(moved)
    assert "DJI_0001.JPG" in bad["worst_pair"] and 3.5 < bad["worst_pair_px"] < 4.5, bad
    assert bad["p90_px"] > 3, bad
    assert f"worst pair {bad['worst_pair_px']:.1f}, " in out

    out = _uav("mosaic", moved, "-o", tmp_path / "n.tif", "--seam-pairs", 0)
    assert "seams:" not in out and _seams(moved) is None


def test_seam_displacement_is_measured_to_a_fraction_of_a_cell():
    """Two copies of one textured cut, the second moved by a known amount."""
    import cv2

    from processing.orthomosaic.seams import pair_displacements

    rng = np.random.default_rng(3)
    img = cv2.GaussianBlur(rng.integers(0, 255, (300, 300, 3), dtype=np.uint8), (0, 0), 1.5)
    seen = np.ones((300, 300), bool)
    for dx, dy in ((0.0, 0.0), (2.0, -1.0), (0.7, 0.4), (6.0, 0.0)):
        moved = cv2.warpAffine(img, np.float32([[1, 0, dx], [0, 1, dy]]), (300, 300), borderMode=cv2.BORDER_REFLECT)
        d = pair_displacements(img, seen, moved, seen)
        assert d.size >= 10 and abs(np.median(d) - np.hypot(dx, dy)) < 0.2, (dx, dy, d.size, np.median(d))
    # thermal values (one float band) are stretched to 8 bits on one scale for both frames
    hot = (20 + img[..., 1] / 255 * 15).astype(np.float32)
    moved = cv2.warpAffine(hot, np.float32([[1, 0, 3.0], [0, 1, 0]]), (300, 300), borderMode=cv2.BORDER_REFLECT)
    d = pair_displacements(hot, seen, moved, seen)
    assert d.size >= 10 and abs(np.median(d) - 3.0) < 0.2, (d.size, np.median(d))
    # nothing alike (a flat cut): not measured, rather than a made-up figure
    flat = np.full_like(img, 90)
    assert pair_displacements(flat, seen, flat, seen).size == 0


def test_mosaic_refuses_bad_input_in_words(survey, tmp_path):
    root, _ = survey
    out = _uav("mosaic", root / "flight.gpkg", "--resolution", 0, code=2)
    assert "--resolution" in out and "0" in out
    out = _uav("mosaic", root / "flight.gpkg", "--resolution", 0.0001, code=2)
    assert "Error: a colour mosaic at 0.0001 m would be" in out and "use --resolution" in out
    out = _uav("process", root / "DCIM", "--out", tmp_path / "w.gpkg", "--mosaic-resolution", 1, code=2)
    assert "--mosaic-resolution sizes the mosaic: add --mosaic" in out
    assert not (tmp_path / "w.gpkg").exists()
    # a flight whose frames have no position: nothing to draw, said so
    from processing.store import FlightStore, FrameRecord

    with FlightStore(tmp_path / "blind.gpkg") as store:
        store.add_frame_result(FrameRecord(path=str(tmp_path / "x.jpg"), name="x.jpg", status="no_pose"))
    out = _uav("mosaic", tmp_path / "blind.gpkg", code=2)
    assert "has no frame placed on the ground" in out and "Traceback" not in out
    assert not (tmp_path / "blind_mosaic.tif").exists()


@pytest.mark.skipif(not BRIGHTON.is_dir(), reason=f"Brighton frames not found at {BRIGHTON} (shared data)")
@needs_cog_validator
def test_brighton_registered_mosaic(tmp_path):
    """Four real overlapping DJI frames, registered, mosaicked: a valid COG covering them."""
    frames = sorted(BRIGHTON.glob("DJI_*.JPG"))[:4]
    _uav("process", *frames, "--out", tmp_path / "b.gpkg", "--detectors", "none", "--workers", 1, "--quiet",
         "--register", "--mosaic", "--mosaic-resolution", 0.2)
    tif = tmp_path / "b_mosaic.tif"
    verdict = validate_cog(tif)
    assert verdict.ok and "ERROR" not in verdict.output, verdict
    a, _, res = _read(tif)
    assert res == pytest.approx((0.2, 0.2))
    # the opaque cells are the ground the frames' (registered) footprints cover, no more, no less
    import shapely

    from processing.store import FlightStore
    from uav.geo import LocalFrame

    with FlightStore.open(tmp_path / "b.gpkg") as store:
        prints = [f.footprint for f in store.frames("done")]
    local = LocalFrame.around(*prints[0].centroid.coords[0])
    union = shapely.union_all([shapely.transform(p, lambda c: np.stack(local.to_metric(c[:, 0], c[:, 1]), -1))
                               for p in prints])
    opaque = (a[3] > 0).sum() * 0.2 * 0.2
    assert opaque == pytest.approx(union.area, rel=0.03)
    assert a[:3][:, a[3] == 255].mean() > 20          # pictures, not black
    # Registered, the frames agree at their seams within the 2 mosaic pixels (median) at
    # the default cell (measured 0.8 px of 6.8 cm).  At 0.2 m the features that match are mostly
    # the forest's canopy, whose parallax between two views no ground registration removes
    # (measured 4.8 px there): the measure is of the picture, trees included.
    _uav("mosaic", tmp_path / "b.gpkg", "-o", tmp_path / "default.tif")
    seams = _seams(tmp_path / "b.gpkg")
    assert seams["pairs"] >= 2 and seams["median_px"] <= 2, seams


@needs_cog_validator
def test_a_thermal_mosaic_keeps_the_cameras_values_with_nan_outside(tmp_path):
    """Thermal frames (one band, not 8-bit colour) give a float32 COG of their own values; the
    review map gets it stretched to grey, transparent where no frame saw the ground."""
    from PIL import Image

    from processing.orthomosaic.blend import Grid
    from processing.orthomosaic.cog import write_cog
    from processing.orthomosaic.overlay import mosaic_overlay

    grid = Grid.covering(EPSG, (683000.0, 4774000.0, 683160.0, 4774120.0), 0.25)
    yy, xx = np.mgrid[0:grid.height, 0:grid.width]
    values = (20.0 + xx / grid.width * 15.0).astype(np.float32)[..., None]      # 20-35 degrees C
    seen = (xx - grid.width / 2) ** 2 + (yy - grid.height / 2) ** 2 < (grid.height / 2) ** 2
    tif = write_cog(tmp_path / "t.tif", values, seen, grid, thermal=True)
    verdict = validate_cog(tif)
    assert verdict.ok and "ERROR" not in verdict.output and "WARNING" not in verdict.output, verdict
    a, _, _ = _read(tif)
    assert a.dtype == np.float32 and np.isnan(a[0][~seen]).all()
    assert np.allclose(a[0][seen], values[..., 0][seen])
    ov = mosaic_overlay(tif, tmp_path / "cache", max_px=300)
    assert ov.kind == "thermal" and ov.bounds[0] == pytest.approx(131.26, abs=0.02)
    im = np.asarray(Image.open(ov.png))
    assert im.shape[2] == 4 and im[..., 3].min() == 0 and im[..., 3].max() == 255
    assert im[..., 0][im[..., 3] == 255].std() > 20        # the warm side is lighter, not one grey
