"""The park's own map under the review map (``uav review --base-map``), in a real headless
Chromium: a UTM GeoTIFF and an MBTiles of PNG tiles, both real files, drawn as the bottom layer
(under the mosaic, which hides it where the frames are), toggled by their box, remembered for
the next review; and every bad file refused by the command line before a server starts."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from basemaps import write_mbtiles, write_utm_geotiff
from click.testing import CliRunner
from reviewflight import LAT0, LON0, make_flight, map_pixels, open_review

from processing.review.base_map import flight_bounds
from processing.review.server import serve
from tests.processing.mosaicflight import LAT0 as SURVEY_LAT
from tests.processing.mosaicflight import LON0 as SURVEY_LON
from tests.processing.mosaicflight import make_survey
from uav.cli import cli
from uav.errors import BaseMapError

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
BACKGROUND = (0x0E, 0x12, 0x15)   # the empty map's colour (app.css #map)


@pytest.fixture(scope="module")
def mosaic_flight(tmp_path_factory):
    """The rendered survey processed and its mosaic made (as tests/review/test_review_mosaic.py)."""
    from processing import process_frames
    from processing.orthomosaic import build_mosaic

    root = tmp_path_factory.mktemp("review_base_map")
    s = make_survey(root)
    gpkg = root / "flight.gpkg"
    process_frames([s.frames], gpkg, detectors=(), workers=0, progress=False)
    build_mosaic(gpkg)
    return gpkg


def _open(browser, url):
    return open_review(browser, url, "body[data-base-map]", "body[data-mosaic]")


def _is_base(patch) -> bool:
    """The test map's two colours are both green above all (basemaps.BASE_RGB, CHEQUER)."""
    r, g, b = np.median(patch.reshape(-1, 3), axis=0)
    return g > 120 and g > b + 40 and g > r      # also under the footprints' bluish tint


def _footprints_box(page):
    return page.evaluate("""() => {
        const m = document.getElementById('map').getBoundingClientRect();
        const f = [...document.querySelectorAll('#map-footprints polygon')].map((p) => p.getBoundingClientRect());
        return [Math.min(...f.map((q) => q.left)) - m.left, Math.min(...f.map((q) => q.top)) - m.top,
                Math.max(...f.map((q) => q.right)) - m.left, Math.max(...f.map((q) => q.bottom)) - m.top];
    }""")


def test_a_geotiff_base_map_is_drawn_under_the_mosaic_and_toggles(browser, mosaic_flight, tmp_path):
    tif = write_utm_geotiff(tmp_path / "park.tif", SURVEY_LAT, SURVEY_LON)
    with serve(mosaic_flight, base_map=tif) as srv:
        ctx, page, errors = _open(browser, srv.url)
        try:
            assert page.evaluate("document.body.dataset.baseMap") == "shown"
            assert page.evaluate("document.body.dataset.mosaic") == "shown"
            layers = page.evaluate("[...document.querySelector('#map svg').children].map((g) => g.id)")
            assert layers[:2] == ["map-base", "map-mosaic"], layers      # the bottom layer, then the mosaic
            box = page.locator("#show-base-map")
            assert box.is_checked() and box.is_enabled()
            assert "park.tif" in box.locator("xpath=..").get_attribute("title")
            u = _footprints_box(page)
            cx, cy = int((u[0] + u[2]) / 2), int((u[1] + u[3]) / 2)
            ox = int(u[0]) - 25                                         # beside the frames: only the base map
            px = map_pixels(page)
            assert _is_base(px[cy - 5:cy + 5, ox - 5:ox + 5])
            mosaic_on_base = px[cy - 10:cy + 10, cx - 10:cx + 10]
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "review_base_map.png"))
            assert not _is_base(mosaic_on_base)                         # the mosaic hides it where it has ground
            page.click("#show-base-map")
            assert page.locator("#map-base").evaluate("(g) => getComputedStyle(g).display") == "none"
            px = map_pixels(page)
            assert np.median(np.abs(px[cy - 5:cy + 5, ox - 5:ox + 5] - BACKGROUND)) < 20   # the empty map
            assert np.abs(px[cy - 10:cy + 10, cx - 10:cx + 10] - mosaic_on_base).mean() < 3  # mosaic unchanged
            page.click("#show-base-map")
            page.click("#show-mosaic")                                  # mosaic off: the map shows under it
            assert _is_base(map_pixels(page)[cy - 10:cy + 10, cx - 10:cx + 10])
            r = page.request.get(srv.url + "api/base-map/image")
            assert r.status == 200 and r.headers["content-type"] == "image/png"
            assert errors == []
        finally:
            ctx.close()


