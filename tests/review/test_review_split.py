"""A sighting that joined things which are not one object, reviewed in a real headless Chromium:
one key press does not decide a sighting whose flags lie far apart before the analyst looked,
and one flag can be split off it (rejected alone, a sighting of its own) while the rest stay."""

from __future__ import annotations

import re
import sqlite3

import cv2
import pytest
from playwright.sync_api import expect
from reviewflight import (
    GSD,
    LAT0,
    LON0,
    H,
    W,
    _footprint,
    _frame_image,
    _offset,
    _pixel_latlon,
    sha256_file,
)

from processing.look import look_of
from processing.review.server import serve
from processing.store import FlagRecord, FlightStore, FrameRecord


def _driving_flight(root):
    """Three nadir frames 2 s apart; a car moving 40 m east between each (20 m/s): one moving
    sighting whose flags lie far apart."""
    (root / "frames").mkdir()
    gpkg = root / "drive.gpkg"
    with FlightStore(gpkg) as store:
        for i in range(3):
            lat, lon = _offset(LAT0, LON0, 10.0 * i, 0.0)
            x = W / 2 + (40.0 * i - 10.0 * i) / GSD
            box = (x - 10, 110, x + 10, 126)
            img = _frame_image(i, [("vehicle", box)])
            path = root / "frames" / f"DJI_{i:04d}.JPG"
            path.write_bytes(cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 92])[1].tobytes())
            rec = FrameRecord(path=str(path), sha256=sha256_file(path), time=f"2024-04-18T03:10:{2 * i:02d}Z",
                              lat=lat, lon=lon, alt_rel=80.0, yaw=0.0, pitch=-90.0, gsd_m=GSD, width=W,
                              height=H, status="done", pose_source="exif", footprint=_footprint(lat, lon))
            fl_lat, fl_lon = _pixel_latlon(lat, lon, x, 118)
            flag = FlagRecord(cls="vehicle", score=0.8 - 0.05 * i, px_x0=box[0], px_y0=box[1], px_x1=box[2],
                              px_y1=box[3], detector="test", lat=fl_lat, lon=fl_lon, ground_size_m=10.0,
                              look=look_of(img, *box))
            store.add_frame_result(rec, [flag])
    return gpkg


def _flags(gpkg):
    con = sqlite3.connect(gpkg)
    try:
        return {r[0]: r[1:] for r in con.execute("SELECT fid, sighting_id, status, apart FROM flags")}
    finally:
        con.close()


def test_far_apart_sighting_asks_for_a_look_and_one_flag_splits_off(browser, tmp_path):
    gpkg = _driving_flight(tmp_path)
    srv = serve(gpkg, reviewer="Petrov")
    page = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(srv.url)
        page.wait_for_selector("body[data-ready='1']", timeout=15000)
        rows = page.locator("li.sighting-row")
        expect(rows).to_have_count(1)                       # one car, driving: one sighting
        assert "moving" in rows.nth(0).text_content()
        sid = int(rows.nth(0).get_attribute("data-sid"))
        expect(page.locator("#detail")).to_have_attribute("data-sighting", str(sid))
        # One key press does not decide it: the page asks for a look first.
        page.locator("#flag-list").focus()
        page.keyboard.press("a")
        expect(page.locator("#message")).to_contain_text("Look first")
        expect(page.locator("#message")).to_contain_text("lie up to")
        assert {v[1] for v in _flags(gpkg).values()} == {"new"}
        # The analyst looks at the last photo of the strip and splits that flag off.
        crops = rows.nth(0).locator(".crops img")
        expect(crops).to_have_count(3)
        odd = int(crops.nth(2).get_attribute("data-flag"))
        crops.nth(2).click()
        expect(page.locator("#detail")).to_have_attribute("data-loaded", str(odd))
        page.locator("#flag-list").focus()
        page.keyboard.press("x")
        expect(page.locator("#message")).to_contain_text(f"flag #{odd} rejected, split off sighting #{sid}")
        flags = _flags(gpkg)
        assert flags[odd][1:] == ("rejected", 1) and flags[odd][0] != sid
        assert sorted(f for f, v in flags.items() if v[0] == sid) == sorted(set(flags) - {odd})
        con = sqlite3.connect(gpkg)
        split_status = con.execute("SELECT status, n_flags FROM sightings WHERE fid = ?", (flags[odd][0],)).fetchone()
        con.close()
        assert split_status == ("rejected", 1)
        expect(rows.nth(0).locator(".crops img")).to_have_count(2)
        # The two flags left still lie 40 m apart: the key asks again, then the second press decides.
        page.locator("#flag-list").focus()
        page.keyboard.press("a")
        expect(page.locator("#message")).to_contain_text("Look first")
        page.keyboard.press("a")
        expect(page.locator("#message")).to_have_text(re.compile(f"^Saved: sighting #{sid} confirmed, with its 2 flag"))
        flags = _flags(gpkg)
        assert {v[1] for f, v in flags.items() if f != odd} == {"confirmed"} and flags[odd][1] == "rejected"
        # Processing the flight again never joins the split-off flag back.
        from processing.store.sightings import update_sightings

        with FlightStore(gpkg) as store:
            update_sightings(store)
        assert _flags(gpkg)[odd][0] != sid
        assert not errors, errors
    finally:
        page.context.close()
        srv.close()


def test_a_flag_accepted_alone_stays_in_its_sighting(tmp_path):
    from processing.store.sighting_review import decide_flag_of_sighting

    gpkg = _driving_flight(tmp_path)
    from processing.store.sightings import update_sightings

    with FlightStore(gpkg) as store:
        update_sightings(store)
        sid, fid = store._query("SELECT sighting_id, fid FROM flags ORDER BY fid LIMIT 1")[0]
        assert decide_flag_of_sighting(store, sid, fid, "confirmed", reviewer="Petrov") is None
        assert store.flag(fid).status == "confirmed" and store.flag(fid).sighting_id == sid
        assert {f.status for f in store.flags() if f.fid != fid} == {"new"}
        with pytest.raises(ValueError, match="not part of sighting"):
            decide_flag_of_sighting(store, sid, 999, "rejected")
