"""The review page lists sightings, one per object, in a real headless Chromium: the strip of
crops shows every frame that flagged it, the best first; a decision there is stored for the
sighting and every one of its flags; the per-flag view is one click away."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

from playwright.sync_api import expect
from reviewflight import make_survey_flight

from processing.review.server import serve

# The README's picture of the review page is this test's screenshot (docs/review-page.png).
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


def _rows(gpkg):
    con = sqlite3.connect(gpkg)
    try:
        sightings = {r[0]: r[1:] for r in con.execute(
            "SELECT fid, class, status, reviewer, note, frames_flagged, frames_covering FROM sightings")}
        flags = {r[0]: r[1:] for r in con.execute("SELECT fid, sighting_id, status, reviewer, note FROM flags")}
        decisions = con.execute("SELECT flag_fid, status FROM decisions ORDER BY id").fetchall()
        sdec = con.execute("SELECT sighting_fid, status, reviewer FROM sighting_decisions").fetchall()
    finally:
        con.close()
    return sightings, flags, decisions, sdec


def test_sightings_list_decides_the_sighting_and_its_flags(browser, tmp_path):
    flight = make_survey_flight(tmp_path)
    srv = serve(flight.gpkg, reviewer="ranger-default")   # groups the flight on opening it
    ctx = browser.new_context(viewport={"width": 1500, "height": 950})
    page = ctx.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    try:
        page.goto(srv.url)
        page.wait_for_selector("body[data-ready='1']", timeout=15000)
        assert page.locator("body").get_attribute("data-mode") == "sightings"
        rows = page.locator("li.sighting-row")
        expect(rows).to_have_count(3)           # 10 flags, 3 objects
        assert page.locator("#page-info").text_content() == "1–3 of 3"
        # Best first: the fire flagged in all six frames over it, then the vehicle (3 of 7),
        # then the lone smoke flash (1 of 7) although its one flag scored highest of all.
        assert [r.locator(".cls").text_content().split()[0] for r in rows.all()] == ["fire", "vehicle", "smoke"]
        assert "flagged in 6 of 6 frame(s)" in rows.nth(0).text_content()
        assert "flagged in 1 of 7 frame(s)" in rows.nth(2).text_content()
        # The strip: a crop of every frame that flagged it, the best view first.
        crops = rows.nth(0).locator(".crops img")
        expect(crops).to_have_count(6)
        expect(crops.nth(0)).to_have_js_property("complete", True)
        assert crops.nth(0).evaluate("(im) => im.naturalWidth") > 0
        sightings, flags, _, _ = _rows(flight.gpkg)
        fire_sid = int(rows.nth(0).get_attribute("data-sid"))
        fire_flags = sorted(f for f, v in flags.items() if v[0] == fire_sid)
        assert len(fire_flags) == 6
        scores = {}
        con = sqlite3.connect(flight.gpkg)
        scores = dict(con.execute("SELECT fid, score FROM flags").fetchall())
        con.close()
        strip = [int(crops.nth(k).get_attribute("data-flag")) for k in range(6)]
        assert sorted(strip) == fire_flags
        assert [scores[f] for f in strip] == sorted((scores[f] for f in strip), reverse=True)
        # The map shows the three sightings (the flags' own markers are hidden in this view).
        expect(page.locator("#map circle.sighting-marker")).to_have_count(3)
        assert page.locator("#map-markers").evaluate("(g) => getComputedStyle(g).display") == "none"
        # The first sighting is selected, its best view shown, its position readable.
        expect(page.locator("#detail")).to_have_attribute("data-sighting", str(fire_sid))
        expect(page.locator("#flag-title")).to_contain_text(f"sighting #{fire_sid}")
        expect(page.locator("#frame-img")).to_have_js_property("naturalWidth", 320)
        assert page.locator("#pos-dm").text_content().startswith("43°06.")
        ARTIFACTS.mkdir(exist_ok=True)
        shot = ARTIFACTS / "review_sightings.png"
        page.screenshot(path=str(shot))
        assert shot.stat().st_size > 20_000

        # Accept by keyboard: one decision, the sighting and its six flags.
        page.fill("#reviewer", "Ivanova")
        page.locator("#flag-list").focus()
        page.keyboard.press("a")
        expect(page.locator("#message")).to_have_text(re.compile("^Saved"))
        assert f"sighting #{fire_sid} confirmed, with its 6 flag(s)" in page.locator("#message").text_content()
        sightings, flags, decisions, sdec = _rows(flight.gpkg)
        assert sightings[fire_sid][1:3] == ("confirmed", "Ivanova")
        assert all(flags[f][1:3] == ("confirmed", "Ivanova") for f in fire_flags)
        assert sorted(d[0] for d in decisions) == fire_flags and {d[1] for d in decisions} == {"confirmed"}
        assert sdec == [(fire_sid, "confirmed", "Ivanova")]
        # The page moved on to the vehicle; reject the smoke flash by click, with a note.
        expect(page.locator("li.sighting-row.selected")).to_have_attribute("data-index", "1")
        rows.nth(2).click()
        smoke_sid = int(rows.nth(2).get_attribute("data-sid"))
        expect(page.locator("#detail")).to_have_attribute("data-sighting", str(smoke_sid))
        page.fill("#note", "sun on a tin roof")
        page.click("#btn-reject")
        expect(page.locator("#message")).to_contain_text(f"sighting #{smoke_sid} rejected")
        sightings, flags, _, _ = _rows(flight.gpkg)
        assert sightings[smoke_sid][1:4] == ("rejected", "Ivanova", "sun on a tin roof")
        assert [v[1:] for v in flags.values() if v[0] == smoke_sid] == [("rejected", "Ivanova", "sun on a tin roof")]
        assert sightings[fire_sid][1] == "confirmed"  # untouched by the second decision

        # A crop in the strip shows that frame's view of the object.
        rows.nth(0).locator(".crops img").nth(3).click()
        other = int(rows.nth(0).locator(".crops img").nth(3).get_attribute("data-flag"))
        expect(page.locator("#detail")).to_have_attribute("data-loaded", str(other))
        expect(page.locator("#flag-facts")).to_contain_text(f"flag #{other}")

        # The per-flag view is one click away, and shows the flags decided with their sightings.
        page.click("#mode-flags")
        expect(page.locator("li.flag-row")).to_have_count(10)
        status_of = {int(r.get_attribute("data-fid")): r.locator(".status").text_content()
                     for r in page.locator("li.flag-row").all()}
        assert all(status_of[f] == "confirmed" for f in fire_flags)
        assert list(status_of.values()).count("new") == 3   # the vehicle's, still to decide
        expect(page.locator("#map circle.marker")).to_have_count(10)

        # Reload in the sightings view: the decisions are there.
        page.click("#mode-sightings")
        page.reload()
        page.wait_for_selector("body[data-ready='1']", timeout=15000)
        status = {int(r.get_attribute("data-sid")): r.locator(".status").text_content()
                  for r in page.locator("li.sighting-row").all()}
        assert status[fire_sid] == "confirmed" and status[smoke_sid] == "rejected"
        assert "1 confirmed" in page.locator("#counts").text_content()
        assert not errors, errors
    finally:
        ctx.close()
        srv.close()
