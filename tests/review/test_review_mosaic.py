"""The flight's mosaic under the review map, in a real headless Chromium: drawn under the
footprints and the sightings where the ground is, toggled by its box; the frame pictures stay
one click away; a flight without a mosaic says how to make one.  The screenshot
(tests/artifacts/review_mosaic.png) is the README's picture of it."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from reviewflight import make_flight, map_pixels, open_review

from processing.review.server import serve
from tests.processing.mosaicflight import make_survey

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
BACKGROUND = (0x0E, 0x12, 0x15)   # the empty map's colour (app.css #map)


@pytest.fixture(scope="module")
def mosaic_flight(tmp_path_factory):
    """The rendered survey processed, a fire flag at the centre of two frames (two sightings), its mosaic made."""
    from processing import process_frames
    from processing.orthomosaic import build_mosaic
    from processing.store import FlagRecord, FlightStore
    from processing.store.sightings import update_sightings

    root = tmp_path_factory.mktemp("review_mosaic")
    s = make_survey(root)
    gpkg = root / "flight.gpkg"
    process_frames([s.frames], gpkg, detectors=(), workers=0, progress=False)
    with FlightStore(gpkg) as store:
        frames = store.frames("done")
        for f in frames[:2]:
            lon, lat = f.footprint.centroid.coords[0]
            store.add_frame_result(f, [FlagRecord("fire", 0.9, 390, 290, 410, 310, detector="fire", lat=lat,
                                                  lon=lon, ground_size_m=1.2)], more=True)
        update_sightings(store)
    build_mosaic(gpkg)
    return gpkg


def _open(browser, url):
    return open_review(browser, url, "body[data-mosaic]")


def test_mosaic_is_drawn_under_the_flags_and_toggles(browser, mosaic_flight):
    with serve(mosaic_flight) as srv:
        ctx, page, errors = _open(browser, srv.url)
        try:
            assert page.evaluate("document.body.dataset.mosaic") == "shown"
            # under everything: the first layer of the map, below pictures, footprints and sightings
            layers = page.evaluate("[...document.querySelector('#map svg').children].map((g) => g.id)")
            assert layers[0] == "map-mosaic" and layers.index("map-sightings") > 0, layers
            assert page.locator("#show-mosaic").is_checked() and page.locator("#show-mosaic").is_enabled()
            # the frames' own pictures are not drawn twice, but one click away
            assert not page.locator("#show-pictures").is_checked()
            assert page.locator("#map-pictures image").count() == 0
            # placed where the frames are.  The frames look true north, so on the map (linear in
            # lon/lat) their footprints' union is a rectangle; the mosaic must fill it and stop
            # at its edges: ground 4 px inside each edge, the empty map 6 px outside.
            u = page.evaluate("""() => {
                const m = document.getElementById('map').getBoundingClientRect();
                const f = [...document.querySelectorAll('#map-footprints polygon')].map((p) => p.getBoundingClientRect());
                return [Math.min(...f.map((q) => q.left)) - m.left, Math.min(...f.map((q) => q.top)) - m.top,
                        Math.max(...f.map((q) => q.right)) - m.left, Math.max(...f.map((q) => q.bottom)) - m.top];
            }""")
            px = map_pixels(page)
            cx, cy = int((u[0] + u[2]) / 2), int((u[1] + u[3]) / 2)

            def ground(x, y):
                return np.abs(px[int(y) - 1:int(y) + 2, int(x) - 1:int(x) + 2] - BACKGROUND).mean() > 30

            for inside, outside in (((u[0] + 4, cy), (u[0] - 6, cy)), ((u[2] - 4, cy), (u[2] + 6, cy)),
                                    ((cx, u[1] + 4), (cx, u[1] - 6)), ((cx, u[3] - 4), (cx, u[3] + 6))):
                assert ground(*inside) and not ground(*outside), (inside, outside)
            assert page.locator("#map circle.sighting-marker").count() == 2
            # what the analyst sees: the ground under the middle footprint, gone when toggled off
            box = page.locator("#map-footprints polygon").nth(1).bounding_box()
            m = page.locator("#map").bounding_box()
            cx, cy = int(box["x"] + box["width"] * 0.3 - m["x"]), int(box["y"] + box["height"] * 0.3 - m["y"])
            on = map_pixels(page)[cy - 10:cy + 10, cx - 10:cx + 10]
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "review_mosaic.png"))
            page.click("#show-mosaic")
            assert page.locator("#map-mosaic").evaluate("(g) => getComputedStyle(g).display") == "none"
            off = map_pixels(page)[cy - 10:cy + 10, cx - 10:cx + 10]
            assert np.median(np.abs(off - BACKGROUND)) < 40        # the dark map, tinted by the footprints
            assert np.abs(on - off).mean() > 40 and on.std() > 5   # the ground, with its texture
            page.click("#show-mosaic")
            assert page.locator("#map-mosaic").evaluate("(g) => getComputedStyle(g).display") != "none"
            page.click("#show-pictures")
            assert page.locator("#map-pictures image").count() == 12   # two halves per frame
            # the picture itself: a PNG with transparency outside the frames, from this server
            r = page.request.get(srv.url + "api/mosaic/image")
            assert r.status == 200 and r.headers["content-type"] == "image/png"
            from PIL import Image

            im = Image.open(io.BytesIO(r.body()))
            assert im.mode == "RGBA" and np.asarray(im)[..., 3].min() == 0
            assert errors == []
        finally:
            ctx.close()


def test_a_flight_without_a_mosaic_says_how_to_make_one(browser, tmp_path):
    flight = make_flight(tmp_path)
    with serve(flight.gpkg) as srv:
        ctx, page, errors = _open(browser, srv.url)
        try:
            assert page.evaluate("document.body.dataset.mosaic") == "none"
            assert page.locator("#show-mosaic").is_disabled()
            title = page.locator("#show-mosaic").locator("xpath=..").get_attribute("title")
            assert "uav mosaic" in title
            assert page.locator("#map-mosaic").count() == 0
            assert page.request.get(srv.url + "api/mosaic/image").status == 404
            assert errors == []
        finally:
            ctx.close()
