"""The review page in a real headless Chromium: see the flags, decide by keyboard and by click,
reload and find the decisions kept; two tabs never overwrite each other silently."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest
from playwright.sync_api import expect
from reviewflight import make_flight, open_review

from processing.review.server import serve

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


@pytest.fixture
def flight_server(tmp_path):
    flight = make_flight(tmp_path)
    srv = serve(flight.gpkg, reviewer="ranger-default")
    try:
        yield flight, srv
    finally:
        srv.close()


def _open(browser, url, per_flag=True):
    """Open the page; ``per_flag`` switches from the sightings list (the default) to the
    per-flag list with one click, as an analyst deciding photo by photo would."""
    ctx, page, errors = open_review(browser, url)
    if per_flag:
        page.click("#mode-flags")
        page.wait_for_selector("body[data-mode='flags'] li.flag-row", timeout=15000)
        expect(page.locator("#detail")).to_have_attribute("data-loaded", re.compile(r"^\d+$"))
    return ctx, page, errors


def _db_rows(gpkg):
    con = sqlite3.connect(gpkg)
    try:
        flags = {r[0]: r[1:] for r in con.execute("SELECT fid, status, reviewer, note, version FROM flags")}
        decisions = con.execute("SELECT flag_fid, status, reviewer, note FROM decisions ORDER BY id").fetchall()
    finally:
        con.close()
    return flags, decisions


def test_review_page_decisions_survive_reload(browser, flight_server):
    flight, srv = flight_server
    ctx, page, errors = _open(browser, srv.url)
    try:
        rows = page.locator("li.flag-row")
        assert rows.count() == 9
        assert page.locator("#page-info").text_content() == "1–9 of 9"
        # Eight flags have a map position (the pose-less frame's flag has none): eight markers.
        assert page.locator("#map circle.marker").count() == 8
        assert page.locator("#map polygon.footprint").count() == 5
        assert page.locator("#map polyline.track").count() == 1
        # The frames' own pictures are the map's background: two halves per posed frame, each
        # placed exactly on its footprint.
        pics = page.locator("#map-pictures image")
        assert pics.count() == 10
        misplaced = page.evaluate("""() => [...document.querySelectorAll('#map-footprints polygon')].filter((poly) => {
            const r = poly.getBoundingClientRect();
            const halves = [...document.querySelectorAll(`#map-pictures image[href='/api/frames/${poly.dataset.fid}/thumb']`)]
              .map((im) => im.parentNode.getBoundingClientRect());
            if (halves.length !== 2) return true;
            const u = [Math.min(...halves.map((q) => q.left)), Math.min(...halves.map((q) => q.top)),
                       Math.max(...halves.map((q) => q.right)), Math.max(...halves.map((q) => q.bottom))];
            return [u[0] - r.left, u[1] - r.top, u[2] - r.right, u[3] - r.bottom].some((d) => Math.abs(d) > 2);
        }).map((poly) => poly.dataset.fid)""")
        assert misplaced == []
        expect(page.locator("#map-scale-text")).to_have_text(re.compile(r"^\d+ m$"))
        # The main shortcuts are on screen, not only behind the "?" button.
        expect(page.locator("#key-hint")).to_be_visible()
        assert "a r u decide" in " ".join(page.locator("#key-hint").text_content().split())
        # The best flag is selected first, its frame shown with its box, its position readable.
        first_fid = int(rows.nth(0).get_attribute("data-fid"))
        assert rows.nth(0).get_attribute("class").split() == ["flag-row", "selected"]
        expect(page.locator("#frame-img")).to_have_js_property("naturalWidth", 320)
        assert page.locator("#boxes rect.selected").count() == 1
        dm = page.locator("#pos-dm").text_content()
        assert dm.startswith("43°06.") and dm.endswith("E") and "131°14." in dm
        assert page.locator("#pos-mgrs").text_content().startswith("52T ")

        page.fill("#reviewer", "Ivanova")
        page.locator("#flag-list").focus()
        # Accept by keyboard: the first flag; the page then moves on to the next one.
        page.keyboard.press("a")
        expect(page.locator("#message")).to_have_text(re.compile("^Saved"))
        assert f"#{first_fid} confirmed" in page.locator("#message").text_content()
        assert rows.nth(0).locator(".status").text_content() == "confirmed"
        assert "selected" in rows.nth(1).get_attribute("class")

        # Reject by keyboard after moving down with j, with a note typed in the box.
        page.keyboard.press("j")
        expect(page.locator("li.flag-row.selected")).to_have_attribute("data-index", "2")
        reject_fid = int(rows.nth(2).get_attribute("data-fid"))
        page.keyboard.press("n")
        page.keyboard.type("looks like a campfire")
        page.keyboard.press("Escape")
        page.keyboard.press("r")
        expect(page.locator("#message")).to_contain_text(f"#{reject_fid} rejected")

        # Accept by click: pick the fifth row with the mouse, press the Accept button.
        rows.nth(4).click()
        click_fid = int(rows.nth(4).get_attribute("data-fid"))
        expect(page.locator("#flag-title")).to_contain_text(f"#{click_fid}")
        page.click("#btn-accept")
        expect(page.locator("#message")).to_contain_text(f"#{click_fid} confirmed")

        # Stored at once, with who and when.
        flags, decisions = _db_rows(flight.gpkg)
        assert flags[first_fid][:2] == ("confirmed", "Ivanova")
        assert flags[reject_fid] == ("rejected", "Ivanova", "looks like a campfire", 1)
        assert flags[click_fid][0] == "confirmed"
        assert [d[0] for d in decisions] == [first_fid, reject_fid, click_fid]

        # Reload: the decisions are still there, in the list and in the counts.
        page.reload()
        page.wait_for_selector("body[data-ready='1']", timeout=15000)
        status_of = {int(r.get_attribute("data-fid")): r.locator(".status").text_content()
                     for r in page.locator("li.flag-row").all()}
        assert status_of[first_fid] == "confirmed" and status_of[click_fid] == "confirmed"
        assert status_of[reject_fid] == "rejected"
        assert sum(1 for s in status_of.values() if s == "new") == 6
        counts = page.locator("#counts").text_content()
        assert "2 confirmed" in counts and "1 rejected" in counts
        # Filter by status: only the two accepted flags remain.
        page.select_option("#f-status", "confirmed")
        expect(page.locator("#page-info")).to_have_text("1–2 of 2")
        assert {int(r.get_attribute("data-fid")) for r in page.locator("li.flag-row").all()} == {first_fid, click_fid}
        page.select_option("#f-status", "")
        expect(page.locator("#page-info")).to_have_text("1–9 of 9")
        rows.nth(2).click()
        expect(page.locator("#detail")).to_have_attribute("data-loaded", str(reject_fid))
        assert page.locator("#note").input_value() == "looks like a campfire"
        expect(page.locator("#frame-img")).to_have_js_property("naturalWidth", 320)
        assert "DJI_0002.JPG" in page.locator("#frame-title").text_content()
        assert page.locator("#history li").count() == 1

        ARTIFACTS.mkdir(exist_ok=True)
        shot = ARTIFACTS / "review_page.png"
        page.screenshot(path=str(shot))
        print(f"\nscreenshot of the review page: {shot}")
        assert shot.stat().st_size > 20_000
        assert not errors, errors
    finally:
        ctx.close()


def test_two_tabs_do_not_overwrite_each_other(browser, flight_server):
    flight, srv = flight_server
    ctx_a, a, errors_a = _open(browser, srv.url)
    ctx_b, b, errors_b = _open(browser, srv.url)
    try:
        fid = int(a.locator("li.flag-row").nth(0).get_attribute("data-fid"))
        a.locator("#auto-advance").uncheck()
        b.locator("#auto-advance").uncheck()
        a.click("#btn-accept")
        expect(a.locator("#message")).to_have_text(re.compile("^Saved"))
        # Tab B still shows the old version: its reject is refused and it says so.
        b.click("#btn-reject")
        expect(b.locator("#message")).to_have_text(re.compile("^Not saved"))
        assert "changed meanwhile" in b.locator("#message").text_content()
        flags, _ = _db_rows(flight.gpkg)
        assert flags[fid][0] == "confirmed"
        # B now shows the current state; deciding again is a deliberate override.
        assert b.locator("li.flag-row").nth(0).locator(".status").text_content() == "confirmed"
        b.click("#btn-reject")
        expect(b.locator("#message")).to_have_text(re.compile("^Saved"))
        flags, decisions = _db_rows(flight.gpkg)
        assert flags[fid][0] == "rejected" and flags[fid][3] == 2
        assert [d[1] for d in decisions] == ["confirmed", "rejected"]
        # The 409 answer shows up as a console error in tab B; nothing else may.
        assert not errors_a, errors_a
        assert all("409" in e for e in errors_b), errors_b
    finally:
        ctx_a.close()
        ctx_b.close()
