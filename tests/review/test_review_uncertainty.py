"""The review page says how far a position may be off: a flag's measured uncertainty in its
details, a sighting's (its best-placed flag's) in the sighting's, in a real headless Chromium."""

from __future__ import annotations

import re
import sqlite3

from playwright.sync_api import expect
from reviewflight import make_flight

from processing.review.server import serve
from processing.store import FlightStore
from processing.store.sightings import update_sightings


def test_flag_and_sighting_details_show_the_position_uncertainty(browser, tmp_path):
    flight = make_flight(tmp_path, evil_name=False)
    con = sqlite3.connect(flight.gpkg)
    try:
        with con:
            con.execute("UPDATE flags SET position_uncertainty_m = 10.0 + 7.0 * fid WHERE lat IS NOT NULL")
    finally:
        con.close()
    with FlightStore.open(flight.gpkg) as store:
        update_sightings(store)
    srv = serve(flight.gpkg, reviewer="ranger")
    ctx = browser.new_context(viewport={"width": 1500, "height": 950})
    try:
        page = ctx.new_page()
        page.goto(srv.url)
        page.wait_for_selector("body[data-ready='1']", timeout=15000)
        expect(page.locator("#detail")).to_have_attribute("data-sighting", re.compile(r"^\d+$"))
        sid = int(page.locator("#detail").get_attribute("data-sighting"))
        con = sqlite3.connect(flight.gpkg)
        try:
            s_u, = con.execute("SELECT position_uncertainty_m FROM sightings WHERE fid = ?", (sid,)).fetchone()
            least, = con.execute("SELECT min(position_uncertainty_m) FROM flags WHERE sighting_id = ?",
                                 (sid,)).fetchone()
        finally:
            con.close()
        assert s_u == least
        expect(page.locator("#flag-facts")).to_contain_text(f"± {round(s_u)} m (its best-placed flag)")

        page.click("#mode-flags")
        page.wait_for_selector("body[data-mode='flags'] li.flag-row", timeout=15000)
        expect(page.locator("#detail")).to_have_attribute("data-loaded", re.compile(r"^\d+$"))
        fid = int(page.locator("#detail").get_attribute("data-loaded"))
        expect(page.locator("#flag-facts")).to_contain_text(f"± {round(10.0 + 7.0 * fid)} m")
    finally:
        ctx.close()
        srv.close()
