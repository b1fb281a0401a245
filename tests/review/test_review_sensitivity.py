"""The review page says at what sensitivity the frames were searched (``uav process
--sensitivity``), from the per-frame search record, in a real headless Chromium."""

from __future__ import annotations

from click.testing import CliRunner
from playwright.sync_api import expect
from reviewflight import CHROMIUM_ARGS, chromium_or_skip, playwright_or_skip

from processing.review.server import serve
from tests.processing.test_cli_process import _frame
from uav.cli import cli


def _process(tmp_path, *extra):
    folder = tmp_path / "frames"
    folder.mkdir(exist_ok=True)
    for i in range(2):
        _frame(folder / f"DJI_{i:04d}.JPG", 45.0 + i * 1e-4)
    out = tmp_path / f"flight{len(extra)}.gpkg"
    r = CliRunner().invoke(cli, ["process", str(folder), "--out", str(out), "--detectors", "fire,smoke",
                                 "--workers", "0", "--quiet", *extra])
    assert r.exit_code == 0, r.output
    return out


def _header(browser, gpkg) -> tuple[str, bool]:
    srv = serve(gpkg, reviewer="ranger")
    try:
        ctx = browser.new_context()
        page = ctx.new_page()
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(srv.url)
        page.wait_for_selector("body[data-ready='1']", timeout=15000)
        box = page.locator("#sensitivity")
        expect(box).to_be_visible()
        text, high = box.text_content(), "high" in (box.get_attribute("class") or "")
        ctx.close()
        assert not errors, errors
        return text, high
    finally:
        srv.close()


def test_review_page_shows_the_sensitivity_each_detector_searched_at(tmp_path):
    exe = chromium_or_skip()
    sync_playwright = playwright_or_skip()
    fire_season = _process(tmp_path, "--sensitivity", "smoke=high")
    quiet = _process(tmp_path)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
        try:
            assert _header(browser, fire_season) == ("Sensitivity: fire normal · smoke high", True)
            assert _header(browser, quiet) == ("Sensitivity: fire normal · smoke normal", False)
        finally:
            browser.close()