def test_an_mbtiles_base_map_is_drawn_and_remembered(browser, tmp_path):
    flight = make_flight(tmp_path)
    mbt = write_mbtiles(tmp_path / "park.mbtiles", LAT0, LON0)
    with serve(flight.gpkg, base_map=mbt) as srv:
        info = srv.base_map.info()
        assert info["available"] and info["kind"] == "MBTiles, zoom 17" and info["covered"] == 1.0
    # the second review, without the option, shows the same map
    with serve(flight.gpkg) as srv:
        ctx, page, errors = _open(browser, srv.url)
        try:
            assert page.evaluate("document.body.dataset.baseMap") == "shown"
            assert page.evaluate("document.body.dataset.mosaic") == "none"
            assert page.evaluate("[...document.querySelector('#map svg').children][0].id") == "map-base"
            u = _footprints_box(page)
            px = map_pixels(page)
            ox, cy = int(u[0]) - 25, int((u[1] + u[3]) / 2)
            assert _is_base(px[cy - 5:cy + 5, ox - 5:ox + 5])
            # the picture itself: real pixels of both colours, opaque where the tiles are
            from PIL import Image

            im = np.asarray(Image.open(io.BytesIO(page.request.get(srv.url + "api/base-map/image").body())))
            assert im.shape[2] == 4 and (im[..., 3] == 255).all() and im[..., :3].std() > 20
            assert errors == []
        finally:
            ctx.close()


def test_a_recorded_base_map_that_is_gone_leaves_the_toggle_off_saying_why(browser, tmp_path):
    flight = make_flight(tmp_path)
    tif = write_utm_geotiff(tmp_path / "park.tif", LAT0, LON0)
    serve(flight.gpkg, base_map=tif).close()
    tif.unlink()
    with serve(flight.gpkg) as srv:       # an old flight still opens
        ctx, page, errors = _open(browser, srv.url)
        try:
            assert page.evaluate("document.body.dataset.baseMap") == "none"
            assert page.locator("#show-base-map").is_disabled()
            assert "does not exist" in page.locator("#show-base-map").locator("xpath=..").get_attribute("title")
            assert page.request.get(srv.url + "api/base-map/image").status == 404
            assert errors == []
        finally:
            ctx.close()


def test_a_map_covering_part_of_the_flight_is_shown_and_says_how_much(tmp_path):
    flight = make_flight(tmp_path)
    # the map's west edge runs through the middle of the flight
    tif = write_utm_geotiff(tmp_path / "half.tif", LAT0, LON0, half_m=1000, east_shift_m=1000)
    with serve(flight.gpkg, base_map=tif) as srv:
        info = srv.base_map.info()
        west, _, east, _ = flight_bounds(srv.db)
        assert info["available"] and info["covered"] == pytest.approx((east - LON0) / (east - west), abs=0.05)
        assert "covers" in srv.base_map.note


def _review(args):
    return CliRunner().invoke(cli, ["review", *map(str, args)])


@pytest.mark.parametrize("case, words", [
    ("missing", "does not exist"),
    ("text", "neither a GeoTIFF nor an MBTiles file"),
    ("png", "is a PNG file"),
    ("far_tif", "does not cover the flight"),
    ("far_mbtiles", "does not cover the flight"),
    ("coarse_mbtiles", "no tiles at the flight's zoom"),
    ("vector_mbtiles", "only picture tiles"),
    ("sqlite", "not MBTiles"),
])
def test_a_bad_base_map_stops_the_review_before_it_starts(tmp_path, case, words):
    import sqlite3

    import cv2

    flight = make_flight(tmp_path)
    f = {
        "missing": lambda p: p,
        "text": lambda p: p.write_text("not a map") and p,
        "png": lambda p: cv2.imwrite(str(p), np.zeros((8, 8, 3), np.uint8)) and p,
        "far_tif": lambda p: write_utm_geotiff(p, LAT0 + 0.5, LON0),
        "far_mbtiles": lambda p: write_mbtiles(p, LAT0 + 0.5, LON0),
        "coarse_mbtiles": lambda p: write_mbtiles(p, LAT0, LON0, zooms=(6, 9)),
        "vector_mbtiles": lambda p: write_mbtiles(p, LAT0, LON0, fmt="pbf"),
        "sqlite": lambda p: sqlite3.connect(p).execute("CREATE TABLE t (x)").connection.commit() or p,
    }[case]
    name = {"png": "map.png", "text": "map.tif", "far_mbtiles": "map.mbtiles", "coarse_mbtiles": "map.mbtiles",
            "vector_mbtiles": "map.mbtiles", "sqlite": "map.mbtiles"}.get(case, "map.tif")
    path = f(tmp_path / name)
    result = _review([flight.gpkg, "--base-map", path])
    assert result.exit_code == 2, result.output
    assert f"Error: the base map {path}" in result.output and words in result.output, result.output
    assert "Open http" not in result.output                    # no server was started
    assert "Traceback" not in result.output
    from processing.store import FlightStore

    with FlightStore.open(flight.gpkg) as store:               # nothing remembered
        assert store.get_meta("base_map") is None


def test_serve_raises_the_projects_error(tmp_path):
    flight = make_flight(tmp_path)
    with pytest.raises(BaseMapError, match="does not exist"):
        serve(flight.gpkg, base_map=tmp_path / "no-such-map.tif")
